"""Workers, what a step needs from one, and the pool that assigns steps to them.

Self-contained: no SQL, no engine loop, no detection (see workers.detection). The
engine builds a `WorkerPool` from the detected or configured workers, asks
`can_ever_run` once per step when the task is planned (a step no worker could
ever run is a plan error, not a forever-waiting step), then `acquire` before it
starts a step and `release` when the step ends.

Assignment rule (`WorkerPool.acquire`): among the workers that have every capability
the step requires and enough *free* cpu, memory, GPUs and GPU memory for it, pick
the least loaded one. A worker's load is the largest of its used/total fractions
over the resources it has (cpu, memory, GPUs, GPU memory): a worker at 3/4 of its
memory counts as 75% loaded even with idle cores. Ties go to the worker running the
fewest steps, then to the first in configuration order. No fitting worker: `None`,
and the step waits for a `release`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from agent_agency_cli.units import format_size_mb, parse_size_mb

if TYPE_CHECKING:
    from agent_agency_cli.config import Allocation
    from agent_agency_cli.workers.detection import GpuInfo

GPU_CAPABILITIES = frozenset({"gpu", "cuda"})
_EPS = 1e-9


# -- workers ------------------------------------------------------------------


@dataclass(eq=False)
class Worker:
    """A place steps run: its capabilities and totals, plus what is reserved on it now."""

    id: str
    capabilities: set[str] = field(default_factory=set)
    cpu_cores: int = 1
    memory_mb: int = 1024
    gpus: int = 0
    gpu_memory_mb: int = 0  # all GPUs together
    models: list[str] = field(default_factory=list)
    gpu_devices: list[GpuInfo] = field(default_factory=list)
    # usage: what the steps in `running` reserved
    used_cpu: float = 0.0
    used_memory_mb: int = 0
    used_gpus: int = 0
    used_gpu_memory_mb: int = 0
    running: set[str] = field(default_factory=set)  # "task/step" keys

    def __post_init__(self) -> None:
        self.capabilities = {c.strip().lower() for c in self.capabilities if c.strip()}

    def load(self) -> float:
        """The largest used/total fraction over the resources this worker has (0.0 idle)."""
        fractions = [0.0]
        for used, total in ((self.used_cpu, self.cpu_cores), (self.used_memory_mb, self.memory_mb),
                            (self.used_gpus, self.gpus), (self.used_gpu_memory_mb, self.gpu_memory_mb)):
            if total > 0:
                fractions.append(used / total)
        return max(fractions)

    def has_capabilities(self, capabilities: Iterable[str]) -> bool:
        return set(capabilities) <= self.capabilities


# -- what a step needs --------------------------------------------------------


class _ResourcesLike(Protocol):  # planning.plan_file.StepResources
    cpu: float | None
    memory: str | int | None
    gpu: int | None
    gpu_memory: str | int | None


@dataclass(frozen=True)
class StepNeeds:
    """What one step needs from a worker.

    `soft` names the resources ("cpu", "memory_mb") that came from the task's default
    allocation rather than from the step: a worker smaller than that default still
    runs the step, reserving all it has of that resource instead (so a "complex" task
    on a 2-core laptop runs its steps one at a time instead of never).
    """

    capabilities: frozenset[str] = frozenset()
    cpu: float = 0.0
    memory_mb: int = 0
    gpus: int = 0
    gpu_memory_mb: int = 0
    soft: frozenset[str] = frozenset()

    def for_worker(self, w: Worker) -> tuple[float, int, int, int]:
        """(cpu, memory_mb, gpus, gpu_memory_mb) this step would reserve on `w`."""
        cpu = min(self.cpu, w.cpu_cores) if "cpu" in self.soft else self.cpu
        mem = min(self.memory_mb, w.memory_mb) if "memory_mb" in self.soft else self.memory_mb
        return cpu, mem, self.gpus, self.gpu_memory_mb

    def describe(self) -> str:
        parts = []
        if self.capabilities:
            parts.append("capabilities " + ", ".join(sorted(self.capabilities)))
        if self.cpu:
            parts.append(f"{self.cpu:g} cpu")
        if self.memory_mb:
            parts.append(f"{format_size_mb(self.memory_mb)} memory")
        if self.gpus:
            parts.append(f"{self.gpus} GPU{'s' if self.gpus > 1 else ''}")
        if self.gpu_memory_mb:
            parts.append(f"{format_size_mb(self.gpu_memory_mb)} GPU memory")
        return ", ".join(parts) or "nothing"


def needs_for(requires: Iterable[str], resources: _ResourcesLike | None,
              default: Allocation | None = None) -> StepNeeds:
    """A step's needs from its `requires:` and `resources:`, completed by `default`.

    - capabilities: `requires`, lower-cased.
    - cpu / memory: what the step declares; where it declares nothing, the task's
      complexity allocation `default` (cpu_cores, memory_mb) as a *soft* need, clamped
      to the worker's size (see StepNeeds.soft); with no default, 0 — an undeclared
      step reserves nothing, so many small steps run side by side, bounded only by
      the engine's max_parallel_steps.
    - GPUs: `resources.gpu`; when undeclared, 1 if the step declares GPU memory or
      requires the capability gpu/cuda, else 0. A GPU is reserved whole.
    - GPU memory: `resources.gpu_memory`; when undeclared and the step uses a GPU,
      the default allocation's gpu_memory_mb (hard), else 0. A default's GPU memory
      never makes a step that uses no GPU need one.
    Raises BadInputError on an unparsable memory size.
    """
    caps = frozenset(c.strip().lower() for c in requires if c.strip())
    cpu_decl = getattr(resources, "cpu", None)
    mem_decl = parse_size_mb(getattr(resources, "memory", None), "memory size")
    gpu_decl = getattr(resources, "gpu", None)
    gmem_decl = parse_size_mb(getattr(resources, "gpu_memory", None), "GPU memory size")
    soft: set[str] = set()

    cpu, mem = 0.0, 0
    if cpu_decl is not None:
        cpu = float(cpu_decl)
    elif default is not None and default.cpu_cores:
        cpu = float(default.cpu_cores)
        soft.add("cpu")
    if mem_decl is not None:
        mem = mem_decl
    elif default is not None and default.memory_mb:
        mem = int(default.memory_mb)
        soft.add("memory_mb")
    if gpu_decl is not None:
        gpus = int(gpu_decl)
    else:
        gpus = 1 if (gmem_decl or caps & GPU_CAPABILITIES) else 0
    if gmem_decl is not None:
        gmem = gmem_decl
    elif gpus and default is not None and default.gpu_memory_mb:
        gmem = int(default.gpu_memory_mb)
    else:
        gmem = 0
    return StepNeeds(capabilities=caps, cpu=cpu, memory_mb=mem, gpus=gpus, gpu_memory_mb=gmem,
                     soft=frozenset(soft))


# -- the pool -----------------------------------------------------------------


class WorkerPool:
    """Assigns steps to workers by capabilities and free resources (see the module doc).

    Not thread-safe: the engine calls it from its one event loop.
    """

    def __init__(self, workers: Iterable[Worker]):
        self.workers: list[Worker] = list(workers)
        if not self.workers:
            raise ValueError("a WorkerPool needs at least one worker")
        self._held: dict[str, tuple[Worker, tuple[float, int, int, int]]] = {}

    def _names(self) -> str:
        return ", ".join(w.id for w in self.workers)

    def can_ever_run(self, needs: StepNeeds) -> str | None:
        """None if some worker, idle, could run the step; else a one-line reason why none can."""
        capable = [w for w in self.workers if w.has_capabilities(needs.capabilities)]
        if not capable:
            missing = sorted(c for c in needs.capabilities if not any(c in w.capabilities for w in self.workers))
            if missing:
                what = "capability" if len(missing) == 1 else "capabilities"
                return f"no worker has {what} {', '.join(repr(c) for c in missing)} (workers: {self._names()})"
            wanted = ", ".join(repr(c) for c in sorted(needs.capabilities))
            return f"no single worker has all of the capabilities {wanted} (workers: {self._names()})"
        of = "" if len(capable) == len(self.workers) else (
            " with capabilit" + ("y " if len(needs.capabilities) == 1 else "ies ")
            + ", ".join(repr(c) for c in sorted(needs.capabilities)))

        def gpus_txt(v: float) -> str:
            return f"{v:g} GPU{'' if v == 1 else 's'}"

        checks = (  # (key, need, worker attribute, need text, have text)
            ("cpu", needs.cpu, "cpu_cores", lambda v: f"{v:g} cpu", lambda v: f"{v:g} cpu"),
            ("memory_mb", needs.memory_mb, "memory_mb", lambda v: f"{format_size_mb(v)} memory", format_size_mb),
            ("gpus", needs.gpus, "gpus", gpus_txt, lambda v: gpus_txt(v) if v else "no GPUs"),
            ("gpu_memory_mb", needs.gpu_memory_mb, "gpu_memory_mb", lambda v: f"{format_size_mb(v)} GPU memory",
             lambda v: format_size_mb(v) if v else "no GPU memory"),
        )
        for key, need, attr, need_txt, have_txt in checks:
            if key in needs.soft:
                continue
            big = max(capable, key=lambda w, a=attr: getattr(w, a))
            have = getattr(big, attr)
            if need > have + _EPS:
                return f"needs {need_txt(need)}; the largest worker{of} ({big.id}) has {have_txt(have)}"
        if not any(self._fits_total(w, needs) for w in capable):
            sizes = "; ".join(f"{w.id}: {w.cpu_cores} cpu, {format_size_mb(w.memory_mb)}, {w.gpus} GPU"
                              for w in capable)
            return f"needs {needs.describe()}; no single worker{of} has all of it ({sizes})"
        return None

    @staticmethod
    def _fits_total(w: Worker, needs: StepNeeds) -> bool:
        cpu, mem, gpus, gmem = needs.for_worker(w)
        return (cpu <= w.cpu_cores + _EPS and mem <= w.memory_mb and gpus <= w.gpus
                and gmem <= w.gpu_memory_mb)

    @staticmethod
    def _fits_free(w: Worker, needs: StepNeeds) -> bool:
        cpu, mem, gpus, gmem = needs.for_worker(w)
        return (w.used_cpu + cpu <= w.cpu_cores + _EPS and w.used_memory_mb + mem <= w.memory_mb
                and w.used_gpus + gpus <= w.gpus and w.used_gpu_memory_mb + gmem <= w.gpu_memory_mb)

    def acquire(self, key: str, needs: StepNeeds) -> Worker | None:
        """Reserve a worker for step `key` ("task/step"): the least loaded that fits, or None to wait.

        Raises ValueError when `key` already holds a worker (release it first).
        """
        if key in self._held:
            raise ValueError(f"{key} already holds worker {self._held[key][0].id}")
        fitting = [w for w in self.workers if w.has_capabilities(needs.capabilities) and self._fits_free(w, needs)]
        if not fitting:
            return None
        order = {id(w): i for i, w in enumerate(self.workers)}
        best = min(fitting, key=lambda w: (round(w.load(), 9), len(w.running), order[id(w)]))
        amounts = needs.for_worker(best)
        cpu, mem, gpus, gmem = amounts
        best.used_cpu += cpu
        best.used_memory_mb += mem
        best.used_gpus += gpus
        best.used_gpu_memory_mb += gmem
        best.running.add(key)
        self._held[key] = (best, amounts)
        return best

    def release(self, key: str) -> None:
        """Give back what `key` reserved; a key holding nothing is ignored."""
        held = self._held.pop(key, None)
        if held is None:
            return
        w, (cpu, mem, gpus, gmem) = held
        w.used_cpu = max(0.0, w.used_cpu - cpu)
        if w.used_cpu < _EPS:
            w.used_cpu = 0.0
        w.used_memory_mb = max(0, w.used_memory_mb - mem)
        w.used_gpus = max(0, w.used_gpus - gpus)
        w.used_gpu_memory_mb = max(0, w.used_gpu_memory_mb - gmem)
        w.running.discard(key)

    def snapshot(self) -> list[dict[str, Any]]:
        """The workers as JSON-able dicts (the shape of `workers list --json`)."""
        return [
            {
                "id": w.id,
                "capabilities": sorted(w.capabilities),
                "models": list(w.models),
                "total": {"cpu_cores": w.cpu_cores, "memory_mb": w.memory_mb, "gpus": w.gpus,
                          "gpu_memory_mb": w.gpu_memory_mb},
                "used": {"cpu_cores": round(w.used_cpu, 3), "memory_mb": w.used_memory_mb, "gpus": w.used_gpus,
                         "gpu_memory_mb": w.used_gpu_memory_mb},
                "load": round(w.load(), 4),
                "running": sorted(w.running),
                "gpu_devices": [asdict(g) for g in w.gpu_devices],
            }
            for w in self.workers
        ]
