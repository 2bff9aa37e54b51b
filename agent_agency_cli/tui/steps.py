"""StepsTable: every step with icon, DAG bracket, progress, attempt, time, exit, worker, ★.

Rows follow the plan's parallel groups (topological levels); the steps of one
group share a bracket (┌ ├ └) so what runs in parallel is visible, and the
critical path is marked ★.

It is a line-API widget (a ScrollView that renders one row per line) rather than
a DataTable: each row is rendered once and cached by what it shows, so a status
change redraws one line — not every visible row, as any DataTable cell update
does. With 1,000 steps that is the difference between a few % and a third of a
core. Keys: ↑ ↓ PgUp PgDn Home End move the cursor; the mouse wheel scrolls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from agent_agency_cli.step_view import GATE_OK, gate_failed, shown_exit, shown_tries
from agent_agency_cli.tui.format import (
    ACTIVE,
    GATE_FAILED_ICON,
    Palette,
    bar,
    duration,
    icon,
    parse_iso,
    short,
    status_label,
)

SHORT_WORDS = {"awaiting_approval": "approve?", "waiting_resources": "waiting",
               "interrupted": "interrupt", "cancelled": "cancelled"}
RIGHT = frozenset({"try", "time", "exit", "grp"})
# extra columns, in the order they are added while the terminal is wide enough
OPTIONAL = [("try", "try", 4), ("exit", "exit", 5), ("gate", " gate", 5), ("worker", " worker", 8),
            ("grp", "grp", 4)]


def dag_layout(status: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(step, bracket, group number) in display order: by parallel group, then plan order."""
    names = [s["name"] for s in status["steps"]]
    known = set(names)
    out: list[tuple[str, str, int]] = []
    seen: set[str] = set()
    for gi, group in enumerate(status.get("plan", {}).get("parallel_groups") or [], 1):
        members = [n for n in group if n in known and n not in seen]
        for j, n in enumerate(members):
            if len(members) == 1:
                br = " "
            elif j == 0:
                br = "┌"
            elif j == len(members) - 1:
                br = "└"
            else:
                br = "├"
            out.append((n, br, gi))
            seen.add(n)
    out.extend((n, " ", 0) for n in names if n not in seen)
    return out


def _gate_mark(step: dict[str, Any]) -> str:
    gates = step.get("gates")
    if not gates:
        return ""
    states = {str(g.get("status")) for g in gates}
    if states <= GATE_OK:
        return "✓"
    if "running" in states or "pending" in states:
        return "…"
    return "✗"  # failed, or errored: not passed


class StepsTable(ScrollView, can_focus=True):
    """The steps of one task. `load()` a status dict, `update_rows()` + `flush()` changes."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"steps--header", "steps--cursor", "steps--cursor-blur"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "cursor_to(0)", "first", show=False),
        Binding("end", "cursor_to(-1)", "last", show=False),
    ]

    class StepHighlighted(Message):
        """The cursor moved to another step (by the user or by `select`)."""

        def __init__(self, table: StepsTable, step: str, by_user: bool):
            super().__init__()
            self.table = table
            self.step = step
            self.by_user = by_user

    def __init__(self, clock: Callable[[], float], **kwargs: Any):
        super().__init__(**kwargs)
        self.clock = clock
        self.status: dict[str, Any] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.layout_rows: list[tuple[str, str, int]] = []
        self.critical: set[str] = set()
        self.fetched_at = 0.0
        self.filter_text = ""
        self.wide: bool | None = None
        self.name_width = 16
        self.cursor = 0
        self.palette = Palette()
        self._keys: dict[str, tuple[Any, ...]] = {}
        self._meta: dict[str, tuple[str, int]] = {}
        self._shown: list[str] = []
        self._index: dict[str, int] = {}
        self._current_columns: list[tuple[str, str, int]] = []
        self._pending: set[str] = set()
        self._pending_all = False
        self._strips: dict[str, tuple[Any, Strip]] = {}
        self._header: tuple[Any, Strip] | None = None
        self._style: Style | None = None

    # -- data ---------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._shown)

    def load(self, status: dict[str, Any], steps: dict[str, dict[str, Any]], fetched_at: float) -> None:
        """A full (re)load: rebuilds rows if the set of steps changed, else marks all for update."""
        self.status, self.steps, self.fetched_at = status, steps, fetched_at
        layout = dag_layout(status)
        if layout != self.layout_rows or not self._shown:
            self.layout_rows = layout
            self._meta = {n: (br, g) for n, br, g in layout}
            self.critical = set(status.get("plan", {}).get("critical_path") or [])
            self.rebuild()
        else:
            self.update_rows(None)

    def selected(self) -> str | None:
        if not self._shown:
            return None
        return self._shown[min(self.cursor, len(self._shown) - 1)]

    def select(self, name: str) -> None:
        """Put the cursor on a step (programmatically: the message says by_user=False)."""
        if name in self._index:
            self._move(self._index[name], by_user=False)

    def get_cell(self, name: str, column: str) -> Text:
        """The cell as drawn (tests and screen readers)."""
        br, g = self._meta.get(name, (" ", 0))
        return self._cells(name, br, g)[column]

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        self.rebuild()

    def _matches(self, name: str) -> bool:
        f = self.filter_text
        if not f:
            return True
        st = self.steps.get(name, {})
        words = f.split()
        hay = f"{name.lower()} {st.get('status', '')} {status_label(st.get('status', ''))}"
        return all(w in hay or (w == "★" and name in self.critical) for w in words)

    # -- layout -------------------------------------------------------------

    def _columns(self) -> list[tuple[str, str, int]]:
        """The columns that fit: name first, then progress, time and ★; extras while room.

        Cells have no padding; every column after the first starts with its own space.
        """
        width = (self.size.width or 80) - 2  # scrollbar and margin
        cols: dict[str, tuple[str, int]] = {"prog": (" progress", 10), "time": ("time", 6),
                                            "crit": (" ★", 2)}
        used = sum(w for _, w in cols.values())
        longest = max((len(n) for n, _, _ in self.layout_rows), default=8) + 5
        want_name = max(18, min(longest, 30))
        if width - used - 6 >= want_name:
            cols["prog"] = (" progress", 16)
            used += 6
        has_gates = any(st.get("gates") for st in self.steps.values())
        for key, label, w in OPTIONAL:
            if key == "gate" and not has_gates:
                continue
            if width - used - w >= want_name:
                cols[key] = (label, w)
                used += w
        self.wide = cols["prog"][1] >= 16
        self.name_width = max(10, min(max(longest, 12), width - used, 40))
        order = ["prog", "try", "time", "exit", "gate", "worker", "grp", "crit"]
        return [("step", " step", self.name_width),
                *((k, cols[k][0], cols[k][1]) for k in order if k in cols)]

    def on_mount(self) -> None:
        self.palette = Palette.of(self.app)

    def restyle(self) -> None:
        self.palette = Palette.of(self.app)
        self.rebuild()

    def rebuild(self) -> None:
        keep = self.selected()
        self._pending.clear()
        self._pending_all = False
        self._strips.clear()
        self._header = None
        self._current_columns = self._columns()
        self._shown = [n for n, _, _ in self.layout_rows if self._matches(n)]
        self._index = {n: i for i, n in enumerate(self._shown)}
        self._keys = {n: self._sig(n) for n in self._shown}
        self.virtual_size = Size(1, len(self._shown) + 1)  # never wider than the pane
        if keep in self._index:
            self.cursor = self._index[keep]
        else:
            self.cursor = 0
            if self._shown:
                self.post_message(self.StepHighlighted(self, self._shown[0], by_user=False))
        self._scroll_cursor_visible()
        self.refresh()

    def on_resize(self) -> None:
        if self.layout_rows and self._columns() != self._current_columns:
            self.rebuild()

    # -- updates ------------------------------------------------------------

    def update_rows(self, names: Iterable[str] | None) -> None:
        """Mark rows (all when None) to look at in the next `flush()`."""
        if names is None:
            self._pending_all = True
        else:
            self._pending.update(names)

    def flush(self) -> int:
        """Redraw the marked rows whose visible content changed; returns how many."""
        if not (self._pending or self._pending_all):
            return 0
        targets = self._shown if self._pending_all else [n for n in self._pending if n in self._index]
        self._pending.clear()
        self._pending_all = False
        changed = 0
        for n in targets:
            sig = self._sig(n)
            if sig == self._keys.get(n):
                continue
            self._keys[n] = sig
            self.refresh_line(self._index[n] + 1)
            changed += 1
        return changed

    def tick(self) -> None:
        """Once a second: the running steps' clocks move on."""
        self.update_rows([n for n, st in self.steps.items() if st.get("status") == "running"])

    # -- cursor -------------------------------------------------------------

    def _move(self, row: int, by_user: bool) -> None:
        if not self._shown:
            return
        row = max(0, min(len(self._shown) - 1, row))
        old = self.cursor
        self.cursor = row
        if old != row:
            self.refresh_line(old + 1)
            self.refresh_line(row + 1)
        self._scroll_cursor_visible()
        self.post_message(self.StepHighlighted(self, self._shown[row], by_user))

    def _scroll_cursor_visible(self) -> None:
        rows_visible = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows_visible:
            self.scroll_to(y=self.cursor - rows_visible + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta, by_user=True)

    def action_page(self, direction: int) -> None:
        rows_visible = max(1, self.scrollable_content_region.height - 1)
        self._move(self.cursor + direction * rows_visible, by_user=True)

    def action_cursor_to(self, row: int) -> None:
        self._move(row if row >= 0 else len(self._shown) - 1, by_user=True)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self._move(round(self.scroll_y) + event.y - 1, by_user=True)

    def on_focus(self) -> None:
        self.refresh_line(self.cursor + 1)

    def on_blur(self) -> None:
        self.refresh_line(self.cursor + 1)

    # -- rendering ----------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style = None
        self._strips.clear()
        self._header = None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if self._style is None:  # rich_style walks the ancestors: once per style change
            self._style = self.rich_style
        base = self._style
        if y == 0:
            key = (width, base, tuple(self._current_columns))
            if self._header is None or self._header[0] != key:
                line = Text(no_wrap=True)
                for k, label, w in self._current_columns:
                    cell = Text(label)
                    if k in RIGHT:
                        cell = Text(label.rjust(w))
                    cell.truncate(w, pad=True)
                    line.append_text(cell)
                line.stylize_before(base + self.get_component_rich_style("steps--header"))
                self._header = (key, self._strip(line, width, base))
            return self._header[1]
        row = round(self.scroll_y) + y - 1
        if row >= len(self._shown):
            return Strip.blank(width, base)
        name = self._shown[row]
        cursor = None
        if row == self.cursor:
            cursor = "steps--cursor" if self.has_focus else "steps--cursor-blur"
        key = (self._keys.get(name), width, cursor, base)
        got = self._strips.get(name)
        if got is not None and got[0] == key:
            return got[1]
        br, g = self._meta.get(name, (" ", 0))
        cells = self._cells(name, br, g)
        line = Text(no_wrap=True)
        for k, _, w in self._current_columns:
            cell = cells[k].copy()
            if k in RIGHT:
                cell.align("right", w)
            else:
                cell.truncate(w, overflow="ellipsis", pad=True)
            line.append_text(cell)
        style = base + self.get_component_rich_style(cursor) if cursor else base
        line.stylize_before(style)
        strip = self._strip(line, width, style)
        self._strips[name] = (key, strip)
        return strip

    def _strip(self, line: Text, width: int, style: Style) -> Strip:
        segments = [s for s in line.render(self.app.console) if s.text != "\n"]
        return Strip(segments).crop_extend(0, width, style)

    def _live_duration(self, st: dict[str, Any]) -> float | None:
        d = st.get("duration")
        if st.get("status") == "running":
            if d is not None:
                return d + max(0.0, self.clock() - self.fetched_at)
            started = parse_iso(st.get("started_at"))
            return None if started is None else max(0.0, self.clock() - started)
        return d

    def _sig(self, name: str) -> tuple[Any, ...]:
        """What a row shows, cheaply: redraw only when this changes."""
        st = self.steps.get(name, {})
        status = st.get("status", "pending")
        progress = st.get("progress")
        dur = self._live_duration(st)
        return (status, None if progress is None else int(progress * 100),
                None if dur is None else duration(dur), st.get("attempt"), st.get("max_attempts"),
                shown_exit(st), st.get("worker"), bool(st.get("gates")) and _gate_mark(st),
                self.wide, self.name_width)

    def _cells(self, name: str, bracket: str, group: int) -> dict[str, Text]:
        st = self.steps.get(name, {})
        status = st.get("status", "pending")
        pal = self.palette
        wide = bool(self.wide)
        prog_w = 15 if wide else 9  # without the leading space
        progress = st.get("progress")
        dur = self._live_duration(st)
        est = st.get("estimate")
        guessed = False
        if status in ACTIVE and progress is None and est and dur is not None:
            progress, guessed = min(0.95, dur / est), True
        time_s = duration(dur) if dur is not None else (f"~{duration(est)}" if est and status == "pending"
                                                        else "")
        attempt, max_a = shown_tries(st)
        worker = str(st.get("worker") or st.get("kind") or "")
        gate = _gate_mark(st)
        pct = None if progress is None else int(progress * 100)
        color = pal.status(status)
        cells: dict[str, Text] = {}
        # step: icon, bracket, name
        cell = Text(" ", no_wrap=True, overflow="ellipsis")
        failed_gate = status == "completed" and gate_failed(st)
        if failed_gate:  # never a plain ✓: the CLI's `◐ completed, gate failed`
            cell.append(GATE_FAILED_ICON, style=pal.warning)
        else:
            cell.append(icon(status), style=color)
        cell.append(f" {bracket} ", style="dim")
        name_style = "bold" if status in ACTIVE or status == "awaiting_approval" else ""
        if status in ("skipped", "cancelled"):
            name_style = "dim"
        cell.append(short(name, self.name_width - 5), style=name_style)
        cells["step"] = cell
        # progress: a bar for running/paused/completed steps, a word otherwise
        if failed_gate:
            cell = Text(" " + ("gate failed" if wide else "gate ✗"), style=pal.warning)
        elif status in ACTIVE or status == "completed":
            frac = 1.0 if status == "completed" else (progress or 0.0)
            b = bar(frac, prog_w - 5, "━", "─")
            n = b.count("━")
            cell = Text(" ", no_wrap=True)
            cell.append(b[:n], style=color if status != "completed" else f"dim {color}")
            cell.append(b[n:], style="dim")
            if status == "completed":
                label = ""
            elif status == "paused":
                label = "‖"
            else:
                label = "" if pct is None else (f"~{pct}%" if guessed and pct < 100 else f"{pct}%")
            cell.append(f"{label:>5}", style="dim" if guessed else "")
        elif status == "pending":
            cell = Text("")
        else:
            word = status_label(status) if wide else SHORT_WORDS.get(status, status_label(status))
            cell = Text(" " + short(word, prog_w), style=f"bold {color}" if status == "awaiting_approval"
                        else color)
        cells["prog"] = cell
        tries = f"{attempt}/{max_a}" if attempt and max_a > 1 else (str(attempt) if attempt else "")
        cells["try"] = Text(tries, style="dim" if attempt <= 1 else pal.warning, justify="right")
        cells["time"] = Text(time_s, style="dim" if time_s.startswith("~") else "", justify="right")
        code = shown_exit(st)  # a step running again shows no stale exit code
        cells["exit"] = Text("" if code is None else str(code), justify="right",
                             style=pal.error if code not in (None, 0) else "dim")
        cells["gate"] = Text(f" {gate}", style=pal.success if gate == "✓" else pal.error if gate == "✗" else "")
        cells["worker"] = Text(" " + short(worker, 7), style="dim")
        cells["grp"] = Text(str(group) if group else "", style="dim", justify="right")
        cells["crit"] = Text(" ★" if name in self.critical else "", style=pal.accent)
        return cells
