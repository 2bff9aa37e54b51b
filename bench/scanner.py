"""The command scanner over the test corpus (tests/data/scanner_corpus.txt), 20 rounds.

Figure: commands scanned per second by `scan_text` (shell reading, every rule, secret
masking). Baseline, same run: `shlex.split` of the same commands (the tokenising a
shell-aware reader cannot skip). Target: a plan's scan stays far below its run; here,
>= 2,000 commands/s (a 1,000-step plan scanned in half a second).

    .venv/bin/python bench/scanner.py
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from _common import machine, met

from agent_agency_cli.security.scanner import scan_text

ROUNDS = 20
TARGET = 2000.0
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "scanner_corpus.txt"


def _commands() -> list[str]:
    rows = [ln.split("\t", 1)[1].replace("\\n", "\n") for ln in CORPUS.read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    return rows


def _time(fn, commands: list[str]) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for _ in range(ROUNDS):
            for c in commands:
                fn(c)
        best = min(best, time.process_time() - t0)
    return best


def _split(command: str) -> None:
    try:
        shlex.split(command)
    except ValueError:
        pass


def main() -> None:
    print(f"machine: {machine()}")
    commands = _commands()
    n = len(commands) * ROUNDS
    base = _time(_split, commands)
    scan = _time(lambda c: scan_text(c, "bench"), commands)
    rate = n / scan
    print(f"baseline: shlex.split of {n} commands in {base * 1000:.1f} ms CPU = {n / base:,.0f}/s")
    print(f"scan_text: {n} commands in {scan * 1000:.1f} ms CPU = {rate:,.0f}/s")
    print(f"RESULT scanner: {rate:,.0f} commands/s; baseline {n / base:,.0f}/s; ratio {scan / base:.2f}x the "
          f"tokenising time; target >= {TARGET:,.0f}/s: {met(rate >= TARGET)}")


if __name__ == "__main__":
    main()
