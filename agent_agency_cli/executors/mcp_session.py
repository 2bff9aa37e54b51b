"""MCP client sessions over the official `mcp` SDK (extra `ai`), one per server and task.

A session is opened on first use and owned by a background task of its own: the
SDK's transports are anyio task groups that must be entered and exited by the same
task, while tool calls come from step tasks and the close from the runner. Calls
from any task on the same loop go through the open client. A session unused for
`idle_close` seconds (a paused task makes no calls) closes itself, stopping a
stdio server's process, and is reopened by the next call.
"""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio

AI_EXTRA_HINT = "MCP tool steps need the 'ai' extra: pip install 'agent-agency-cli[ai]'"


class ToolError(Exception):
    """A tool call that could not be made or failed: one line a person can act on."""


def require_mcp() -> Any:
    """The `mcp` package, or ToolError naming the extra to install."""
    try:
        import mcp  # lazy: the 'ai' extra
    except ImportError:
        raise ToolError(AI_EXTRA_HINT) from None
    return mcp


def _from_env(mapping: dict[str, str], what: str, server: str) -> dict[str, str]:
    """{key: value of the named environment variable}; a missing variable is an error."""
    out = {}
    for key, var in mapping.items():
        value = os.environ.get(var)
        if value is None:
            raise ToolError(f"MCP server {server!r}: {what} {key} reads ${var}, which is not set")
        out[key] = value
    return out


def _target(name: str, cfg: Any, errlog: Path | None) -> tuple[Any, list[Any]]:
    """What `mcp.Client` connects to, and resources to close with it."""
    require_mcp()
    if cfg.url is not None:
        from mcp.client.streamable_http import streamable_http_client  # lazy: the 'ai' extra
        from mcp.shared._httpx_utils import create_mcp_http_client  # lazy: the 'ai' extra

        http = create_mcp_http_client(headers=_from_env(cfg.headers, "header", name) or None)
        return streamable_http_client(cfg.url, http_client=http), [http]
    from mcp.client.stdio import StdioServerParameters, stdio_client  # lazy: the 'ai' extra

    params = StdioServerParameters(command=cfg.command, args=list(cfg.args),
                                   env=_from_env(cfg.env, "env", name) or None, cwd=cfg.cwd)
    closers: list[Any] = []
    if errlog is not None:  # the server's stderr: next to the task's step logs, not the terminal
        errlog.parent.mkdir(parents=True, exist_ok=True)
        fh = open(errlog, "a", encoding="utf-8")
        closers.append(fh)
        return stdio_client(params, errlog=fh), closers
    devnull = open(os.devnull, "w")
    return stdio_client(params, errlog=devnull), [devnull]


class McpSession:
    """One server's client session for one task (or one `tools list`)."""

    def __init__(self, name: str, cfg: Any, errlog: Path | None = None):
        self.name = name
        self.cfg = cfg
        self.errlog = errlog
        self._client: Any = None
        self._owner: asyncio.Task[None] | None = None
        self._ready: anyio.Event | None = None
        self._closing: anyio.Event | None = None
        self._error: BaseException | None = None
        self._opening = anyio.Lock()
        self._inflight = 0
        self._last_used = time.monotonic()
        self.opened = 0  # how many times a session was opened (reopened after idle)
        self._tools: dict[str, Any] | None = None

    @property
    def is_open(self) -> bool:
        return self._client is not None

    async def _own(self) -> None:
        """Enter the client, wait until told to close (or idle), exit: all in this task."""
        from mcp import Client  # lazy: the 'ai' extra

        assert self._ready is not None and self._closing is not None
        closers: list[Any] = []
        try:
            target, closers = _target(self.name, self.cfg, self.errlog)
            async with Client(target, cache=None) as client:
                self._client = client
                self._ready.set()
                try:
                    while not self._closing.is_set():
                        with anyio.move_on_after(self.cfg.idle_close):
                            await self._closing.wait()
                        if self._inflight == 0 and time.monotonic() - self._last_used >= self.cfg.idle_close:
                            break
                finally:
                    self._client = None
                    self._tools = None
        except BaseException as exc:  # surfaced to the caller waiting for the session
            self._error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self._ready.set()
            for c in closers:
                with suppress(Exception):
                    await c.aclose() if hasattr(c, "aclose") else c.close()

    async def client(self) -> Any:
        """The open client, starting the server on first use (or after an idle close)."""
        async with self._opening:
            if self._client is not None:
                return self._client
            if self._owner is not None:  # an idle-closed owner: let it finish
                with suppress(BaseException):
                    await self._owner
            require_mcp()
            self._error = None
            self._ready, self._closing = anyio.Event(), anyio.Event()
            self._owner = asyncio.get_running_loop().create_task(self._own(), name=f"mcp:{self.name}")
            with anyio.move_on_after(self.cfg.startup_timeout) as waited:
                await self._ready.wait()
            if waited.cancelled_caught:
                self._owner.cancel()
                with suppress(BaseException):
                    await self._owner
                raise ToolError(f"MCP server {self.name!r} did not start within {self.cfg.startup_timeout:g}s")
            if self._client is None:
                if isinstance(self._error, ToolError):  # a configuration problem, already one line
                    raise self._error
                raise ToolError(f"MCP server {self.name!r} did not start: {_why(self._error)}")
            self.opened += 1
            return self._client

    async def list_tools(self) -> list[Any]:
        """The server's tools (every page)."""
        client = await self.client()
        self._inflight += 1
        try:
            tools: list[Any] = []
            cursor = None
            with anyio.fail_after(self.cfg.timeout):
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
            self._tools = {t.name: t for t in tools}
            return tools
        except TimeoutError:
            raise ToolError(f"MCP server {self.name!r} did not list its tools within {self.cfg.timeout:g}s") from None
        finally:
            self._inflight -= 1
            self._last_used = time.monotonic()

    async def tool(self, name: str) -> Any | None:
        """One tool's description (listed once per session), or None."""
        if self._tools is None or self._client is None:
            await self.list_tools()
        return (self._tools or {}).get(name)

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float | None = None) -> Any:
        """Call a tool; returns the SDK's CallToolResult. Transport problems are ToolError."""
        client = await self.client()
        limit = timeout or self.cfg.timeout
        self._inflight += 1
        try:
            with anyio.fail_after(limit):
                return await client.call_tool(tool, arguments)
        except TimeoutError:
            raise ToolError(f"{self.name}/{tool}: no answer within {limit:g}s") from None
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(f"{self.name}/{tool}: {_why(exc)}") from None
        finally:
            self._inflight -= 1
            self._last_used = time.monotonic()

    async def aclose(self) -> None:
        """Close the session (stops a stdio server) and wait until it is closed."""
        if self._closing is not None:
            self._closing.set()
        if self._owner is not None:
            with suppress(BaseException):
                await self._owner
            self._owner = None


def _why(exc: BaseException | None) -> str:
    """A one-line reason from an exception (the first leaf of an exception group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if exc is None:
        return "unknown error"
    if isinstance(exc, ToolError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class TaskTools:
    """A task's MCP sessions, one per server, opened on first use (AttemptContext.services)."""

    SERVICE_KEY = "mcp"

    def __init__(self, servers: dict[str, Any], logs_dir: Path | None = None):
        self.servers = servers
        self.logs_dir = logs_dir
        self.sessions: dict[str, McpSession] = {}

    def session(self, server: str) -> McpSession:
        s = self.sessions.get(server)
        if s is None:
            cfg = self.servers.get(server)
            if cfg is None:
                known = ", ".join(sorted(self.servers)) or "none configured"
                raise ToolError(f"unknown MCP server {server!r} (configured: {known}); add it under mcp_servers:")
            errlog = self.logs_dir / f"mcp-{server}.stderr.log" if self.logs_dir is not None else None
            s = self.sessions[server] = McpSession(server, cfg, errlog)
        return s

    async def aclose(self) -> None:
        """Close every session (the engine calls this when the task's runner ends)."""
        sessions, self.sessions = list(self.sessions.values()), {}
        for s in sessions:
            await s.aclose()


def _tool_json(tool: Any) -> dict[str, Any]:
    ann = tool.annotations.model_dump(mode="json", exclude_none=True) if tool.annotations else {}
    return {
        "name": tool.name,
        "description": (tool.description or "").strip(),
        "input_schema": tool.input_schema,
        "annotations": ann,
    }


async def list_server_tools(servers: dict[str, Any]) -> list[dict[str, Any]]:
    """Each server's tools, asked in parallel: {server, ok, error, tools}. A server that
    does not start or answer has ok False and a one-line error; it never raises."""
    out: dict[str, dict[str, Any]] = {}

    async def one(name: str, cfg: Any) -> None:
        session = McpSession(name, cfg)
        try:
            tools = await session.list_tools()
            out[name] = {"server": name, "ok": True, "error": None, "tools": [_tool_json(t) for t in tools]}
        except ToolError as exc:
            out[name] = {"server": name, "ok": False, "error": str(exc), "tools": []}
        except Exception as exc:
            out[name] = {"server": name, "ok": False, "error": f"MCP server {name!r}: {_why(exc)}", "tools": []}
        finally:
            await session.aclose()

    async with anyio.create_task_group() as tg:
        for name, cfg in servers.items():
            tg.start_soon(one, name, cfg)
    return [out[name] for name in servers]


def catalog(servers: dict[str, Any], only: str | None = None) -> list[dict[str, Any]]:
    """`tools list`: the tools of every configured server (or of `only`), from a fresh session each."""
    from agent_agency_cli.errors import BadInputError, NotFoundError  # lazy: keeps start-up light

    if only is not None:
        if only not in servers:
            known = ", ".join(sorted(servers)) or "none configured"
            raise NotFoundError(f"no MCP server named {only!r} (configured: {known})")
        servers = {only: servers[only]}
    if not servers:
        return []
    try:
        require_mcp()
    except ToolError as exc:
        raise BadInputError(str(exc)) from None
    return anyio.run(list_server_tools, servers)
