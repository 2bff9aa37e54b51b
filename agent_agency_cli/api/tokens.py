"""Bearer tokens of the HTTP API: `api-tokens` in the data home, one `name token` per line.

The first `serve` writes one named "default" (file mode 0600). Add lines by hand for more
clients; the name is what the audit trail records for that client's interventions.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from agent_agency_cli.errors import BadInputError

TOKEN_FILE = "api-tokens"


def token_path(home: Path) -> Path:
    return Path(home) / TOKEN_FILE


def ensure_token(home: Path) -> tuple[str, str, bool]:
    """(name, token, created) of the first token, writing a new one (0600) when none exists."""
    path = token_path(home)
    tokens = load_tokens(home)
    if tokens:
        token, name = next(iter(tokens.items()))
        return name, token, False
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL + mode: the secret is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"default {token}\n")
    return "default", token, True


def load_tokens(home: Path) -> dict[str, str]:
    """token -> name, from the token file (empty when there is none)."""

    path = token_path(home)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[1]) < 16:
            raise BadInputError(f"{path}:{n}: expected 'NAME TOKEN' with a token of 16+ characters")
        out[parts[1]] = parts[0]
    return out


def check(tokens: dict[str, str], presented: str) -> str | None:
    """The name of the presented token, compared in constant time; None if unknown."""
    found = None
    for token, name in tokens.items():
        if secrets.compare_digest(token.encode(), presented.encode()):
            found = name
    return found
