"""What every command shares: the orchestrator from global options, error handling,
JSON output. Rich and the orchestrator are imported lazily to keep --help fast, and
Typer too, because the fast path (cli/fast.py) uses this module without it."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import typer

    from agent_agency_cli.orchestrator import TaskOrchestrator

F = TypeVar("F", bound=Callable[..., Any])


class State:
    config: str | None = None
    home: str | None = None


state = State()


def orchestrator() -> TaskOrchestrator:
    from agent_agency_cli.orchestrator import TaskOrchestrator  # lazy: keeps start-up light

    return TaskOrchestrator(home=state.home, config=state.config)


def print_error(message: str) -> None:
    """The one error line on stderr (red "error:" on a colour terminal)."""
    prefix = "error: " if not _color_stderr() else "\x1b[31merror:\x1b[0m "
    print(f"{prefix}{message}", file=sys.stderr)


def fail(message: str, code: int) -> typer.Exit:
    """Print one error line to stderr and give the Exit to raise."""
    import typer  # lazy: keeps start-up light

    print_error(message)
    return typer.Exit(code)


def quiet_broken_pipe() -> None:
    """`... | head` closed the pipe: send the rest of stdout nowhere, without a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _color_stderr() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


def handle_errors(fn: F) -> F:
    """Turn AgencyError into one line + its exit code; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent_agency_cli.errors import EXIT_INTERRUPTED, AgencyError  # lazy: keeps start-up light

        try:
            return fn(*args, **kwargs)
        except AgencyError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            import typer  # lazy: keeps start-up light

            quiet_broken_pipe()
            raise typer.Exit(0) from None
        except (sqlite3.Error, OSError) as exc:
            from agent_agency_cli.cli.faults import describe  # lazy: keeps start-up light

            message, code = describe(exc, _db_path())
            raise fail(message, code) from None

    return wrapper  # type: ignore[return-value]


# json.dumps with indent runs the pure-Python encoder (about 10x slower than the C one):
# a document longer than this once compact (the C encoder measures it) is laid out one
# level deep instead (each value, and each item of a list value, on its own line, encoded
# by the C encoder). Nested lists count too: a big plan's parallel groups name every step.
_INDENT_MAX_CHARS = 50_000


def dumps_json(data: Any) -> str:
    """Indented JSON for people and machines; linear-time layout for very large documents."""
    enc = json.JSONEncoder(default=str).encode
    # Each value (each item of a list value) is encoded once, by the C encoder; only a small
    # document is encoded again, indented.
    if isinstance(data, list):
        items = [enc(v) for v in data]
        if sum(map(len, items)) <= _INDENT_MAX_CHARS:
            return json.dumps(data, indent=2, default=str)
        return "[\n  " + ",\n  ".join(items) + "\n]"
    if not isinstance(data, dict):
        return json.dumps(data, indent=2, default=str)
    parts = []
    size = 0
    for key, value in data.items():
        if isinstance(value, list) and value:
            items = [enc(v) for v in value]
            size += sum(map(len, items))
            parts.append(f"  {enc(key)}: [\n    " + ",\n    ".join(items) + "\n  ]")
        else:
            text = enc(value)
            size += len(text)
            parts.append(f"  {enc(key)}: {text}")
    if size <= _INDENT_MAX_CHARS:
        return json.dumps(data, indent=2, default=str)
    return "{\n" + ",\n".join(parts) + "\n}"


def _db_path() -> Any:
    """The database of the home in use, if the home can be named without side effects."""
    from pathlib import Path  # lazy: keeps start-up light

    from agent_agency_cli.paths import HOME_ENV  # lazy: keeps start-up light

    home = state.home or os.environ.get(HOME_ENV)
    return Path(os.path.expanduser(home)) / "agency.db" if home else None


def print_json(data: Any) -> None:
    sys.stdout.write(dumps_json(data) + "\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def is_tty() -> bool:
    return sys.stdout.isatty()


def write_json_lines(items: Iterable[Any]) -> None:
    """One compact JSON object per line, written in blocks (no flush per line: a task's
    events are tens of thousands of lines, and a flush is a system call each)."""
    encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
    write_lines(map(encode, items))


def write_lines(lines: Iterable[str]) -> None:
    """Lines written in blocks of 1,000 (one write each), then flushed."""
    out = sys.stdout
    block: list[str] = []
    for line in lines:
        block.append(line)
        if len(block) >= 1000:
            out.write("\n".join(block) + "\n")
            block.clear()
    if block:
        out.write("\n".join(block) + "\n")
    out.flush()


def write_json_array(items: Iterable[Any]) -> None:
    """A JSON array written item by item as `items` yields them (never held whole):
    one item per line, so that a large listing streams through a pipe."""
    encode = json.JSONEncoder(separators=(",", ": "), default=str).encode
    out = sys.stdout
    sep = "[\n  "
    for item in items:
        out.write(sep + encode(item))
        sep = ",\n  "
    out.write("[]\n" if sep == "[\n  " else "\n]\n")
    out.flush()
