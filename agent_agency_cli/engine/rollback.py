"""`checkpoint: true` + `on_failure: rollback`: one snapshot before a step's first attempt,
a rollback that undoes only what this step changed, snapshots removed when the task ends."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.rows import StepSpec

if TYPE_CHECKING:
    from agent_agency_cli.engine.runner import StepState, TaskRunner


def declared_paths(spec: StepSpec) -> list[str]:
    """A step's `touches:` and `outputs:`, relative to the task's base directory."""
    sub = spec.workdir or ""
    out = []
    for rel in [*spec.touches, *spec.outputs]:
        path = os.path.expanduser(rel)
        out.append(path if os.path.isabs(path) else os.path.normpath(os.path.join(sub, path)))
    return out


def take(runner: TaskRunner, st: StepState) -> tuple[Path, float]:
    """Snapshot the base directory before the step's first attempt: (snapshot, when)."""
    from agent_agency_cli.engine.checkpoint import snapshot  # lazy: keeps start-up light

    when = time.time()
    dest = runner.paths.task_dir(runner.task_id) / "checkpoints" / st.name
    info = snapshot(runner.workdir or runner.workspace, dest)
    runner.store.add_event(runner.task_id, EventKind.STEP_CHECKPOINT,
                           {"path": str(info.path), "files": info.files, "bytes": info.bytes}, step=st.name)
    return Path(info.path), when


def roll_back(runner: TaskRunner, st: StepState, checkpoint: Path, since: float) -> None:
    """Put back what this step changed (its declared paths, else what changed since it began),
    never another step's declared paths; then drop its snapshot."""
    from agent_agency_cli.engine.checkpoint import discard, restore_step  # lazy: keeps start-up light

    base = runner.workdir or runner.workspace
    base_real = os.path.realpath(base)
    others: set[str] = set()
    for other in runner.steps.values():
        if other.name != st.name:
            for p in declared_paths(other.spec):
                others.add(os.path.relpath(p, base_real) if os.path.isabs(p) else p)
    report = restore_step(checkpoint, base, declared=declared_paths(st.spec), since=since, others=others)
    runner.store.add_event(runner.task_id, EventKind.STEP_ROLLED_BACK,
                           {"removed": report.removed[:100], "restored": report.restored[:100],
                            "checkpoint": str(checkpoint)}, step=st.name)
    discard(checkpoint)


def drop_all(runner: TaskRunner) -> None:
    """The task has ended: its snapshots go (they are full copies)."""
    from agent_agency_cli.engine.checkpoint import discard  # lazy: keeps start-up light

    root = runner.paths.task_dir(runner.task_id) / "checkpoints"
    if root.exists():
        discard(root)
