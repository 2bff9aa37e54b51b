"""Python steps: `module:function` called with a StepContext.

By default a step runs in a worker process (executors/python_pool.py), so nothing
it does can take the engine down. With `isolation: inline` it runs in the engine:
sync functions in a worker thread, async ones on the engine's loop. A
module found as a file next to the plan (or in the step's workdir) is loaded
from that file under a name unique to its path, so two plans with their own
`steps.py` never see each other's code; an edited file is reloaded.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.to_thread

from agent_agency_cli.errors import PlanError
from agent_agency_cli.executors.base import StepLog, StepOutcome
from agent_agency_cli.executors.output_capture import capture_into
from agent_agency_cli.rows import StepSpec

if TYPE_CHECKING:
    from agent_agency_cli.executors.registry import AttemptContext

_loaded: dict[str, tuple[float, ModuleType]] = {}
_load_lock = threading.Lock()


class StepCancelled(Exception):
    """Raised inside a Python step by ctx.checkpoint() once the step is cancelled."""


class _StepLogHandler(logging.Handler):
    def __init__(self, log: StepLog):
        super().__init__()
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        msg = self.format(record)
        for line in msg.splitlines() or [""]:
            self._log.line("log", f"{record.levelname.lower()}: {line}")


class StepContext:
    """What a Python step receives: ids, paths, a logger, progress and control flags."""

    def __init__(
        self,
        *,
        task_id: str,
        step: str,
        workspace: Path,
        workdir: Path,
        attempt: int,
        env: dict[str, str],
        log: StepLog,
        report_progress: Callable[[float, str | None], None],
    ):
        self.task_id = task_id
        self.step = step
        self.workspace = workspace
        self.workdir = workdir
        self.attempt = attempt
        self.env = env
        self._report = report_progress
        self._running = threading.Event()
        self._running.set()
        self._cancelled = threading.Event()
        self._steplog = log
        self._logger: logging.Logger | None = None

    @property
    def log(self) -> logging.Logger:
        """A logger writing to the step log (built on first use; not registered
        globally, so a long-lived engine does not accumulate one per step)."""
        if self._logger is None:
            logger = logging.Logger(f"agent_agency_cli.step.{self.task_id}.{self.step}", logging.DEBUG)
            logger.propagate = False
            logger.addHandler(_StepLogHandler(self._steplog))
            self._logger = logger
        return self._logger

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Report progress in [0, 1] (shown by status and watch)."""
        self._report(min(max(float(fraction), 0.0), 1.0), message)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def checkpoint(self) -> None:
        """Block while the task is paused; raise StepCancelled once it is cancelled.

        Long-running Python steps should call this between units of work: it is
        how pause and cancel reach code that runs in a thread.
        """
        while not self._running.wait(0.05):
            if self._cancelled.is_set():
                break
        if self._cancelled.is_set():
            raise StepCancelled(f"step {self.step} cancelled")


def _module_file(module: str, search: Sequence[str | Path]) -> Path | None:
    if "." in module:
        return None
    for where in search:
        base = Path(where)
        for cand in (base / f"{module}.py", base / module / "__init__.py"):
            if cand.is_file():
                return cand
    return None


# (module, search) -> the file found (resolved), whose module and mtime are in _loaded: a step's
# worker runs the same step function thousands of times, and finding and resolving its file
# costs ~35 us of path handling and system calls per step; one stat of it keeps reloading on change.
_found: dict[tuple[str, tuple[str, ...]], str] = {}


def _load_module(module: str, search: Sequence[str | Path]) -> ModuleType:
    lookup = (module, tuple(map(str, search)))
    key = _found.pop(lookup, None)
    if key is not None:
        cached = _loaded.get(key)
        try:
            if cached is not None and os.stat(key).st_mtime == cached[0]:
                _found[lookup] = key
                return cached[1]
        except OSError:
            pass
    path = _module_file(module, search)
    if path is None:
        for base in search:
            if str(base) not in sys.path:
                sys.path.append(str(base))
        return importlib.import_module(module)
    key = str(path.resolve())
    mod = _load_file(module, key, path, path.stat().st_mtime)
    _found[lookup] = key
    return mod


def _load_file(module: str, key: str, path: Path, mtime: float) -> ModuleType:
    with _load_lock:
        cached = _loaded.get(key)
        if cached and cached[0] == mtime:
            return cached[1]
        unique = f"_agency_step_{module}_{hashlib.sha1(key.encode()).hexdigest()[:10]}"
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[unique] = mod
        spec.loader.exec_module(mod)
        _loaded[key] = (mtime, mod)
        return mod


def resolve_callable(ref: str, search: Sequence[str | Path]) -> Callable[..., Any]:
    """Import `module:function`; PlanError with a clear line if it is not there.

    A module loaded from a file is reloaded when the file changes (see _load_module).
    """
    module, _, func = ref.partition(":")
    try:
        mod = _load_module(module, search)
    except ModuleNotFoundError as exc:
        raise PlanError(
            f"python step {ref!r}: module {exc.name or module!r} not found "
            "(put it next to the plan file, in --workdir, or install it)"
        ) from None
    except Exception as exc:
        raise PlanError(f"python step {ref!r}: importing {module!r} failed: {exc}") from None
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise PlanError(f"python step {ref!r}: module {module!r} has no function {func!r}")
    return fn


def check_python_ref(ref: str, search: Sequence[Path]) -> None:
    """Validate at create time that the module file or package exists (no import)."""
    module, _, _ = ref.partition(":")
    if _module_file(module, search) is not None:
        return
    top = module.split(".")[0]
    if top in sys.modules or importlib.util.find_spec(top) is not None:
        return
    raise PlanError(
        f"python step {ref!r}: module {module!r} not found "
        "(put it next to the plan file, in --workdir, or install it)"
    )


def _jsonable(value: Any) -> Any:

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)[:2000]
    return value if len(text) <= 10_000 else text[:2000] + "…"


class PythonHandle:
    """One attempt of a Python step."""

    pid: int | None = None

    def __init__(self, ref: str, ctx: StepContext, search: Sequence[Path], log: StepLog,
                 fn: Callable[..., Any] | None = None):
        self.ref = ref
        self.ctx = ctx
        self.search = list(search)
        self.log = log
        self.fn = fn

    async def run(self) -> StepOutcome:
        self.log.line("sys", f"python {self.ref}")
        fn = self.fn
        if fn is None:
            try:
                fn = resolve_callable(self.ref, self.search)
            except PlanError as exc:
                self.log.line("sys", str(exc))
                return StepOutcome(ok=False, reason=str(exc))
        try:
            with capture_into(self.log):  # print() goes to this step's log, not the daemon's
                if inspect.iscoroutinefunction(fn):
                    result = await fn(self.ctx)
                else:
                    result = await anyio.to_thread.run_sync(fn, self.ctx, abandon_on_cancel=True)
        except StepCancelled:
            self.log.line("sys", "cancelled")
            return StepOutcome(ok=False, reason="cancelled")
        except (SystemExit, KeyboardInterrupt) as exc:
            # The step's, not the engine's: it fails this attempt and nothing else.
            for line in traceback.format_exc().rstrip().splitlines():
                self.log.line("err", line)
            what = f"{type(exc).__name__}({exc})" if str(exc) else type(exc).__name__
            return StepOutcome(ok=False, reason=f"the step raised {what}; a step cannot stop the engine")
        except Exception as exc:
            for line in traceback.format_exc().rstrip().splitlines():
                self.log.line("err", line)
            # The function ran and raised: the step's failure, not its module's (breakers).
            return StepOutcome(ok=False, reason=f"{type(exc).__name__}: {exc}", extra={"own_failure": True})
        self.log.line("sys", "returned")
        return StepOutcome(ok=True, exit_code=0, result=_jsonable(result) if result is not None else None)

    def pause(self) -> None:
        self.ctx._running.clear()

    def resume(self) -> None:
        self.ctx._running.set()

    async def stop(self, grace: float) -> None:
        # A thread cannot be killed: we raise the cancel flag for ctx.checkpoint()
        # and the runner stops waiting for the function after the grace period.
        self.ctx._cancelled.set()
        self.ctx._running.set()


def thread_safe_reporter(callback: Callable[[float, str | None], None]) -> Callable[[float, str | None], None]:
    """Wrap an event-loop callback so a worker thread or the loop itself may call it."""

    def report(fraction: float, message: str | None) -> None:
        try:
            anyio.from_thread.run_sync(callback, fraction, message)
        except RuntimeError:
            callback(fraction, message)

    return report


class PythonExecutor:
    """`python:` steps: a `module:function` called with a StepContext."""

    kind = "python"
    plan_key = "python"
    samples_processes = False

    def make_handle(self, ctx: AttemptContext) -> Any:
        ref = ctx.spec.python or ""
        if ctx.spec.isolation != "inline":
            # lazy: keeps start-up light
            from agent_agency_cli.executors.python_pool import Sampling, WorkerHandle, make_request

            request = make_request(ref, task_id=ctx.task_id, step=ctx.step, workspace=ctx.workspace,
                                   workdir=ctx.cwd, attempt=ctx.attempt, env=ctx.env, search=ctx.search)
            mon = ctx.settings.task_execution.monitoring if ctx.settings is not None else None
            sampling = None
            if mon is not None and ctx.metrics_module is not None:
                sampling = Sampling(mon.metrics_interval, mon.metrics_max_samples, ctx.record_sample,
                                    ctx.metrics_module)
            return WorkerHandle(ref, request, ctx.log, ctx.limits, ctx.report_progress, sampling)
        step_ctx = StepContext(
            task_id=ctx.task_id, step=ctx.step, workspace=ctx.workspace, workdir=ctx.cwd,
            attempt=ctx.attempt, env=ctx.env, log=ctx.log, report_progress=ctx.report_progress,
        )
        callables = ctx.cache.setdefault("python.callables", {})
        fn = callables.get(ref)
        if fn is None:
            try:
                fn = callables[ref] = resolve_callable(ref, ctx.search)
            except PlanError:
                fn = None  # the handle reports it in the step log
        return PythonHandle(ref, step_ctx, ctx.search, ctx.log, fn=fn)

    def breaker_target(self, spec: StepSpec) -> tuple[str, Any]:
        return "python", spec.python

    def describe(self, spec: StepSpec) -> str:
        return str(spec.python)


EXECUTOR = PythonExecutor()
