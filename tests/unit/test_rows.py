"""Typed rows at the store's edge (rows.py): what the engine and the executors read back
from a real database, defaults, the stored JSON left as it was, and damaged rows."""

from __future__ import annotations

import ast
import json
import sqlite3
from pathlib import Path

import pytest
from pydantic import BaseModel

from agent_agency_cli.errors import AgencyError
from agent_agency_cli.models import StepStatus, TaskStatus
from agent_agency_cli.planning.plan_file import PlanStep
from agent_agency_cli.rows import StepRow, StepSpec, StoredDataError, TaskRow

FULL_STEP = {
    "name": "build", "description": "compile it", "run": ["make", "-j2"], "needs": ["fetch"], "timeout": "90s",
    "env": {"CC": "gcc"}, "workdir": "src", "estimate": 12, "idempotent": True,
    "retries": {"attempts": 2, "backoff": "fixed"}, "type": "code",
    "gates": [{"type": "code_style"}], "outputs": ["out.bin"], "touches": ["build/"],
    "resources": {"cpu": 2, "memory": "512M"}, "fallback": {"run": "make -j1", "timeout": 300},
    "checkpoint": True, "on_failure": "rollback", "continue_on_failure": True,
}


def _submit(orch, steps: list[dict]) -> str:
    return orch.submit_task({"plan": {"steps": steps}, "description": "typed rows test"}, start_daemon=False)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def test_a_stored_step_with_every_key_reads_back_typed(orch) -> None:
    tid = _submit(orch, [{"name": "fetch", "run": "true"}, FULL_STEP])
    row = {r.name: r for r in orch.store.step_rows(tid)}["build"]
    assert isinstance(row, StepRow) and isinstance(row.spec, StepSpec)
    assert row.status is StepStatus.PENDING and row.kind == "shell" and row.needs == ["fetch"]
    assert row.idx == 1 and row.idempotent is True and row.max_attempts == 3 and row.timeout == 90.0
    spec = row.spec
    assert spec.run == ["make", "-j2"] and spec.timeout == 90.0 and spec.env == {"CC": "gcc"}
    assert spec.retries == {"attempts": 2, "backoff": "fixed"}  # only what the plan set
    assert spec.resources == {"cpu": 2.0, "memory": "512M"}
    assert spec.gates == [{"type": "code_style"}] and spec.on_failure == "rollback"
    assert spec.checkpoint and spec.continue_on_failure and spec.idempotent
    assert spec.fallback == {"run": "make -j1", "timeout": 300.0}
    assert (spec.outputs, spec.touches, spec.requires, spec.workdir) == (["out.bin"], ["build/"], [], "src")


def test_every_column_of_the_tables_is_a_field(orch) -> None:
    # A column added by a migration must be added to its row model too.
    tid = _submit(orch, [{"name": "a", "run": "true"}])
    conn = orch.store.conn
    assert _columns(conn, "steps") == set(StepRow.__dataclass_fields__)
    assert _columns(conn, "tasks") == set(TaskRow.model_fields)
    task = orch.store.task_row(tid)
    assert task.id == tid and task.status is TaskStatus.QUEUED and task.description == "typed rows test"
    assert isinstance(task.plan, dict) and task.plan["critical_path"] == ["a"]
    assert task.limits == {} and task.requirements == [] and task.risk["level"] == "low"
    assert task.validation["overall"] == "passed" and task.approve_all is False


def test_stored_json_is_unchanged_by_a_round_trip(orch) -> None:
    tid = _submit(orch, [{"name": "fetch", "run": "true"}, FULL_STEP])
    for raw in orch.store.get_steps(tid):
        spec = StepSpec.from_json(raw["spec"])
        assert spec.to_json() == json.loads(raw["spec"])  # what is written back is what was read


def test_defaults_are_the_plan_defaults() -> None:
    spec = StepSpec.from_json('{"name": "a", "run": "true"}')
    assert spec.model_fields_set == {"name", "run"}
    assert spec.to_json() == {"name": "a", "run": "true"}
    plan_defaults = PlanStep(name="a", run="true")
    for key in PlanStep.model_fields:
        ours, theirs = getattr(spec, key), getattr(plan_defaults, key)
        if isinstance(theirs, BaseModel):  # nested models are stored as the keys the plan set: none
            assert ours == {}, key
        else:
            assert ours == theirs, key


def test_every_plan_key_is_a_typed_field() -> None:
    # A plan key missing here would still be read (as an extra) but not typed.
    assert set(PlanStep.model_fields) <= set(StepSpec.model_fields)


def test_unknown_keys_are_kept_for_plug_in_executors() -> None:
    spec = StepSpec.from_json('{"name": "a", "shout": "hello", "volume": 11}')
    assert spec.get("shout") == "hello" and spec["volume"] == 11 and "shout" in spec
    assert spec.to_json() == {"name": "a", "shout": "hello", "volume": 11}
    assert spec.get("missing", 3) == 3 and "missing" not in spec
    with pytest.raises(KeyError):
        spec["missing"]


def test_fallback_replaces_the_command_and_keeps_the_rest() -> None:
    spec = StepSpec.of({"name": "a", "run": "make", "env": {"A": "1"}, "outputs": ["x"],
                        "fallback": {"python": "steps:build", "timeout": 5, "description": "slow path"}})
    fb = spec.with_fallback()
    assert fb.python == "steps:build" and fb.run is None and fb.timeout == 5
    assert fb.outputs == ["x"] and fb.env == {"A": "1"} and fb.description is None  # description not taken
    shell = StepSpec.of({"name": "b", "python": "m:f", "fallback": {"run": "true"}}).with_fallback()
    assert shell.run == "true" and shell.python is None


def test_replace_validates_and_marks_the_keys_given() -> None:
    spec = StepSpec.of({"name": "m", "model": "auto", "prompt": "hi"})
    swapped = spec.replace(model="big", selection={"primary": "big", "fallbacks": []})
    assert swapped.model == "big" and spec.model == "auto"
    assert swapped.to_json()["selection"] == {"primary": "big", "fallbacks": []}
    with pytest.raises(ValueError):
        spec.replace(max_tokens="many")


@pytest.mark.parametrize(("column", "value", "says"), [
    ("spec", "{not json", "the stored spec cannot be read"),
    ("spec", '{"name": "a", "run": "true", "timeout": "soon"}', "timeout"),
    ("spec", '["a list"]', "the stored spec cannot be read"),
    ("needs", "[oops", "the stored JSON cannot be read"),
    ("status", "teleported", "unknown step status 'teleported'"),
])
def test_a_damaged_step_row_gives_one_clear_line(orch, column: str, value: str, says: str) -> None:
    tid = _submit(orch, [{"name": "a", "run": "true"}])
    with orch.store.tx() as conn:
        conn.execute(f"UPDATE steps SET {column} = ? WHERE task_id = ?", (value, tid))
    with pytest.raises(StoredDataError) as err:
        orch.store.step_rows(tid)
    text = str(err.value)
    assert "\n" not in text and f"task {tid} step 'a'" in text and says in text
    assert isinstance(err.value, AgencyError) and err.value.exit_code == 1


def test_a_damaged_task_row_gives_one_clear_line(orch) -> None:
    tid = _submit(orch, [{"name": "a", "run": "true"}])
    with orch.store.tx() as conn:
        conn.execute("UPDATE tasks SET limits = '{' WHERE id = ?", (tid,))
    with pytest.raises(StoredDataError, match=rf"^task {tid}: the stored JSON cannot be read"):
        orch.store.task_row(tid)
    with orch.store.tx() as conn:
        conn.execute("UPDATE tasks SET limits = '{}', status = 'teleported' WHERE id = ?", (tid,))
    with pytest.raises(StoredDataError, match=rf"^task {tid}: the stored row cannot be read \(status"):
        orch.store.task_row(tid)


def test_nulls_in_optional_columns_take_the_defaults(orch) -> None:
    # Rows written before a column existed hold NULL there (the migration adds it empty).
    tid = _submit(orch, [{"name": "a", "run": "true"}])
    with orch.store.tx() as conn:
        conn.execute("UPDATE steps SET signature = NULL, metrics = NULL, worker = NULL, paused_total = 0 "
                     "WHERE task_id = ?", (tid,))
    (step,) = orch.store.step_rows(tid)
    assert step.metrics is None and step.signature is None and step.worker is None and not step.overridden
    assert step.paused_total == 0.0 and step.needs == []


def _spec_key_reads(path: Path) -> list[int]:
    """Lines reading a step spec by string key: `<...>spec.get("k")` or `<...>spec["k"]`."""
    def is_spec(node: ast.AST) -> bool:
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        return name == "spec" or name.endswith("_spec")

    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and is_spec(node.func.value) and node.args and isinstance(node.args[0], ast.Constant)):
            out.append(node.lineno)
        elif (isinstance(node, ast.Subscript) and is_spec(node.value) and isinstance(node.slice, ast.Constant)
              and isinstance(node.slice.value, str)):
            out.append(node.lineno)
    return out


# A dict by that name that is not a step spec (a Ray attempt's message), and the status view's
# plain JSON (the fast path: no pydantic), read by key on purpose.
NOT_STEP_SPECS = {"backends/ray_agent.py", "orchestration/views.py", "executors/registry.py"}


def test_the_engine_and_executors_read_typed_attributes() -> None:
    pkg = Path(__file__).resolve().parents[2] / "agent_agency_cli"
    found = []
    for folder in ("engine", "executors", "backends", "learning", "orchestration"):
        for path in sorted((pkg / folder).rglob("*.py")):
            rel = path.relative_to(pkg).as_posix()
            if rel not in NOT_STEP_SPECS:
                found += [f"{rel}:{line}" for line in _spec_key_reads(path)]
    assert found == []
