"""Tool steps in plans and configs: `mcp_servers:`, `tool: SERVER/TOOL`, templated
arguments, and what the scanner and approvals see of a tool call."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agent_agency_cli.config import McpServer, Settings, format_validation_error
from agent_agency_cli.errors import PlanError
from agent_agency_cli.executors.registry import executor_for
from agent_agency_cli.executors.tool import scan_text, split_tool, tool_call_text
from agent_agency_cli.planning.plan_file import parse_plan
from agent_agency_cli.planning.templates import TemplateError, check_names, render
from agent_agency_cli.rows import StepSpec

# -- config ---------------------------------------------------------------------------


def test_stdio_and_http_servers_are_accepted() -> None:
    s = Settings.model_validate({"mcp_servers": {
        "time": {"command": "mcp-server-time", "args": ["--local-timezone", "UTC"], "env": {"TZ": "MY_TZ"}},
        "web": {"url": "http://127.0.0.1:8000/mcp", "headers": {"Authorization": "WEB_TOKEN"}, "timeout": "5s"},
    }})
    assert s.mcp_servers["time"].args == ["--local-timezone", "UTC"]
    assert s.mcp_servers["web"].timeout == 5.0
    assert s.mcp_servers["web"].idle_close == 300.0


@pytest.mark.parametrize(("server", "expected"), [
    ({"command": "x", "url": "http://h/mcp"}, "exactly one of 'command'"),
    ({}, "exactly one of 'command'"),
    ({"url": "ftp://h/mcp"}, "must start with http://"),
    ({"url": "http://h/mcp", "args": ["a"]}, "are for stdio servers"),
    ({"command": "x", "headers": {"A": "B"}}, "are for HTTP servers"),
    ({"command": "x", "enviroment": {}}, "unknown key mcp_servers.s.enviroment"),
])
def test_bad_server_is_one_line(server: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings.model_validate({"mcp_servers": {"s": server}})
    line = format_validation_error("config c.yaml", info.value)
    assert expected in line
    assert "\n" not in line


def test_bad_server_name() -> None:
    with pytest.raises(ValidationError) as info:
        Settings.model_validate({"mcp_servers": {"a/b": {"command": "x"}}})
    assert "bad server name 'a/b'" in format_validation_error("c", info.value)


# -- plans ----------------------------------------------------------------------------


def test_tool_step_kind_and_description() -> None:
    plan = parse_plan({"steps": [{"name": "t", "tool": "time/get_current_time",
                                  "arguments": {"timezone": "UTC"}}]})
    step = plan.steps[0]
    assert step.kind == "tool"
    spec = StepSpec.of(step.model_dump(exclude_defaults=True))  # as the engine reads it back
    ex = executor_for(spec)
    assert ex.describe(spec) == 'time/get_current_time {"timezone": "UTC"}'
    assert ex.breaker_target(spec) == ("mcp", "mcp:time")


@pytest.mark.parametrize(("raw", "expected"), [
    ({"tool": "time"}, "'tool' must look like SERVER/TOOL"),
    ({"tool": "/x"}, "'tool' must look like SERVER/TOOL"),
    ({"tool": "a/b/c"}, "'tool' must look like SERVER/TOOL"),
    ({"tool": "a/b", "run": "true"}, "give exactly one of"),
    ({"run": "true", "arguments": {"a": 1}}, "'arguments' is for tool steps"),
    ({"tool": "a/b", "arguments": {"x": "{{ nope }}"}}, "unknown placeholder {{ nope }}"),
    ({"tool": "a/b", "arguments": {"x": "{{ steps.ghost.output }}"}}, "names no step of this plan"),
    ({"tool": "a/b", "arguments": {"x": "{{ steps.other.output }}"}}, "needs step 'other' in 'needs'"),
])
def test_bad_tool_step(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan({"steps": [{"name": "other", "run": "true"}, {"name": "t", **raw}]})
    assert expected in str(info.value)


def test_arguments_may_use_outputs_of_steps_it_needs_transitively() -> None:
    plan = parse_plan({"steps": [
        {"name": "a.b", "run": "true"},
        {"name": "mid", "run": "true", "needs": ["a.b"]},
        {"name": "t", "tool": "s/x", "needs": ["mid"],
         "arguments": {"x": "{{ steps.a.b.output.key.0 }}", "d": "{{ description }}"}},
    ]})
    assert plan.steps[2].arguments["x"] == "{{ steps.a.b.output.key.0 }}"


def test_split_tool() -> None:
    assert split_tool("git/git_log") == ("git", "git_log")
    with pytest.raises(ValueError):
        split_tool("git")


# -- templates ------------------------------------------------------------------------

VARS = {"description": "Ship it", "requirements": ["fast", "safe"],
        "steps": {"now": {"timezone": "Europe/Paris", "list": [1, {"k": "v"}]}, "txt": "hello"}}


def test_a_whole_placeholder_keeps_the_value_structured() -> None:
    assert render("{{ steps.now.output }}", VARS) == VARS["steps"]["now"]
    assert render({"a": ["{{steps.now.output.list.1}}"]}, VARS) == {"a": [{"k": "v"}]}
    assert render("{{ requirements }}", VARS) == ["fast", "safe"]


def test_placeholders_inside_text_become_text() -> None:
    assert render("zone {{ steps.now.output.timezone }}!", VARS) == "zone Europe/Paris!"
    assert render("{{ description }}: {{ requirements }}", VARS) == "Ship it: fast, safe"
    assert render("data={{ steps.now.output.list }}", VARS) == 'data=[1, {"k": "v"}]'
    assert render(7, VARS) == 7


@pytest.mark.parametrize(("text", "expected"), [
    ("{{ steps.missing.output }}", "step 'missing' has no output"),
    ("{{ steps.now.output.nokey }}", "has no 'nokey'"),
    ("{{ steps.now.output.list.9 }}", "has no '9'"),
    ("{{ other }}", "unknown placeholder"),
])
def test_missing_values_are_errors_not_empty_text(text: str, expected: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(text, VARS)
    assert expected in str(info.value)


def test_check_names() -> None:
    assert check_names({"a": "{{ description }} {{ steps.x.output }}"}, {"x"}) is None
    assert "names no step" in (check_names(["{{ steps.y.output }}"], {"x"}) or "")


# -- governance text -------------------------------------------------------------------


def test_scan_text_puts_each_argument_on_its_own_line() -> None:
    text = scan_text("git/git_status", {"repo_path": "/tmp; rm -rf /etc", "opts": {"n": [1, "x"]}})
    assert text.splitlines() == ["git/git_status", "repo_path: /tmp; rm -rf /etc", "n: 1", "n: x"]


def test_scanner_sees_a_command_hidden_in_arguments() -> None:
    from agent_agency_cli.validation import scan_plan_steps

    findings = scan_plan_steps([("danger", scan_text("git/git_status", {"repo_path": "/tmp; rm -rf /etc"}))])
    assert any(f.severity.value == "critical" for f in findings)
    assert not scan_plan_steps([("ok", scan_text("time/get_current_time", {"timezone": "UTC"}))])


def test_call_text_shows_tool_and_arguments() -> None:
    assert tool_call_text("s/t", {}) == "s/t"
    assert tool_call_text("s/t", {"b": 1, "a": "x"}) == 's/t {"a": "x", "b": 1}'


def test_server_defaults() -> None:
    m = McpServer(command="x")
    assert (m.timeout, m.startup_timeout, m.idle_close) == (60.0, 30.0, 300.0)


# -- agent steps (a model step with tools) ---------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ({"run": "true", "tools": ["workspace"]}, "'tools' is for model steps"),
    ({"model": "m", "prompt": "p", "tools": ["git"]}, "must be 'workspace', 'SERVER/*' or 'SERVER/TOOL'"),
    ({"model": "m", "prompt": "p", "tools": ["a/b/c"]}, "must be 'workspace', 'SERVER/*' or 'SERVER/TOOL'"),
])
def test_bad_agent_tools(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan({"steps": [{"name": "t", **raw}]})
    assert expected in str(info.value)


def test_agent_tools_accepted() -> None:
    plan = parse_plan({"steps": [{"name": "t", "model": "m", "prompt": "p",
                                  "tools": ["workspace", "git/*", "time/get_current_time"]}]})
    assert plan.steps[0].kind == "model"


def test_function_names_are_what_openai_accepts() -> None:
    from agent_agency_cli.executors.agent import function_name

    assert function_name("git", "git_log") == "git__git_log"
    assert function_name("my.server", "do/it now") == "my_server__do_it_now"
