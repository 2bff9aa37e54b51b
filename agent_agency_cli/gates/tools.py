"""What the gates share: finding a tool, running a process with a deadline, choosing files."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from agent_agency_cli.gates.result import GateContext
from agent_agency_cli.gates.spec import GateSpec
from agent_agency_cli.paths import open_private
from agent_agency_cli.procgroup import kill_group, spawn, stop_process
from agent_agency_cli.units import describe_duration

# A gate tool that outlives its deadline (or a cancel) gets this long to exit after SIGTERM.
STOP_GRACE = 0.5

# Directories never searched for files to check (besides any starting with '.').
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv", "site-packages", "build", "dist"})
PYTHON_SUFFIXES = (".py", ".pyi")
SHELL_SUFFIXES = (".sh", ".bash")
_SHEBANG_SH = re.compile(rb"^#!\s*(?:\S*/)?(?:env\s+(?:-\S+\s+)*)?(?:ba|da|k|z|a)?sh\b")
_GLOB_CHARS = re.compile(r"[*?\[]")
_READ_LIMIT = 8 << 20  # bytes of a command's output kept for parsing


class ToolMissing(Exception):
    """A tool the gate needs is not installed; str() says how to install it."""


def importable(module: str) -> bool:
    """Whether this interpreter can import `module` (tools are looked for here first)."""
    return importlib.util.find_spec(module) is not None


def find_tool(module: str, env: dict[str, str], package: str | None = None) -> list[str]:
    """argv prefix for a tool: `sys.executable -m module` if importable here, else it on PATH."""
    if importable(module):
        return [sys.executable, "-m", module]
    exe = shutil.which(module, path=env.get("PATH"))
    if exe:
        return [exe]
    raise ToolMissing(f"{module} is not installed: pip install {package or module}")


def gate_env(ctx: GateContext) -> dict[str, str]:
    return {**os.environ, **ctx.env}


def gate_timeout(spec: GateSpec, ctx: GateContext) -> float:
    return spec.timeout if spec.timeout is not None else ctx.timeout


def evidence_path(spec: GateSpec, ctx: GateContext, filename: str) -> Path:
    """A report file in the evidence dir; a named gate prefixes its name so two don't collide."""
    ctx.evidence_dir.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"[^\w.-]+", "_", spec.name).strip("_") + "-" if spec.name else ""
    return ctx.evidence_dir / f"{prefix}{filename}"


def display(path: Path, workdir: Path) -> str:
    """A path as a person reads it: relative to the step's directory when it is inside."""
    try:
        return str(path.relative_to(workdir))
    except ValueError:
        return os.path.relpath(path, workdir) if path.is_absolute() else str(path)


# ---- processes --------------------------------------------------------------------------


@dataclass
class ProcResult:
    returncode: int | None
    duration: float
    stdout: str = ""  # stdout (or stdout and stderr together when written to a log)
    stderr: str = ""
    timed_out: bool = False
    cancelled: bool = False
    error: str | None = None  # could not start it

    def tail(self, lines: int = 15) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join(text[-lines:])


def _read(fh: IO[bytes]) -> str:
    fh.flush()
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(0, size - _READ_LIMIT))
    return fh.read().decode("utf-8", errors="replace")


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    cancel: threading.Event | None = None,
    log: Path | None = None,
) -> ProcResult:
    """Run argv in its own process group; stop the whole group at the deadline or on cancel
    (SIGTERM, then SIGKILL after STOP_GRACE seconds).

    Output goes to files, not pipes, so a grandchild holding them open cannot hang us.
    With `log`, stdout and stderr go there together (and come back as `stdout`).
    Never raises for the command's own failures.
    """
    start = time.monotonic()
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out: IO[bytes] = open_private(log, "w+b")  # 0600, never through a symlink; closed below
        err: IO[bytes] | None = None
    else:
        out = tempfile.TemporaryFile()
        err = tempfile.TemporaryFile()
    try:
        try:
            proc = spawn(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err if err is not None else subprocess.STDOUT,
            )
        except FileNotFoundError as exc:
            missing = exc.filename if exc.filename and exc.filename != str(cwd) else argv[0]
            what = f"directory {cwd} does not exist" if not cwd.is_dir() else f"{missing}: command not found"
            return ProcResult(None, time.monotonic() - start, error=what)
        except OSError as exc:
            return ProcResult(None, time.monotonic() - start, error=f"cannot run {argv[0]}: {exc.strerror}")
        deadline = start + timeout
        timed_out = cancelled = False
        while True:
            wait = max(0.0, deadline - time.monotonic())
            if cancel is not None:
                wait = min(wait, 0.1)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    cancelled = True
                elif time.monotonic() >= deadline:
                    timed_out = True
                if timed_out or cancelled:
                    stop_process(proc, STOP_GRACE)
                    break
        duration = time.monotonic() - start
        kill_group(proc.pid)  # whatever it left running in the background
        result = ProcResult(proc.returncode, duration, _read(out), _read(err) if err else "")
        if timed_out:
            result.timed_out, result.error = True, f"timed out after {describe_duration(timeout)}"
        elif cancelled:
            result.cancelled, result.error = True, "cancelled"
        return result
    finally:
        out.close()
        if err is not None:
            err.close()


# ---- commands ---------------------------------------------------------------------------


def command_argv(command: str | Sequence[str]) -> list[str]:
    """A gate's `command:`, split exactly like a step's `run:` (see executors.shell)."""
    from agent_agency_cli.executors.shell import command_argv as step_argv  # lazy: keeps start-up light

    return step_argv(command)


def pytest_args(argv: Sequence[str]) -> list[str] | None:
    """The arguments after `pytest` / `python -m pytest`, or None if argv is not a pytest run."""
    if not argv:
        return None
    name = os.path.basename(argv[0])
    if name in ("pytest", "py.test"):
        return list(argv[1:])
    if re.fullmatch(r"python(\d+(\.\d+)*)?", name) and list(argv[1:3]) == ["-m", "pytest"]:
        return list(argv[3:])
    return None


def as_pytest(argv: Sequence[str]) -> list[str] | None:
    """If argv runs pytest, the argv to use, else None.

    A bare `pytest` / `python -m pytest` runs this interpreter's pytest when it has one
    (tools are found via the current interpreter first); a launcher given as a path
    (`.venv/bin/python -m pytest`) is kept as written.
    """
    args = pytest_args(argv)
    if args is None:
        return None
    if "/" not in argv[0] and importable("pytest"):
        return [sys.executable, "-m", "pytest", *args]
    return list(argv)


# ---- files ------------------------------------------------------------------------------


def resolve_targets(spec: GateSpec, ctx: GateContext) -> tuple[list[Path], list[str]]:
    """What a file gate checks: spec.paths (relative to workdir, globs allowed), else the
    step's outputs, else its working directory. Returns (existing targets, missing ones)."""
    if spec.paths:
        found: list[Path] = []
        missing: list[str] = []
        for raw in spec.paths:
            if _GLOB_CHARS.search(raw) and not Path(raw).is_absolute():
                matches = sorted(ctx.workdir.glob(raw))
                found.extend(matches)
                if not matches:
                    missing.append(raw)
                continue
            path = ctx.workdir / raw
            (found.append(path) if path.exists() else missing.append(raw))
        return found, missing
    if ctx.outputs:
        return (
            [p for p in ctx.outputs if p.exists()],
            [display(p, ctx.workdir) for p in ctx.outputs if not p.exists()],
        )
    return [ctx.workdir], []


def iter_files(targets: Sequence[Path]) -> Iterator[Path]:
    """Every file under the targets once, in a stable order, skipping hidden and tool dirs."""
    seen: set[Path] = set()
    for target in targets:
        if target.is_file():
            candidates: Iterator[Path] = iter([target])
        elif target.is_dir():
            candidates = _walk(target)
        else:
            continue
        for path in candidates:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                yield path


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS and not d.endswith(".egg-info")
        )
        for name in sorted(filenames):
            yield Path(dirpath) / name


def is_python(path: Path) -> bool:
    return path.suffix in PYTHON_SUFFIXES


def is_shell_script(path: Path) -> bool:
    """*.sh / *.bash, or a file without a Python suffix whose shebang names a POSIX shell."""
    if path.suffix in SHELL_SUFFIXES:
        return True
    if path.suffix in PYTHON_SUFFIXES:
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    return bool(_SHEBANG_SH.match(head))
