"""An MCP server the tests define with the SDK's MCPServer (formerly FastMCP).

`python server.py`: streamable HTTP on 127.0.0.1 — binds a free port, prints it on its
first stdout line, serves until killed. With $MCP_TEST_TOKEN set, every request must
carry `Authorization: Bearer <token>` (to test headers read from environment variables).
`python server.py --stdio [--tag T]`: over stdio (the tag only marks the process, so a
test can count the server processes a task left behind).
"""

from __future__ import annotations

import os
import socket
import sys

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

server = MCPServer("agency-test")
CALLS = {"n": 0}


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def add(a: int, b: int) -> dict[str, int]:
    """Add two numbers."""
    return {"sum": a + b}


@server.tool()
def count() -> dict[str, int]:
    """How many times this tool was called in this server process."""
    CALLS["n"] += 1
    return {"calls": CALLS["n"], "pid": os.getpid()}


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer (for timeouts)."""
    await anyio.sleep(seconds)
    return "done"


@server.tool()
def fail(message: str) -> str:
    """Always fails with the given message."""
    raise ToolError(message)


def _app():  # type: ignore[no-untyped-def]
    app = server.streamable_http_app()
    token = os.environ.get("MCP_TEST_TOKEN")
    if not token:
        return app
    from starlette.responses import PlainTextResponse

    async def guarded(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                await PlainTextResponse("unauthorized", status_code=401)(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    if "--stdio" in sys.argv:
        server.run("stdio")
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening before the port is told: an early client waits in the backlog, not refused
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(_app(), log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
