"""Icons, theme-aware colours, bars, times and one-line event texts for the TUI.

Status is always shown by icon AND colour (and often a word), so the TUI reads
the same without colour (NO_COLOR, monochrome terminals, screen readers).
Colours come from the current Textual theme's contrast-checked `text-*`
variables, so light and dark themes both stay readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from rich.text import Text

from agent_agency_cli.event_kinds import APPROVAL_PURPOSE, QUIET_KINDS, STATUS_ICONS, EventKind
from agent_agency_cli.models import TERMINAL_TASK_VALUES
from agent_agency_cli.security.terminal import strip_value
from agent_agency_cli.units import format_duration

ICONS: dict[str, str] = STATUS_ICONS
GATE_FAILED_ICON = "◐"  # a completed step whose gate failed (as the CLI's `◐ completed, gate failed`)

# status -> theme variable (or a plain Rich style) used for its colour
_ROLE: dict[str, str] = {
    "running": "text-primary", "completed": "text-success", "failed": "text-error",
    "paused": "text-warning", "awaiting_approval": "text-warning", "awaiting_review": "text-warning",
    "escalated": "text-warning", "interrupted": "text-warning", "partially_completed": "text-warning",
    "cancelled": "text-secondary", "queued": "text-secondary", "pending": "dim",
    "waiting_resources": "dim", "skipped": "dim",
}

ACTIVE = frozenset({"running", "paused"})
FINAL_TASK = TERMINAL_TASK_VALUES

_DEFAULT_VARS = {
    "text-primary": "#57A5E2", "text-success": "#8AD4A1", "text-error": "#D17E92",
    "text-warning": "#FFC473", "text-secondary": "#5684A5", "text-accent": "#FFC473",
}


class Palette:
    """Rich styles for statuses and roles, taken from a Textual theme's variables."""

    def __init__(self, variables: Mapping[str, str] | None = None):
        v = {**_DEFAULT_VARS, **(variables or {})}
        self.vars = v
        self._cache: dict[str, str] = {}
        for status, role in _ROLE.items():
            self._cache[status] = v.get(role, role) if role.startswith("text-") else role
        self.primary = v["text-primary"]
        self.success = v["text-success"]
        self.error = v["text-error"]
        self.warning = v["text-warning"]
        self.secondary = v["text-secondary"]
        self.accent = v.get("text-accent", self.warning)

    @classmethod
    def of(cls, app: Any) -> Palette:
        try:
            return cls(app.theme_variables)
        except Exception:
            return cls()

    def status(self, status: str) -> str:
        return self._cache.get(status, "")


def icon(status: str) -> str:
    return ICONS.get(status, "·")


def status_label(status: str) -> str:
    return status.replace("_", " ")


def status_text(status: str, palette: Palette, *, word: bool = True) -> Text:
    label = f"{icon(status)} {status_label(status)}" if word else icon(status)
    return Text(label, style=palette.status(status))


def bar(fraction: float | None, width: int, full: str = "▓", empty: str = "░") -> str:
    f = 0.0 if fraction is None else max(0.0, min(1.0, fraction))
    filled = round(width * f)
    return full * filled + empty * (width - filled)


def short(text: str, width: int) -> str:
    """Cut to `width` cells with an ellipsis (names and commands are ASCII-ish)."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


def duration(seconds: float | None) -> str:
    return "" if seconds is None else format_duration(seconds)


def countdown(seconds: float) -> str:
    """Time left (or overdue), or an age: 41s, 1:58, 2:01:00 or 3d4h (ticks once a second)."""
    return format_duration(seconds, tenths=False)


def parse_iso(ts: str | None) -> float | None:
    if not ts:
        return None
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


_HMS_CACHE: dict[str, str] = {}


def local_hms(ts: str | None) -> str:
    """HH:MM:SS in local time of an ISO UTC timestamp (cached per second: log lines)."""
    if not ts:
        return "--:--:--"
    key = ts[:19]
    got = _HMS_CACHE.get(key)
    if got is None:
        try:
            got = time.strftime("%H:%M:%S", time.localtime(parse_iso(key + "Z") or 0))
        except ValueError:
            got = "--:--:--"
        if len(_HMS_CACHE) > 4096:
            _HMS_CACHE.clear()
        _HMS_CACHE[key] = got
    return got


def _who(p: Mapping[str, Any]) -> str:
    who = p.get("who")
    return f" by {who}" if who else ""


def event_text(ev: Mapping[str, Any], palette: Palette,
               hms: Callable[[str | None], str] = local_hms) -> Text | None:
    """One line for the events panel; None for noise (progress ticks). Control sequences
    from step output in a payload are removed first."""
    kind: str = ev["kind"]
    p: Mapping[str, Any] = strip_value(ev.get("payload") or {})
    step = ev.get("step")
    if kind in QUIET_KINDS:
        return None
    t = Text(hms(ev.get("ts")) + " ", style="dim")
    status = p.get("status")
    if kind.startswith("intervention_"):
        what = kind.removeprefix("intervention_")
        args = p.get("args") or {}
        target = f" {args['step']}" if isinstance(args, dict) and args.get("step") else ""
        style = palette.error if what == "rejected" else palette.accent
        t.append("⚑ ", style=style)
        t.append(f"{p.get('kind', '?')}{target} {what}{_who(p)}")
        if what == "requested" and p.get("reason"):
            t.append(f": {p['reason']}", style="italic")
        elif what != "requested" and p.get("message"):
            t.append(f": {p['message']}", style="dim")
        return t
    if kind == EventKind.APPROVAL_REQUESTED:
        what = APPROVAL_PURPOSE.get(str(p.get("kind")), "")
        t.append("? ", style=f"bold {palette.warning}")
        t.append(str(step), style="bold")
        t.append(f" awaits approval {what}".rstrip())
        return t
    if kind in (EventKind.STEP_APPROVED, EventKind.STEP_REJECTED):
        ok = kind == EventKind.STEP_APPROVED
        t.append("✓ " if ok else "✗ ", style=palette.success if ok else palette.error)
        t.append(str(step), style="bold")
        t.append(f" {'approved' if ok else 'rejected'}{_who(p)}")
        if p.get("all_remaining"):
            t.append(" (and all remaining steps)", style="dim")
        if p.get("reason"):
            t.append(f": {p['reason']}", style="italic")
        return t
    if kind == EventKind.GATE_STARTED:
        t.append("◇ ", style="dim")
        t.append(f"{step} gate {p.get('gate')} running")
        return t
    if kind == EventKind.GATE_RESULT:
        gst = str(p.get("status"))
        ok = gst == "passed"
        t.append("◆ ", style=palette.success if ok else palette.error if gst in ("failed", "error")
                 else palette.warning)
        t.append(f"{step} gate {p.get('gate') or p.get('name')} {gst}")
        if isinstance(p.get("score"), int | float):
            t.append(f" {p['score']:.2f}", style="dim")
        if not p.get("required", True):
            t.append(" (advisory)", style="dim")
        return t
    if kind == EventKind.REVIEW_RECORDED:
        t.append("◇ ", style="dim")
        t.append(f"{p.get('phase', '')} {p.get('kind', '')} review: {p.get('verdict', '?')}".strip())
        if p.get("reviewer"):
            t.append(f" by {p['reviewer']}", style="dim")
        return t
    if step and kind.startswith("step_"):
        st = status or kind.removeprefix("step_")
        t.append(f"{icon(st)} ", style=palette.status(st))
        t.append(step, style="bold")
        word = kind.removeprefix("step_").replace("_", " ")
        t.append(f" {word}")
        if kind == EventKind.STEP_STARTED and p.get("attempt"):
            if (p.get("max_attempts") or 1) > 1:
                t.append(f" (try {p['attempt']}/{p['max_attempts']})", style="dim")
        elif kind == EventKind.STEP_COMPLETED and p.get("duration") is not None:
            t.append(f" {format_duration(p['duration'])}", style="dim")
        if p.get("reason") and kind != EventKind.STEP_COMPLETED:
            t.append(f": {p['reason']}", style=palette.status(st) if st == "failed" else "dim")
        gates = p.get("gates")
        if isinstance(gates, list) and gates:
            t.append(" · " + gate_summary(gates), style="dim")
        return t
    if kind.startswith("task_"):
        st = status or ""
        t.append(f"{icon(st) if st else '•'} ", style=palette.status(st))
        word = kind.removeprefix("task_").replace("_", " ")
        t.append(f"task {word}")
        if kind == EventKind.TASK_CREATED:
            n = p.get("steps")
            t.append(f": {p.get('description', '')} ({n} step{'' if n == 1 else 's'})", style="dim")
        elif kind == EventKind.TASK_MODIFIED:
            from agent_agency_cli.change_text import describe_changes  # lazy: keeps start-up light

            text = describe_changes(p.get("new") or {}, p.get("old") or {})
            if text:
                t.append(": " + text, style="dim")
        elif p.get("reason"):
            t.append(f": {p['reason']}", style=palette.status(st) if st else "dim")
        return t
    if kind == EventKind.DEADLINE_PASSED:
        t.append("! deadline passed", style=palette.error)
        return t
    t.append(f"• {kind.replace('_', ' ')}" + (f" {step}" if step else ""))
    return t


def gate_summary(gates: list[Mapping[str, Any]]) -> str:
    parts = []
    for g in gates:
        mark = {"passed": "✓", "failed": "✗", "skipped": "↷", "warning": "!"}.get(
            str(g.get("status")), "·")
        score = g.get("score")
        parts.append(f"{g.get('gate', '?')} {mark}" + (f" {score:.2f}" if isinstance(score, int | float)
                                                       else ""))
    return "  ".join(parts)


def size_text(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit in ("B", "KiB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
