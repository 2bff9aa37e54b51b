"""Text that is safe to print on a terminal: step output can hold escape sequences that
write the clipboard (OSC 52), clear the screen (`ESC[2J`), set the window title, move
the cursor over earlier lines, or NULs. `strip_controls` removes every control sequence
and control character except newline and tab; `task logs --raw` is the way to the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["strip_controls", "strip_value"]

_CONTROLS = re.compile(
    r"\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"  # OSC: title, clipboard (52), hyperlinks; terminated by BEL or ST
    r"|\x1b[PX^_][^\x1b\n]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI: colours, cursor moves, ESC[2J
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
    r"|\x9d[^\x07\x9c\n]*[\x07\x9c]?"  # 8-bit OSC
    r"|\x1b[ -/]*[0-~]?"  # other escapes (ESC c resets the terminal) and a lone ESC
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # the remaining C0 (but \t and \n), DEL and C1
)


def strip_controls(text: str) -> str:
    """`text` without terminal control sequences or control characters (newline and tab stay)."""
    if not text or (text.isprintable() and "\x1b" not in text):
        return text
    return _CONTROLS.sub("", text)


def strip_value(value: Any) -> Any:
    """`value` with `strip_controls` applied to every string in it (dicts and lists walked)."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, Mapping):
        return {k: strip_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strip_value(v) for v in value]
    return value
