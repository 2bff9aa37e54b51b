"""`continue_on_failure: true` (like `make -k`), and gates that leave evidence on a failed step
(issue 11: what users expect)."""

from __future__ import annotations

from pathlib import Path


def _steps(status):
    return {s["name"]: s for s in status["steps"]}


def test_a_failure_kept_going_skips_only_its_dependents(cli, write_plan):
    plan = write_plan("""
steps:
  - {name: lint, run: "exit 3", continue_on_failure: true}
  - {name: after-lint, needs: [lint], run: "echo never"}
  - {name: after-after, needs: [after-lint], run: "echo never"}
  - {name: test, run: "echo tested > tested.txt"}
  - {name: report, needs: [test], run: "echo report > report.txt"}
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground")
    assert res.returncode == 1, res.stderr  # the task still fails in the end
    status = cli.json("task", "status", res.stdout.strip())
    steps = _steps(status)
    assert steps["lint"]["status"] == "failed" and steps["lint"]["exit_code"] == 3
    assert steps["test"]["status"] == "completed"  # independent: before the option, skipped
    assert steps["report"]["status"] == "completed"
    assert steps["after-lint"]["status"] == "skipped" and steps["after-after"]["status"] == "skipped"
    assert status["status"] == "failed" and status["failed_step"] == "lint"
    assert "exit code 3" in status["reason"]
    assert (Path(status["workspace"]) / "report.txt").read_text() == "report\n"


def test_without_the_option_a_failure_still_stops_independent_steps(cli, write_plan, latch):
    gate = latch()
    plan = write_plan(f"""
steps:
  - {{name: lint, run: "exit 3"}}
  - {{name: slow, run: "{gate.cmd}"}}
  - {{name: test, needs: [slow], run: "echo tested"}}
""")
    gate.open()  # slow ends at once; `test` starts only if the task keeps going
    res = cli("task", "create", "--plan", str(plan), "--foreground", "--concurrency", "1")
    assert res.returncode == 1
    steps = _steps(cli.json("task", "status", res.stdout.strip()))
    assert steps["test"]["status"] == "skipped"


def test_gates_of_a_failed_step_run_and_leave_evidence(cli, write_plan, home):
    plan = write_plan("""
steps:
  - name: lint
    run: "printf 'import os\\\\n' > bad.py; exit 1"
    continue_on_failure: true
    gates: [{type: code_style, paths: [bad.py], select: [F]}]
  - {name: test, run: "true"}
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground")
    assert res.returncode == 1, res.stderr
    tid = res.stdout.strip()
    lint = _steps(cli.json("task", "status", tid))["lint"]
    assert lint["status"] == "failed"
    gates = lint["gates"]
    assert [g["gate"] for g in gates] == ["code_style"]
    assert gates[0]["status"] == "failed" and gates[0]["violations"]  # F401: os imported but unused
    evidence = list((home / "tasks" / tid / "gates" / "lint").iterdir())  # the tool's report
    assert evidence and any("F401" in p.read_text() for p in evidence)  # os imported but unused


def test_continue_on_failure_with_on_failure_human_is_refused(cli, write_plan):
    plan = write_plan("steps:\n  - {name: a, run: 'true', continue_on_failure: true, on_failure: human}\n")
    res = cli("task", "create", "--plan", str(plan), "--no-start")
    assert res.returncode == 2
    assert "continue_on_failure" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert cli("task", "list", "--json").stdout.strip() in ("[]", "")


def test_the_keep_going_example_runs_to_its_documented_end(cli):
    from tests.conftest import EXAMPLES

    res = cli("task", "create", "--plan", str(EXAMPLES / "keep-going.yaml"), "--wait")
    assert res.returncode == 1
    status = cli.json("task", "status", res.stdout.strip())
    assert status["status"] == "failed" and status["failed_step"] == "lint"
    steps = {name: s["status"] for name, s in _steps(status).items()}
    assert steps == {"lint": "failed", "lint-report": "skipped", "test": "completed", "package": "completed"}
    assert (Path(status["workspace"]) / "package.tar").exists()
