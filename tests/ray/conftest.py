"""One Ray cluster for the Ray tests (one module, one xdist worker): two nodes of different resources on this
machine (ray.cluster_utils.Cluster): the head with 2 CPUs and the custom resource `ssd`,
a second node with 1 CPU and `fpga`. The test process connects to it as a driver; each
test's daemon connects through `execution.ray_address`, never starting its own Ray.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# ray is imported by the fixtures and helpers that use it, never at module level: every xdist
# worker loads this conftest at collection, and `import ray` costs each of them ~0.3 s.
# Without the `ray` extra, test_ray_backend.py skips itself.

OBJECT_STORE = 100 * 1024 * 1024


# Module scope (the Ray tests are one module, run on one worker): the cluster's dozen
# processes stop when the last Ray test ends, not with the worker's session (idle, they
# still use ~4 % of a core for the rest of the run).
@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "resources": {"ssd": 1}, "include_dashboard": False,
        "object_store_memory": OBJECT_STORE})
    cluster.add_node(num_cpus=1, resources={"fpga": 1}, object_store_memory=OBJECT_STORE)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="agent_agency", log_to_driver=False,
             configure_logging=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture
def ray_home(home: Path, ray_cluster: Any) -> Path:
    """The test's data home, configured as examples/ray-config.yaml says, with the session
    cluster's address (never "auto": the daemon must reach exactly this cluster)."""
    import yaml

    from tests.conftest import EXAMPLES

    config = yaml.safe_load((EXAMPLES / "ray-config.yaml").read_text())
    config["execution"]["ray_address"] = ray_cluster.address
    config["task_execution"] = {"cancel_grace_period": "2s", "monitoring": {"metrics_interval": "200ms"}}
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    return home


def node_of(capability: str) -> str:
    """The Ray node id of the node that has this custom resource."""
    import ray

    for n in ray.nodes():
        if n["Alive"] and capability in (n.get("Resources") or {}):
            return n["NodeID"]
    raise AssertionError(f"no node has {capability}")
