"""What a model or tool step hands to something that acts, as text for the scanner.

A model step's prompt and system text can ask an agent to run commands through its
tools, and a tool step's arguments are what an MCP tool executes: both are scanned at
create exactly like a shell step's command (`orchestrator.command_text`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value (dict values, list items), depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def model_and_tool_text(step: Any) -> list[str]:
    """A step's prompt, system text and tool arguments (each string on its own), for the scanner."""
    parts = [t for t in (getattr(step, "system", None), getattr(step, "prompt", None)) if t]
    parts.extend(s for s in _strings(getattr(step, "arguments", None) or {}) if s.strip())
    return parts
