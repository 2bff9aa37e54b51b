"""Execution backends: where a step attempt's process runs.

`local` (the default) runs shell steps on this machine. `ray` runs them on the nodes
of a Ray cluster (`backends.ray`: the handle on the head, `backends.ray_agent`: the
actor on each node that owns the processes, `backends.ray_cluster`: connection, nodes
and agents). The SQLite control plane, the daemon, the CLI and the TUI stay on the head.

This module imports no Ray: it only dispatches on the configured backend, so the local
backend (and `--help`) never pays for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent_agency_cli.rows import StepSpec

# Step kinds that run on the Ray nodes. Python callables (and model/tool calls, which are
# network I/O to their endpoints) stay on the head: a callable gets a live context
# (progress, checkpoint, logger) that cannot be shipped to another machine.
REMOTE_KINDS = frozenset({"shell"})


def backend_name(settings: Any) -> str:
    return settings.execution.backend


def check_available(settings: Any) -> None:
    """Raise BadInputError (one line naming the extra) when the configured backend's
    library is not installed; cheap: nothing is imported."""
    if settings.execution.backend != "ray":
        return
    import importlib.util  # lazy: keeps start-up light

    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a broken install, or `ray` blocked in sys.modules
        found = False
    if not found:
        from agent_agency_cli.errors import BadInputError  # lazy: keeps start-up light

        raise BadInputError("the ray backend needs the 'ray' extra: pip install 'agent-agency-cli[ray]'")


def runs_remotely(settings: Any, spec: StepSpec | Mapping[str, Any]) -> bool:
    """Whether this step spec's attempts run on the Ray cluster."""
    if settings.execution.backend != "ray":
        return False
    from agent_agency_cli.executors.registry import kind_of  # lazy: keeps start-up light

    return kind_of(spec) in REMOTE_KINDS


def worker_pool(settings: Any, *, start: bool = False) -> Any:
    """The WorkerPool steps are placed on: the configured workers (or this machine), or
    with the ray backend the cluster's alive nodes (connecting to it; `start`: the engine
    may start a local Ray instance when no `ray_address` is configured and none runs)."""
    from agent_agency_cli.workers import WorkerPool, workers_from_config  # lazy: keeps start-up light

    if settings.execution.backend == "ray":
        from agent_agency_cli.backends import ray_cluster  # lazy: keeps start-up light

        ray_cluster.connect(settings.execution, start=start)
        return ray_cluster.node_pool()
    return WorkerPool(workers_from_config(settings.workers))


def backend_info(settings: Any, *, start: bool = False) -> dict[str, Any]:
    """Which backend runs and the cluster's size: {backend, address, nodes, cpus, gpus}."""
    if settings.execution.backend == "ray":
        from agent_agency_cli.backends import ray_cluster  # lazy: keeps start-up light

        ray_cluster.connect(settings.execution, start=start)
        return ray_cluster.cluster_info()
    from agent_agency_cli.workers import workers_from_config  # lazy: keeps start-up light

    workers = workers_from_config(settings.workers)
    return {"backend": "local", "address": None, "nodes": len(workers),
            "cpus": sum(w.cpu_cores for w in workers), "gpus": sum(w.gpus for w in workers)}


def remote_step_killer(settings: Any) -> Any:
    """For crash recovery: a function (task_id, step) -> processes killed on the cluster's
    nodes, or None with the local backend (local recovery finds the processes itself)."""
    if settings.execution.backend != "ray":
        return None
    from agent_agency_cli.backends import ray_cluster  # lazy: keeps start-up light

    return ray_cluster.kill_step_everywhere


def annotate(settings: Any, pool: Any, snapshot: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`workers list` entries with the backend, and a Ray node's id and address."""
    by_id = {w.id: w for w in pool.workers}
    for entry in snapshot:
        w = by_id[entry["id"]]
        entry["backend"] = settings.execution.backend
        if settings.execution.backend == "ray":
            entry["node_id"] = getattr(w, "node_id", None)
            entry["address"] = getattr(w, "node_address", None)
    return snapshot


def describe(info: dict[str, Any]) -> str:
    """One line for people: "ray at HOST:PORT: 2 nodes, 3 CPUs, 0 GPUs" (local: "1 worker")."""
    where = f" at {info['address']}" if info.get("address") else ""
    nodes = info.get("nodes", 0)
    noun = "node" if info.get("backend") == "ray" else "worker"
    return (f"{info.get('backend', 'local')}{where}: {nodes} {noun}{'s' if nodes != 1 else ''}, "
            f"{info.get('cpus', 0):g} CPUs, {info.get('gpus', 0):g} GPUs")
