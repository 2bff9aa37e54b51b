"""TaskHeader: id, description, mode · priority, status, progress bar, elapsed, ETA, deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.widget import Widget

from agent_agency_cli.tui.format import Palette, bar, countdown, duration, parse_iso, status_text


def _live_seconds(status: dict[str, Any], key: str, fetched_at: float, now: float,
                  sign: int) -> float | None:
    """elapsed/eta from the last full read, moved on by the time since (while running)."""
    value = status.get(key)
    if value is None:
        return None
    if status.get("status") == "running":
        value += sign * max(0.0, now - fetched_at)
    return max(0.0, value)


class TaskHeader(Widget):
    """Two lines at the top of the task screen; redrawn every second and on every change."""

    def __init__(self, clock: Callable[[], float], **kwargs: Any):
        super().__init__(**kwargs)
        self.clock = clock
        self.status: dict[str, Any] = {}
        self.fetched_at = 0.0

    def show(self, status: dict[str, Any], fetched_at: float) -> None:
        self.status = status
        self.fetched_at = fetched_at
        self.refresh()

    def render(self) -> Text:
        s = self.status
        if not s:
            return Text("loading…", style="dim")
        width = max(20, self.size.width)
        pal = Palette.of(self.app)
        now = self.clock()
        return Text("\n").join([self._line1(s, width, pal), self._line2(s, width, pal, now)])

    def _line1(self, s: dict[str, Any], width: int, pal: Palette) -> Text:
        right = Text(f"{s['mode']} · ")
        right.append(s["priority"], style=f"bold {pal.warning}" if s["priority"] in ("high", "urgent")
                     else "")
        head = Text.assemble(("agent-agency-cli", "dim"), "  ", (s["id"], "bold"), "  ")
        room = width - head.cell_len - right.cell_len - 2
        desc = s["description"].splitlines()[0] if s["description"] else ""
        if room < 8:
            head = Text.assemble((s["id"], "bold"), " ")
            room = width - head.cell_len - right.cell_len - 2
        if len(desc) > room:
            desc = desc[: max(0, room - 1)] + "…"
        head.append(desc)
        pad = max(1, width - head.cell_len - right.cell_len)
        return Text.assemble(head, " " * pad, right)

    def _line2(self, s: dict[str, Any], width: int, pal: Palette, now: float) -> Text:
        st = s["status"]
        p = s["progress"]
        elapsed = _live_seconds(s, "elapsed", self.fetched_at, now, +1)
        eta = None if s.get("finished") else _live_seconds(s, "eta", self.fetched_at, now, -1)
        deadline = parse_iso(s.get("deadline"))
        due: tuple[str, str] | None = None
        if deadline is not None:
            if s.get("finished"):
                if s.get("deadline_passed"):
                    due = ("! deadline missed", f"bold {pal.error}")
            else:
                left = deadline - now
                due = ((f"due {countdown(left)}", "") if left >= 0
                       else (f"! overdue {countdown(left)}", f"bold {pal.error}"))
        reason = s.get("reason") if s.get("finished") or st in ("escalated", "paused") else None
        pct = int(p["percent"])  # 999/1000 is 99%, not 100%
        variants = [
            (f"{p['done']}/{p['total']} steps {pct}%", "elapsed ", "ETA "),
            (f"{p['done']}/{p['total']} {pct}%", "", "ETA "),
            (f"{pct}%", "", "~"),
        ]
        for count, el_word, eta_word in variants:
            tail = Text()
            tail.append(f"  {count}")
            if elapsed is not None:
                tail.append(f"  {duration(elapsed)}" + (f" {el_word.strip()}" if el_word else ""))
            if eta is not None:
                tail.append(f"  {eta_word}{duration(eta)}", style="")
            if due is not None:
                tail.append("  ")
                tail.append(due[0], style=due[1])
            head = status_text(st, pal)
            used = head.cell_len + 2 + tail.cell_len
            bar_w = min(24, width - used - 1)
            if bar_w >= 8 or count == variants[-1][0]:
                break
        bar_w = max(4, bar_w)
        frac = (p["done"] / p["total"]) if p["total"] else 0.0
        line = Text.assemble(head, "  ")
        filled = bar(frac, bar_w, "█", "░")
        n = filled.count("█")
        line.append(filled[:n], style=pal.status(st) or pal.primary)
        line.append(filled[n:], style="dim")
        line.append_text(tail)
        if reason and line.cell_len + 4 < width:
            room = width - line.cell_len - 3
            text = reason if len(reason) <= room else reason[: room - 1] + "…"
            line.append(f"  {text}", style="italic dim")
        return line
