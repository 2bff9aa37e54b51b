"""Workers: detection (the machine, the config) and the pool that assigns steps to them."""

from agent_agency_cli.workers.detection import GpuInfo, detect_gpus, local_worker, workers_from_config
from agent_agency_cli.workers.pool import (
    COMPLEXITIES,
    GPU_CAPABILITIES,
    Complexity,
    StepNeeds,
    Worker,
    WorkerPool,
    complexity_for,
    needs_for,
)

__all__ = [
    "COMPLEXITIES", "GPU_CAPABILITIES", "Complexity", "GpuInfo", "StepNeeds", "Worker", "WorkerPool",
    "complexity_for", "detect_gpus", "local_worker", "needs_for", "workers_from_config",
]
