"""Tool steps: `tool: SERVER/TOOL` with `arguments:` runs one MCP tool call.

The task's session to SERVER (executors/mcp_session.py) is opened by its first tool
step and reused by the others; the engine closes it when the task's runner ends.
The call's structured result is the step's output (stored with step_completed, so
later steps' `{{ steps.NAME.output }}` and `task result` see it) and goes to its log.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio

from agent_agency_cli.errors import BadInputError
from agent_agency_cli.executors.base import StepLog, StepOutcome
from agent_agency_cli.rows import StepSpec

if TYPE_CHECKING:
    from agent_agency_cli.executors.mcp_session import TaskTools
    from agent_agency_cli.executors.registry import AttemptContext

MAX_LOGGED_CHARS = 64_000  # a huge result is cut in the log (the stored output is whole)


def split_tool(ref: str) -> tuple[str, str]:
    """("server", "tool") from "server/tool"; ValueError when it is not of that form."""
    server, sep, tool = ref.partition("/")
    if not sep or not server or not tool or "/" in tool:
        raise ValueError(f"'tool' must look like SERVER/TOOL, got {ref!r}")
    return server, tool


def check_server(step: str, ref: str, servers: dict[str, Any]) -> None:
    """At create: the step's server is configured (else bad input, exit 2)."""
    from agent_agency_cli.executors.mcp_session import ToolError, require_mcp  # lazy: keeps start-up light

    try:
        require_mcp()
    except ToolError as exc:
        raise BadInputError(f"step {step!r}: {exc}") from None
    server = split_tool(ref)[0]
    if server not in servers:
        known = ", ".join(sorted(servers)) or "none configured"
        raise BadInputError(f"step {step!r}: unknown MCP server {server!r} (configured: {known}); "
                            "declare it under mcp_servers: in the config")


def tool_call_text(ref: str, arguments: dict[str, Any]) -> str:
    """The call as one line of text: what the scanner checks and approvals show."""
    return f"{ref} {json.dumps(arguments, ensure_ascii=False, sort_keys=True)}" if arguments else ref


def scan_text(ref: str, arguments: dict[str, Any]) -> str:
    """The call as the security scanner reads it: the tool, then one `key: value` line per
    text value (a command hidden in an argument sits at a line start, as in a script)."""
    lines = [ref]

    def walk(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(str(k), v)
        elif isinstance(value, list):
            for v in value:
                walk(key, v)
        elif value is not None:
            lines.append(f"{key}: {value}")

    walk("arguments", arguments)
    return "\n".join(lines)


def result_value(result: Any) -> Any:
    """The output of a CallToolResult: its structured content, else its text (parsed
    as JSON when it is JSON), else a list of the content blocks."""
    if result.structured_content is not None:
        return result.structured_content
    texts = [b.text for b in result.content if getattr(b, "type", None) == "text"]
    if len(texts) == len(result.content) and texts:
        text = "\n".join(texts)
        try:
            return json.loads(text)
        except ValueError:
            return text
    return [b.model_dump(mode="json", exclude_none=True) for b in result.content]


def error_text(result: Any) -> str:
    texts = [b.text for b in result.content if getattr(b, "type", None) == "text"]
    text = " ".join(" ".join(texts).split())
    return text[:300] or "the tool reported an error"


def task_tools(ctx: AttemptContext) -> TaskTools:
    """The task's MCP sessions (one per server), kept in the per-task services."""
    from agent_agency_cli.executors.mcp_session import TaskTools  # lazy: keeps start-up light

    tools = ctx.services.get(TaskTools.SERVICE_KEY)
    if tools is None:
        tools = ctx.services[TaskTools.SERVICE_KEY] = TaskTools(dict(ctx.settings.mcp_servers),
                                                               ctx.log.path.parent)
    return tools


class ToolHandle:
    """One attempt of a tool step. Pause lets the call finish (nothing new starts);
    stop cancels the call."""

    pid: int | None = None

    def __init__(self, ctx: AttemptContext):
        self.ctx = ctx
        self.log: StepLog = ctx.log
        self._scope: anyio.CancelScope | None = None
        self._stopping = False

    async def run(self) -> StepOutcome:
        from agent_agency_cli.executors.mcp_session import ToolError  # lazy: keeps start-up light
        from agent_agency_cli.planning.templates import TemplateError, render  # lazy: keeps start-up light

        spec = self.ctx.spec
        ref = spec.tool or ""
        server, tool = split_tool(ref)
        try:
            raw = spec.arguments
            arguments = render(raw, self.ctx.variables(raw))
        except TemplateError as exc:
            self.log.line("sys", f"arguments: {exc}")
            return StepOutcome(ok=False, reason=f"arguments: {exc}")
        self.log.line("sys", f"tool {tool_call_text(ref, arguments)}")
        if self._stopping:
            return StepOutcome(ok=False, reason="stopped")
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                session = task_tools(self.ctx).session(server)
                result = await session.call(tool, arguments, timeout=spec.timeout)
            except ToolError as exc:
                self.log.line("sys", str(exc))
                return StepOutcome(ok=False, reason=str(exc))
        self._scope = None
        if scope.cancelled_caught:
            return StepOutcome(ok=False, reason="stopped")
        if result.is_error:
            why = error_text(result)
            self.log.line("err", why)
            return StepOutcome(ok=False, exit_code=1, reason=f"{ref}: {why}")
        value = result_value(result)
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
        self.log.feed("out", text[:MAX_LOGGED_CHARS] + "\n")
        return StepOutcome(ok=True, exit_code=0, result=value)

    def pause(self) -> None:
        """An MCP call cannot be suspended; the runner holds the steps after it."""

    def resume(self) -> None:
        pass

    async def stop(self, grace: float) -> None:
        self._stopping = True
        if self._scope is not None:
            self._scope.cancel()


class ToolExecutor:
    """`tool:` steps: one call of an MCP server's tool."""

    kind = "tool"
    plan_key = "tool"
    samples_processes = False

    def make_handle(self, ctx: AttemptContext) -> ToolHandle:
        return ToolHandle(ctx)

    def breaker_target(self, spec: StepSpec) -> tuple[str, Any]:
        return "mcp", "mcp:" + split_tool(spec.tool or "")[0]

    def describe(self, spec: StepSpec) -> str:
        return tool_call_text(spec.tool or "", spec.arguments)


EXECUTOR = ToolExecutor()
