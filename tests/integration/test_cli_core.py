"""The scripting CLI end to end: real executable, real SQLite, real processes."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from tests.conftest import EXAMPLES, wait_for


def _ts(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def test_quickstart_completes_with_wait(cli, home):
    res = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"), "--wait")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip()
    assert len(tid) == 6
    assert "task completed" in res.stderr
    status = cli.json("task", "status", tid)
    assert status["status"] == "completed"
    assert status["exit_code"] == 0
    assert status["progress"] == {"done": 5, "total": 5, "percent": 100.0,
                                  "by_status": {"completed": 5}}
    assert [g for g in status["plan"]["parallel_groups"]] == [
        ["prepare"], ["count-words", "count-chars", "checksum"], ["report"]]
    ws = Path(status["workspace"])
    assert (ws / "report.txt").read_text().startswith("words: 3")
    result = cli.json("task", "result", tid)
    report = next(s for s in result["steps"] if s["name"] == "report")
    assert report["result"] == {"words": 3, "chars": 28}


def test_parallel_steps_overlap_in_time(cli):
    res = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"), "--foreground")
    assert res.returncode == 0, res.stderr
    steps = {s["name"]: s for s in cli.json("task", "status", res.stdout.strip())["steps"]}
    fan = [steps[n] for n in ("count-words", "count-chars", "checksum")]
    latest_start = max(_ts(s["started_at"]) for s in fan)
    earliest_end = min(_ts(s["finished_at"]) for s in fan)
    assert latest_start < earliest_end, "the fan-out steps did not run at the same time"
    # and the fan-in waited for all of them
    assert _ts(steps["report"]["started_at"]) >= max(_ts(s["finished_at"]) for s in fan)


def test_failure_skips_dependents_and_lets_running_branch_finish(cli):
    res = cli("task", "create", "--plan", str(EXAMPLES / "fails-on-purpose.yaml"), "--wait")
    assert res.returncode == 1
    status = cli.json("task", "status", res.stdout.strip())
    steps = {s["name"]: s for s in status["steps"]}
    assert status["status"] == "failed"
    assert status["failed_step"] == "compile"
    assert "exit code 3" in status["reason"]
    assert steps["compile"]["exit_code"] == 3
    assert steps["docs"]["status"] == "completed"
    assert steps["test"]["status"] == "skipped"
    assert steps["package"]["status"] == "skipped"
    assert "compile" in steps["test"]["reason"]


def test_build_and_test_example(cli):
    res = cli("task", "create", "--plan", str(EXAMPLES / "build-and-test.yaml"),
              "--description", "Build and test the service", "--mode", "auto",
              "--priority", "high", "--requirements", "tests pass,no lint errors",
              "--deadline", "2h", "--wait")
    assert res.returncode == 0, res.stderr
    status = cli.json("task", "status", res.stdout.strip())
    assert status["priority"] == "high"
    assert status["requirements"] == ["tests pass", "no lint errors"]
    assert status["deadline"] is not None and status["deadline_passed"] is False
    assert Path(status["workspace"], "dist", "service.tar.gz").stat().st_size > 0
    logs = cli("task", "logs", status["id"], "--step", "test")
    assert "Ran 2 tests" in logs.stdout
    assert "OK" in logs.stdout


def test_timeout_kills_the_whole_process_group(cli, write_plan, tmp_path):
    marker = tmp_path / "marker"
    plan = write_plan(f"""
steps:
  - name: hang
    run: sleep 300 & echo $! > {marker}; sleep 300
    timeout: 1s
""")
    cfg = write_plan("task_execution: {cancel_grace_period: 0.5s}", "c.yaml")
    res = cli("--config", str(cfg), "task", "create", "--plan", str(plan), "--foreground")
    assert res.returncode == 1, res.stderr
    status = cli.json("task", "status", res.stdout.strip())
    assert status["steps"][0]["reason"].startswith("timeout")
    child = int(marker.read_text())
    wait_for(lambda: not psutil.pid_exists(child)
             or psutil.Process(child).status() == psutil.STATUS_ZOMBIE, timeout=5)


def test_daemon_start_status_stop_and_single_instance(cli, home):
    assert cli("daemon", "status").returncode == 3
    first = cli.json("daemon", "start")
    second = cli.json("daemon", "start")
    assert second["pid"] == first["pid"]
    assert second["already_running"] is True
    status = cli.json("daemon", "status")
    assert status["running"] is True and status["pid"] == first["pid"]
    stopped = cli.json("daemon", "stop")  # the control document, as every control command gives
    assert stopped == {"stopped": True, "pid": first["pid"], "running_tasks": []}
    assert cli("daemon", "status").returncode == 3
    assert cli.json("daemon", "stop") == {"stopped": False, "pid": None, "running_tasks": []}
    # `stop` returns once the daemon has released its home (daemon.json gone); its
    # process ends right after that
    wait_for(lambda: not psutil.pid_exists(first["pid"])
             or psutil.Process(first["pid"]).status() == psutil.STATUS_ZOMBIE, timeout=10)


def test_create_auto_starts_the_daemon(cli, home):
    res = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"))
    assert res.returncode == 0
    info = cli.json("daemon", "status")
    assert info["running"] is True
    tid = res.stdout.strip()
    wait_for(lambda: cli.json("task", "status", tid)["status"] == "completed", timeout=20)


def test_priority_order_of_the_queue(cli, write_plan):
    plan = write_plan("steps: [{name: s, run: 'true'}]")
    ids = {}
    for prio in ("low", "normal", "urgent", "high", "normal"):
        res = cli("task", "create", "--plan", str(plan), "--priority", prio, "--no-start")
        assert res.returncode == 0, res.stderr
        ids.setdefault(prio, []).append(res.stdout.strip())
    cfg = write_plan("task_execution: {max_concurrent_tasks: 1}", "c.yaml")
    cli("--config", str(cfg), "daemon", "start")
    wait_for(lambda: all(t["status"] == "completed" for t in cli.json("task", "list")),
             timeout=30)
    started = sorted(cli.json("task", "list"),
                     key=lambda t: _ts(cli.json("task", "status", t["id"])["started_at"]))
    order = [t["id"] for t in started]
    assert order == [*ids["urgent"], *ids["high"], *ids["normal"], *ids["low"]]


def _db_snapshot(home: Path) -> list:
    db = home / "agency.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("tasks", "steps", "events", "interventions")]
    finally:
        conn.close()


BAD_PLANS = {
    "unknown-key": ("steps:\n  - name: a\n    comand: x\n", "unknown key 'comand'"),
    "duplicate": ("steps: [{name: a, run: x}, {name: a, run: y}]", "duplicate step name 'a'"),
    "unknown-dep": ("steps: [{name: a, run: x, needs: [b]}]", "needs unknown step 'b'"),
    "cycle": ("steps: [{name: a, run: x, needs: [b]}, {name: b, run: y, needs: [a]}]",
              "a -> b -> a"),
    "empty": ("steps: []", "no steps"),
    "bad-duration": ("steps: [{name: a, run: x, timeout: soon}]", "timeout"),
    "invalid-yaml": ("steps: [\n  - name: a\n", "invalid YAML"),
    "no-command": ("steps: [{name: a}]", "exactly one of 'run'"),
    "bad-python": ("steps: [{name: a, python: 'nomodule_xyz:f'}]", "not found"),
}


@pytest.mark.parametrize("case", sorted(BAD_PLANS))
def test_bad_plans_exit_2_and_store_nothing(cli, home, write_plan, case):
    # A first valid task makes sure the database exists so that we compare real rows.
    ok = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"), "--no-start")
    assert ok.returncode == 0
    before = _db_snapshot(home)
    text, expected = BAD_PLANS[case]
    res = cli("task", "create", "--plan", str(write_plan(text)))
    assert res.returncode == 2, res.stderr
    assert expected in res.stderr
    assert res.stderr.count("\n") == 1, "one line, no traceback"
    assert "Traceback" not in res.stderr
    assert _db_snapshot(home) == before
    assert not (home / "daemon.json").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "nothing to plan: give --description"),
        (("--plan", "does-not-exist.yaml"), "not found"),
        (("--plan", "{q}", "--deadline", "2001-01-01"), "in the past"),
        (("--plan", "{q}", "--deadline", "tomorrowish"), "bad deadline"),
        (("--plan", "{q}", "--priority", "asap"), "unknown priority"),
        (("--plan", "{q}", "--mode", "yolo"), "unknown mode"),
        (("--plan", "{q}", "--workdir", "/nonexistent/dir"), "workdir"),
        (("--plan", "{q}", "--requirements", "a,,b"), "empty item"),
        (("--plan", "{q}", "--description", "   x" * 1000), "keep it under"),
    ],
)
def test_bad_options_exit_2_and_store_nothing(cli, home, args, expected):
    q = str(EXAMPLES / "quickstart.yaml")
    before = _db_snapshot(home)
    res = cli("task", "create", *[a.replace("{q}", q) for a in args])
    assert res.returncode == 2, res.stderr
    assert expected in res.stderr
    assert "Traceback" not in res.stderr
    assert _db_snapshot(home) == before


def test_bad_config_names_the_key_path(cli, write_plan):
    plan = str(EXAMPLES / "quickstart.yaml")
    cfg = write_plan("task_execution:\n  max_concurrent_tasks: ten\n", "c.yaml")
    res = cli("--config", str(cfg), "task", "create", "--plan", plan, "--no-start")
    assert res.returncode == 2
    assert "task_execution.max_concurrent_tasks" in res.stderr
    cfg2 = write_plan("task_execution:\n  timeouts: {default: 5m}\n", "c2.yaml")
    res = cli("--config", str(cfg2), "daemon", "start")
    assert res.returncode == 2
    assert "unknown key task_execution.timeouts" in res.stderr


def test_unknown_and_ambiguous_ids_exit_3(cli, home, write_plan):
    plan = write_plan("steps: [{name: s, run: 'true'}]")
    ids = [cli("task", "create", "--plan", str(plan), "--no-start").stdout.strip()
           for _ in range(40)]
    res = cli("task", "status", "zzzz")
    assert res.returncode == 3
    assert "no task" in res.stderr
    # with 40 ids over 16 first characters, some first character is shared
    firsts = [i[0] for i in ids]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    res = cli("task", "status", shared)
    assert res.returncode == 3
    assert "ambiguous" in res.stderr
    assert sum(1 for i in ids if i.startswith(shared) and i in res.stderr) >= 2
    # a unique prefix resolves
    unique = next(i for i in ids if firsts.count(i[0]) == 1) if any(
        firsts.count(c) == 1 for c in firsts) else ids[0]
    assert cli.json("task", "status", unique[:6])["id"] == unique


def test_list_filters_and_json(cli, write_plan):
    ok = write_plan("steps: [{name: s, run: 'true'}]", "ok.yaml")
    bad = write_plan("steps: [{name: s, run: 'exit 1'}]", "bad.yaml")
    a = cli("task", "create", "--plan", str(ok), "--foreground").stdout.strip()
    b = cli("task", "create", "--plan", str(bad), "--foreground").stdout.strip()
    c = cli("task", "create", "--plan", str(ok), "--no-start").stdout.strip()
    assert {t["id"] for t in cli.json("task", "list")} == {a, b, c}
    assert [t["id"] for t in cli.json("task", "list", "--status", "failed")] == [b]
    assert [t["id"] for t in cli.json("task", "list", "--status", "queued")] == [c]
    res = cli("task", "list", "--status", "bogus")
    assert res.returncode == 2 and "unknown status" in res.stderr


def test_logs_in_order_with_streams(cli, write_plan):
    plan = write_plan("""
steps:
  - name: talk
    run: for i in 1 2 3; do echo out$i; echo err$i >&2; done
""")
    tid = cli("task", "create", "--plan", str(plan), "--foreground").stdout.strip()
    res = cli("task", "logs", tid, "--json")
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    texts = [(ln["stream"], ln["text"]) for ln in lines if ln["stream"] in ("out", "err")]
    assert sorted(texts) == sorted([("out", f"out{i}") for i in (1, 2, 3)]
                                   + [("err", f"err{i}") for i in (1, 2, 3)])
    outs = [t for s, t in texts if s == "out"]
    assert outs == ["out1", "out2", "out3"]
    assert [ln["ts"] for ln in lines] == sorted(ln["ts"] for ln in lines)
    plain = cli("task", "logs", tid, "--step", "talk")
    assert "out1" in plain.stdout and "! err1" in plain.stdout
    assert cli("task", "logs", tid, "--step", "nope").returncode == 3


def test_python_step_context_progress_and_failure(cli, write_plan, tmp_path):
    (tmp_path / "mysteps.py").write_text(
        "def work(ctx):\n"
        "    for i in range(5):\n"
        "        ctx.progress((i + 1) / 5, f'chunk {i}')\n"
        "    ctx.log.info('done in %s', ctx.workspace)\n"
        "    (ctx.workspace / 'out.txt').write_text(ctx.task_id)\n"
        "    return 42\n"
        "def boom(ctx):\n"
        "    raise ValueError('bad input data')\n"
    )
    plan = write_plan("""
steps:
  - {name: work, python: "mysteps:work"}
  - {name: boom, python: "mysteps:boom", needs: [work]}
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground")
    assert res.returncode == 1
    tid = res.stdout.strip()
    status = cli.json("task", "status", tid)
    steps = {s["name"]: s for s in status["steps"]}
    assert steps["work"]["status"] == "completed"
    assert steps["work"]["progress"] == 1.0
    assert steps["boom"]["reason"] == "ValueError: bad input data"
    assert Path(status["workspace"], "out.txt").read_text() == tid
    logs = cli("task", "logs", tid).stdout
    assert "info: done in" in logs
    assert "ValueError: bad input data" in logs
    events = [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()]
    progress = [e["payload"]["progress"] for e in events if e["kind"] == "step_progress"]
    assert progress and progress[-1] == 1.0


def test_workdir_is_the_default_cwd(cli, write_plan, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    plan = write_plan("steps: [{name: s, run: 'pwd > where.txt'}]")
    res = cli("task", "create", "--plan", str(plan), "--workdir", str(project), "--foreground")
    assert res.returncode == 0, res.stderr
    assert (project / "where.txt").read_text().strip() == str(project.resolve())


def test_deadline_passed_is_marked(cli, write_plan):
    plan = write_plan("steps: [{name: s, run: 'sleep 1.5'}]")
    tid = cli("task", "create", "--plan", str(plan), "--deadline", "1s",
              "--foreground").stdout.strip()
    status = cli.json("task", "status", tid)
    assert status["deadline_passed"] is True
    events = [json.loads(x)["kind"] for x in cli("task", "events", tid, "--json").stdout.splitlines()]
    assert "deadline_passed" in events
    assert "deadline passed" in cli("task", "status", tid).stdout


def test_help_is_fast_and_does_not_import_textual(cli):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from agent_agency_cli.cli.main import app\n"
        "for argv in (['--help'], ['task', '--help'], ['tools', '--help'], ['learning', '--help']):\n"
        "    try:\n"
        "        app(argv, prog_name='agent-agency-cli')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "bad = [m for m in ('textual', 'anyio', 'openai', 'fastapi', 'ray', 'mcp') if m in sys.modules]\n"
        "print('BAD', bad)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "BAD []" in res.stdout, res.stdout + res.stderr
    assert "task" in res.stdout
