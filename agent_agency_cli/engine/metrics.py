"""Resource metrics of a running step: sample its process tree, keep a bounded series, summarise.

- `TreeSampler(pid).sample()` measures the process and all its descendants at once:
  CPU (from cpu-time deltas between calls), resident memory, disk I/O, threads, and,
  where NVML works, GPU memory and utilisation of the tree's processes.
- `SeriesBuffer` keeps at most N samples of one step attempt (thinning evenly so the
  series always spans the whole run) and running summaries over every sample.
- `aggregate()` folds the step summaries of a task into the seed's TaskMetrics.

Self-contained: no SQL and no event loop; the engine calls `sample()` on its timer.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import psutil

__all__ = ["Sample", "SeriesBuffer", "TreeSampler", "aggregate"]


@dataclass(frozen=True)
class Sample:
    """One measurement of a process tree.

    cpu_percent: CPU used since the previous sample, in % of one core (a tree using two
    cores fully reads 200); None for a sample with no baseline before it.
    read_bytes / write_bytes: cumulative storage I/O of the tree since its processes
    started (Linux adds a reaped child's counts to its parent's, so a child that has
    exited still counts; the figure never decreases); None where the platform or
    permissions give no I/O counters.
    gpu_*: None where NVML is unavailable or the machine has no GPU.
    """

    ts: float  # time.time() of the sample
    cpu_percent: float | None
    rss_bytes: int
    read_bytes: int | None
    write_bytes: int | None
    threads: int
    gpu_memory_bytes: int | None = None
    gpu_util_percent: float | None = None
    procs: int = 1  # processes in the tree

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- NVML (optional) ----------------------------------------------------------


class _Nvml:
    """NVML opened once per process (lazily) for per-process GPU figures; absent -> unavailable.

    A failed init is remembered, so a machine without GPUs pays for it once.
    """

    def __init__(self) -> None:
        self._tried = False
        self._nvml: Any = None
        self._handles: list[Any] = []

    def available(self) -> bool:
        if not self._tried:
            self._tried = True
            self._open()
        return self._nvml is not None

    def _open(self) -> None:
        from agent_agency_cli.workers.detection import _import_nvml  # lazy: keeps start-up light

        try:
            nvml = _import_nvml()
            nvml.nvmlInit()
        except Exception:
            return
        try:
            handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(int(nvml.nvmlDeviceGetCount()))]
        except Exception:
            handles = []
        if not handles:
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()
            return
        self._nvml, self._handles = nvml, handles
        atexit.register(self.close)

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._nvml, self._handles = None, []

    def query(self, pids: set[int], last_seen: dict[int, int]) -> tuple[int | None, float | None]:
        """(GPU memory bytes, GPU utilisation %) of `pids` over all GPUs.

        Utilisation is the mean SM utilisation of the driver's samples newer than
        `last_seen[device]` (microsecond timestamps, updated in place), summed over
        the processes and devices; 0 when the driver has no new sample.
        Note: inside a container without the host's PID namespace NVML reports host
        PIDs, which match none of ours: both figures then read 0.
        """
        if not self.available():
            return None, None
        nvml = self._nvml
        mem, util = 0, 0.0
        for i, h in enumerate(self._handles):
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                try:
                    procs = getattr(nvml, getter)(h)
                except Exception:
                    continue
                for p in procs:
                    if p.pid in pids and isinstance(getattr(p, "usedGpuMemory", None), int):
                        mem += p.usedGpuMemory
            try:
                samples = nvml.nvmlDeviceGetProcessUtilization(h, last_seen.get(i, 0))
            except Exception:  # NVML_ERROR_NOT_FOUND: no sample since last_seen
                samples = []
            per_pid: dict[int, list[float]] = {}
            for s in samples:
                last_seen[i] = max(last_seen.get(i, 0), int(s.timeStamp))
                if s.pid in pids:
                    per_pid.setdefault(s.pid, []).append(float(s.smUtil))
            util += sum(sum(v) / len(v) for v in per_pid.values())
        return mem, util


_NVML = _Nvml()


# -- the sampler --------------------------------------------------------------

# Linux lists each thread's children in /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN):
# walking those costs O(tree), where psutil's children(recursive=True) reads every
# process's /proc/PID/stat on the machine (about 2 ms per call with 100 processes).
_PROC_CHILDREN = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _child_pids(pid: int) -> list[int]:
    """Direct children of `pid` from /proc/PID/task/*/children ([] when it is gone)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):  # the thread ended meanwhile
            continue
    return out



class TreeSampler:
    """Samples the process `pid` and all its descendants.

    The baseline for CPU is taken at construction when the process exists (so the
    first `sample()` already has a cpu_percent), else by the first `sample()`.
    CPU is the change of the tree's total CPU time — each live process's own time
    plus the time of the children it has reaped — over the wall time between
    samples; a child that runs and exits between two samples is counted once its
    parent reaps it (a drop, when a process leaves the tree unreaped, reads 0).
    Descendants are found through /proc/PID/task/*/children on Linux (O(tree size)),
    else psutil's children(recursive=True). Not thread-safe; one sampler per step attempt.
    """

    def __init__(self, pid: int, *, gpu: bool = True, cpu_baseline: tuple[float, float] | None = None):
        """`cpu_baseline`: (monotonic time, tree CPU seconds) known without a sample, e.g. the
        spawn (no CPU used yet); the construction then reads nothing."""
        self.pid = pid
        self._gpu = gpu
        self._gpu_seen: dict[int, int] = {}
        self._io: tuple[int, int] | None = None  # highest (read, write) seen so far
        self._prev: tuple[float, float] | None = None  # (monotonic, tree cpu seconds)
        self._cache: dict[int, psutil.Process] = {}  # descendants seen last time, by pid
        try:
            self._root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._root = None
        if cpu_baseline is not None:
            self._prev = cpu_baseline
        elif self._root is not None:
            self.sample()

    def _tree(self) -> list[psutil.Process] | None:
        root = self._root
        if root is None:
            return None
        try:
            if not root.is_running() or root.status() == psutil.STATUS_ZOMBIE:
                return None
            if not _PROC_CHILDREN:
                return [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        # Linux fast path: walk /proc/PID/task/*/children from the root.
        procs, cache, seen = [root], {}, {root.pid}
        stack = [root]
        while stack:
            parent = stack.pop()
            for cpid in _child_pids(parent.pid):
                if cpid in seen:
                    continue
                seen.add(cpid)
                child = self._cache.get(cpid)
                if child is None:
                    try:
                        child = psutil.Process(cpid)
                        if child.create_time() < parent.create_time():  # pid reused meanwhile
                            continue
                    except psutil.Error:
                        continue
                cache[cpid] = child
                procs.append(child)
                stack.append(child)
        self._cache = cache
        return procs

    def sample(self) -> Sample | None:
        """Measure the tree now; None once the root process has exited (or never existed)."""
        procs = self._tree()
        if procs is None:
            self._root = None
            return None
        now_mono, now = time.monotonic(), time.time()
        cpu_total, rss, threads, count = 0.0, 0, 0, 0
        io_read = io_write = 0
        io_seen = False
        for p in procs:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    proc_cpu = t.user + t.system + t.children_user + t.children_system
                    proc_rss = p.memory_info().rss
                    proc_threads = p.num_threads()
                    try:
                        io = p.io_counters()
                        io_read += io.read_bytes
                        io_write += io.write_bytes
                        io_seen = True
                    except (psutil.AccessDenied, NotImplementedError, AttributeError):
                        pass  # no I/O counters here (macOS, or not permitted)
            except psutil.NoSuchProcess:  # vanished mid-sample (ZombieProcess included)
                continue
            except psutil.AccessDenied:
                continue
            cpu_total += proc_cpu
            rss += proc_rss
            threads += proc_threads
            count += 1
        if count == 0:  # the root vanished between listing and reading
            self._root = None
            return None

        cpu_percent: float | None = None
        if self._prev is not None:
            dt = now_mono - self._prev[0]
            if dt > 0:
                cpu_percent = max(0.0, (cpu_total - self._prev[1]) / dt * 100.0)
        self._prev = (now_mono, cpu_total)

        # I/O: a live process's counters include the children it reaped; a child that
        # exits unreaped (or is orphaned) drops out, so keep the highest total seen.
        if io_seen:
            prev = self._io or (0, 0)
            self._io = (max(prev[0], io_read), max(prev[1], io_write))
        read_bytes, write_bytes = self._io if self._io is not None else (None, None)

        gpu_mem: int | None = None
        gpu_util: float | None = None
        if self._gpu:
            gpu_mem, gpu_util = _NVML.query({p.pid for p in procs}, self._gpu_seen)
        return Sample(ts=now, cpu_percent=cpu_percent, rss_bytes=rss, read_bytes=read_bytes,
                      write_bytes=write_bytes, threads=threads, gpu_memory_bytes=gpu_mem,
                      gpu_util_percent=gpu_util, procs=count)


# -- the series ---------------------------------------------------------------


class SeriesBuffer:
    """At most `max_samples` samples of one run, evenly thinned, plus summaries over all samples.

    Thinning: samples are kept at a stride (every sample at first); when the buffer
    is full, every other kept sample is dropped and the stride doubles. The newest
    sample is always present, so the series spans first to last at even spacing.
    Summaries (`summary()`) cover every sample ever added, not only the kept ones.
    """

    def __init__(self, max_samples: int = 600):
        if max_samples < 2:
            raise ValueError("max_samples must be at least 2")
        self.max_samples = max_samples
        self._kept: list[Sample] = []
        self._tail: Sample | None = None  # newest sample when it falls between strides
        self._stride = 1
        self._seen = 0
        self._first: Sample | None = None
        self._last: Sample | None = None
        self._cpu_sum, self._cpu_n, self._cpu_max = 0.0, 0, None
        self._rss_peak = 0
        self._threads_max = 0
        self._procs_max = 0
        self._gpu_mem_peak: int | None = None
        self._gpu_util_sum, self._gpu_util_n, self._gpu_util_max = 0.0, 0, None
        self._read: int | None = None
        self._write: int | None = None

    def __len__(self) -> int:
        return len(self._kept) + (self._tail is not None)

    def add(self, s: Sample) -> None:
        if self._seen % self._stride == 0:
            self._kept.append(s)
            self._tail = None
        else:
            self._tail = s
        self._seen += 1
        while len(self) > self.max_samples:
            newest = self._tail or self._kept[-1]
            self._kept = self._kept[::2]
            self._stride *= 2
            if self._tail is None and self._kept[-1] is not newest:  # it fell between the new strides
                self._tail = newest
        self._summarise(s)

    def _summarise(self, s: Sample) -> None:
        if self._first is None:
            self._first = s
        self._last = s
        if s.cpu_percent is not None:
            self._cpu_sum += s.cpu_percent
            self._cpu_n += 1
            self._cpu_max = s.cpu_percent if self._cpu_max is None else max(self._cpu_max, s.cpu_percent)
        self._rss_peak = max(self._rss_peak, s.rss_bytes)
        self._threads_max = max(self._threads_max, s.threads)
        self._procs_max = max(self._procs_max, s.procs)
        if s.read_bytes is not None:
            self._read = max(self._read or 0, s.read_bytes)
        if s.write_bytes is not None:
            self._write = max(self._write or 0, s.write_bytes)
        if s.gpu_memory_bytes is not None:
            self._gpu_mem_peak = max(self._gpu_mem_peak or 0, s.gpu_memory_bytes)
        if s.gpu_util_percent is not None:
            self._gpu_util_sum += s.gpu_util_percent
            self._gpu_util_n += 1
            self._gpu_util_max = (s.gpu_util_percent if self._gpu_util_max is None
                                  else max(self._gpu_util_max, s.gpu_util_percent))

    def samples(self) -> list[Sample]:
        """The kept samples, oldest first (at most max_samples; first and newest always in)."""
        return [*self._kept, self._tail] if self._tail is not None else list(self._kept)

    def summary(self) -> dict[str, Any]:
        """JSON-able summary over every sample added.

        read_bytes / write_bytes are the tree's cumulative counts at the last sample
        (the counters start with each process, so that is the step's total so far).
        """
        first, last = self._first, self._last
        return {
            "samples": self._seen,
            "first_ts": first.ts if first else None,
            "last_ts": last.ts if last else None,
            "duration": (last.ts - first.ts) if first and last else 0.0,
            "cpu_percent_mean": round(self._cpu_sum / self._cpu_n, 2) if self._cpu_n else None,
            "cpu_percent_max": round(self._cpu_max, 2) if self._cpu_max is not None else None,
            "rss_peak_bytes": self._rss_peak,
            "read_bytes": self._read,
            "write_bytes": self._write,
            "threads_max": self._threads_max,
            "procs_max": self._procs_max,
            "gpu_memory_peak_bytes": self._gpu_mem_peak,
            "gpu_util_percent_mean": (round(self._gpu_util_sum / self._gpu_util_n, 2)
                                      if self._gpu_util_n else None),
            "gpu_util_percent_max": self._gpu_util_max,
        }


# -- task metrics -------------------------------------------------------------


def aggregate(step_summaries: Iterable[dict[str, Any]], *, duration: float, retries: int, errors: int,
              quality_score: float | None) -> dict[str, Any]:
    """The seed's TaskMetrics from the steps' `SeriesBuffer.summary()` dicts.

    - duration: the task's wall seconds, as given.
    - cpu_usage_percent: the steps' mean CPU (% of one core) weighted by each step's
      duration (a summary's "duration" key; the engine may overwrite it with the
      step's real run time); steps without CPU figures are left out; None if none.
    - memory_usage_mb: the largest peak RSS of any one step, in MiB (not the sum of
      steps that overlapped).
    - network_bytes: always None — per-process network counters do not exist without
      root privileges or eBPF (psutil has only system-wide ones), so we do not guess.
    - storage_bytes: read + write bytes summed over the steps; None if no step had I/O counters.
    - gpu_memory_mb: the largest peak GPU memory of any step; None without NVML.
    - model_calls: the sum of the steps' "model_calls" keys (0 for now).
    - quality_score, error_count, retry_count: as given.
    """
    steps = list(step_summaries)
    weighted, weight, plain = 0.0, 0.0, []
    for s in steps:
        cpu = s.get("cpu_percent_mean")
        if cpu is None:
            continue
        plain.append(cpu)
        w = float(s.get("duration") or 0.0)
        weighted += cpu * w
        weight += w
    cpu_usage = weighted / weight if weight > 0 else (sum(plain) / len(plain) if plain else None)
    rss = [s["rss_peak_bytes"] for s in steps if s.get("rss_peak_bytes")]
    io = [int(s.get("read_bytes") or 0) + int(s.get("write_bytes") or 0) for s in steps
          if s.get("read_bytes") is not None or s.get("write_bytes") is not None]
    gpu = [s["gpu_memory_peak_bytes"] for s in steps if s.get("gpu_memory_peak_bytes") is not None]
    return {
        "duration": float(duration),
        "cpu_usage_percent": round(cpu_usage, 2) if cpu_usage is not None else None,
        "memory_usage_mb": round(max(rss) / 2**20, 1) if rss else None,
        "network_bytes": None,
        "storage_bytes": sum(io) if io else None,
        "gpu_memory_mb": round(max(gpu) / 2**20, 1) if gpu else None,
        "model_calls": sum(int(s.get("model_calls") or 0) for s in steps),
        "quality_score": quality_score,
        "error_count": int(errors),
        "retry_count": int(retries),
    }
