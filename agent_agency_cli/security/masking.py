"""Secret masking: the one function every value passes before it is stored or shown.

`mask_secrets(text)` masks what the rule table recognises by shape (AWS key ids, GitHub,
OpenAI and Slack tokens, JWTs, private-key blocks across lines, `password=…`, bearer
tokens, URL passwords). `Masker` adds what only the task knows: its `env:` values and
the secret values found anywhere in its plan, so `echo $DB_PASSWORD` in a step's output
is masked too, and so is a bare 40-character AWS secret key whose name is not beside it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agent_agency_cli.security.rules import SECRET_RULES

__all__ = ["Masker", "mask_one", "mask_secrets", "mask_value", "secret_spans", "secret_values"]

# An env name that says its value is a secret (DB_PASSWORD, GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY…).
SECRET_NAME = re.compile(r"(?i)pass(?:word|wd|phrase)?|secret|token|api_?key|private_?key|credential|auth|"
                         r"access_?key|session_?key|signing_?key|\bdsn\b|_dsn$|_pat$|cookie")
_KEY_BEGIN = re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY-----")
_KEY_END = re.compile(r"-----END[ A-Z0-9]*PRIVATE KEY-----")
_MIN_LITERAL = 6  # shorter values (DEBUG=1) are not masked as literals: they would mask ordinary text
# A bare AWS secret access key: 40 characters of base64 with a digit, an upper and a lower
# letter and a / or + — distinct enough from hashes (hex) and words.
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])(?!/)(?=[A-Za-z0-9/+]*[/+])(?=[A-Za-z0-9/+]*\d)(?=[A-Za-z0-9/+]*[a-z])"
                         r"(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def _min_shape_length() -> int:
    """The fewest characters any shape rule can match (regex minimum widths): a shorter text
    holds no shape, so its scan is skipped. 0 (never skip) if the widths cannot be read."""
    try:
        from re import _parser  # type: ignore[attr-defined]

        widths = [_parser.parse(r.pattern.pattern, r.pattern.flags).getwidth()[0] for r in SECRET_RULES]
        widths.append(_parser.parse(_AWS_SECRET.pattern, _AWS_SECRET.flags).getwidth()[0])
        return max(0, min(widths))
    except Exception:  # pragma: no cover - another Python's internals
        return 0


def secret_spans(text: str) -> list[tuple[int, int]]:
    """Merged (start, end) spans of every secret the rule table recognises in `text`."""
    spans: list[tuple[int, int]] = []
    for rule in SECRET_RULES:
        for m in rule.pattern.finditer(text):
            span = m.span("s") if "s" in rule.pattern.groupindex and m.start("s") >= 0 else m.span()
            if span[1] > span[0]:
                spans.append(span)
    spans.extend(m.span() for m in _AWS_SECRET.finditer(text))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mask_one(secret: str) -> str:
    """At most 4 characters survive, and never more than a quarter of the secret:
    `AKIA****` for a key id, `h****` for a 7-character password."""
    return secret[: min(4, len(secret) // 4)] + "****"


def mask_secrets(text: str) -> str:
    """Replace every secret the rule table knows by its first (at most 4) characters and `****`."""
    if len(text) < _MIN_SHAPE:  # too short for any shape (step names, ids, statuses)
        return text
    if len(text) <= _CACHED_LEN:
        return _mask_short(text)
    return _mask(text)


_CACHED_LEN = 256  # short texts repeat (statuses, reasons, worker names): their masks are cached
# The fewest characters any shape rule can match (a shorter text is not scanned): what
# _min_shape_length() reads from the rules, kept as a constant because reading it costs 4 ms
# at import; tests/unit/test_masking_short_texts.py fails when a rule changes it.
_MIN_SHAPE = 10


@functools.lru_cache(maxsize=8192)
def _mask_short(text: str) -> str:
    return _mask(text)


def _mask(text: str) -> str:
    out = text
    for start, end in reversed(secret_spans(text)):
        out = out[:start] + mask_one(out[start:end]) + out[end:]
    return out


def secret_values(text: str) -> list[str]:
    """The secret values recognised in `text` (for a Masker to mask wherever they reappear)."""
    return [text[a:b] for a, b in secret_spans(text)]


class Masker:
    """Masks the shapes of `mask_secrets` plus the literal secrets of one task.

    Literals are the task's env values under a secret-sounding name, every value of
    `secrets`, and each line of a multi-line one (a private key printed line by line).
    Calling it on a str masks the text; `mask_value` walks dicts and lists.
    """

    def __init__(self, secrets: Iterable[str] = (), env: Mapping[str, Any] | None = None):
        literals: set[str] = set()
        for value in secrets:
            literals.update(_literals(str(value)))
        for name, value in (env or {}).items():
            if value is None:
                continue
            value = str(value)
            if SECRET_NAME.search(str(name)) or secret_spans(value):
                literals.update(_literals(value))
                literals.update(secret_values(value))
        self.literals = sorted((s for s in literals if len(s) >= _MIN_LITERAL), key=len, reverse=True)
        self._re = re.compile("|".join(re.escape(s) for s in self.literals)) if self.literals else None
        self._seen: dict[str, str] = {}  # short texts already masked (they repeat on the hot path)

    def __call__(self, text: str) -> str:
        if len(text) < _MIN_LITERAL and len(text) < _MIN_SHAPE:  # no literal, no shape fits
            return text
        short = len(text) <= _CACHED_LEN
        if short:
            hit = self._seen.get(text)
            if hit is not None:
                return hit
        out = self._re.sub(lambda m: mask_one(m.group()), text) if self._re is not None else text
        out = mask_secrets(out)
        if short:
            if len(self._seen) >= 8192:
                self._seen.clear()
            self._seen[text] = out
        return out

    def mask_value(self, value: Any) -> Any:
        return mask_value(value, self)

    def stream(self) -> Callable[[str], str]:
        """A line masker for one output stream: after a private key's BEGIN line every
        line is masked until its END line (a key printed line by line)."""
        inside = False

        def mask_line(line: str) -> str:
            nonlocal inside
            if inside:
                end = _KEY_END.search(line)
                if end is None:
                    return "****"
                inside = False
                return "****" + self(line[end.start():])
            begin = _KEY_BEGIN.search(line)
            if begin is not None and not _KEY_END.search(line, begin.end()):
                inside = True
            return self(line)

        return mask_line


def _literals(value: str) -> set[str]:
    out = {value.strip()}
    if "\n" in value:
        out.update(line.strip() for line in value.splitlines())
    return {s for s in out if s and not s.startswith("-----")}


def mask_value(value: Any, mask: Any = mask_secrets) -> Any:
    """`value` with every string in it (dict values and keys' values, list items) masked."""
    kind = type(value)  # exact types first: the ABC checks below cost more than the masking of a cached text
    if kind is str:
        return mask(value)
    if kind is dict:
        return {k: mask_value(v, mask) for k, v in value.items()}
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: mask_value(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v, mask) for v in value]
    return value
