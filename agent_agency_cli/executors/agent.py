"""Agent steps: a model step with `tools:` runs a bounded tool-calling loop.

Each turn sends the conversation to the model with the step's tools; the model either
answers (the step's output) or calls tools, which the engine runs and returns. Bounded by
`max_turns` (default 10) and `token_budget`. `tools:` names MCP tools (`SERVER/TOOL`,
`SERVER/*`) and `workspace` (read_file, write_file, list_files, run_command).

Every call goes through the governance a step gets: the scanner (a critical finding is
refused and the model told why), strict-mode approval for every call not annotated
read-only (the task waits in awaiting_approval; `task approve/reject`), pause (the loop
stops between calls; a running command is SIGSTOPped) and cancel. Each call is a
`tool_call` event (tool, masked arguments, status, duration, result size) and a line in
the step log. A model swapped with `task modify --model` is used from the next turn.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.executors.base import StepOutcome
from agent_agency_cli.executors.model import ModelHandle

if TYPE_CHECKING:
    from agent_agency_cli.executors.model_client import Endpoint

DEFAULT_MAX_TURNS = 10
MAX_RESULT = 16_000  # characters of a tool result sent back to the model
_NAME_OK = re.compile(r"[^A-Za-z0-9_-]")


def function_name(server: str, tool: str) -> str:
    """An OpenAI function name for SERVER/TOOL (letters, digits, _ and - only)."""
    return _NAME_OK.sub("_", f"{server}__{tool}")[:64]


class _Tool:
    def __init__(self, kind: str, server: str, name: str, description: str, schema: dict[str, Any],
                 read_only: bool):
        self.kind, self.server, self.name = kind, server, name
        self.description, self.schema, self.read_only = description, schema, read_only

    @property
    def ref(self) -> str:
        return f"{self.server}/{self.name}"

    def openai(self) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": function_name(self.server, self.name), "description": self.description[:1000],
            "parameters": self.schema or {"type": "object", "properties": {}}}}


class AgentHandle(ModelHandle):
    """One attempt of an agent step (a model step with tools)."""

    def __init__(self, ctx: Any):
        super().__init__(ctx)
        self.workspace: Any = None
        self.tokens = 0

    # -- the tools ----------------------------------------------------------------------

    async def _tool_table(self) -> dict[str, _Tool]:
        from agent_agency_cli.executors.tool import task_tools  # lazy: keeps start-up light
        from agent_agency_cli.executors.workspace_tools import TOOLS, Workspace  # lazy: keeps start-up light

        table: dict[str, _Tool] = {}
        for ref in self.spec.tools:
            if ref == "workspace":
                self.workspace = Workspace(self.ctx)
                for name, (desc, schema, ro) in TOOLS.items():
                    t = _Tool("workspace", "workspace", name, desc, schema, ro)
                    table[function_name("workspace", name)] = t
                continue
            server, _, tool = ref.partition("/")
            session = task_tools(self.ctx).session(server)
            listed = await session.list_tools()
            chosen = listed if tool == "*" else [t for t in listed if t.name == tool]
            if not chosen:
                raise _AgentError(f"tools: MCP server {server!r} has no tool {tool!r}")
            for t in chosen:
                ro = bool(t.annotations and t.annotations.read_only_hint)
                table[function_name(server, t.name)] = _Tool("mcp", server, t.name, t.description or "",
                                                             t.input_schema, ro)
        return table

    async def _run_tool(self, tool: _Tool, args: dict[str, Any]) -> str:
        from agent_agency_cli.executors.tool import result_value  # lazy: keeps start-up light

        if tool.kind == "workspace":
            return await self.workspace.call(tool.name, args)
        from agent_agency_cli.executors.tool import task_tools  # lazy: keeps start-up light

        result = await task_tools(self.ctx).session(tool.server).call(tool.name, args)
        value = result_value(result)
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return ("error: " + text) if result.is_error else text

    async def _governed_call(self, tool: _Tool, raw_args: str) -> str:
        """Run one call under the governance; the text the model gets back."""
        from agent_agency_cli.executors.mcp_session import ToolError  # lazy: keeps start-up light
        from agent_agency_cli.executors.tool import scan_text  # lazy: keeps start-up light
        from agent_agency_cli.executors.workspace_tools import ToolRefused  # lazy: keeps start-up light
        from agent_agency_cli.validation import mask_secrets  # lazy: keeps start-up light
        from agent_agency_cli.validation import scan_text as scan  # lazy: keeps start-up light

        t0 = time.perf_counter()
        status, text = "ok", ""
        try:
            args = json.loads(raw_args or "{}")
            if not isinstance(args, dict):
                raise ValueError("not an object")
        except ValueError:
            args, status, text = {}, "error", f"error: arguments are not a JSON object: {raw_args[:200]!r}"
        shown = mask_secrets(json.dumps(args, ensure_ascii=False, sort_keys=True))
        if status == "ok":
            critical = [f for f in scan(scan_text(tool.ref, args), f"tool call {tool.ref}")
                        if f.severity.value == "critical"]
            if critical:
                status = "refused"
                text = f"refused by the security scanner: {critical[0].message} (`{critical[0].excerpt}`)"
        if status == "ok" and not tool.read_only:
            decision = await self.ctx.ask_call({"tool": tool.ref, "arguments": json.loads(shown),
                                                "command": f"{tool.ref} {shown}"})
            if decision is None:
                raise _Stopped()
            if not decision[0]:
                status, text = "rejected", f"rejected by a person: {decision[1]}"
        if status == "ok":
            await self._wait_running()
            try:
                text = await self._run_tool(tool, args)
            except (ToolRefused, ToolError) as exc:
                status, text = ("refused" if isinstance(exc, ToolRefused) else "error"), f"{status}: {exc}"
        duration = time.perf_counter() - t0
        self._sys(f"tool {tool.ref} {shown} -> {status}, {len(text)} characters in {duration:.3f}s")
        self._emit(EventKind.TOOL_CALL, {"tool": tool.ref, "arguments": json.loads(shown), "status": status,
                                 "duration": round(duration, 4), "result_size": len(text)})
        return text if len(text) <= MAX_RESULT else text[:MAX_RESULT] + f"\n… ({len(text)} characters in all)"

    # -- the loop -------------------------------------------------------------------------

    def _swapped_endpoint(self, ep: Endpoint) -> Endpoint:
        """The model a `task modify --model` chose since the last turn (else the same)."""
        from agent_agency_cli.executors.model_client import resolve  # lazy: keeps start-up light

        current = self.ctx.current_spec()
        model = (current.selection or {}).get("primary") or current.model
        if not model or model == ep.name or model == "auto":
            return ep
        new = resolve(model, self.ctx.settings.models, self.ctx.env)
        self._model = new.name
        self._sys(f"model swapped: {ep.name} -> {new.name} from this turn")
        self._install_mask([new.api_key] if new.api_key else [])
        return new

    async def _try_model(self, ep: Endpoint, messages: list[dict[str, Any]]) -> tuple[StepOutcome | None, str]:
        from agent_agency_cli.executors.model_client import call_with_retries, client_for  # lazy: keeps start-up light

        try:
            table = await self._tool_table()
        except _AgentError as exc:
            return self._fail(str(exc), target_ok=True), ""
        tools = [t.openai() for t in table.values()]
        spec = self.spec
        max_turns = spec.max_turns or DEFAULT_MAX_TURNS
        budget = spec.token_budget
        msgs = list(messages)

        def on_call(res: Any) -> None:
            self.ctx.record_call(json.loads(self._mask(json.dumps(res.record(ep)))))

        def on_retry(reason: str, delay: float, retry: int) -> None:
            self._sys(f"{ep.name}: {reason}; retry {retry} of {ep.retries} in {delay:.2f}s")

        try:
            for turn in range(1, max_turns + 1):
                await self._wait_running()
                ep = self._swapped_endpoint(ep)
                client = client_for(ep, self.ctx.services)
                res = await call_with_retries(ep, client, msgs, on_call=on_call, on_retry=on_retry,
                                              sleep=self._sleep, stream=False, tools=tools,
                                              max_tokens=spec.max_tokens,
                                              temperature=spec.temperature)
                if not res.ok:
                    if res.bad_request:
                        return self._fail(f"{ep.name} rejected the request: {res.error}", target_ok=True), ""
                    return None, res.error or "error"
                self.tokens += (res.tokens_in or 0) + (res.tokens_out or 0)
                if not res.tool_calls:
                    if res.text:
                        self.ctx.log.feed("out", res.text + ("" if res.text.endswith("\n") else "\n"))
                    self._sys(f"turn {turn}: answered ({self.tokens} tokens so far)")
                    out = self._succeed(ep, res)
                    if isinstance(out.result, dict):
                        out.result.update(turns=turn, tokens=self.tokens)
                    return out, ""
                if budget is not None and self.tokens > budget:
                    return self._fail(f"token budget exceeded: {self.tokens} > {budget} after {turn} turn(s)",
                                      target_ok=True), ""
                msgs.append({"role": "assistant", "content": res.text or None, "tool_calls": [
                    {"id": c["id"] or f"call_{turn}_{i}", "type": "function",
                     "function": {"name": c["name"], "arguments": c["arguments"] or "{}"}}
                    for i, c in enumerate(res.tool_calls)]})
                for i, c in enumerate(res.tool_calls):
                    tool = table.get(c["name"])
                    if tool is None:
                        text = f"error: no tool named {c['name']!r}; the tools are {', '.join(table)}"
                    else:
                        text = await self._governed_call(tool, c["arguments"] or "{}")
                    msgs.append({"role": "tool", "tool_call_id": c["id"] or f"call_{turn}_{i}", "content": text})
            return self._fail(f"no answer after max_turns={max_turns} turns", target_ok=True), ""
        except _Stopped:
            return StepOutcome(ok=False, reason="stopped while a tool call awaited approval",
                               extra={"target_ok": True}), ""

    def pause(self) -> None:
        super().pause()
        if self.workspace is not None and self.workspace.command is not None:
            self.workspace.command.pause()

    def resume(self) -> None:
        if self.workspace is not None and self.workspace.command is not None:
            self.workspace.command.resume()
        super().resume()

    async def stop(self, grace: float) -> None:
        if self.workspace is not None and self.workspace.command is not None:
            await self.workspace.command.stop(grace)
        await super().stop(grace)


class _AgentError(Exception):
    pass


class _Stopped(Exception):
    pass
