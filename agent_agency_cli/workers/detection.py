"""Which workers exist: the machine itself (CPU, memory, GPUs via NVML) or the configured ones.

GPUs are found through NVML (the `pynvml` module of the `nvidia-ml-py` package,
the `gpu` extra), imported lazily. Without the package, without a driver or
without a GPU the machine simply has zero GPUs: nothing here raises because of it.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_agency_cli.errors import BadInputError
from agent_agency_cli.workers.pool import GPU_CAPABILITIES, Worker

if TYPE_CHECKING:
    from agent_agency_cli.config import WorkerConfig


# -- GPUs ---------------------------------------------------------------------


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as NVML reports it at the moment of detection."""

    index: int
    name: str
    memory_total_mb: int
    memory_used_mb: int
    utilization_percent: int | None  # None where the device does not report it


def _import_nvml() -> Any:
    """The `pynvml` module (package nvidia-ml-py); ImportError when it is not installed."""
    import pynvml  # lazy: the 'gpu' extra

    return pynvml


def detect_gpus() -> list[GpuInfo]:
    """The machine's GPUs via NVML; `[]` when NVML is missing, fails in any way, or finds none.

    Never raises: no package, no shared library, no driver, a driver/library mismatch
    or any other error all mean "no GPUs". NVML is shut down again on every path
    after a successful init.
    """
    try:
        nvml = _import_nvml()
    except Exception:  # ImportError, or a broken install
        return []
    try:
        nvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return []
    try:
        gpus: list[GpuInfo] = []
        for i in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            name = nvml.nvmlDeviceGetName(handle)
            if isinstance(name, bytes):
                name = name.decode(errors="replace")
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                util: int | None = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except Exception:  # NVMLError_NotSupported on some devices
                util = None
            gpus.append(GpuInfo(index=i, name=str(name), memory_total_mb=int(mem.total) // 2**20,
                                memory_used_mb=int(mem.used) // 2**20, utilization_percent=util))
        return gpus
    except Exception:
        return []
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


# -- workers ------------------------------------------------------------------


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _os_capability() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "darwin"
    if sys.platform.startswith("win"):
        return "windows"
    return sys.platform


def local_worker() -> Worker:
    """The machine itself, as worker "local".

    Capabilities: cpu, shell, python, the OS (linux / darwin / windows), the CPU
    architecture (e.g. x86_64, arm64), docker when `docker` is on PATH, gpu and cuda
    when NVML finds GPUs. Resources: the cores this process may run on, the total
    memory, the GPUs and their memory summed.
    """
    import psutil  # lazy: keeps start-up light

    gpus = detect_gpus()
    caps = {"cpu", "shell", "python", _os_capability()}
    arch = platform.machine().lower()
    if arch:
        caps.add({"amd64": "x86_64", "aarch64": "arm64"}.get(arch, arch))
    if shutil.which("docker"):
        caps.add("docker")
    if gpus:
        caps |= GPU_CAPABILITIES
    return Worker(
        id="local",
        capabilities=caps,
        cpu_cores=_cpu_count(),
        memory_mb=int(psutil.virtual_memory().total) // 2**20,
        gpus=len(gpus),
        gpu_memory_mb=sum(g.memory_total_mb for g in gpus),
        gpu_devices=gpus,
    )


def workers_from_config(configs: Iterable[WorkerConfig]) -> list[Worker]:
    """Workers from the config's `workers:` list; none configured -> `[local_worker()]`.

    A configured worker has the capabilities it lists (nothing implied) and the
    resources it declares. It has one GPU when it declares `gpu_memory_mb` or the
    capability gpu/cuda (or `resources.gpus` GPUs, should the config grow that key).
    """
    workers: list[Worker] = []
    for cfg in configs:
        res = cfg.resources
        caps = {c.strip().lower() for c in cfg.capabilities}
        gpus = getattr(res, "gpus", None)
        if gpus is None:
            gpus = 1 if (res.gpu_memory_mb or caps & GPU_CAPABILITIES) else 0
        workers.append(Worker(id=cfg.id, capabilities=caps, cpu_cores=res.cpu_cores, memory_mb=res.memory_mb,
                              gpus=int(gpus), gpu_memory_mb=int(res.gpu_memory_mb or 0), models=list(cfg.models)))
    if not workers:
        return [local_worker()]
    seen: set[str] = set()
    for w in workers:
        if w.id in seen:
            raise BadInputError(f"two workers have the id {w.id!r}")
        seen.add(w.id)
    return workers
