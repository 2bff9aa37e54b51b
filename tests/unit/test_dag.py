"""DAG analysis: parallel groups, cycles, critical path, estimates, large plans."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from agent_agency_cli.errors import PlanError
from agent_agency_cli.planning.dag import analyze, longest_path, topological_levels
from agent_agency_cli.planning.plan_file import parse_plan


def s(name: str, needs: list[str] | None = None, estimate: Any = None) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "run": "true"}
    if needs:
        d["needs"] = needs
    if estimate is not None:
        d["estimate"] = estimate
    return d


def diamond(**est: Any) -> list[dict[str, Any]]:
    return [
        s("a", estimate=est.get("a")),
        s("b", ["a"], est.get("b")),
        s("c", ["a"], est.get("c")),
        s("d", ["b", "c"], est.get("d")),
    ]


# -- parallel groups ------------------------------------------------------------------


def test_diamond_parallel_groups() -> None:
    ex = parse_plan(diamond()).execution
    assert ex.parallel_groups == [["a"], ["b", "c"], ["d"]]
    assert ex.steps == ["a", "b", "c", "d"]
    assert ex.dependencies == {"b": ["a"], "c": ["a"], "d": ["b", "c"]}


def test_wide_fan_out_and_fan_in() -> None:
    leaves = [f"leaf{i:02d}" for i in range(50)]
    steps = [s("root"), *(s(n, ["root"]) for n in leaves), s("sink", leaves)]
    ex = parse_plan(steps).execution
    assert ex.parallel_groups == [["root"], leaves, ["sink"]]


def test_independent_steps_share_the_first_group() -> None:
    ex = parse_plan([s("a"), s("b", ["a"]), s("c"), s("d", ["b"])]).execution
    assert ex.parallel_groups == [["a", "c"], ["b"], ["d"]]


def test_level_is_the_longest_chain_above_a_step() -> None:
    # d needs a (level 0) and c (level 2): it must wait for the later one.
    ex = parse_plan([s("a"), s("b", ["a"]), s("c", ["b"]), s("d", ["a", "c"])]).execution
    assert ex.parallel_groups == [["a"], ["b"], ["c"], ["d"]]


def test_groups_ignore_file_order() -> None:
    # A step listed before the step it needs still lands after it.
    ex = parse_plan([s("late", ["early"]), s("early")]).execution
    assert ex.parallel_groups == [["early"], ["late"]]
    assert [ex.steps[i] for i in ex.order] == ["early", "late"]


def test_every_step_is_in_exactly_one_group_after_its_needs() -> None:
    steps = [s("a"), s("b", ["a"]), s("c", ["a"]), s("e", ["c"]), s("d", ["b", "e"]), s("f")]
    ex = parse_plan(steps).execution
    level = {name: i for i, group in enumerate(ex.parallel_groups) for name in group}
    assert sorted(level) == sorted(x["name"] for x in steps)
    assert sum(len(g) for g in ex.parallel_groups) == len(steps)
    for st in steps:
        for dep in st.get("needs", []):
            assert level[dep] < level[st["name"]]


def test_duplicate_need_is_harmless() -> None:
    ex = parse_plan([s("a"), s("b", ["a", "a"])]).execution
    assert ex.parallel_groups == [["a"], ["b"]]


# -- cycles ---------------------------------------------------------------------------


def test_cycle_message_shows_the_path() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan([s("a", ["b"]), s("b", ["a"])])
    assert str(info.value) == "dependency cycle: a -> b -> a (each step needs the next)"


def test_three_cycle_path_follows_needs() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan([s("x", ["z"]), s("y", ["x"]), s("z", ["y"])])
    # x needs z, z needs y, y needs x.
    assert "dependency cycle: x -> z -> y -> x" in str(info.value)


def test_cycle_behind_an_acyclic_tail_reports_only_the_cycle() -> None:
    # `tail` is stuck behind the cycle but is not part of it.
    with pytest.raises(PlanError) as info:
        parse_plan([s("tail", ["p"]), s("start"), s("p", ["q", "start"]), s("q", ["p"])])
    msg = str(info.value)
    assert "p -> q -> p" in msg
    assert "tail" not in msg
    assert "start" not in msg


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(PlanError, match=r"dependency cycle: a -> a \("):
        parse_plan([s("a", ["a"])])


def test_every_reported_cycle_edge_is_a_real_need() -> None:
    steps = [s("n0", ["n4"]), *(s(f"n{i}", [f"n{i - 1}"]) for i in range(1, 5)), s("ok")]
    with pytest.raises(PlanError) as info:
        parse_plan(steps)
    path = str(info.value).removeprefix("dependency cycle: ").split(" (")[0].split(" -> ")
    assert path[0] == path[-1]
    assert len(path) == 6
    needs = {x["name"]: set(x.get("needs", [])) for x in steps}
    for a, b in itertools.pairwise(path):
        assert b in needs[a], f"{a} does not need {b}"


def test_unknown_dependency_from_analyze() -> None:
    with pytest.raises(PlanError, match="step 'b' needs unknown step 'zz'"):
        analyze(["a", "b"], [[], ["zz"]], [None, None])


# -- critical path and estimate -------------------------------------------------------


def test_heaviest_path_wins() -> None:
    ex = parse_plan(diamond(a=1, b=5, c=2, d=1)).execution
    assert ex.critical_path == ["a", "b", "d"]
    assert ex.estimated_duration == pytest.approx(7.0)
    ex = parse_plan(diamond(a=1, b=2, c=5, d=1)).execution
    assert ex.critical_path == ["a", "c", "d"]
    assert ex.estimated_duration == pytest.approx(7.0)


def test_estimates_in_units() -> None:
    ex = parse_plan([s("a", estimate="1m"), s("b", ["a"], "30s"), s("c", estimate="2m")]).execution
    assert ex.critical_path == ["c"]
    assert ex.estimated_duration == 120.0


def test_heavy_single_step_beats_a_long_light_chain() -> None:
    steps = [s("big", estimate=100), s("c1", estimate=1), s("c2", ["c1"], 1), s("c3", ["c2"], 1)]
    ex = parse_plan(steps).execution
    assert ex.critical_path == ["big"]
    assert ex.estimated_duration == 100.0


def test_ties_are_broken_by_more_steps() -> None:
    # Both paths weigh 3 s; the one with more steps is the critical path.
    steps = [s("solo", estimate=3), s("y", estimate=1), s("z", ["y"], 2)]
    ex = parse_plan(steps).execution
    assert ex.critical_path == ["y", "z"]
    assert ex.estimated_duration == 3.0
    # Same graph, other file order: same answer.
    ex = parse_plan([steps[1], steps[2], steps[0]]).execution
    assert ex.critical_path == ["y", "z"]


def test_zero_estimate_step_on_the_path_still_counts_as_a_step() -> None:
    steps = [s("a", estimate=2), s("b", ["a"], 0), s("c", estimate=2)]
    ex = parse_plan(steps).execution
    assert ex.critical_path == ["a", "b"]
    assert ex.estimated_duration == 2.0


def test_no_estimates_gives_zero_and_the_longest_chain() -> None:
    ex = parse_plan([s("a"), s("b", ["a"]), s("c", ["b"]), s("x"), s("y", ["x"])]).execution
    assert ex.estimated_duration == 0.0
    assert ex.critical_path == ["a", "b", "c"]


def test_missing_estimates_count_as_zero() -> None:
    ex = parse_plan(diamond(a=1, c=4)).execution
    assert ex.estimated_duration == 5.0
    assert ex.critical_path == ["a", "c", "d"]


def test_to_json_has_the_plan_summary() -> None:
    ex = parse_plan(diamond(a=1, b=5, c=2, d=1)).execution
    assert ex.to_json() == {
        "parallel_groups": [["a"], ["b", "c"], ["d"]],
        "critical_path": ["a", "b", "d"],
        "estimated_duration": 7.0,
    }


# -- the low-level helpers -------------------------------------------------------------


def test_topological_levels_and_order() -> None:
    levels, order = topological_levels(["a", "b", "c"], [[1], [], [0, 1]])
    assert levels == [[1], [0], [2]]
    assert order == [1, 0, 2]


def test_longest_path_on_remaining_weights() -> None:
    # The ETA uses this with finished steps weighted 0.
    preds = [[], [0], [0], [1, 2]]
    total, path = longest_path([0, 1, 2, 3], preds, [0.0, 3.0, 4.0, 1.0])
    assert (total, path) == (5.0, [0, 2, 3])


def test_longest_path_empty() -> None:
    assert longest_path([], [], []) == (0.0, [])


# -- large plans (no recursion, linear work) -------------------------------------------


N = 10_000


def test_ten_thousand_step_chain() -> None:
    steps = [s("s0", estimate=1)] + [s(f"s{i}", [f"s{i - 1}"], 1) for i in range(1, N)]
    ex = parse_plan(steps).execution
    assert len(ex.parallel_groups) == N
    assert ex.parallel_groups[0] == ["s0"]
    assert ex.parallel_groups[-1] == [f"s{N - 1}"]
    assert len(ex.critical_path) == N
    assert ex.critical_path[0] == "s0"
    assert ex.critical_path[-1] == f"s{N - 1}"
    assert ex.estimated_duration == float(N)


def test_ten_thousand_step_wide_plan() -> None:
    steps = [s("root"), *(s(f"w{i}", ["root"], (i % 7) + 1) for i in range(N - 2))]
    steps.append(s("sink", [f"w{i}" for i in range(N - 2)]))
    ex = parse_plan(steps).execution
    assert len(ex.parallel_groups) == 3
    assert len(ex.parallel_groups[1]) == N - 2
    assert ex.parallel_groups[2] == ["sink"]
    assert ex.estimated_duration == 7.0
    assert ex.critical_path[0] == "root"
    assert ex.critical_path[-1] == "sink"
    assert ex.critical_path[1] == "w6"  # first of the heaviest (7 s) middle steps


def test_ten_thousand_step_cycle_is_reported() -> None:
    steps = [s("s0", [f"s{N - 1}"])] + [s(f"s{i}", [f"s{i - 1}"]) for i in range(1, N)]
    with pytest.raises(PlanError) as info:
        parse_plan(steps)
    msg = str(info.value)
    assert msg.startswith(f"dependency cycle: s0 -> s{N - 1} -> s{N - 2} -> ")
    assert msg.count(" -> ") == N
