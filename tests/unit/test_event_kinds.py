"""Every event kind the engine writes is an `EventKind`, and both renderers read one table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from agent_agency_cli.cli import render
from agent_agency_cli.event_kinds import STATUS_ICONS, EventKind, kind_of
from agent_agency_cli.event_payloads import PAYLOADS, payload_model
from agent_agency_cli.models import StepStatus, TaskStatus
from agent_agency_cli.tui import format as tui_format

PKG = Path(__file__).resolve().parents[2] / "agent_agency_cli"
FACES = ("cli", "tui", "api")
# Strings that look like event kinds but name something else.
NOT_KINDS = {"task_id", "task_dir", "plan_dir", "plan_path", "gate_violation", "gate_type_of", "gate_score",
             "review_mode", "review_policy", "step_id", "model_calls", "model_cost", "step_output", "step_outputs",
             "step_log_max", "step_metrics", "step_signature", "task_text", "plan_review", "task_record", "model_steps",
             # pydantic error types that input_errors.py words for people
             "model_type", "model_attributes_type"}
LOOKS_LIKE_KIND = re.compile(r"^(task|step|gate|intervention|approval|review|deadline|model|plan)_[a-z_]+$")
# Calls that take an event kind, and where: positional index, or a keyword.
KIND_ARGS = {"add_event": 1, "_event": 2, "emit": 0, "_emit": 0, "set_task": 1, "_set_task": 1, "_mark": 2,
             "_move": 2}


def _kind_literals() -> set[str]:
    found = set()
    for path in PKG.rglob("*.py"):
        if path.relative_to(PKG).parts[0] in FACES or path.name in ("event_kinds.py", "event_payloads.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and LOOKS_LIKE_KIND.match(node.value):
                found.add(node.value)
    return found - NOT_KINDS


def _kind_arguments() -> tuple[set[str], int]:
    """String constants passed as the kind of an event to the calls that write one, and how
    many kind arguments those calls pass in all (EventKind members included)."""
    found, seen = set(), 0
    for path in PKG.rglob("*.py"):
        if path.relative_to(PKG).parts[0] in FACES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            args = [kw.value for kw in node.keywords if kw.arg == "event"]
            if name in KIND_ARGS and len(node.args) > KIND_ARGS[name]:
                args.append(node.args[KIND_ARGS[name]])
            for a in args:
                if isinstance(a, ast.Constant) and isinstance(a.value, str):
                    found.add(a.value)
                    seen += 1
                elif isinstance(a, ast.Attribute) and getattr(a.value, "id", None) == "EventKind":
                    assert a.attr in EventKind.__members__, f"{path}: EventKind.{a.attr}"
                    seen += 1
    return found, seen


def test_every_kind_passed_to_an_event_writer_is_declared():
    kinds, seen = _kind_arguments()
    assert seen > 50, "the scan no longer sees the event writers"
    assert sorted(k for k in kinds if kind_of(k) is None) == []


def test_every_kind_the_engine_writes_is_declared():
    literals = _kind_literals()
    assert literals, "the scan found no event kinds: the pattern no longer matches the code"
    assert sorted(k for k in literals if kind_of(k) is None) == []


# The same words used for something else than an event's kind: path -> the words.
SAME_WORD_ELSEWHERE = {
    "orchestration/views.py": {"deadline_passed"}, "cli/render.py": {"deadline_passed"},  # status JSON key
    "cli/plain.py": {"deadline_passed"}, "tui/header.py": {"deadline_passed"},
    "tui/tasks_table.py": {"deadline_passed"},
    "engine/approvals.py": {"tool_call"},  # the kind of an approval (start, tool_call, ...)
}


def test_no_event_kind_is_spelled_as_a_string_anywhere():
    # Faces included: the renderers compare against EventKind members, so a renamed kind
    # fails at import instead of silently matching nothing.
    values = {k.value for k in EventKind}
    found = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel in ("event_kinds.py", "event_payloads.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in values
                    and node.value not in SAME_WORD_ELSEWHERE.get(rel, ())):
                found.append(f"{rel}:{node.lineno}: {node.value!r}")
    assert found == []


def test_kinds_built_from_a_status_or_an_outcome_are_declared():
    # engine: f"task_{status.value}"; store: f"intervention_{outcome}"
    for status in TaskStatus:
        assert kind_of(f"task_{status.value}") is not None, status
    for outcome in ("requested", "applied", "rejected"):
        assert kind_of(f"intervention_{outcome}") is not None


def test_an_unknown_kind_is_none_not_an_error():
    assert kind_of("step_teleported") is None
    assert payload_model("step_teleported").model_validate({"x": 1})


def test_every_kind_has_a_payload_model():
    assert set(PAYLOADS) == set(EventKind)


def test_every_status_has_an_icon_shared_by_cli_and_tui():
    assert {s.value for s in TaskStatus} | {s.value for s in StepStatus} <= set(STATUS_ICONS)
    assert render.ICONS is STATUS_ICONS
    assert tui_format.ICONS is STATUS_ICONS


def _event(kind: str, payload: dict, step: str | None = "build") -> dict:
    return {"id": 1, "task_id": "abc123", "step": step, "kind": kind, "ts": "2026-11-25T19:03:23.690Z",
            "payload": payload}


@pytest.mark.parametrize("kind", list(EventKind))
def test_both_renderers_handle_every_kind(kind):
    ev = _event(kind.value, {"reason": "why", "status": "failed", "kind": "start", "gate": "g",
                             "who": "ana", "attempt": 1, "max_attempts": 2, "duration": 1.5, "id": 3,
                             "old": {"priority": "low"}, "new": {"priority": "high"}, "description": "d",
                             "steps": 2, "cause": "cpu", "message": "hot", "delay": 0.5, "retry": 1,
                             "model": "m", "source": "builtin"})
    line = render.event_line(ev)
    text = tui_format.event_text(ev, tui_format.Palette())
    if kind is EventKind.STEP_PROGRESS:
        assert line is None and text is None
    else:
        assert line and text is not None and text.plain.strip()


def test_the_renderers_word_the_common_events_alike():
    approval = _event("approval_requested", {"kind": "gate_violation", "command": "make"})
    assert "awaits approval to accept gate violations" in render.event_line(approval)
    assert "awaits approval to accept gate violations" in tui_format.event_text(approval, tui_format.Palette()).plain
    done = _event("step_completed", {"duration": 2.0})
    assert "build  completed in 2.0s" in render.event_line(done)
    assert "build completed 2.0s" in tui_format.event_text(done, tui_format.Palette()).plain


def test_internal_fields_never_reach_the_tui_line():
    ev = _event("task_modified", {"old": {"priority": "low", "priority_rank": 1},
                                  "new": {"priority": "high", "priority_rank": 3}}, step=None)
    plain = tui_format.event_text(ev, tui_format.Palette()).plain
    assert "priority low → high" in plain and "priority_rank" not in plain


def test_public_payloads_show_times_as_iso_and_hide_internal_fields():
    from agent_agency_cli.event_kinds import public_payload

    stored = {"deadline": 1796001766.5, "next_retry_at": 0, "reason": "r", "attempt": 2,
              "old": {"priority": "low", "priority_rank": 1, "deadline": None},
              "new": {"priority": "high", "priority_rank": 3, "deadline": 1796001766.0},
              "fallback": True, "violations": [{"deadline": "kept as is"}]}
    assert public_payload(stored) == {
        "deadline": "2026-11-30T01:22:46.500Z", "next_retry_at": "1970-01-01T00:00:00.000Z", "reason": "r",
        "attempt": 2, "old": {"priority": "low", "deadline": None},
        "new": {"priority": "high", "deadline": "2026-11-30T01:22:46.000Z"},
        "fallback": True, "violations": [{"deadline": "kept as is"}]}
    already = {"deadline": "2026-11-30T01:22:46.500Z"}
    assert public_payload(already) == already
