"""What every command shares: the orchestrator from global options, error handling,
JSON output. Rich and the orchestrator are imported lazily to keep --help fast."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from agent_agency_cli.orchestrator import TaskOrchestrator

F = TypeVar("F", bound=Callable[..., Any])


class State:
    config: str | None = None
    home: str | None = None


state = State()


def orchestrator() -> TaskOrchestrator:
    from agent_agency_cli.orchestrator import TaskOrchestrator

    return TaskOrchestrator(home=state.home, config=state.config)


def fail(message: str, code: int) -> typer.Exit:
    """Print one error line to stderr and give the Exit to raise."""
    prefix = "error: " if not _color_stderr() else "\x1b[31merror:\x1b[0m "
    print(f"{prefix}{message}", file=sys.stderr)
    return typer.Exit(code)


def _color_stderr() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


def handle_errors(fn: F) -> F:
    """Turn AgencyError into one line + its exit code; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent_agency_cli.errors import EXIT_INTERRUPTED, AgencyError

        try:
            return fn(*args, **kwargs)
        except AgencyError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            # `... | head` closed the pipe: not an error worth a traceback.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
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
    out = sys.stdout
    block: list[str] = []
    for item in items:
        block.append(encode(item))
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
