"""The TUI's model without Textual: folding events into a status, the DAG layout,
tailing a log in bounded chunks, event lines, and the rule that the TUI has no SQL."""

from __future__ import annotations

import re
from pathlib import Path

from agent_agency_cli.executors.base import log_timestamp
from agent_agency_cli.tui.feed import LogTail, TaskFeed, apply_event, recount
from agent_agency_cli.tui.format import Palette, event_text
from agent_agency_cli.tui.steps import dag_layout
from tests.tui.conftest import shell_plan

TUI = Path(__file__).resolve().parents[2] / "agent_agency_cli" / "tui"


def _status(*names: str) -> tuple[dict, dict]:
    steps = [{"name": n, "status": "pending", "attempt": 0, "duration": None, "progress": None,
              "exit_code": None} for n in names]
    status = {"status": "running", "finished": False, "steps": steps}
    return status, {s["name"]: s for s in steps}


def test_events_are_folded_into_the_cached_status():
    status, steps = _status("a", "b")
    ev = lambda kind, step=None, **p: {"kind": kind, "step": step, "payload": p, "ts": "2026-01-01T00:00:00Z"}  # noqa: E731
    assert apply_event(status, steps, ev("step_started", "a", status="running", attempt=1)) == "a"
    assert steps["a"]["status"] == "running" and steps["a"]["attempt"] == 1
    apply_event(status, steps, ev("step_progress", "a", progress=0.5, message="half"))
    assert steps["a"]["progress"] == 0.5 and steps["a"]["progress_message"] == "half"
    apply_event(status, steps, ev("step_completed", "a", status="completed", duration=1.5, exit_code=0))
    assert steps["a"]["status"] == "completed" and steps["a"]["duration"] == 1.5
    apply_event(status, steps, ev("approval_requested", "b", status="awaiting_approval", command="x"))
    assert status["approval"]["step"] == "b" and steps["b"]["status"] == "awaiting_approval"
    apply_event(status, steps, ev("step_approved", "b", who="ana@box"))
    assert status["approval"] is None
    apply_event(status, steps, ev("task_failed", None, status="failed", reason="boom"))
    assert status["status"] == "failed" and status["finished"] and status["reason"] == "boom"
    recount(status, steps)
    assert status["progress"]["done"] == 1 and status["progress"]["total"] == 2
    assert status["progress"]["percent"] == 50.0


def test_dag_layout_brackets_parallel_groups():
    status = {"steps": [{"name": n} for n in ("a", "b", "c", "d", "e")],
              "plan": {"parallel_groups": [["a"], ["b", "c", "d"], ["e"]]}}
    assert dag_layout(status) == [("a", " ", 1), ("b", "┌", 2), ("c", "├", 2), ("d", "└", 2),
                                  ("e", " ", 3)]


def _write_log(path: Path, lines: list[str], stream: str = "out") -> None:
    with open(path, "a", encoding="utf-8") as fh:
        for ln in lines:
            fh.write(f"{log_timestamp()} {stream}| {ln}\n")


def test_log_tail_reads_only_what_is_new_and_jumps_when_far_behind(tmp_path):
    path = tmp_path / "s.log"
    tail = LogTail(path, initial=1000, max_chunk=4000)
    assert tail.read() is None  # no file yet
    _write_log(path, ["one", "two"])
    chunk = tail.read()
    assert [t for _, _, t in chunk.lines] == ["one", "two"] and not chunk.skipped
    assert tail.read() is None
    # a partial line waits for its end
    with open(path, "a") as fh:
        fh.write(f"{log_timestamp()} err| half")
    assert tail.read().lines == []
    with open(path, "a") as fh:
        fh.write(" done\n")
    (_ts, stream, text), = tail.read().lines
    assert (stream, text) == ("err", "half done")
    # far behind: it jumps to the newest max_chunk bytes and says how much it skipped
    _write_log(path, [f"line {i:05d}" for i in range(2000)])
    chunk = tail.read()
    assert chunk.skipped > 0 and chunk.lines[-1][2] == "line 01999"
    assert sum(len(t) for _, _, t in chunk.lines) < 4000
    # truncated or replaced: start again
    path.write_text("")
    _write_log(path, ["fresh"])
    chunk = tail.read()
    assert chunk.reset and [t for _, _, t in chunk.lines] == ["fresh"]


def test_a_big_log_starts_at_its_tail(tmp_path):
    path = tmp_path / "big.log"
    _write_log(path, [f"line {i:05d}" for i in range(5000)])
    chunk = LogTail(path, initial=2000).read()
    assert chunk.skipped > 0 and chunk.lines[-1][2] == "line 04999" and len(chunk.lines) < 100


def test_event_lines_show_who_and_why():
    pal = Palette()
    line = event_text({"kind": "intervention_requested", "step": None, "ts": "2026-01-01T12:00:00Z",
                       "payload": {"kind": "cancel", "who": "ana@box", "reason": "wrong branch"}}, pal)
    assert "cancel requested by ana@box: wrong branch" in line.plain
    assert event_text({"kind": "step_progress", "step": "a", "ts": None, "payload": {}}, pal) is None
    line = event_text({"kind": "step_failed", "step": "a", "ts": None,
                       "payload": {"status": "failed", "reason": "exit code 2"}}, pal)
    assert line.plain.split(" ", 1)[1] == "✗ a failed: exit code 2"


def test_feed_polls_cheaply_and_sees_new_events(orch, home):
    tid = orch.submit_task(shell_plan({"name": "a", "run": "true"}), start_daemon=False)
    from agent_agency_cli.orchestrator import TaskOrchestrator

    with TaskOrchestrator(home=home) as reader:
        feed = TaskFeed(reader, tid, background=False)
        history = feed.load()
        assert history[0]["kind"] == "task_created"
        assert feed.poll() is None  # nothing new: no query beyond data_version
        orch.pause(tid)
        update = feed.poll()
        assert update is not None and any(e["kind"] == "task_paused" for e in update.events)
        assert feed.status["status"] == "paused"


def test_the_tui_has_no_sql_of_its_own():
    sql = re.compile(r"\.execute\(|\bSELECT\b|\bUPDATE\b\s+\w+\s+SET|\bINSERT INTO\b|sqlite3")
    for path in TUI.glob("*.py"):
        assert not sql.search(path.read_text()), f"{path.name} talks SQL; use the orchestrator"
