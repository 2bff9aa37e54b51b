"""DAG analysis in O(steps + edges): topological levels (parallel groups),
cycle reporting, critical path and the remaining-time estimate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agent_agency_cli.errors import PlanError


@dataclass(frozen=True)
class ExecutionPlan:
    """The seed's ExecutionPlan, by step name."""

    steps: list[str]
    dependencies: dict[str, list[str]]
    parallel_groups: list[list[str]]
    critical_path: list[str]
    estimated_duration: float
    order: list[int] = field(repr=False, default_factory=list)
    estimates: list[float | None] = field(repr=False, default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "parallel_groups": self.parallel_groups,
            "critical_path": self.critical_path,
            "estimated_duration": self.estimated_duration,
        }


def _find_cycle(names: Sequence[str], preds: Sequence[Sequence[int]], left: set[int]) -> list[str]:
    """A cycle among the nodes Kahn could not order, following 'needs' edges."""
    start = min(left)
    seen_at: dict[int, int] = {}
    path: list[int] = []
    node = start
    while node not in seen_at:
        seen_at[node] = len(path)
        path.append(node)
        # Every remaining node has at least one remaining predecessor.
        node = next(p for p in preds[node] if p in left)
    cycle = [*path[seen_at[node] :], node]
    return [names[i] for i in cycle]


def topological_levels(
    names: Sequence[str], preds: Sequence[Sequence[int]]
) -> tuple[list[list[int]], list[int]]:
    """Kahn's algorithm by levels. Returns (levels, topological order); PlanError on a cycle."""
    n = len(names)
    indeg = [len(p) for p in preds]
    succs: list[list[int]] = [[] for _ in range(n)]
    for i, ps in enumerate(preds):
        for p in ps:
            succs[p].append(i)
    level = [i for i in range(n) if indeg[i] == 0]
    levels: list[list[int]] = []
    order: list[int] = []
    while level:
        levels.append(level)
        order.extend(level)
        nxt: list[int] = []
        for i in level:
            for s in succs[i]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    nxt.append(s)
        level = nxt
    if len(order) != n:
        left = set(range(n)) - set(order)
        cycle = _find_cycle(names, preds, left)
        raise PlanError(f"dependency cycle: {' -> '.join(cycle)} (each step needs the next)")
    return levels, order


def longest_path(
    order: Sequence[int], preds: Sequence[Sequence[int]], weights: Sequence[float]
) -> tuple[float, list[int]]:
    """Heaviest path through the DAG (ties broken by more steps); returns (total, path)."""
    n = len(weights)
    best: list[tuple[float, int]] = [(0.0, 0)] * n
    via: list[int] = [-1] * n
    for i in order:
        top = (0.0, 0)
        arg = -1
        for p in preds[i]:
            if best[p] > top:
                top, arg = best[p], p
        best[i] = (top[0] + weights[i], top[1] + 1)
        via[i] = arg
    if n == 0:
        return 0.0, []
    end = max(range(n), key=best.__getitem__)
    path = []
    node = end
    while node != -1:
        path.append(node)
        node = via[node]
    path.reverse()
    return best[end][0], path


def analyze(
    names: Sequence[str], needs: Sequence[Sequence[str]], estimates: Sequence[float | None]
) -> ExecutionPlan:
    """Validate the graph (unknown deps, cycles) and compute the execution plan."""
    index = {name: i for i, name in enumerate(names)}
    preds: list[list[int]] = []
    for name, deps in zip(names, needs, strict=True):
        ps = []
        for d in deps:
            j = index.get(d)
            if j is None:
                raise PlanError(f"step {name!r} needs unknown step {d!r}")
            ps.append(j)
        preds.append(ps)
    levels, order = topological_levels(names, preds)
    total, path = longest_path(order, preds, [e or 0.0 for e in estimates])
    return ExecutionPlan(
        steps=list(names),
        dependencies={n: list(d) for n, d in zip(names, needs, strict=True) if d},
        parallel_groups=[[names[i] for i in lvl] for lvl in levels],
        critical_path=[names[i] for i in path],
        estimated_duration=total,
        order=order,
        estimates=list(estimates),
    )
