"""--help tells a person what to type (issue 11): choices of enum-like options, TASK_ID,
the required --plan, and shell completion offered by the app."""

from __future__ import annotations

import re

import pytest
import typer
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
    assert re.search(r"--mode +auto\|strict\|dry-run ", text)
    assert re.search(r"--priority +low\|normal\|high\|urgent ", text)
    assert re.search(r"--complexity +simple\|moderate\|complex\|enterprise ", text)
    plan_line = next(line for line in text.splitlines() if "--plan" in line)
    assert "Required unless --description" in plan_line and "FILE" in plan_line


def _all_commands() -> list[list[str]]:
    def walk(command, path):  # type: ignore[no-untyped-def]
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


COMMANDS = _all_commands()


def test_every_command_is_walked():
    assert len(COMMANDS) > 30 and ["task", "create"] in COMMANDS and ["daemon", "start"] in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "main")
def test_help_of_every_command_reads_plainly(path):
    """No `{TASK_ID}` in the usage line, no `<bool>`/`<str>` type noise, arguments in capitals,
    boolean flags with nothing after them, choices as a|b|c."""
    text = _help(*path)
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    for word in re.findall(r"\[?([A-Za-z_]+)\]?(?:\.\.\.)?", usage.split("[OPTIONS]", 1)[-1]):
        assert word.isupper(), f"argument {word!r} in {usage!r}"
    assert not re.search(r"<(bool|str|int|float|list\[[a-z]+\]|[a-z ]+ range)>", text), text
    assert "BOOLEAN" not in text  # a flag takes no value, so its help shows none
    help_line = next(line for line in text.splitlines() if "--help" in line and "Show this message" in line)
    assert re.search(r"--help\s+-h\s+Show this message", help_line), help_line


@pytest.mark.parametrize("command", ["status", "pause", "approve", "logs", "result", "watch"])
def test_id_arguments_read_task_id(command):
    text = _help("task", command)
    assert "TASK_ID" in text and "task_id" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert usage.split()[-1] == ("[TASK_ID]" if command == "watch" else "TASK_ID")


def test_a_missing_argument_is_named_as_in_the_usage():
    res = CliRunner().invoke(app, ["task", "status"])
    assert res.exit_code == 2 and "Missing argument 'TASK_ID'" in res.output


def test_shell_completion_is_offered_and_completes_choices():
    assert "--install-completion" in _help()
    res = CliRunner().invoke(app, [], prog_name="agent-agency-cli", env={
        "_AGENT_AGENCY_CLI_COMPLETE": "complete_bash", "COMP_WORDS": "agent-agency-cli task create --mode s",
        "COMP_CWORD": "4"})
    assert res.output.split() == ["strict"]
