"""`agent-agency-cli schema WHAT`: JSON Schemas from the shared models, and the README's
documented `--json` keys are all in them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

README = (Path(ROOT) / "README.md").read_text()


def _schema(cli, what: str) -> dict[str, Any]:
    res = cli("schema", what)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _props(schema: dict[str, Any], *path: str) -> set[str]:
    """Property names of the object at `path` (field names, `[]` for list items), following $refs."""
    node = schema

    def deref(n: dict[str, Any]) -> dict[str, Any]:
        while True:
            if "$ref" in n:
                n = schema["$defs"][n["$ref"].rsplit("/", 1)[1]]
            elif "anyOf" in n:
                n = next(x for x in n["anyOf"] if x.get("type") != "null")
            elif n.get("type") == "array" and "items" in n:
                n = n["items"]
            else:
                return n

    node = deref(node)
    for key in path:
        node = deref(node["properties"][key])
    return set(node.get("properties", {}))


def _names(text: str) -> set[str]:
    """Field names in a README fragment such as `{id, status, progress, steps[] ({name}), ...}`
    (only the top level of the braces)."""
    depth, top = 0, []
    for ch in text:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        elif depth == 0:
            top.append(ch)
    return {m.removesuffix("[]") for m in re.findall(r"[a-z_][a-z0-9_]*(?:\[\])?", "".join(top))}


def _braces_after(marker: str) -> str:
    """The text inside the first `{...}` after `marker` in the README (balanced)."""
    start = README.index("{", README.index(marker))
    depth = 0
    for i in range(start, len(README)):
        depth += {"{": 1, "}": -1}.get(README[i], 0)
        if depth == 0:
            return README[start + 1:i]
    raise AssertionError(f"unbalanced braces after {marker!r}")


@pytest.mark.parametrize("what", ["status", "result", "list", "metrics", "event", "plan", "config"])
def test_every_schema_prints_json_schema(cli, what):
    schema = _schema(cli, what)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema.get("properties") or schema.get("items")


def test_an_unknown_schema_is_bad_input(cli):
    res = cli("schema", "everything")
    assert res.returncode == 2
    assert "unknown schema 'everything'" in res.stderr and "status" in res.stderr
    assert res.stdout == ""


def test_readme_status_keys_are_in_the_status_schema(cli):
    schema = _schema(cli, "status")
    section = README[README.index("`task status --json` (and"):README.index("Step statuses:")]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    documented = {name.removesuffix("[]") for row in rows for name in re.findall(r"`([a-z_\[\]]+)`", row)}
    assert len(documented) > 25
    assert documented - _props(schema) == set()
    steps_row = next(line for line in section.splitlines() if line.startswith("| `steps[]`"))
    steps_doc = steps_row.split("|")[2]
    assert _names(steps_doc[steps_doc.index("{") + 1:steps_doc.index("}")]) - _props(schema, "steps") == set()
    gates_doc = steps_doc[steps_doc.index("`gates[]`: `{") + 13:]
    assert _names(gates_doc[:gates_doc.index("}")]) - _props(schema, "steps", "gates") == set()
    for field in ("interventions", "attempts", "progress"):
        row = next(line for line in section.splitlines() if line.startswith(f"| `{field}"))
        doc = row[row.index("{") + 1:]
        # progress documents `by_status: {status: count}`: its inner keys are values, not fields
        assert _names(doc[:doc.index("}")].split(":")[0]) - _props(schema, field) == set(), field


def test_readme_list_result_and_event_keys_are_in_their_schemas(cli):
    listed = _names(_braces_after("`task list --json`: a list of"))
    assert listed and listed - _props(_schema(cli, "list")) == set()
    result_schema = _schema(cli, "result")
    result = _names(_braces_after("`task result --json`:"))
    assert len(result) > 15 and result - _props(result_schema) == set()
    metrics = README[README.index("TaskMetrics (`", README.index("`task result --json`:")) + 14:]
    assert _names(metrics[:metrics.index("`")]) - _props(result_schema, "metrics") == set()
    outputs = README[README.index("outputs[] ({") + 12:]
    assert _names(outputs[:outputs.index("}")]) - _props(result_schema, "outputs") == set()
    metrics_schema = _schema(cli, "metrics")
    metrics_top = _names(_braces_after("`task metrics --json`:"))
    assert {"task_id", "steps", "task"} <= metrics_top and metrics_top - _props(metrics_schema) == set()
    step_keys = _names(_braces_after("({name, status, duration, attempt,"))
    assert {"summary", "samples"} <= step_keys and step_keys - _props(metrics_schema, "steps") == set()
    summary = _names(_braces_after("a step's `summary` is"))
    assert len(summary) == 14 and summary - _props(metrics_schema, "steps", "summary") == set()
    sample = _names(_braces_after("each of `samples[]` is"))
    assert "ts" in sample and sample - _props(metrics_schema, "steps", "samples") == set()
    event = _names(_braces_after("`task events --json`: one object per line,"))
    assert event == {"id", "task_id", "step", "kind", "ts", "payload"}
    assert event - _props(_schema(cli, "event")) == set()


def test_the_event_schema_names_every_kind_and_its_payload(cli):
    schema = _schema(cli, "event")
    kinds = schema["$defs"]["EventKind"]["enum"]
    assert {"task_created", "step_completed", "gate_result", "intervention_applied"} <= set(kinds)
    assert set(schema["x-payloads"]) == set(kinds)
    for ref in schema["x-payloads"].values():
        assert ref.rsplit("/", 1)[1] in schema["$defs"]
    assert {"attempt", "max_attempts"} <= set(schema["$defs"]["StepStarted"]["properties"])


def test_plan_and_config_schemas_come_from_their_models(cli):
    assert "steps" in _schema(cli, "plan")["properties"]
    config = _schema(cli, "config")
    assert config["additionalProperties"] is False  # config keys are strict: a typo is an error
    assert "task_execution" in config["properties"] or "execution" in config["properties"]
