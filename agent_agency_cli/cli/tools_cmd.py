"""`agent-agency-cli tools list`: the configured MCP servers' tools."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from agent_agency_cli.cli.common import fail, handle_errors, orchestrator, print_json

app = typer.Typer(help="MCP servers' tools (mcp_servers: in the config), for `tool:` steps.",
                  no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def _hints(annotations: dict[str, Any]) -> str:
    names = {"read_only_hint": "read-only", "destructive_hint": "destructive",
             "idempotent_hint": "idempotent", "open_world_hint": "open-world"}
    return ",".join(label for key, label in names.items() if annotations.get(key)) or "-"


def _params(schema: dict[str, Any]) -> str:
    """`name:type` per input property; a trailing `*` marks a required one."""
    required = set(schema.get("required") or [])
    parts = []
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        kind = "|".join(kind) if isinstance(kind, list) else (kind or "any")
        parts.append(f"{name}:{kind}{'*' if name in required else ''}")
    return " ".join(parts) or "-"


@app.command("list")
@handle_errors
def tools_list(
    server: Annotated[str | None, typer.Option("--server", "-s", help="Only this server.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Each server's tools: name, hints (read-only, destructive, ...), inputs (* = required),
    description. A server that does not start or answer is one line on stderr (exit 1)."""

    servers = orchestrator().tools(server)
    if as_json:
        print_json(servers)
    elif not servers:
        print("no MCP servers configured (declare them under mcp_servers: in the config)", file=sys.stderr)
    else:
        for s in servers:
            for t in s["tools"]:
                desc = " ".join(t["description"].split())
                print(f"{s['server']}/{t['name']}\t{_hints(t['annotations'])}\t{_params(t['input_schema'])}"
                      f"\t{desc}")
    failed = [s for s in servers if not s["ok"]]
    for s in failed:
        if not as_json:
            print(f"error: {s['error']}", file=sys.stderr)
    if failed:
        raise typer.Exit(1) if as_json else fail(f"{len(failed)} of {len(servers)} server(s) did not answer", 1)
