"""Running a step's quality gates inside the engine and turning them into a decision."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from agent_agency_cli.engine.attempt import step_cwd, unseal
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.paths import open_private
from agent_agency_cli.rows import StepSpec

if TYPE_CHECKING:
    from agent_agency_cli.engine.runner import TaskRunner
    from agent_agency_cli.engine.step_state import StepState


def gate_types_of(gates: Any) -> list[str]:
    """The gate types of a list of GateSpecs or of plan/config gate declarations."""
    out = []
    for g in gates or []:
        if isinstance(g, str):
            out.append(g)
        elif isinstance(g, dict):
            out.append(str(g.get("type")))
        else:
            out.append(g.type)
    return out


def step_gate_specs(runner: TaskRunner, st: StepState) -> list[Any]:
    """The step's own gates plus the config's defaults for the task's mode."""
    raw_defaults = runner.settings.gates.defaults.get(runner.mode, [])  # type: ignore[call-overload]
    if not st.spec.gates and not raw_defaults:
        return []  # the common step: nothing to parse (asked twice per step)
    # gates: loaded on first use: keeps the daemon's start (and so crash recovery) fast
    from agent_agency_cli.gates.spec import parse_gates

    own = parse_gates(unseal(runner, st.spec.gates))  # a gate's command may hold a secret
    defaults = parse_gates(raw_defaults)
    return own + [d for d in defaults if d.label not in {g.label for g in own}]


def _outputs(runner: TaskRunner, spec: StepSpec) -> list[Path]:
    cwd = step_cwd(runner, spec)
    return [(cwd / p) for p in spec.outputs]


async def run_step_gates(runner: TaskRunner, st: StepState, *, evidence_only: bool = False
                         ) -> tuple[bool | None, str | None]:
    """Run every gate of the step after its command succeeded (or, with evidence_only,
    after it failed: results and evidence are recorded, nobody is asked, nothing changes).

    Returns (passed, reason); passed is None when the task was stopped while a
    gate waited for a person. A failing required gate fails the step; advisory
    gates are only recorded — except in strict mode, where any violation waits
    for a person's decision (approve accepts the step, reject fails it).
    """
    # gates: loaded on first use: keeps the daemon's start (and so crash recovery) fast
    from agent_agency_cli.gates.runner import GateContext, GateResult, evaluate, run_gate

    specs = step_gate_specs(runner, st)
    if evidence_only:
        specs = [g for g in specs if g.type != "manual_review"]  # nothing to ask about a failure
    if not specs:
        return True, None

    cwd = step_cwd(runner, st.spec)
    ctx = GateContext(
        cancel=threading.Event(),
        workspace=runner.workspace,
        workdir=cwd,
        outputs=_outputs(runner, st.spec),
        env=unseal(runner, dict(st.spec.env)),
        evidence_dir=runner.paths.task_dir(runner.task_id) / "gates" / st.name,
        timeout=runner.settings.task_execution.quality_gate_timeout,
        step_outputs={name: _outputs(runner, other.spec) for name, other in runner.steps.items()},
    )
    results: list[Any] = []
    for spec in specs:
        started = time.time()
        if spec.type == "manual_review":
            decision = await runner.ask(st, "manual_review", {
                "gate": spec.label, "criteria": spec.criteria, "reviewer": spec.reviewer})
            if decision is None:
                return None, None
            ok, why = decision
            result = GateResult(
                gate=spec.type, name=spec.label, required=spec.required,
                status="passed" if ok else "failed", score=1.0 if ok else 0.0,
                violations=[] if ok else [why], recommendations=list(spec.criteria),
                evidence=[], details={"decision": why}, duration=time.time() - started,
            )
        else:
            runner.store.add_event(runner.task_id, EventKind.GATE_STARTED, {"gate": spec.label}, step=st.name)
            result = await _run_in_thread(runner, st, run_gate, spec, ctx)
            mask_evidence(runner, ctx.evidence_dir)
            if result is None:
                return None, None
        runner.store.add_gate_result(runner.task_id, st.name, st.attempt, result.to_json(),
                                     started, time.time())
        results.append(result)
    passed, reasons = evaluate(results)
    violated = [r for r in results if r.status in ("failed", "error")]
    if evidence_only:
        return passed, None
    if runner.mode == "strict" and violated:
        labels = ", ".join(f"{r.name} ({'required' if r.required else 'advisory'})" for r in violated)
        decision = await runner.ask(st, "gate_violation", {
            "violations": [v for r in violated for v in r.violations][:50],
            "gates_failed": labels})
        if decision is None:
            return None, None
        ok, why = decision
        return (True, None) if ok else (False, f"gate violation rejected: {why}")
    if passed:
        return True, None
    return False, "; ".join(reasons) or "a required gate failed"


_EVIDENCE_MASK_LIMIT = 16 * 1024 * 1024


def mask_evidence(runner: TaskRunner, evidence_dir: Path) -> None:
    """Mask the task's secrets in the gate's evidence files (command output, reports):
    the gate's process writes them directly, so they are masked once it has ended."""
    mask = runner.secret_mask
    if mask is None or not evidence_dir.is_dir():
        return

    for path in evidence_dir.rglob("*"):
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > _EVIDENCE_MASK_LIMIT:
                continue
            text = path.read_bytes().decode("utf-8", errors="surrogateescape")
            line_mask = mask.stream() if hasattr(mask, "stream") else mask  # key blocks across lines
            shown = "\n".join(line_mask(line) for line in text.split("\n"))
            if shown != text:
                with open_private(path, "wb") as fh:
                    fh.write(shown.encode("utf-8", errors="surrogateescape"))
        except OSError:
            continue


async def _run_in_thread(runner: TaskRunner, st: StepState, run_gate: Any, spec: Any, ctx: Any) -> Any:
    """Run one gate in a worker thread; a cancel or engine stop kills its processes."""
    box: list[Any] = []

    async def run() -> None:
        box.append(await anyio.to_thread.run_sync(run_gate, spec, ctx, abandon_on_cancel=True))
        st.poke()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        while not box:
            if runner.stop_kind() is not None:
                ctx.cancel.set()
                with anyio.move_on_after(5):
                    while not box:
                        await st.changed.wait()
                tg.cancel_scope.cancel()
                return None
            await st.changed.wait()
    return box[0]
