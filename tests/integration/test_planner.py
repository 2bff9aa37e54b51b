"""The planner through the CLI: the built-in planner (the seed's command, a real Python
project), the model planner against the local OpenAI-compatible server (with its repair
round), `task plan` and strict-mode approval of a plan as a whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.openai_server import OpenAIServer, Reply, write_config


@pytest.fixture
def srv():
    with OpenAIServer() as server:
        yield server


def make_project(root: Path, *, passing: bool = True) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "calc"\nversion = "0.1"\n')
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    expected = 3 if passing else 4
    (root / "tests" / "test_calc.py").write_text(
        f"from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == {expected}\n")
    return root


def test_the_seeds_command_runs_to_a_result_with_the_builtin_planner(cli, home):
    res = cli("task", "create", "--description", "Implement user authentication", "--mode", "auto",
              "--priority", "high", "--requirements", "secure,scalable,tested", "--deadline", "2026-12-31")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip()
    status = wait_for(lambda: (s := cli.json("task", "status", tid))["finished"] and s, timeout=60)
    assert status["status"] in ("completed", "partially_completed"), status["reason"]
    assert status["plan"]["source"] == "builtin"
    notes = " ".join(status["plan"]["not_planned"])
    assert "'scalable'" in notes and "models.selection.planner" in notes and "--workdir" in notes
    brief = (Path(status["workspace"]) / "TASK.md").read_text()
    assert brief.startswith("# Implement user authentication") and "Not planned:" in brief
    plain = cli("task", "status", tid).stdout
    assert "plan: made by the builtin planner" in plain and "not planned: requirement 'scalable'" in plain


def test_builtin_planner_lints_tests_and_scans_a_python_project(cli, tmp_path):
    proj = make_project(tmp_path / "proj")
    shown = cli.json("task", "plan", "-d", "Keep calc healthy", "--requirements", "tested,secure,linted",
                     "--workdir", str(proj))
    steps = {s["name"]: s for s in shown["plan"]["steps"]}
    assert set(steps) == {"brief", "lint", "test", "security-scan"}
    assert steps["lint"]["gates"] == [{"type": "code_style"}]
    assert steps["test"]["gates"][0]["type"] == "functional_test"
    assert steps["security-scan"]["gates"][0]["type"] == "security_scan"
    res = cli("task", "create", "-d", "Keep calc healthy", "--requirements", "tested,secure,linted",
              "--workdir", str(proj), "--foreground", timeout=120)
    assert res.returncode == 0, res.stderr
    tid = res.stdout.split()[0]
    result = cli.json("task", "result", tid)
    assert result["status"] == "completed"
    assert {g["gate"] for g in result["gates"]} == {"code_style", "functional_test", "security_scan"}
    assert all(g["status"] == "passed" for g in result["gates"])


def test_builtin_plan_fails_the_task_when_the_projects_tests_fail(cli, tmp_path):
    proj = make_project(tmp_path / "proj", passing=False)
    res = cli("task", "create", "-d", "Check calc", "--requirements", "tested", "--workdir", str(proj),
              "--foreground", timeout=120)
    assert res.returncode == 1
    assert cli.json("task", "status", res.stdout.split()[0])["failed_step"] == "test"


def test_plan_output_file_round_trips_into_task_create(cli, tmp_path):
    out = tmp_path / "plan.yaml"
    res = cli("task", "plan", "-d", "Write docs", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "not planned:" in res.stderr or "wrote" in res.stderr
    created = cli("task", "create", "--plan", str(out), "--no-start")
    assert created.returncode == 0, created.stderr


GOOD_PLAN = {
    "name": "auth",
    "steps": [
        {"name": "design", "type": "planning", "model": "auto", "prompt": "Design {{ description }}"},
        {"name": "check", "type": "testing", "needs": ["design"], "run": "test -n \"$AGENT_AGENCY_TASK_ID\""},
    ],
}


def test_model_planner_repairs_once_then_the_plan_runs(cli, tmp_path, srv):
    config = write_config(tmp_path / "c.yaml", srv, planner="m1")
    bad = {"steps": [{"name": "design", "model": "auto", "prompt": "x", "command": "make"}]}
    srv.script(Reply(content=json.dumps(bad)), Reply(content=json.dumps(GOOD_PLAN)), model="m1")
    res = cli("--config", str(config), "task", "create", "-d", "Implement user authentication",
              "--requirements", "tested", "--foreground", timeout=120)
    assert res.returncode in (0, 1), res.stderr
    tid = res.stdout.split()[0]
    first, repair = srv.requests[:2]
    assert first.body["response_format"]["type"] == "json_schema"
    assert "steps" in first.body["response_format"]["json_schema"]["schema"]["properties"]
    assert "unknown key 'command'" in repair.last_user
    status = cli.json("task", "status", tid)
    assert [s["name"] for s in status["steps"]] == ["design", "check"]
    assert status["steps"][0]["status"] == "completed" and status["steps"][1]["status"] == "completed"
    assert status["plan"]["source"] == "model" and status["plan"]["planner_model"] == "m1"
    planner_calls = [c for c in status["model_calls"]["calls_list"] if c["purpose"] == "planner"]
    assert len(planner_calls) == 2
    assert srv.requests[2].last_user == "Design Implement user authentication"


def test_model_planner_invalid_twice_is_one_clear_line_and_stores_nothing(cli, tmp_path, srv):
    config = write_config(tmp_path / "c.yaml", srv, planner="m1")
    srv.script(Reply(content="[]"), Reply(content='{"steps": [{"name": "a"}]}'), model="m1")
    res = cli("--config", str(config), "task", "create", "-d", "Implement it")
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "gave an invalid plan twice" in res.stderr
    assert cli.json("task", "list") == []


def test_strict_mode_approves_the_plan_as_a_whole_and_can_edit_it(cli, tmp_path):
    res = cli("task", "create", "-d", "Write the changelog", "--mode", "strict", "--no-start")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip()
    # the plan is shown before anything runs, with how to approve it
    assert "planned by the builtin planner: brief" in res.stderr
    assert f"the plan awaits approval: agent-agency-cli task plan {tid}" in res.stderr
    assert "council review" not in res.stderr
    assert cli.json("task", "status", tid)["status"] == "awaiting_review"
    shown = cli("task", "plan", tid)
    assert "name: brief" in shown.stdout
    editor = "sed -i s/name:\\ brief/name:\\ changelog-brief/"
    edited = cli("task", "plan", tid, "--edit", EDITOR=editor, VISUAL="")
    assert edited.returncode == 0, edited.stderr
    assert "plan approved" in edited.stdout
    status = cli.json("task", "status", tid)
    # approved: queued for the daemon, which runs it (strict mode still asks before each step)
    assert status["status"] in ("queued", "running", "awaiting_approval")
    assert [s["name"] for s in status["steps"]] == ["changelog-brief"]
    assert cli.json("task", "plan", tid)["approved_by"]
    again = cli("task", "plan", tid, "--approve")
    assert again.returncode == 5 and "awaits no approval" in again.stderr


def test_an_invalid_edit_changes_nothing(cli):
    tid = cli("task", "create", "-d", "Write the changelog", "--mode", "strict", "--no-start").stdout.strip()
    edited = cli("task", "plan", tid, "--edit", EDITOR="sed -i s/name:\\ brief/nam:\\ x/", VISUAL="")
    assert edited.returncode == 2 and "nothing changed" in edited.stderr
    assert [s["name"] for s in cli.json("task", "status", tid)["steps"]] == ["brief"]
    rejected = cli("task", "plan", tid, "--reject", "--reason", "not now")
    assert rejected.returncode == 0 and "plan rejected" in rejected.stdout
    assert cli.json("task", "status", tid)["status"] == "failed"
