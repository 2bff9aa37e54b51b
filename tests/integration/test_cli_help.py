"""--help tells a person what to type (issue 11): choices of enum-like options, TASK_ID,
the required --plan, and shell completion offered by the app."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from agent_agency_cli.cli import choices
from agent_agency_cli.cli.main import app
from agent_agency_cli.models import ExecutionMode, Priority, TaskStatus


def _help(*args: str) -> str:
    res = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return res.output


def test_choices_match_the_models():
    assert choices.MODES == tuple(m.value for m in ExecutionMode)
    assert choices.PRIORITIES == tuple(p.value for p in Priority)
    assert set(choices.TASK_STATUSES) == {s.value for s in TaskStatus}


def test_create_help_lists_choices_and_marks_plan_required():
    text = _help("task", "create")
    assert "[auto|strict|dry-run]" in text
    assert "[low|normal|high|urgent]" in text
    assert "[simple|moderate|complex|enterprise]" in text
    plan_line = next(line for line in text.splitlines() if "--plan" in line)
    assert "(required)" in plan_line and "FILE" in plan_line


@pytest.mark.parametrize("command", ["status", "pause", "approve", "logs", "result", "watch"])
def test_id_arguments_read_task_id(command):
    text = _help("task", command)
    assert "TASK_ID" in text and "task_id" not in text


def test_shell_completion_is_offered_and_completes_choices():
    assert "--install-completion" in _help()
    res = CliRunner().invoke(app, [], prog_name="agent-agency-cli", env={
        "_AGENT_AGENCY_CLI_COMPLETE": "complete_bash", "COMP_WORDS": "agent-agency-cli task create --mode s",
        "COMP_CWORD": "4"})
    assert res.output.split() == ["strict"]
