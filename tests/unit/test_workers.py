"""Workers, step needs and the pool that assigns steps (agent_agency_cli.workers)."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from agent_agency_cli.config import Allocation, Settings, WorkerConfig, WorkerResources
from agent_agency_cli.errors import BadInputError
from agent_agency_cli.planning.plan_file import StepResources
from agent_agency_cli.workers import (
    GpuInfo,
    StepNeeds,
    Worker,
    WorkerPool,
    detect_gpus,
    local_worker,
    needs_for,
    workers_from_config,
)
from agent_agency_cli.workers import detection as W


def needs(caps: tuple[str, ...] = (), cpu: float = 0, mem: int = 0, gpus: int = 0, gmem: int = 0) -> StepNeeds:
    return StepNeeds(capabilities=frozenset(caps), cpu=cpu, memory_mb=mem, gpus=gpus, gpu_memory_mb=gmem)


def two_workers() -> WorkerPool:
    return WorkerPool([
        Worker("w1", {"cpu", "python"}, cpu_cores=4, memory_mb=8192),
        Worker("w2", {"cpu", "python", "docker"}, cpu_cores=4, memory_mb=8192),
    ])


# -- NVML: a fake module, and the no-GPU paths ---------------------------------


class FakeNVMLError(Exception):
    """Stands in for pynvml.NVMLError (its subclasses are made per error code)."""


def fake_nvml(init_error: Exception | None = None, count_error: Exception | None = None,
              gpus: list[dict[str, Any]] | None = None) -> types.ModuleType:
    mod = types.ModuleType("pynvml")
    mod.calls = []  # type: ignore[attr-defined]
    gpus = gpus or []

    def init() -> None:
        mod.calls.append("init")
        if init_error:
            raise init_error

    def shutdown() -> None:
        mod.calls.append("shutdown")

    def count() -> int:
        if count_error:
            raise count_error
        return len(gpus)

    def mem(h: int) -> Any:
        return types.SimpleNamespace(total=gpus[h]["total"] * 2**20, used=gpus[h]["used"] * 2**20)

    def util(h: int) -> Any:
        if gpus[h].get("util") is None:
            raise FakeNVMLError("Not Supported")
        return types.SimpleNamespace(gpu=gpus[h]["util"], memory=0)

    mod.NVMLError = FakeNVMLError  # type: ignore[attr-defined]
    mod.nvmlInit = init  # type: ignore[attr-defined]
    mod.nvmlShutdown = shutdown  # type: ignore[attr-defined]
    mod.nvmlDeviceGetCount = count  # type: ignore[attr-defined]
    mod.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    mod.nvmlDeviceGetName = lambda h: gpus[h]["name"]  # type: ignore[attr-defined]
    mod.nvmlDeviceGetMemoryInfo = mem  # type: ignore[attr-defined]
    mod.nvmlDeviceGetUtilizationRates = util  # type: ignore[attr-defined]
    return mod


def test_no_nvml_package_means_no_gpus(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    with pytest.raises(ImportError):
        W._import_nvml()
    assert detect_gpus() == []
    w = local_worker()
    assert (w.gpus, w.gpu_memory_mb, w.gpu_devices) == (0, 0, [])
    assert not {"gpu", "cuda"} & w.capabilities


def test_nvml_init_error_means_no_gpus(monkeypatch: pytest.MonkeyPatch):
    fake = fake_nvml(init_error=FakeNVMLError("NVML Shared Library Not Found"),
                     gpus=[{"name": "X", "total": 1000, "used": 0, "util": 1}])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert detect_gpus() == []
    assert local_worker().gpus == 0


def test_nvml_error_after_init_still_shuts_down(monkeypatch: pytest.MonkeyPatch):
    fake = fake_nvml(count_error=FakeNVMLError("Driver Not Loaded"))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert detect_gpus() == []
    assert fake.calls == ["init", "shutdown"]


def test_real_nvml_without_a_gpu_gives_no_gpus():
    """With nvidia-ml-py installed on a machine without NVML, nvmlInit raises: still []."""
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:  # a machine with a driver: this test is about the other case
        pynvml.nvmlShutdown()
        pytest.skip("NVML works on this machine")
    assert detect_gpus() == []


def test_gpus_found_by_nvml_make_a_gpu_worker(monkeypatch: pytest.MonkeyPatch):
    fake = fake_nvml(gpus=[{"name": b"NVIDIA H100", "total": 81559, "used": 500, "util": 7},
                           {"name": "NVIDIA H100", "total": 81559, "used": 0, "util": None}])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpus = detect_gpus()
    assert gpus == [GpuInfo(0, "NVIDIA H100", 81559, 500, 7), GpuInfo(1, "NVIDIA H100", 81559, 0, None)]
    assert fake.calls == ["init", "shutdown"]
    w = local_worker()
    assert (w.gpus, w.gpu_memory_mb) == (2, 2 * 81559)
    assert {"gpu", "cuda"} <= w.capabilities
    snap = WorkerPool([w]).snapshot()[0]
    assert snap["gpu_devices"][0] == {"index": 0, "name": "NVIDIA H100", "memory_total_mb": 81559,
                                      "memory_used_mb": 500, "utilization_percent": 7}


# -- the local worker and configured workers -----------------------------------


def test_local_worker_describes_this_machine(monkeypatch: pytest.MonkeyPatch):
    import psutil

    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr(W.shutil, "which", lambda name: "/usr/bin/docker" if name == "docker" else None)
    w = local_worker()
    assert w.id == "local"
    assert {"cpu", "shell", "python"} <= w.capabilities
    assert "docker" in w.capabilities
    assert ("linux" in w.capabilities) == sys.platform.startswith("linux")
    assert w.cpu_cores >= 1
    assert w.memory_mb == psutil.virtual_memory().total // 2**20
    monkeypatch.setattr(W.shutil, "which", lambda name: None)
    assert "docker" not in local_worker().capabilities


def test_workers_from_config():
    cfgs = [
        WorkerConfig(id="gpu-box", capabilities=["Python", "cuda"],
                     resources=WorkerResources(cpu_cores=16, memory_mb=65536, gpu_memory_mb=24576),
                     models=["llama"]),
        WorkerConfig(id="small"),
    ]
    ws = workers_from_config(cfgs)
    assert [w.id for w in ws] == ["gpu-box", "small"]
    big, small = ws
    assert big.capabilities == {"python", "cuda"}
    assert (big.cpu_cores, big.memory_mb, big.gpus, big.gpu_memory_mb, big.models) == (16, 65536, 1, 24576, ["llama"])
    assert (small.cpu_cores, small.memory_mb, small.gpus, small.capabilities) == (1, 1024, 0, set())


def test_no_configured_workers_means_the_local_worker(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    ws = workers_from_config(Settings().workers)
    assert [w.id for w in ws] == ["local"]


def test_duplicate_worker_ids_are_bad_input():
    with pytest.raises(BadInputError, match="'a'"):
        workers_from_config([WorkerConfig(id="a"), WorkerConfig(id="a")])


# -- needs ----------------------------------------------------------------------


def test_needs_of_a_step_that_declares_nothing_and_has_no_default():
    n = needs_for([], StepResources())
    assert (n.capabilities, n.cpu, n.memory_mb, n.gpus, n.gpu_memory_mb, n.soft) == (frozenset(), 0, 0, 0, 0,
                                                                                      frozenset())


def test_declared_resources_win_over_the_default():
    alloc = Allocation(cpu_cores=2, memory_mb=4096)
    n = needs_for(["Docker"], StepResources(cpu=0.5, memory="1G"), alloc)
    assert (n.capabilities, n.cpu, n.memory_mb, n.soft) == (frozenset({"docker"}), 0.5, 1024, frozenset())


def test_undeclared_resources_take_the_default_softly():
    alloc = Allocation(cpu_cores=8, memory_mb=32768, gpu_memory_mb=16384)
    n = needs_for([], StepResources(memory="256M"), alloc)
    assert (n.cpu, n.memory_mb, n.gpus, n.gpu_memory_mb) == (8, 256, 0, 0)  # the default's GPU memory needs a GPU
    assert n.soft == frozenset({"cpu"})
    n = needs_for(["gpu"], StepResources(), alloc)
    assert (n.gpus, n.gpu_memory_mb, n.soft) == (1, 16384, frozenset({"cpu", "memory_mb"}))


def test_gpu_needs():
    assert needs_for([], StepResources(gpu_memory="8G")).gpus == 1
    assert needs_for([], StepResources(gpu=2)).gpus == 2
    assert needs_for(["cuda"], StepResources()).gpus == 1
    with pytest.raises(BadInputError, match="bad memory size 'lots'"):  # a plan validates it before this
        needs_for([], types.SimpleNamespace(cpu=None, memory="lots", gpu=None, gpu_memory=None))


# -- the pool -------------------------------------------------------------------


def test_capabilities_filter_the_workers():
    pool = two_workers()
    assert pool.acquire("t/a", needs(("docker",))).id == "w2"
    assert pool.acquire("t/b", needs_for(["Docker"], StepResources())).id == "w2"
    assert pool.acquire("t/c", needs(("python",))).id == "w1"  # w2 is busier


def test_least_loaded_worker_wins():
    pool = two_workers()
    assert pool.acquire("t/a", needs(cpu=2)).id == "w1"
    assert pool.acquire("t/b", needs(cpu=1)).id == "w2"  # w1 at 50%, w2 idle
    assert pool.acquire("t/c", needs(mem=6144)).id == "w2"  # w1 50%, w2 25% -> w2, now at 75% memory
    assert pool.acquire("t/d", needs(cpu=1)).id == "w1"  # load is the max fraction: w2 75% > w1 50%
    snap = {s["id"]: s for s in pool.snapshot()}
    assert snap["w1"]["used"]["cpu_cores"] == 3 and snap["w1"]["load"] == 0.75
    assert snap["w2"]["running"] == ["t/b", "t/c"]


def test_ties_go_to_fewest_running_then_config_order():
    pool = two_workers()
    order = [pool.acquire(f"t/{i}", needs()).id for i in range(4)]  # zero-need steps: load stays 0
    assert order == ["w1", "w2", "w1", "w2"]


def test_waits_when_full_and_runs_after_release():
    pool = WorkerPool([Worker("only", {"cpu"}, cpu_cores=2, memory_mb=1024)])
    assert pool.acquire("t/a", needs(cpu=1, mem=512)) is not None
    assert pool.acquire("t/b", needs(cpu=1, mem=512)) is not None
    assert pool.acquire("t/c", needs(cpu=1)) is None  # no free cpu
    assert pool.acquire("t/d", needs(mem=1)) is None  # no free memory
    assert pool.acquire("t/e", needs()) is not None  # a step needing nothing still fits
    pool.release("t/a")
    assert "t/a" not in pool.workers[0].running
    w = pool.acquire("t/c", needs(cpu=1))
    assert w is not None and w.running == {"t/b", "t/c", "t/e"}
    pool.release("t/b")
    pool.release("t/c")
    pool.release("t/e")
    pool.release("t/never")  # ignored
    assert (w.used_cpu, w.used_memory_mb, w.running, w.load()) == (0.0, 0, set(), 0.0)


def test_fractional_cpu_and_gpus_are_reserved():
    pool = WorkerPool([Worker("g", {"gpu"}, cpu_cores=1, memory_mb=1024, gpus=1, gpu_memory_mb=8000)])
    assert pool.acquire("t/a", needs(cpu=0.5, gpus=1, gmem=4000)) is not None
    assert pool.acquire("t/b", needs(cpu=0.5, gpus=1)) is None  # the one GPU is taken
    assert pool.acquire("t/c", needs(cpu=0.5)) is not None
    assert pool.acquire("t/d", needs(cpu=0.1)) is None


def test_acquiring_a_key_twice_is_a_bug():
    pool = two_workers()
    pool.acquire("t/a", needs())
    with pytest.raises(ValueError, match="t/a"):
        pool.acquire("t/a", needs())


def test_soft_defaults_are_clamped_to_the_worker():
    pool = WorkerPool([Worker("laptop", {"cpu"}, cpu_cores=2, memory_mb=4096)])
    big = needs_for([], StepResources(), Allocation(cpu_cores=8, memory_mb=32768))
    assert pool.can_ever_run(big) is None
    w = pool.acquire("t/a", big)
    assert w is not None and (w.used_cpu, w.used_memory_mb) == (2, 4096)  # the whole machine
    assert pool.acquire("t/b", big) is None  # so the next one waits
    pool.release("t/a")
    assert (w.used_cpu, w.used_memory_mb) == (0, 0)


def test_can_ever_run_reasons():
    pool = two_workers()
    assert pool.can_ever_run(needs(("docker",), cpu=4, mem=8192)) is None
    assert pool.can_ever_run(needs(("cuda",))) == "no worker has capability 'cuda' (workers: w1, w2)"
    assert pool.can_ever_run(needs(("cuda", "tpu"))) == (
        "no worker has capabilities 'cuda', 'tpu' (workers: w1, w2)")
    assert pool.can_ever_run(needs(mem=65536)) == "needs 64 GiB memory; the largest worker (w1) has 8 GiB"
    assert pool.can_ever_run(needs(cpu=6)) == "needs 6 cpu; the largest worker (w1) has 4 cpu"
    assert pool.can_ever_run(needs(gpus=1)) == "needs 1 GPU; the largest worker (w1) has no GPUs"
    assert pool.can_ever_run(needs(("docker",), mem=10000)) == (
        "needs 9.8 GiB memory; the largest worker with capability 'docker' (w2) has 8 GiB")


def test_can_ever_run_when_no_single_worker_has_everything():
    pool = WorkerPool([Worker("a", {"x"}, cpu_cores=8, memory_mb=1024), Worker("b", {"y"}, cpu_cores=1,
                                                                                memory_mb=8192)])
    assert "no single worker has all of the capabilities 'x', 'y'" in pool.can_ever_run(needs(("x", "y")))
    reason = pool.can_ever_run(needs(cpu=4, mem=4096))
    assert reason is not None and reason.startswith("needs 4 cpu, 4 GiB memory; no single worker has all of it")


def test_snapshot_is_json_shaped():
    import json

    pool = two_workers()
    pool.acquire("t/a", needs(cpu=1, mem=1024))
    snap = pool.snapshot()
    assert json.loads(json.dumps(snap)) == snap
    assert snap[0] == {
        "id": "w1", "capabilities": ["cpu", "python"], "models": [],
        "total": {"cpu_cores": 4, "memory_mb": 8192, "gpus": 0, "gpu_memory_mb": 0},
        "used": {"cpu_cores": 1.0, "memory_mb": 1024, "gpus": 0, "gpu_memory_mb": 0},
        "load": 0.25, "running": ["t/a"], "gpu_devices": [],
    }
