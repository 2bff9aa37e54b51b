"""Batch submission (`TaskOrchestrator.submit_tasks`, `task create --plan A --plan B`, a plan
directory) and submission ids (a retry of the same submission never stores a second task)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from agent_agency_cli.errors import BadInputError
from agent_agency_cli.orchestration import submission
from agent_agency_cli.orchestrator import TaskOrchestrator

ONE = {"steps": [{"name": "only", "run": "true"}]}
BAD = {"steps": [{"name": "a", "run": True}]}


def _count(home: Path) -> int:
    conn = sqlite3.connect(home / "agency.db")
    try:
        return conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    finally:
        conn.close()


def test_a_retried_submission_returns_the_stored_task(orch, home):
    first = orch.submit_task({"description": "once", "plan": ONE}, start_daemon=False, request_id="r-1")
    again = orch.submit_task({"description": "once", "plan": ONE}, start_daemon=False, request_id="r-1")
    other = orch.submit_task({"description": "once", "plan": ONE}, start_daemon=False, request_id="r-2")
    assert again == first and other != first
    assert _count(home) == 2


def test_a_submission_stored_meanwhile_by_another_process_is_not_stored_twice(orch, home):
    # Between this submission's validation and its insert, the same submission (same id)
    # commits through another connection: the insert finds it and answers with its id.
    theirs: list[str] = []

    def meanwhile(task: dict, steps: list) -> None:
        with TaskOrchestrator(home=home) as other:
            theirs.append(other.submit_task({"description": "raced", "plan": ONE}, start_daemon=False,
                                            request_id="r-race"))

    mine = submission.submit(orch, {"description": "raced", "plan": ONE}, start_daemon=False,
                             request_id="r-race", accept=meanwhile)
    assert theirs == [mine]
    assert _count(home) == 1


def test_submit_tasks_reports_a_bad_request_in_its_place_and_keeps_the_others(orch, home):
    results = orch.submit_tasks([{"description": "first", "plan": ONE}, {"description": "bad", "plan": BAD},
                                 {"description": "third", "plan": ONE}], start_daemon=False)
    assert isinstance(results[0], str) and isinstance(results[2], str)
    assert isinstance(results[1], BadInputError) and "run" in str(results[1])
    assert [orch.get_status(t)["description"] for t in (results[0], results[2])] == ["first", "third"]
    assert _count(home) == 2


def test_submit_tasks_checks_its_request_ids(orch):
    with pytest.raises(ValueError):
        orch.submit_tasks([{"plan": ONE}], start_daemon=False, request_ids=["a", "b"])
    ids = orch.submit_tasks([{"plan": ONE}, {"plan": ONE}], start_daemon=False, request_ids=["x", "y"])
    assert orch.submit_tasks([{"plan": ONE}, {"plan": ONE}], start_daemon=False, request_ids=["x", "y"]) == ids


@pytest.fixture
def plans(tmp_path: Path) -> Path:
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "a.yaml").write_text("steps:\n  - name: a\n    run: \"true\"\n")
    (folder / "b.yml").write_text("steps:\n  - name: b\n    run: \"true\"\n")
    (folder / "notes.txt").write_text("not a plan\n")
    (tmp_path / "broken.yaml").write_text("steps:\n  - name: x\n    run: true\n")
    (tmp_path / "empty").mkdir()
    return folder


def test_cli_several_plans_one_line_each_and_the_bad_one_named(cli, plans, tmp_path):
    a, b, broken = plans / "a.yaml", plans / "b.yml", tmp_path / "broken.yaml"
    res = cli("task", "create", "--plan", str(a), "--plan", str(broken), "--plan", str(b), "--no-start")
    assert res.returncode == 2
    ids = res.stdout.split()
    assert len(ids) == 2 and all(len(i) == 6 for i in ids)
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(f"error: plan {broken}: ")
    with TaskOrchestrator() as orch:
        assert [orch.get_status(i)["plan_path"] for i in ids] == [str(a), str(b)]


def test_cli_plan_directory_json_array_in_name_order(cli, plans):
    res = cli("task", "create", "--plan", str(plans), "--no-start", "--json")
    assert res.returncode == 0, res.stderr
    docs = json.loads(res.stdout)
    assert [d["plan_path"] for d in docs] == [str(plans / "a.yaml"), str(plans / "b.yml")]
    assert all(d["status"] == "queued" and len(d["id"]) == 6 for d in docs)


def test_cli_batch_json_names_the_refused_plan(cli, plans, tmp_path):
    broken = tmp_path / "broken.yaml"
    res = cli("task", "create", "--plan", str(broken), "--plan", str(plans / "a.yaml"), "--no-start", "--json")
    assert res.returncode == 2
    docs = json.loads(res.stdout)
    assert docs[0]["plan"] == str(broken) and docs[0]["exit_code"] == 2 and "run" in docs[0]["error"]
    assert docs[1]["status"] == "queued"


@pytest.mark.parametrize("extra", [["--wait"], ["--foreground"], ["--hold"]])
def test_cli_batch_refuses_following_options(cli, plans, extra, home):
    res = cli("task", "create", "--plan", str(plans), *extra)
    assert res.returncode == 2 and res.stderr.startswith("error: several plans go with neither")
    assert not (home / "agency.db").exists() or _count(home) == 0


def test_cli_empty_plan_directory_is_bad_input(cli, tmp_path, home, plans):
    res = cli("task", "create", "--plan", str(tmp_path / "empty"), "--no-start")
    assert res.returncode == 2
    assert res.stderr == f"error: plan directory {tmp_path / 'empty'} holds no plan file (*.yaml, *.yml)\n"


def test_the_batch_example_runs_to_the_end(cli, home):
    from tests.conftest import EXAMPLES

    res = cli("task", "create", "--plan", str(EXAMPLES / "batch"), "--json")
    assert res.returncode == 0, res.stderr
    docs = json.loads(res.stdout)
    assert [d["description"] for d in docs] == ["Batch example - byte-compile a generated module",
                                                "Batch example - count the words of a generated file"]
    with TaskOrchestrator() as orch:
        for d in docs:
            assert orch.wait(d["id"], timeout=60)["status"] == "completed"
