"""StepsTable: every step with icon, DAG bracket, progress, attempt, time, exit, worker, ★.

Rows follow the plan's parallel groups (topological levels); the steps of one
group share a bracket (┌ ├ └) so what runs in parallel is visible, and the
critical path is marked ★. Only rows whose content changed are redrawn, so a
task with 1,000 steps updates in well under a frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from agent_agency_cli.tui.format import (
    ACTIVE,
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
    if "failed" in states:
        return "✗"
    if states <= {"passed", "skipped"}:
        return "✓"
    return "…"


class StepsTable(DataTable):
    """The steps of one task. Call `load()` with a status dict, then `update_rows()`."""

    def __init__(self, clock: Callable[[], float], **kwargs: Any):
        super().__init__(cursor_type="row", zebra_stripes=False, cell_padding=0, **kwargs)
        self.clock = clock
        self.status: dict[str, Any] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.layout_rows: list[tuple[str, str, int]] = []
        self.critical: set[str] = set()
        self.fetched_at = 0.0
        self.filter_text = ""
        self.wide: bool | None = None
        self.name_width = 16
        self._keys: dict[str, tuple[Any, ...]] = {}
        self._shown: list[str] = []
        self._current_columns: list[tuple[str, str, int]] = []

    # -- data ---------------------------------------------------------------

    def load(self, status: dict[str, Any], steps: dict[str, dict[str, Any]], fetched_at: float) -> None:
        """A full (re)load: rebuilds rows if the set of steps changed, else updates."""
        self.status, self.steps, self.fetched_at = status, steps, fetched_at
        layout = dag_layout(status)
        if layout != self.layout_rows or not self.row_count:
            self.layout_rows = layout
            self.critical = set(status.get("plan", {}).get("critical_path") or [])
            self.rebuild()
        else:
            self.update_rows(None)

    def selected(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return key.value

    def select(self, name: str) -> None:
        if name in self._shown:
            self.move_cursor(row=self.get_row_index(name))

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

    # -- rendering ----------------------------------------------------------

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

    def rebuild(self) -> None:
        keep = self.selected()
        self.clear(columns=True)
        self._keys.clear()
        self._current_columns = self._columns()
        for key, label, width in self._current_columns:
            justify = "right" if key in ("try", "time", "exit", "grp") else "left"
            self.add_column(Text(label, style="bold", justify=justify), key=key, width=width)
        shown = [(n, br, g) for n, br, g in self.layout_rows if self._matches(n)]
        self._shown = [n for n, _, _ in shown]
        rows = []
        for n, br, g in shown:
            cells, sig = self._cells(n, br, g)
            self._keys[n] = sig
            rows.append(([cells[k] for k, _, _ in self._current_columns], n))
        for cells, n in rows:
            self.add_row(*cells, key=n)
        if keep and keep in self._shown:
            self.move_cursor(row=self._shown.index(keep), animate=False)

    def on_resize(self) -> None:
        if self.layout_rows and self._columns() != self._current_columns:
            self.rebuild()

    def update_rows(self, names: Iterable[str] | None) -> None:
        """Redraw the given rows (all when None) where something visible changed."""
        meta = {n: (br, g) for n, br, g in self.layout_rows}
        targets = self._shown if names is None else [n for n in names if n in self._keys]
        for n in targets:
            br, g = meta.get(n, (" ", 0))
            cells, sig = self._cells(n, br, g)
            if sig == self._keys.get(n):
                continue
            self._keys[n] = sig
            for key, _, _ in self._current_columns:
                self.update_cell(n, key, cells[key])

    def tick(self) -> None:
        """Once a second: the running steps' clocks move on."""
        self.update_rows([n for n in self._shown if self.steps.get(n, {}).get("status") == "running"])

    def _live_duration(self, st: dict[str, Any]) -> float | None:
        d = st.get("duration")
        if st.get("status") == "running":
            if d is not None:
                return d + max(0.0, self.clock() - self.fetched_at)
            started = parse_iso(st.get("started_at"))
            return None if started is None else max(0.0, self.clock() - started)
        return d

    def _cells(self, name: str, bracket: str, group: int) -> tuple[dict[str, Text], tuple[Any, ...]]:
        st = self.steps.get(name, {})
        status = st.get("status", "pending")
        pal = Palette.of(self.app) if self.is_attached else Palette()
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
        attempt = st.get("attempt") or 0
        max_a = st.get("max_attempts") or 1
        worker = str(st.get("worker") or st.get("kind") or "")
        gate = _gate_mark(st)
        pct = None if progress is None else int(progress * 100)
        sig = (status, pct, guessed, time_s, attempt, max_a, st.get("exit_code"), worker, gate,
               wide, self.name_width, pal.primary)
        color = pal.status(status)
        cells: dict[str, Text] = {}
        # step: icon, bracket, name
        cell = Text(" ", no_wrap=True, overflow="ellipsis")
        cell.append(icon(status), style=color)
        cell.append(f" {bracket} ", style="dim")
        name_style = "bold" if status in ACTIVE or status == "awaiting_approval" else ""
        if status in ("skipped", "cancelled"):
            name_style = "dim"
        cell.append(short(name, self.name_width - 5), style=name_style)
        cells["step"] = cell
        # progress: a bar for running/paused/completed steps, a word otherwise
        if status in ACTIVE or status == "completed":
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
        code = st.get("exit_code")
        cells["exit"] = Text("" if code is None else str(code), justify="right",
                             style=pal.error if code not in (None, 0) else "dim")
        cells["gate"] = Text(f" {gate}", style=pal.success if gate == "✓" else pal.error if gate == "✗" else "")
        cells["worker"] = Text(" " + short(worker, 7), style="dim")
        cells["grp"] = Text(str(group) if group else "", style="dim", justify="right")
        cells["crit"] = Text(" ★" if name in self.critical else "", style=pal.accent)
        return cells, sig
