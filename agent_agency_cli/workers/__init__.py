"""Workers: detection (the machine, the config) and the pool that assigns steps to them."""

from agent_agency_cli.workers.detection import GpuInfo, detect_gpus, local_worker, workers_from_config
from agent_agency_cli.workers.pool import (
    GPU_CAPABILITIES,
    StepNeeds,
    Worker,
    WorkerPool,
    needs_for,
)

__all__ = [
    "GPU_CAPABILITIES", "GpuInfo", "StepNeeds", "Worker", "WorkerPool",
    "detect_gpus", "local_worker", "needs_for", "workers_from_config",
]
