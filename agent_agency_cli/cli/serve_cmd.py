"""`agent-agency-cli serve` (HTTP API + web monitor) and `mcp-server` (MCP over stdio).

FastAPI, uvicorn and the MCP SDK are imported only inside these commands.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from agent_agency_cli.cli.common import handle_errors, orchestrator, state


@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to bind. Anything but loopback needs --allow-remote.")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to bind (0: any free port).")] = 8765,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow a --host other machines "
                                               "can reach.")] = False,
    cors_origin: Annotated[list[str] | None, typer.Option("--cors-origin", help="Allow browser calls from "
                                                          "this origin (repeatable; default: none).")] = None,
) -> None:
    """Serve the HTTP API and the web monitor (needs the 'api' extra).

    Every request needs the bearer token that the first run writes into the data home
    (api-tokens, mode 0600); the printed URL carries it for the web monitor.
    """
    from agent_agency_cli.api import missing_extra  # lazy: keeps start-up light
    from agent_agency_cli.api.server import check_bind  # lazy: keeps start-up light

    check_bind(host, allow_remote)
    try:
        import fastapi  # noqa: F401
        import uvicorn  # lazy: the 'api' extra
    except ImportError as exc:
        raise missing_extra("api", "serve", exc) from None
    from agent_agency_cli.api.app import create_app  # lazy: keeps start-up light
    from agent_agency_cli.api.server import bind  # lazy: keeps start-up light
    from agent_agency_cli.api.tokens import ensure_token, token_path  # lazy: keeps start-up light

    home = orchestrator().home
    sock = bind(host, port)  # before printing: a port in use is one error line, and --port 0 shows the real one
    port = sock.getsockname()[1]
    name, token, created = ensure_token(home)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"{'new' if created else 'using'} API token {name!r} from {token_path(home)} (mode 0600)",
          file=sys.stderr)
    print(f"token: {token}", file=sys.stderr)
    print(f"web monitor: http://{shown_host}:{port}/#token={token}", file=sys.stderr)
    print(f"API: http://{shown_host}:{port}/api/v1  (OpenAPI: /api/v1/openapi.json)", file=sys.stderr, flush=True)
    app = create_app(home=home, config=state.config, cors_origins=cors_origin or ())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3))
    server.run(sockets=[sock])


@handle_errors
def mcp_server() -> None:
    """Serve the orchestrator as MCP tools over stdio (for IDE assistants and agents; 'ai' extra)."""
    from agent_agency_cli.api import missing_extra  # lazy: keeps start-up light

    try:
        import mcp  # noqa: F401
    except ImportError as exc:
        raise missing_extra("ai", "mcp-server", exc) from None
    from agent_agency_cli.api.mcp_server import build_server  # lazy: keeps start-up light

    build_server(home=state.home, config=state.config).run("stdio")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("mcp-server")(mcp_server)
