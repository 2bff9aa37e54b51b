"""Pure parts of the orchestrator: TaskOrchestrator.prepare() (sizes are in test_units.py)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent_agency_cli.errors import BadInputError, PlanError
from agent_agency_cli.orchestrator import TaskOrchestrator

WriteFile = Callable[[str, str], Path]

PLAN = {
    "name": "demo",
    "description": "Plan description",
    "steps": [
        {"name": "a", "run": "true", "estimate": "2s"},
        {"name": "b", "run": "echo b", "needs": ["a"], "retries": 2, "timeout": "1m"},
        {"name": "c", "run": ["echo", "c"], "needs": ["a"], "idempotent": True, "retries": 0},
    ],
}


@pytest.fixture
def orch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TaskOrchestrator]:
    # Plans given as dicts resolve python modules against the cwd: keep it in tmp_path.
    monkeypatch.chdir(tmp_path)
    o = TaskOrchestrator(home=tmp_path / "orch-home")
    yield o
    o.close()


def task_rows(o: TaskOrchestrator) -> int:
    db = o.paths.db
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
    finally:
        conn.close()


def bad(o: TaskOrchestrator, request: dict[str, Any], exc: type[Exception] = BadInputError) -> str:
    with pytest.raises(exc) as info:
        o.prepare(request)
    assert task_rows(o) == 0, "bad input must write nothing"
    return str(info.value)


# -- prepare: the happy path --------------------------------------------------------------


def test_prepare_builds_task_and_step_rows_without_writing(orch: TaskOrchestrator) -> None:
    task, steps = orch.prepare({"plan": PLAN, "priority": "high", "requirements": "x, y"})
    assert task["status"] == "queued"
    assert task["description"] == "Plan description"
    assert task["priority"] == "high"
    assert task["priority_rank"] == 2
    assert task["mode"] == "auto"  # the config default
    assert task["requirements"] == ["x", "y"]
    assert task["deadline"] is None
    assert task["plan"]["parallel_groups"] == [["a"], ["b", "c"]]
    assert task["plan"]["name"] == "demo"
    assert [s["name"] for s in steps] == ["a", "b", "c"]
    assert task_rows(orch) == 0


def test_step_rows_carry_max_attempts_and_timeouts(orch: TaskOrchestrator) -> None:
    _, steps = orch.prepare({"plan": PLAN})
    by_name = {s["name"]: s for s in steps}
    assert by_name["a"]["max_attempts"] == 1
    assert by_name["b"]["max_attempts"] == 3
    assert by_name["c"]["max_attempts"] == 1
    assert by_name["b"]["timeout"] == 60.0
    default = orch.settings.task_execution.default_timeout
    assert by_name["a"]["timeout"] == default
    assert by_name["a"]["estimate"] == 2.0
    assert by_name["b"]["needs"] == ["a"]
    assert by_name["c"]["idempotent"] is True
    assert by_name["a"]["kind"] == "shell"


def test_explicit_description_wins(orch: TaskOrchestrator) -> None:
    task, _ = orch.prepare({"plan": PLAN, "description": "  Ship it  "})
    assert task["description"] == "Ship it"


@pytest.mark.parametrize("description", [None, ""])
def test_missing_description_falls_back_to_the_plans(orch: TaskOrchestrator, description: str | None) -> None:
    task, _ = orch.prepare({"plan": PLAN, "description": description})
    assert task["description"] == "Plan description"


@pytest.mark.parametrize("description", ["   ", "\n\t"])
def test_whitespace_description_falls_back_to_the_plans(orch: TaskOrchestrator, description: str) -> None:
    task, _ = orch.prepare({"plan": PLAN, "description": description})
    assert task["description"] == "Plan description"


def test_description_falls_back_to_plan_name_then_file(orch: TaskOrchestrator, write_file: WriteFile) -> None:
    task, _ = orch.prepare({"plan": {"name": "named", "steps": [{"name": "a", "run": "true"}]}})
    assert task["description"] == "named"
    path = write_file("nameless.yaml", "steps:\n  - {name: a, run: 'true'}\n")
    task, _ = orch.prepare({"plan": str(path)})
    assert task["description"] == "plan nameless.yaml"
    assert task["plan_path"] == str(path.resolve())


def test_description_too_long(orch: TaskOrchestrator) -> None:
    assert "keep it under" in bad(orch, {"plan": PLAN, "description": "x" * 2001})


def test_plan_file_path_is_loaded(orch: TaskOrchestrator, write_file: WriteFile) -> None:
    path = write_file(
        "p.yaml",
        """
        description: From file
        steps:
          - {name: one, run: 'true'}
          - {name: two, run: 'true', needs: one}
        """,
    )
    task, steps = orch.prepare({"plan": path})
    assert task["description"] == "From file"
    assert task["plan_dir"] == str(path.parent.resolve())
    assert [s["name"] for s in steps] == ["one", "two"]


def test_request_concurrency_overrides_plan(orch: TaskOrchestrator) -> None:
    plan = {**PLAN, "concurrency": 2}
    assert orch.prepare({"plan": plan})[0]["concurrency"] == 2
    assert orch.prepare({"plan": plan, "concurrency": 5})[0]["concurrency"] == 5


def test_relative_deadline_is_absolute_in_the_row(orch: TaskOrchestrator) -> None:
    before = time.time()
    task, _ = orch.prepare({"plan": PLAN, "deadline": "2h"})
    assert before + 7200 <= task["deadline"] <= time.time() + 7200


def test_future_datetime_deadline(orch: TaskOrchestrator) -> None:
    when = datetime.now(UTC) + timedelta(days=1)
    task, _ = orch.prepare({"plan": PLAN, "deadline": when})
    assert task["deadline"] == pytest.approx(when.timestamp())


# -- prepare: rejections ----------------------------------------------------------------


def test_missing_plan_and_description_mentions_both_flags(orch: TaskOrchestrator) -> None:
    msg = bad(orch, {})
    assert "--description" in msg and "--plan" in msg


def test_missing_plan_file(orch: TaskOrchestrator, tmp_path: Path) -> None:
    assert "not found" in bad(orch, {"plan": str(tmp_path / "nope.yaml")}, PlanError)


def test_invalid_plan_is_rejected(orch: TaskOrchestrator) -> None:
    plan = {"steps": [{"name": "a", "run": "true", "needs": "a"}]}
    assert "a -> a" in bad(orch, {"plan": plan}, PlanError)


@pytest.mark.parametrize("requirements", ["tests pass,,no lint", "a, ", ["ok", "  "], [""]])
def test_requirements_with_an_empty_item(orch: TaskOrchestrator, requirements: Any) -> None:
    msg = bad(orch, {"plan": PLAN, "requirements": requirements})
    assert "requirements: empty item" in msg


def test_requirement_too_long(orch: TaskOrchestrator) -> None:
    assert "requirement too long" in bad(orch, {"plan": PLAN, "requirements": ["x" * 201]})


@pytest.mark.parametrize(
    "deadline",
    ["2000-01-01", "2000-01-01T00:00:00Z", 1.0, datetime(2000, 1, 1, tzinfo=UTC)],
)
def test_deadline_in_the_past(orch: TaskOrchestrator, deadline: Any) -> None:
    assert "in the past" in bad(orch, {"plan": PLAN, "deadline": deadline})


def test_garbage_deadline(orch: TaskOrchestrator) -> None:
    assert "bad deadline" in bad(orch, {"plan": PLAN, "deadline": "whenever"})


def test_missing_workdir(orch: TaskOrchestrator, tmp_path: Path) -> None:
    msg = bad(orch, {"plan": PLAN, "workdir": str(tmp_path / "nowhere")})
    assert "workdir" in msg
    assert "does not exist" in msg


def test_workdir_that_is_a_file(orch: TaskOrchestrator, write_file: WriteFile) -> None:
    path = write_file("afile.txt", "x")
    assert "not a directory" in bad(orch, {"plan": PLAN, "workdir": str(path)})


def test_existing_workdir_is_resolved(orch: TaskOrchestrator, tmp_path: Path) -> None:
    wd = tmp_path / "wd"
    wd.mkdir()
    task, _ = orch.prepare({"plan": PLAN, "workdir": wd})
    assert task["workdir"] == str(wd.resolve())


def test_python_step_with_missing_module(orch: TaskOrchestrator) -> None:
    plan = {"steps": [{"name": "p", "python": "no_such_module_xyz_123:run"}]}
    msg = bad(orch, {"plan": plan}, PlanError)
    assert "no_such_module_xyz_123" in msg
    assert "not found" in msg


def test_python_step_module_next_to_the_plan(orch: TaskOrchestrator, write_file: WriteFile) -> None:
    write_file("mysteps_local.py", "def run(ctx):\n    return 1\n")
    path = write_file("p.yaml", "steps:\n  - {name: p, python: 'mysteps_local:run'}\n")
    _, steps = orch.prepare({"plan": path})
    assert steps[0]["kind"] == "python"
    assert steps[0]["spec"]["python"] == "mysteps_local:run"


def test_python_step_module_in_the_workdir(orch: TaskOrchestrator, tmp_path: Path) -> None:
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "wd_steps_mod.py").write_text("def go(ctx):\n    pass\n")
    plan = {"steps": [{"name": "p", "python": "wd_steps_mod:go"}]}
    bad(orch, {"plan": plan}, PlanError)  # not found without the workdir
    _, steps = orch.prepare({"plan": plan, "workdir": wd})
    assert steps[0]["name"] == "p"


@pytest.mark.parametrize(
    "request_",
    [
        {"plan": PLAN, "priority": "critical"},
        {"plan": PLAN, "mode": "yolo"},
        {"plan": PLAN, "colour": "red"},
        {"plan": PLAN, "concurrency": 0},
    ],
)
def test_bad_request_fields(orch: TaskOrchestrator, request_: dict[str, Any]) -> None:
    assert bad(orch, request_).startswith("bad task request:")


def test_prepare_writes_no_rows_after_success(orch: TaskOrchestrator) -> None:
    orch.prepare({"plan": PLAN})
    # Opening the store creates the schema; there must still be no task in it.
    count = orch.store.conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
    assert count == 0
    assert orch.store.conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == 0
