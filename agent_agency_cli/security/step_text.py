"""What a model step hands to a model that may act, as text for the scanner.

A model step's prompt and system text can ask an agent to run commands through its
tools: both are scanned at create exactly like a shell step's command
(`orchestrator.command_text`; a tool step's arguments are read by `executors.tool.scan_text`).
"""

from __future__ import annotations

from typing import Any


def model_step_text(step: Any) -> list[str]:
    """A model step's system text and prompt (empty for other steps), for the scanner."""
    return [t for t in (getattr(step, "system", None), getattr(step, "prompt", None)) if t]
