"""`agent-agency-cli learning show|export|import`: what finished steps taught, and moving it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agent_agency_cli.cli.common import handle_errors, orchestrator, print_json

app = typer.Typer(help="Learning from runs: per step class, runs, success rate, durations, tokens, cost.",
                  no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


@app.command("show")
@handle_errors
def show(as_json: JsonOpt = False) -> None:
    """Per step class (kind, program/tool/model, type) and executor: runs (local+imported),
    success rate, mean duration, CPU, peak memory, tokens, cost and gate score."""
    rows = orchestrator().learning()
    if as_json:
        print_json(rows)
        return
    if not rows:
        print("nothing learnt yet (every finished step adds a record)", file=sys.stderr)
        return
    print("kind\ttarget\ttype\texecutor\truns\tlocal\timported\tsuccess\tduration\tcpu%\tmem_mb\ttokens\tcost\tgate")
    for r in rows:
        print("\t".join([
            r["kind"], r["target"], r["type"] or "-", r["executor"] or "-", str(r["runs"]),
            str(r["local_runs"]), str(r["imported_runs"]), _num(r["success_rate"], ".0%"),
            _num(r["duration_mean"], ".3f"), _num(r["cpu_percent_mean"], ".1f"), _num(r["peak_rss_mb_mean"], ".1f"),
            _num(r["tokens_mean"], ".0f"), _num(r["cost_mean"], ".4f"), _num(r["gate_score_mean"], ".2f"),
        ]))


@app.command("export")
@handle_errors
def export(out: Annotated[Path, typer.Option("--out", "-o", help="The JSONL file to write.")]) -> None:
    """Write this machine's aggregates (numbers and step classes only) to a JSONL file."""
    n = orchestrator().learning_export(out)
    print(f"wrote {n} aggregate(s) to {out}", file=sys.stderr)


@app.command("import")
@handle_errors
def import_(path: Annotated[Path, typer.Argument(help="A file written by `learning export`.")],
            as_json: JsonOpt = False) -> None:
    """Merge another machine's aggregates, weighted by their run counts (re-importing
    a machine's newer file replaces its older one)."""
    res = orchestrator().learning_import(path)
    if as_json:
        print_json(res)
    else:
        print(f"imported {res['aggregates']} aggregate(s), {res['runs']} run(s) from {res['origins']} machine(s)",
              file=sys.stderr)
