"""`task status` of a big task: a summary by default for people, `--steps` and pages for the
table, `--summary` for both forms; `--json` follows the same rule (`--steps` for every step).

The task is a real chain run in the foreground (ten steps complete, the eleventh fails, the
rest never run), so the counts and the notable step come from a real run.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent_agency_cli.orchestration.step_selection import AUTO_ALL_MAX, SUMMARY_MAX
from agent_agency_cli.orchestrator import TaskOrchestrator

STEPS = AUTO_ALL_MAX + 10  # past the size a plain status shows whole


def _chain(home: Path, n: int, fail_at: int | None = None, run: bool = True) -> str:
    steps = [{"name": f"s{i}", "run": "exit 3" if i == fail_at else "true", **({"needs": [f"s{i - 1}"]} if i else {})}
             for i in range(n)]
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"description": "a long chain", "plan": {"steps": steps}}, start_daemon=False)
        if run:
            orch.run_foreground(tid)
    return tid


@pytest.fixture(scope="module")
def failed_chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("chain") / "home"
    home.mkdir()
    return home, _chain(home, STEPS, fail_at=10)


@pytest.fixture
def big(failed_chain, cli):  # the module's home for this test's CLI
    home, tid = failed_chain
    cli.home = home
    return cli, tid


def _rows(out: str) -> list[list[str]]:
    """The steps table's rows (without the header), each split into words, ★ left out."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["step", "status"])
    rows = []
    for ln in lines[start + 1:]:
        words = [w for w in ln.split() if w != "★"]
        if not words or not words[0].startswith("s") or not words[0][1:].isdigit():
            break
        rows.append(words)
    return rows


def test_plain_status_of_a_big_task_shows_counts_and_the_failed_step(big):
    cli, tid = big
    res = cli("task", "status", tid)
    assert res.returncode == 0, res.stderr
    by_status = cli.json("task", "status", tid)["progress"]["by_status"]
    assert by_status["completed"] == 10 and by_status["failed"] == 1
    rest = {k: v for k, v in by_status.items() if k not in ("completed", "failed")}
    assert sum(rest.values()) == STEPS - 11
    counts = next(ln for ln in res.stdout.splitlines() if ln.startswith(f"{STEPS} steps: "))
    for status, n in by_status.items():
        assert f"{n} {status}" in counts
    rows = _rows(res.stdout)
    assert [r[:2] for r in rows] == [["s10", "failed"]]
    assert f"every step: agent-agency-cli task status {tid} --steps" in res.stdout


def test_steps_flag_shows_every_step(big):
    cli, tid = big
    res = cli("task", "status", tid, "--steps")
    assert res.returncode == 0, res.stderr
    rows = _rows(res.stdout)
    assert [r[0] for r in rows] == [f"s{i}" for i in range(STEPS)]
    assert [r[1] for r in rows[:11]] == ["completed"] * 10 + ["failed"]
    assert "every step:" not in res.stdout


def test_a_page_of_steps_plain_and_json(big):
    cli, tid = big
    res = cli("task", "status", tid, "--limit", "5", "--offset", "8")
    assert res.returncode == 0, res.stderr
    assert [r[0] for r in _rows(res.stdout)] == ["s8", "s9", "s10", "s11", "s12"]
    assert (f"steps 9-13 of {STEPS}; next page: agent-agency-cli task status {tid} --limit 5 --offset 13"
            in res.stdout)
    data = cli.json("task", "status", tid, "--limit", "5", "--offset", "8")
    assert [s["name"] for s in data["steps"]] == ["s8", "s9", "s10", "s11", "s12"]
    assert data["steps_shown"] == {"selection": "page", "offset": 8, "count": 5, "total": STEPS}
    assert data["progress"]["total"] == STEPS and data["progress"]["done"] == 10
    last = cli("task", "status", tid, "--limit", "50", "--offset", str(STEPS - 2))
    assert [r[0] for r in _rows(last.stdout)] == [f"s{STEPS - 2}", f"s{STEPS - 1}"]
    assert f"steps {STEPS - 1}-{STEPS} of {STEPS}\n" in last.stdout  # the last page: no next
    past = cli("task", "status", tid, "--offset", "1000")
    assert past.returncode == 0 and f"no steps from position 1000 (the task has {STEPS})" in past.stdout


def test_json_summarises_a_big_task_and_steps_gives_every_step(big):
    cli, tid = big
    default = cli.json("task", "status", tid)  # like the plain form: a big task is summarised
    assert default["steps_shown"]["selection"] == "summary"
    assert [s["name"] for s in default["steps"]] == ["s10"]
    full = cli.json("task", "status", tid, "--steps")
    assert gc.isenabled()  # paused while the status is built and written, then on again
    assert [s["name"] for s in full["steps"]] == [f"s{i}" for i in range(STEPS)]
    assert full["steps_shown"] == {"selection": "all", "offset": 0, "count": STEPS, "total": STEPS}
    summary = cli.json("task", "status", tid, "--summary")
    assert [(s["name"], s["status"], s["exit_code"]) for s in summary["steps"]] == [("s10", "failed", 3)]
    assert summary["steps_shown"] == {"selection": "summary", "offset": 0, "count": 1, "total": STEPS,
                                      "notable": 1}
    assert summary["progress"] == full["progress"]
    assert summary["failed_step"] == "s10" and summary["status"] == "failed"


@pytest.mark.parametrize(("args", "needle"), [
    (["--summary", "--steps"], "--summary shows the notable steps only"),
    (["--summary", "--limit", "3"], "--summary shows the notable steps only"),
    (["--limit", "-1"], "--limit"),
    (["--offset", "-4"], "--offset"),
])
def test_bad_step_options_are_one_line_and_exit_2(big, args, needle):
    cli, tid = big
    res = cli("task", "status", tid, *args)
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ") and needle in res.stderr


def test_a_small_task_still_shows_every_step(cli, home):
    tid = _chain(home, 3, fail_at=1)
    res = cli("task", "status", tid)
    assert res.returncode == 0, res.stderr
    assert [r[0] for r in _rows(res.stdout)] == ["s0", "s1", "s2"]
    assert "steps:" not in res.stdout and "every step:" not in res.stdout
    data = cli.json("task", "status", tid, "--summary")  # asked for: the summary even of a small task
    assert [s["name"] for s in data["steps"]] == ["s1"]


def test_summary_names_gate_failures_and_caps_the_rows(cli, home):
    tid = _chain(home, STEPS + 20, run=False)
    with TaskOrchestrator(home=home) as orch:  # a completed step whose gate failed is notable too
        orch.store.add_gate_result(tid, "s3", 1, {"gate": "code_style", "status": "failed", "score": 0.5},
                                   0.0, 1.0)
    conn = sqlite3.connect(home / "agency.db")
    with conn:  # more failed steps than a summary shows
        conn.execute("UPDATE steps SET status = 'completed' WHERE task_id = ? AND name = 's3'", (tid,))
        conn.execute("UPDATE steps SET status = 'failed' WHERE task_id = ? AND idx >= 10", (tid,))
    conn.close()
    data = cli.json("task", "status", tid, "--summary")
    names = [s["name"] for s in data["steps"]]
    assert names == ["s3", *(f"s{i}" for i in range(10, 10 + SUMMARY_MAX - 1))]
    assert data["steps"][0]["gates"][0]["status"] == "failed"
    assert data["steps_shown"]["notable"] == STEPS + 20 - 10 + 1
    plain = cli("task", "status", tid)
    assert f"shown: the first {SUMMARY_MAX} of {STEPS + 20 - 10 + 1} running, waiting or failed steps" in plain.stdout
    assert _rows(plain.stdout)[0][:4] == ["s3", "completed,", "gate", "failed"]


def test_status_json_schema_declares_steps_shown(cli):
    schema = json.loads(cli("schema", "status").stdout)
    assert "steps_shown" in schema["properties"]
    shown = schema["$defs"]["StepsShown"]["properties"]
    assert set(shown) == {"selection", "offset", "count", "total", "notable"}


def test_the_eta_of_a_summary_or_page_is_the_whole_task_s(cli, home):
    steps = [{"name": f"s{i}", "run": "true", "estimate": 10, **({"needs": [f"s{i - 1}"]} if i else {})}
             for i in range(STEPS)]
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"description": "estimated", "plan": {"steps": steps}}, start_daemon=False)
    full = cli.json("task", "status", tid, "--steps")
    assert full["eta"] == pytest.approx(10 * STEPS)
    assert cli.json("task", "status", tid, "--summary")["eta"] == full["eta"]
    assert cli.json("task", "status", tid, "--limit", "2")["eta"] == full["eta"]
    no_estimates = _chain(home, STEPS, run=False)
    assert cli.json("task", "status", no_estimates, "--summary")["eta"] is None


def test_a_summary_or_page_reads_the_steps_through_indexes(big):
    # Without the indexes (migration m009) each query walked every row of the task: seconds
    # on 100,000 steps. Every steps query a summary and a page run must seek an index.
    cli, tid = big
    with TaskOrchestrator(home=cli.home) as orch:
        seen: list[str] = []
        orch.store.conn.set_trace_callback(seen.append)
        try:
            orch.get_status(tid, steps="summary")
            orch.get_status(tid, limit=5, offset=20)
        finally:
            orch.store.conn.set_trace_callback(None)
        queries = [s for s in seen if "FROM steps" in s and "get_steps" not in s]
        assert len(queries) >= 4
        for sql in queries:
            plan = [r[-1] for r in orch.store.conn.execute("EXPLAIN QUERY PLAN " + sql)]
            # A SCAN, or a search of the primary key on task_id alone, reads every step of the task.
            walks = [p for p in plan if p.startswith("SCAN steps")
                     or (p.startswith("SEARCH steps USING INDEX sqlite_autoindex") and p.endswith("(task_id=?)"))]
            assert not walks, (sql, plan)


_IMPORTS = r"""
import sys
before = set(sys.modules)  # what the interpreter (and a coverage run's start-up) loaded already
import contextlib, io, json
from agent_agency_cli.cli.fast import run
with contextlib.redirect_stdout(io.StringIO()):
    code = run(json.loads(sys.argv[1]))
new = set(sys.modules) - before
print(json.dumps({"exit": code, "loaded": [m for m in ("subprocess", "hashlib") if m in new]}))
"""


def test_status_events_and_list_start_without_subprocess_or_hashlib(big):
    # Start-up is most of a summary's cost: a task no engine holds needs no process check
    # (procgroup pulls subprocess) and a status hashes no outputs.
    cli, tid = big
    for argv in (["task", "status", tid], ["task", "status", tid, "--json", "--summary"],
                 ["task", "events", tid, "--json"], ["task", "list"]):
        res = subprocess.run([sys.executable, "-c", _IMPORTS, json.dumps(["--home", str(cli.home), *argv])],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout.splitlines()[-1]) == {"exit": 0, "loaded": []}, argv
