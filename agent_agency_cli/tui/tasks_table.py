"""TasksTable: every task with status, priority, progress, age and description."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from agent_agency_cli.tui.format import Palette, bar, countdown, icon, parse_iso, short, status_label

SHORT = {"awaiting_approval": "approval?", "awaiting_review": "review?",
         "partially_completed": "partial"}
ACTIVE_TASK = frozenset({"running", "paused", "awaiting_approval", "awaiting_review", "escalated"})


def matches(task: dict[str, Any], text: str) -> bool:
    words = text.lower().split()
    hay = f"{task['id']} {task['status']} {status_label(task['status'])} {task['priority']} " \
          f"{task['mode']} {task['description'].lower()}"
    if "active" in words:
        words = [w for w in words if w != "active"]
        if task["status"] not in ACTIVE_TASK and task["status"] != "queued":
            return False
    return all(w in hay for w in words)


class TasksTable(DataTable):
    """Rows keyed by task id; `show(tasks)` updates in place, keeping the cursor on its task."""

    def __init__(self, clock: Callable[[], float], **kwargs: Any):
        super().__init__(cursor_type="row", cell_padding=1, **kwargs)
        self.clock = clock
        self.tasks: list[dict[str, Any]] = []
        self.filter_text = ""
        self._sig: dict[str, tuple[Any, ...]] = {}
        self._order: list[str] = []
        self._cols: list[tuple[str, str, int]] = []
        self.narrow = True

    def _columns(self) -> list[tuple[str, str, int]]:
        width = (self.size.width or 80) - 3
        self.narrow = width < 100
        cols = [("id", "id", 6), ("status", "status", 12 if self.narrow else 19),
                ("prio", "priority", 8), ("progress", "progress", 13 if self.narrow else 16),
                ("age", "age", 7)]
        used = sum(w + 2 for _, _, w in cols)
        return [*cols, ("desc", "description", max(10, width - used - 2))]

    def selected(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.show(self.tasks, rebuild=True)

    def on_resize(self) -> None:
        if self._cols and self._columns() != self._cols:
            self.show(self.tasks, rebuild=True)

    def show(self, tasks: list[dict[str, Any]], rebuild: bool = False) -> None:
        self.tasks = tasks
        shown = [t for t in tasks if not self.filter_text or matches(t, self.filter_text)]
        order = [t["id"] for t in shown]
        cols = self._columns()
        if rebuild or order != self._order or cols != self._cols:
            keep = self.selected()
            self.clear(columns=True)
            self._cols = cols
            for key, label, width in cols:
                self.add_column(Text(label, style="bold"), key=key, width=width)
            self._sig.clear()
            for t in shown:
                cells, sig = self._cells(t)
                self._sig[t["id"]] = sig
                self.add_row(*cells, key=t["id"])
            self._order = order
            if keep in order:
                self.move_cursor(row=order.index(keep), animate=False)
            return
        for t in shown:
            cells, sig = self._cells(t)
            if sig != self._sig.get(t["id"]):
                self._sig[t["id"]] = sig
                for (key, _, _), cell in zip(cols, cells, strict=True):
                    self.update_cell(t["id"], key, cell)

    def _cells(self, t: dict[str, Any]) -> tuple[list[Text], tuple[Any, ...]]:
        pal = Palette.of(self.app)
        now = self.clock()
        created = parse_iso(t.get("created_at")) or now
        age = countdown(max(0.0, now - created))
        p = t["progress"]
        frac = p["done"] / p["total"] if p["total"] else 0.0
        b = bar(frac, 5 if self.narrow else 8, "━", "─")
        n = b.count("━")
        prog = Text(no_wrap=True)
        prog.append(b[:n], style=pal.status(t["status"]) or pal.primary)
        prog.append(b[n:], style="dim")
        prog.append(f" {p['done']}/{p['total']}")
        word = SHORT.get(t["status"], status_label(t["status"])) if self.narrow else status_label(t["status"])
        st = Text(f"{icon(t['status'])} {word}", style=pal.status(t["status"]))
        prio = Text(t["priority"], style=f"bold {pal.warning}" if t["priority"] in ("high", "urgent")
                    else "dim" if t["priority"] == "low" else "")
        desc_w = self._cols[-1][2] if self._cols else 30
        desc = Text(short(t["description"].splitlines()[0] if t["description"] else "", desc_w))
        if t.get("deadline_passed"):
            desc = Text.assemble(("! ", pal.error), desc)
        sig = (t["status"], t["priority"], p["done"], p["total"], age, t["description"],
               t.get("deadline_passed"), desc_w, self.narrow, pal.primary)
        return [Text(t["id"], style="bold"), st, prio, prog, Text(age, justify="right"), desc], sig
