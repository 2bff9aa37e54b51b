"""The Ray cluster as the head sees it: the connection, the nodes as workers, and the
node agents (one detached actor per node, named after the node, so a restarted daemon
finds the same agents and the processes they own).

Imported only with `execution.backend: ray`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from agent_agency_cli.errors import BadInputError, NotFoundError

log = logging.getLogger(__name__)

# Ray's own resources; every other resource of a node is a capability (`requires:`).
_BUILTIN = frozenset({"CPU", "GPU", "memory", "object_store_memory"})
_BASE_CAPABILITIES = ("cpu", "shell", "python")
AGENT_PREFIX = "agent-agency-node-"
REFRESH_INTERVAL = 2.0  # seconds between two looks at the cluster's nodes (node_pool)

_lock = threading.Lock()
_address: str | None = None
_namespace = "agent_agency"
_node_ids: dict[str, str] = {}  # worker id -> Ray node id
_agents: dict[str, Any] = {}  # Ray node id -> actor handle


class RayUnavailableError(NotFoundError):
    """No Ray cluster to connect to, or none of its nodes alive (exit 3)."""


def import_ray() -> Any:
    try:
        import ray  # lazy: the 'ray' extra
    except ImportError:
        raise BadInputError("the ray backend needs the 'ray' extra: pip install 'agent-agency-cli[ray]'") from None
    return ray


def connect(execution: Any, *, start: bool = False) -> Any:
    """Connect this process to the configured cluster once; returns the ray module.

    Without `ray_address`: the cluster `ray start --head` started on this machine; with
    `start` (the engine) a new local Ray instance when there is none, else an error."""
    global _address, _namespace
    ray = import_ray()
    with _lock:
        if ray.is_initialized():
            return ray
        _namespace = execution.ray_namespace
        kwargs: dict[str, Any] = dict(namespace=_namespace, log_to_driver=False, configure_logging=False)
        try:
            if execution.ray_address or not start:
                ctx = ray.init(address=execution.ray_address or "auto", **kwargs)
            else:
                ctx = ray.init(include_dashboard=False, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = execution.ray_address or "this machine"
            raise RayUnavailableError(
                f"cannot connect to the Ray cluster at {where}: {str(exc).splitlines()[0]} "
                "(start one with `ray start --head`, or fix execution.ray_address)") from None
        _address = ctx.address_info.get("gcs_address") or ctx.address_info.get("address")
        log.info("connected to Ray at %s (namespace %s)", _address, _namespace)
        return ray


def _alive_nodes() -> list[dict[str, Any]]:
    ray = import_ray()
    return [n for n in ray.nodes() if n.get("Alive")]


def worker_id(node_id: str) -> str:
    return f"ray-{node_id[:8]}"


def node_id_for(worker: str | None) -> str | None:
    """The Ray node id behind a worker id of node_workers() (None: unknown)."""
    if worker is None:
        return None
    if worker not in _node_ids:
        node_workers()
    return _node_ids.get(worker)


def _capabilities(resources: dict[str, float]) -> set[str]:
    caps = set(_BASE_CAPABILITIES)
    for name in resources:
        if name in _BUILTIN or name.startswith(("node:", "accelerator_type:")):
            continue
        caps.add(name.lower())
    if resources.get("GPU"):
        caps |= {"gpu", "cuda"}
    return caps


def node_workers() -> list[Any]:
    """The cluster's alive nodes as workers: capabilities are the node's custom resources
    (plus cpu, shell, python; gpu and cuda with GPUs); cpu, memory and GPUs its Ray totals."""
    from agent_agency_cli.workers import Worker  # lazy: keeps start-up light

    workers = []
    for n in _alive_nodes():
        res = n.get("Resources") or {}
        wid = worker_id(n["NodeID"])
        _node_ids[wid] = n["NodeID"]
        w = Worker(id=wid, capabilities=_capabilities(res), cpu_cores=int(res.get("CPU", 0)),
                   memory_mb=int(res.get("memory", 0)) // 2**20, gpus=int(res.get("GPU", 0)),
                   gpu_memory_mb=int(res.get("gpu_memory_mb", 0)))
        w.node_address = n.get("NodeManagerAddress")  # type: ignore[attr-defined]
        w.node_id = n["NodeID"]  # type: ignore[attr-defined]
        workers.append(w)
    if not workers:
        raise RayUnavailableError(f"the Ray cluster at {_address} has no alive node")
    return workers


def node_pool() -> Any:
    """A WorkerPool over the cluster's nodes that follows the cluster: nodes that joined are
    added and dead ones dropped (at most every REFRESH_INTERVAL seconds, when a step asks)."""
    from agent_agency_cli.workers import WorkerPool  # lazy: keeps start-up light

    class NodePool(WorkerPool):
        def __init__(self) -> None:
            super().__init__(node_workers())
            self._refreshed = time.monotonic()

        def refresh(self) -> None:
            self._refreshed = time.monotonic()
            try:
                current = {w.id: w for w in node_workers()}
            except Exception as exc:  # no alive node, or the GCS does not answer: keep what we have
                log.warning("reading the Ray nodes: %s", exc)
                return
            known = {w.id for w in self.workers}
            kept = [w for w in self.workers if w.id in current]
            gone = [w.id for w in self.workers if w.id not in current]
            new = [w for wid, w in current.items() if wid not in known]
            if gone or new:
                log.info("Ray nodes: %s joined, %s gone", [w.id for w in new] or "none", gone or "none")
                # A gone node's running steps fail on their own (their agent died); what
                # they hold is released as they end.
                self.workers = kept + new

        def acquire(self, key: str, needs: Any) -> Any:
            if time.monotonic() - self._refreshed > REFRESH_INTERVAL:
                self.refresh()
            return super().acquire(key, needs)

    return NodePool()


def cluster_info() -> dict[str, Any]:
    """{backend: ray, address, nodes, cpus, gpus} of the connected cluster."""
    nodes = _alive_nodes()
    return {"backend": "ray", "address": _address, "nodes": len(nodes),
            "cpus": sum((n.get("Resources") or {}).get("CPU", 0) for n in nodes),
            "gpus": sum((n.get("Resources") or {}).get("GPU", 0) for n in nodes)}


# -- node agents ----------------------------------------------------------------


def _agent_class() -> Any:
    ray = import_ray()
    from agent_agency_cli.backends.ray_agent import NodeAgent  # lazy: keeps start-up light

    return ray.remote(NodeAgent)


def agent_sync(node_id: str, *, create: bool = True) -> Any:
    """The node's agent actor (created, pinned to the node, if it does not exist yet)."""
    ray = import_ray()
    agent = _agents.get(node_id)
    if agent is not None:
        return agent
    name = AGENT_PREFIX + node_id
    if not create:
        try:
            return ray.get_actor(name, namespace=_namespace)
        except ValueError:
            return None
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # lazy: the 'ray' extra

    agent = _agent_class().options(
        name=name, namespace=_namespace, lifetime="detached", get_if_exists=True, num_cpus=0,
        max_concurrency=10_000, max_restarts=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
    ).remote()
    ray.get(agent.ping.remote(), timeout=120)
    _agents[node_id] = agent
    return agent


async def agent_for(node_id: str) -> Any:
    """agent_sync() without blocking the event loop when the agent must be created."""
    agent = _agents.get(node_id)
    if agent is not None:
        return agent
    import anyio  # lazy: keeps start-up light

    return await anyio.to_thread.run_sync(agent_sync, node_id)


def forget_agent(node_id: str) -> None:
    """Drop a dead agent's handle: the next attempt on that node creates a new one."""
    _agents.pop(node_id, None)


def head_node_id() -> str:
    return import_ray().get_runtime_context().get_node_id()


def kill_step_everywhere(task_id: str, step: str, attempt: int = 0) -> int:
    """Kill every process of a step on every alive node (by the agents' records and the
    AGENT_AGENCY_TASK_ID / AGENT_AGENCY_STEP markers), and fence its attempts up to
    `attempt` off (a call of a dead engine still on its way cannot start them later);
    returns how many processes were killed."""
    ray = import_ray()
    refs = []
    for n in _alive_nodes():
        try:
            agent = agent_sync(n["NodeID"])  # a node without an agent yet gets one: it scans for markers
        except Exception as exc:
            log.warning("no agent on Ray node %s: %s", n["NodeID"][:8], exc)
            agent = None
        if agent is not None:
            refs.append(agent.kill_step.remote(task_id, step, attempt))
    killed = 0
    for ref in refs:
        try:
            killed += ray.get(ref, timeout=30)
        except Exception as exc:  # a dead node's processes died with it
            log.warning("killing %s/%s on a Ray node: %s", task_id, step, exc)
    return killed
