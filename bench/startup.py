"""Start-up time of the CLI: `--help` and `task status ID --json` (a real finished task
in a temp home) vs `python -c "import typer, pydantic, sqlite_utils"`; median of 10
runs each (target <= 1.5x). Also checks in-process that neither command imports
textual (nor even tries to).

    .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, met, run_plan, temp_home

RUNS = 10
TARGET = 1.5
BIN = Path(sys.executable).parent
CLI = shutil.which("agent-agency-cli", path=str(BIN)) or "agent-agency-cli"

# Typer >= 0.16 coerces parameters through pydantic at call time: this app shows what
# any Typer CLI with this signature costs, without agent-agency-cli's own code.
MINI_TYPER = """
import json
from typing import Annotated

import typer

app = typer.Typer(add_completion=False)
task = typer.Typer()
app.add_typer(task, name="task")


@app.callback()
def main(home: Annotated[str | None, typer.Option("--home")] = None,
         config: Annotated[str | None, typer.Option("--config", "-c")] = None) -> None:
    pass


@task.command()
def status(task_id: Annotated[str, typer.Argument()],
           verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    print(json.dumps({"id": task_id}))


app()
"""

CHECK = r"""
import json, sys
attempts = []

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "textual":
            attempts.append(name)
        return None

sys.meta_path.insert(0, Spy())
sys.argv = ["agent-agency-cli", *json.loads(sys.argv[1])]
from agent_agency_cli.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in ("textual", "anyio", "rich", "yaml", "psutil", "httpx")
               if m in sys.modules)
print(json.dumps({"exit": code, "textual_loaded": "textual" in sys.modules,
                  "textual_attempts": attempts, "heavy_modules": heavy}), file=sys.stderr)
"""


def wall_times(commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, list[float]]:
    """RUNS timings per command, taken round-robin so machine noise hits all alike."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(RUNS):
        for label, argv in commands.items():
            t0 = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)
            times[label].append(time.perf_counter() - t0)
    return times


def in_process_check(args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHECK, json.dumps(args)], env=env,
                          capture_output=True, text=True, check=False)
    return json.loads(proc.stderr.strip().splitlines()[-1])


def main() -> None:
    print(f"machine: {machine()}")
    with temp_home() as home:
        run_plan(home, [{"name": "s1", "python": "benchsteps:noop"},
                        {"name": "s2", "needs": ["s1"], "run": "true"}], 2)
        mini = home / "mini_typer.py"
        mini.write_text(MINI_TYPER)
        from agent_agency_cli.orchestrator import TaskOrchestrator

        with TaskOrchestrator(home=home) as orch:
            tid = orch.list_tasks()[0]["id"]
        env = {**os.environ, "AGENT_AGENCY_HOME": str(home), "NO_COLOR": "1"}
        # This machine exports PYTHONDONTWRITEBYTECODE=1, so the project's own modules
        # (installed editable) would be compiled from source on every start while
        # site-packages have .pyc files. Measure both ways; the headline is with a
        # bytecode cache (what an installed tool gets), kept in a temp pycache prefix.
        cached_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached_env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
        commands = {
            "baseline: python -c 'import typer, pydantic, sqlite_utils'":
                [sys.executable, "-c", "import typer, pydantic, sqlite_utils"],
            "agent-agency-cli --help": [CLI, "--help"],
            f"agent-agency-cli task status {tid} --json": [CLI, "task", "status", tid, "--json"],
            "reference: minimal Typer app, same `task status ID --json` signature":
                [sys.executable, str(mini), "task", "status", tid, "--json"],
        }
        medians: dict[str, dict[str, float]] = {}
        for mode, menv in (("bytecode cache", cached_env), ("as-is env, no .pyc", env)):
            print(f"-- {mode} (PYTHONDONTWRITEBYTECODE="
                  f"{menv.get('PYTHONDONTWRITEBYTECODE', 'unset')}):")
            for argv in commands.values():  # warm the page cache and .pyc files
                subprocess.run(argv, env=menv, capture_output=True, check=True)
            medians[mode] = {}
            for label, times in wall_times(commands, menv).items():
                med = statistics.median(times)
                medians[mode][label] = med
                print(f"   {label}: median {med * 1000:.1f} ms (min {min(times) * 1000:.1f}, "
                      f"max {max(times) * 1000:.1f})")
        checks = {
            "--help": in_process_check(["--help"], env),
            "task status --json": in_process_check(["task", "status", tid, "--json"], env),
        }
    try:
        import importlib.util

        installed = importlib.util.find_spec("textual") is not None
    except ValueError:
        installed = False
    for name, c in checks.items():
        ok = not c["textual_loaded"] and not c["textual_attempts"]
        print(f"textual check `{name}`: exit {c['exit']}, textual in sys.modules: "
              f"{c['textual_loaded']}, import attempts: {c['textual_attempts'] or 'none'} -> "
              f"{'OK (no textual)' if ok else 'IMPORTS TEXTUAL'}; other heavy modules loaded: "
              f"{', '.join(c['heavy_modules']) or 'none'}")
    print(f"(textual installed in this venv: {installed})")
    for mode, meds in medians.items():
        base_label, *labels = meds
        base = meds[base_label]
        *labels, floor_label = labels
        print(f"   [{mode}] Typer floor (minimal app parsing the same options): "
              f"{meds[floor_label] * 1000:.1f} ms = {meds[floor_label] / base:.2f}x baseline")
        for label, short in zip(labels, ("help", "status_json"), strict=True):
            ratio = meds[label] / base
            print(f"RESULT startup_{short} [{mode}]: {meds[label] * 1000:.1f} ms vs baseline "
                  f"{base * 1000:.1f} ms; ratio {ratio:.2f}x; target <= {TARGET}x: "
                  f"{met(ratio <= TARGET)}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")
