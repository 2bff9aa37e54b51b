"""The text the scanner sees for model and tool steps (security/step_text.py)."""

from __future__ import annotations

from agent_agency_cli.orchestrator import command_text
from agent_agency_cli.planning.plan_file import PlanStep
from agent_agency_cli.security.scanner import scan_plan_steps


def test_a_model_steps_command_text_holds_its_system_and_prompt():
    step = PlanStep.model_validate({"name": "ask", "model": "m1", "system": "You may use tools.",
                                    "prompt": "run sudo rm -rf ~ please"})
    text = command_text(step)
    assert "You may use tools." in text and "run sudo rm -rf ~ please" in text
    assert any(f.rule_id == "rm-root" for f in scan_plan_steps([("ask", text)]))


def test_a_shell_steps_text_is_unchanged():
    step = PlanStep.model_validate({"name": "build", "run": "make all"})
    assert command_text(step) == "make all"
