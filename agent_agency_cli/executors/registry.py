"""Step kind -> executor: the one place that knows which executor runs which kind of step.

The engine never branches on a step's kind. Each kind registers an `Executor`
(the plan key that selects it, how to build a handle for one attempt, what its
circuit breaker guards, how a person sees what it will do). Executors are named
by import path and loaded on first use, so an SDK (openai, mcp, ray) is imported
only when a step of that kind runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent_agency_cli.executors.base import StepHandle, StepLog

if TYPE_CHECKING:  # rows (pydantic) stays out of the fast CLI path (`task status` reads shell steps)
    from agent_agency_cli.rows import StepSpec


@dataclass
class AttemptContext:
    """Everything an executor may use to build the handle of one attempt."""

    task_id: str
    step: str
    attempt: int
    spec: StepSpec  # the step's stored spec (or its fallback's), secrets in place
    cwd: Path
    env: dict[str, str]
    log: StepLog
    workspace: Path
    workdir: Path | None
    settings: Any  # config.Settings
    limits: dict[str, Any] = field(default_factory=dict)  # enforced limits (see attempt.step_limits)
    search: list[Path] = field(default_factory=list)  # where `module:function` refs are looked up
    display: str | None = None  # what the step does, secrets masked
    wrap_argv: Callable[[list[str]], list[str]] = lambda argv: argv  # applies the limits before exec
    on_spawn: Callable[[int], None] = lambda pid: None  # called with a spawned process's pid
    report_progress: Callable[[float, str | None], None] = lambda f, m: None  # thread-safe
    cache: dict[str, Any] = field(default_factory=dict)  # per task, shared by its attempts
    services: dict[str, Any] = field(default_factory=dict)  # per task: sessions, clients (closed at task end)
    # The template variables a value's placeholders use (planning/templates.py), read on use.
    variables: Callable[[Any], dict[str, Any]] = lambda value: {}
    # What model steps read and record (engine/step_io.py fills them in):
    task_text: dict[str, Any] = field(default_factory=dict)  # description, requirements (for templates)
    step_output: Callable[[str], str | None] = lambda name: None  # an earlier step's output
    emit: Callable[[str, dict[str, Any]], None] = lambda kind, payload: None  # an event of this step
    record_call: Callable[[dict[str, Any]], None] = lambda call: None  # one model call (model_calls table)
    breakers: Any = None  # the engine's BreakerStore (per-endpoint breakers), None when disabled
    # The agent loop (executors/agent.py): strict-mode approval of one tool call ((approved, reason),
    # None once the task is stopped), and the step's spec as it is now (a model hot-swap).
    ask_call: Callable[[dict[str, Any]], Awaitable[tuple[bool, str] | None]] = None  # type: ignore[assignment]
    current_spec: Callable[[], StepSpec] = None  # type: ignore[assignment]
    worker: str | None = None  # the worker (a Ray node with the ray backend) the pool placed it on
    record_sample: Callable[[Any], None] = lambda sample: None  # a metrics Sample taken elsewhere (a Ray node)
    # engine/metrics.py (TreeSampler, SeriesBuffer), loaded on first use: for an executor that samples
    # a process of its own (a Python step's worker); None where nothing samples
    metrics_module: Callable[[], Any] | None = None


class Executor(Protocol):
    """One kind of step."""

    kind: str  # stored in steps.kind: shell, python, model, tool, ...
    plan_key: str  # the plan key that selects it: run, python, model, tool
    samples_processes: bool  # the attempt has a process tree worth sampling for metrics

    def make_handle(self, ctx: AttemptContext) -> StepHandle: ...

    def breaker_target(self, spec: StepSpec) -> tuple[str, Any]:
        """(breaker kind, target) the step's calls count against."""
        ...

    def describe(self, spec: StepSpec) -> str:
        """What the step does, in one line (for status, approvals and dry-run)."""
        ...


# kind -> "module:attribute" of an Executor instance; loaded lazily.
_PATHS: dict[str, str] = {
    "shell": "agent_agency_cli.executors.shell:EXECUTOR",
    "python": "agent_agency_cli.executors.python:EXECUTOR",
    "model": "agent_agency_cli.executors.model:EXECUTOR",
    "tool": "agent_agency_cli.executors.tool:EXECUTOR",
}
# plan key -> kind, in the order plan validation names them.
_PLAN_KEYS: dict[str, str] = {"run": "shell", "python": "python", "model": "model", "tool": "tool"}
_loaded: dict[str, Executor] = {}


def register(kind: str, plan_key: str, path: str) -> None:
    """Add a kind of step: `path` is "module:attribute" of its Executor."""
    _PATHS[kind] = path
    _PLAN_KEYS[plan_key] = kind
    _loaded.pop(kind, None)


def plan_keys() -> dict[str, str]:
    """The plan keys that select an executor, each with its kind."""
    return dict(_PLAN_KEYS)


def kind_of(spec: StepSpec | Mapping[str, Any]) -> str:
    """The kind of a stored or planned step: the one executor plan key it has (a plug-in's
    plan key is an extra of a StepSpec, so both are read by key)."""
    # A StepSpec's own fields straight from its __dict__ (the engine asks several times per
    # attempt; the Mapping shim costs a call chain per key); a plug-in's key or a dict by key.
    fields = getattr(spec, "__dict__", None) or {}
    for key, kind in _PLAN_KEYS.items():
        value = fields[key] if key in fields else spec.get(key)
        if value is not None:
            return kind
    raise ValueError(f"step has none of {', '.join(_PLAN_KEYS)}")


def executor(kind: str) -> Executor:
    """The executor of a kind (imported on first use)."""
    ex = _loaded.get(kind)
    if ex is None:
        try:
            module, _, attr = _PATHS[kind].partition(":")
        except KeyError:
            raise ValueError(f"unknown step kind {kind!r}") from None
        ex = _loaded[kind] = getattr(importlib.import_module(module), attr)
    return ex


def step_command(kind: str, spec: StepSpec | Mapping[str, Any]) -> Any:
    """What a stored step runs, as status and dry-run show it (a shell step's `run` as given)."""
    if kind == "shell":
        return spec.get("run")  # a dict (the status view's plain JSON) or a StepSpec
    from agent_agency_cli.rows import StepSpec  # lazy: keeps start-up light

    return executor(kind).describe(StepSpec.of(spec))


def executor_for(spec: StepSpec | Mapping[str, Any]) -> Executor:
    """The executor that runs this step spec."""
    return executor(kind_of(spec))


async def close_services(services: dict[str, Any]) -> None:
    """Close a task's executor sessions (MCP sessions, clients): `aclose()` or `close()`."""
    while services:
        _, service = services.popitem()
        try:
            if hasattr(service, "aclose"):
                await service.aclose()
            elif hasattr(service, "close"):
                service.close()
        except Exception:  # a session that fails to close must not fail the task
            import logging  # lazy: keeps start-up light

            logging.getLogger(__name__).exception("closing a step service")
