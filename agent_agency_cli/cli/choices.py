"""The choices of enum-like options, for --help (`--mode auto|strict|dry-run`) and shell
completion, without importing the pydantic models at startup. Kept equal to the models'
enums by tests/integration/test_cli_help.py; the commands still validate with one clear line."""

from __future__ import annotations

from collections.abc import Callable

MODES = ("auto", "strict", "dry-run")
PRIORITIES = ("low", "normal", "high", "urgent")
COMPLEXITIES = ("simple", "moderate", "complex", "enterprise")
OVERRIDE_ACTIONS = ("skip", "succeed", "retry")
TASK_STATUSES = ("queued", "running", "paused", "awaiting_approval", "awaiting_review", "escalated",
                 "completed", "partially_completed", "failed", "cancelled")


def metavar(choices: tuple[str, ...]) -> str:
    """`auto|strict|dry-run`: the option's value, as --help shows it (`--mode auto|strict|dry-run`)."""
    return "|".join(choices)


def complete(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """A Typer autocompletion callback offering the choices that start with what was typed."""

    def _complete(incomplete: str) -> list[str]:
        return [c for c in choices if c.startswith(incomplete)]

    return _complete
