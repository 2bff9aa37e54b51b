"""Where a task's secrets live, and the one masking function that knows them.

At submit, `seal_task` finds the task's secrets — its `env:` values under a secret name
(`DB_PASSWORD`, `GITHUB_TOKEN`…) or of a secret shape, and every value of a known
token shape anywhere in its plan — and writes them to `tasks/<id>/secrets.json`
(0600, never through a symlink). The steps stored in the database carry a placeholder
(`⟦secret:1⟧`) in their place; the description and requirements are masked outright,
they are never executed. `unseal` puts the values back when an attempt is built.

`Vault.redact(task_id, value)` is the one masking function every value passes before it
reaches the database, a log, an event, a hook, an archive or a terminal: the shapes of
`mask_secrets`, the task's own secrets as literals (an echoed password, each line of a
printed private key), and the lines of a private-key block printed line by line
(`Vault.masker(...).stream()`).

The secrets file is the only place the values are kept: it goes when the task
completes, is archived or purged (`discard`), and never into an archive.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent_agency_cli.paths import HomePaths, write_private
from agent_agency_cli.security.masking import SECRET_NAME, Masker, mask_value, secret_values

__all__ = ["SECRETS_FILE", "Vault", "collect_secrets", "seal_task"]

SECRETS_FILE = "secrets.json"
_PLACEHOLDER = re.compile(r"⟦secret:(\d+)⟧")
_MIN_SECRET = 6


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def collect_secrets(texts: Iterable[str], specs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The secret values of a task: env values under a secret name or of a secret shape,
    and every value of a known shape in its texts and step specs; longest first."""
    found: set[str] = set()
    for spec in specs:
        for name, value in (spec.get("env") or {}).items():
            if value is None:
                continue
            value = str(value)
            if SECRET_NAME.search(str(name)) or secret_values(value):
                found.add(value)
        for text in _strings(spec):
            found.update(secret_values(text))
    for text in texts:
        found.update(secret_values(text or ""))
    return sorted((s for s in found if len(s) >= _MIN_SECRET), key=lambda s: (-len(s), s))


def _seal(value: Any, pattern: re.Pattern[str] | None, index: dict[str, int]) -> Any:
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(lambda m: f"⟦secret:{index[m.group()]}⟧", value)
    if isinstance(value, Mapping):
        return {k: _seal(v, pattern, index) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_seal(v, pattern, index) for v in value]
    return value


def _unseal(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        if "⟦secret:" not in value:
            return value

        def repl(m: re.Match[str]) -> str:
            i = int(m.group(1))
            if i >= len(secrets):
                raise KeyError(i)
            return secrets[i]

        return _PLACEHOLDER.sub(repl, value)
    if isinstance(value, Mapping):
        return {k: _unseal(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_unseal(v, secrets) for v in value]
    if hasattr(value, "__pydantic_fields_set__"):  # a pydantic row (a StepSpec); not imported: fast CLI path
        # Only the keys it was given can hold a placeholder; most hold none, and then the
        # same (frozen) object comes back without a copy.
        changed = {}
        for key in value.__pydantic_fields_set__:
            old = getattr(value, key)
            new = _unseal(old, secrets)
            if new is not old and new != old:
                changed[key] = new
        return value.model_copy(update=changed) if changed else value
    return value


def seal_task(task: dict[str, Any], steps: list[dict[str, Any]]) -> tuple[list[str], Callable[[Path], None]]:
    """Replace the task's secrets by placeholders in `steps` (in place) and mask them in its
    description and requirements. Returns the secrets and a function that writes them
    into the vault of a task id (call it before the task's rows are inserted)."""
    specs = [s["spec"] for s in steps]
    secrets = collect_secrets([task.get("description") or "", *(task.get("requirements") or [])], specs)
    masker = Masker(secrets)
    task["description"] = masker(task.get("description") or "")
    task["requirements"] = [masker(r) for r in task.get("requirements") or []]
    if secrets:
        index = {s: i for i, s in enumerate(secrets)}
        pattern = re.compile("|".join(re.escape(s) for s in secrets))
        for s in steps:
            s["spec"] = _seal(s["spec"], pattern, index)

    def write(task_dir: Path) -> None:
        if secrets:
            _write_secrets(Path(task_dir) / SECRETS_FILE, secrets)

    return secrets, write


def _write_secrets(path: Path, secrets: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps({"secrets": secrets}))  # 0600, never through a symlink


class Vault:
    """The secrets of the tasks of one data home, and the masking that knows them."""

    def __init__(self, paths: HomePaths):
        self.paths = paths
        self._cache: dict[str, tuple[list[str], Masker]] = {}
        self._lock = threading.Lock()

    def _file(self, task_id: str) -> Path:
        return self.paths.task_dir(task_id) / SECRETS_FILE

    def secrets(self, task_id: str) -> list[str]:
        return self._load(task_id)[0]

    def _load(self, task_id: str) -> tuple[list[str], Masker]:
        # The file is written once, before the task's first row, and only ever removed
        # (discard, which keeps the entry): what was read once stays right, and the hot
        # path makes no system call.
        hit = self._cache.get(task_id)
        if hit is not None:
            return hit
        secrets: list[str] = []
        try:
            with open(self._file(task_id), encoding="utf-8") as fh:
                secrets = [str(s) for s in json.load(fh).get("secrets", [])]
        except (OSError, ValueError):
            pass  # no secrets (none declared, or discarded)
        with self._lock:
            return self._cache.setdefault(task_id, (secrets, Masker(secrets)))

    def masker(self, task_id: str) -> Masker:
        """The task's masking function (shapes, its secrets, key blocks)."""
        return self._load(task_id)[1]

    def redact(self, task_id: str | None, value: Any) -> Any:
        """`value` (a string, or dicts and lists of them) with every secret of the task masked."""
        if value is None:
            return value
        if task_id is None:
            return mask_value(value)
        return mask_value(value, self.masker(task_id))

    def unseal(self, task_id: str, value: Any) -> Any:
        """`value` with the placeholders of `seal_task` replaced by the secrets; a KeyError
        names a secret the vault no longer holds."""
        return _unseal(value, self.secrets(task_id))

    def redact_any(self, text: str) -> str:
        """`text` masked with the secrets of every task this vault has seen (for the daemon's log)."""
        text = mask_value(text)
        with self._lock:
            maskers = [entry[1] for entry in self._cache.values()]
        for masker in maskers:
            text = masker(text)
        return text

    def discard(self, task_id: str) -> None:
        """Forget the task's secrets on disk (the task completed, or was archived or purged)."""
        self._load(task_id)  # keep masking them in this process
        try:
            self._file(task_id).unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass
