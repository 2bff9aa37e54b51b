"""The HTTP face: a FastAPI app over TaskOrchestrator, a server-sent event stream from the
events table, the static web monitor, and the orchestrator as an MCP server.

Everything here is optional (the `api` extra; the MCP server needs `ai`) and imported only by
`agent-agency-cli serve` / `mcp-server`, never by `--help` or the read commands.
"""

from __future__ import annotations

from agent_agency_cli.errors import BadInputError


def missing_extra(extra: str, what: str, exc: ImportError) -> BadInputError:
    """The one-line error for an optional dependency that is not installed."""
    return BadInputError(f"{what} needs the '{extra}' extra: pip install 'agent-agency-cli[{extra}]' "
                         f"(missing: {exc.name or exc})")
