"""Plan files: parse_plan / load_plan validation, one clear line per problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent_agency_cli.errors import EXIT_BAD_INPUT, BadInputError, PlanError
from agent_agency_cli.planning.plan_file import PLAN_KEYS, STEP_KEYS, load_plan, parse_plan

WriteFile = Callable[[str, str], Path]


def step(name: str = "a", **kw: Any) -> dict[str, Any]:
    if "python" not in kw and "run" not in kw:
        kw["run"] = "true"
    return {"name": name, **kw}


def plan_error(data: Any) -> str:
    with pytest.raises(PlanError) as info:
        parse_plan(data)
    return str(info.value)


# -- a valid plan -------------------------------------------------------------------


def test_minimal_plan() -> None:
    plan = parse_plan({"steps": [step("a")]})
    assert [s.name for s in plan.steps] == ["a"]
    s = plan.steps[0]
    assert s.run == "true"
    assert s.kind == "shell"
    assert s.needs == []
    assert s.timeout is None
    assert s.estimate is None
    assert s.retries.attempts == 0
    assert s.idempotent is False
    assert plan.name is None
    assert plan.concurrency is None


def test_full_step_fields_are_parsed() -> None:
    plan = parse_plan(
        {
            "name": "build",
            "description": "Build it",
            "concurrency": 2,
            "steps": [
                step("prep"),
                {
                    "name": "compile",
                    "description": "compile sources",
                    "run": ["make", "-j2"],
                    "needs": ["prep"],
                    "timeout": "5m",
                    "estimate": "1m30s",
                    "env": {"CC": "gcc"},
                    "workdir": "src",
                    "idempotent": True,
                    "retries": 2,
                },
                {"name": "report", "python": "steps.report:run", "needs": "compile"},
            ],
        },
        source="/x/plan.yaml",
        base_dir="/x",
    )
    assert (plan.name, plan.description, plan.concurrency) == ("build", "Build it", 2)
    assert (plan.source, plan.base_dir) == ("/x/plan.yaml", "/x")
    c = plan.steps[1]
    assert c.run == ["make", "-j2"]
    assert c.timeout == 300.0
    assert c.estimate == 90.0
    assert c.env == {"CC": "gcc"}
    assert c.workdir == "src"
    assert c.idempotent is True
    assert c.retries.attempts == 2
    r = plan.steps[2]
    assert r.kind == "python"
    assert r.python == "steps.report:run"
    assert r.needs == ["compile"]  # a single string becomes a list
    assert plan.execution.parallel_groups == [["prep"], ["compile"], ["report"]]


def test_a_bare_list_is_a_plan_of_steps() -> None:
    plan = parse_plan([step("a"), step("b", needs=["a"])])
    assert [s.name for s in plan.steps] == ["a", "b"]


def test_needs_as_a_string() -> None:
    plan = parse_plan({"steps": [step("a"), step("b", needs="a")]})
    assert plan.steps[1].needs == ["a"]
    assert plan.execution.dependencies == {"b": ["a"]}


@pytest.mark.parametrize("name", ["a", "A1", "build-and-test", "v1.2_x", "9lives", "x" * 100])
def test_good_step_names(name: str) -> None:
    assert parse_plan({"steps": [step(name)]}).steps[0].name == name


# -- top level -------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_close_match() -> None:
    msg = plan_error({"stesp": [step()], "steps": [step()]})
    assert "unknown top-level key 'stesp'" in msg
    assert "did you mean 'steps'?" in msg


def test_unknown_top_level_key_without_a_close_match_lists_allowed() -> None:
    msg = plan_error({"title": "x", "steps": [step()]})
    assert "unknown top-level key 'title'" in msg
    for key in PLAN_KEYS:
        assert key in msg


@pytest.mark.parametrize("data", [{}, {"steps": []}, {"steps": None}, [], {"name": "x"}])
def test_empty_plan(data: Any) -> None:
    assert "no steps" in plan_error(data)


@pytest.mark.parametrize("data", [None, "steps", 42])
def test_plan_must_be_a_mapping(data: Any) -> None:
    assert "must be a mapping" in plan_error(data)


@pytest.mark.parametrize("steps", [{"a": {"run": "true"}}, "a, b", 5])
def test_steps_not_a_list(steps: Any) -> None:
    assert "'steps' must be a list" in plan_error({"steps": steps})


@pytest.mark.parametrize("value", [0, -1, "4", 1.5, True])
def test_bad_concurrency(value: Any) -> None:
    msg = plan_error({"concurrency": value, "steps": [step()]})
    assert "'concurrency' must be a whole number" in msg
    assert repr(value) in msg


def test_good_concurrency() -> None:
    assert parse_plan({"concurrency": 1, "steps": [step()]}).concurrency == 1


@pytest.mark.parametrize("key", ["name", "description"])
def test_plan_name_and_description_must_be_text(key: str) -> None:
    assert f"'{key}' must be text" in plan_error({key: ["x"], "steps": [step()]})


# -- step keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("neds", "needs"),
        ("timout", "timeout"),
        ("estimte", "estimate"),
        ("pyhton", "python"),
        ("retry", "retries"),
        ("descripton", "description"),
    ],
)
def test_unknown_step_key_suggests_the_close_match(typo: str, meant: str) -> None:
    assert meant in STEP_KEYS
    msg = plan_error({"steps": [step("build", **{typo: "x"})]})
    assert msg == f"step 'build': unknown key {typo!r} (did you mean {meant!r}?)"


@pytest.mark.parametrize("key", ["comand", "command", "depends_on"])
def test_unknown_step_key_without_close_match_lists_the_real_keys(key: str) -> None:
    msg = plan_error({"steps": [step("build", **{key: "x"})]})
    assert f"step 'build': unknown key {key!r}" in msg
    assert "allowed:" in msg
    for real in STEP_KEYS:
        assert real in msg


def test_unknown_key_in_a_nameless_step_uses_its_position() -> None:
    msg = plan_error({"steps": [step("a"), {"run": "true", "neds": ["a"]}]})
    assert msg.startswith("step #2: unknown key 'neds'")


def test_missing_name() -> None:
    assert plan_error({"steps": [step("a"), {"run": "true"}]}) == "step #2: missing 'name'"


@pytest.mark.parametrize("raw", ["echo hi", ["echo", "hi"], 7, None])
def test_step_not_a_mapping(raw: Any) -> None:
    msg = plan_error({"steps": [step("a"), raw]})
    assert msg.startswith("step #2: must be a mapping")


def test_duplicate_names() -> None:
    msg = plan_error({"steps": [step("a"), step("b"), step("a")]})
    assert msg == "duplicate step name 'a'"


@pytest.mark.parametrize("name", ["", "has space", "-lead", ".hidden", "a/b", "x" * 101, "ünï", "a;b"])
def test_bad_step_names(name: str) -> None:
    msg = plan_error({"steps": [step(name)]})
    assert "bad name" in msg
    assert "letters, digits" in msg


def test_step_name_must_be_a_string() -> None:
    msg = plan_error({"steps": [{"name": 12, "run": "true"}]})
    assert msg.startswith("step #1: bad 'name'")


# -- run / python -------------------------------------------------------------------


def test_both_run_and_python() -> None:
    msg = plan_error({"steps": [{"name": "a", "run": "true", "python": "m:f"}]})
    assert msg == "step 'a': give exactly one of 'run' or 'python' or 'model' or 'tool' (got run, python)"


def test_neither_run_nor_python() -> None:
    msg = plan_error({"steps": [{"name": "a", "needs": []}]})
    assert "give exactly one of 'run'" in msg
    assert msg.startswith("step 'a'")


@pytest.mark.parametrize("run", ["", "   ", "\n"])
def test_empty_run_string(run: str) -> None:
    assert plan_error({"steps": [step("a", run=run)]}) == "step 'a': 'run' is empty"


@pytest.mark.parametrize("run", [[], ["echo", ""]])
def test_bad_run_argv(run: list[str]) -> None:
    assert "'run' as a list must be a non-empty argv" in plan_error({"steps": [step("a", run=run)]})


@pytest.mark.parametrize(
    "ref", ["mod.func", "mod:", ":func", "mod:func:x", "1mod:f", "mod:f-g", "mod func:f", "mod:1f"]
)
def test_bad_python_ref(ref: str) -> None:
    msg = plan_error({"steps": [{"name": "a", "python": ref}]})
    assert "'python' must look like 'module:function'" in msg
    assert repr(ref) in msg


@pytest.mark.parametrize("ref", ["steps:run", "pkg.sub.mod:main", "_m:_f"])
def test_good_python_ref(ref: str) -> None:
    assert parse_plan({"steps": [{"name": "a", "python": ref}]}).steps[0].python == ref


# -- durations, retries, types --------------------------------------------------------


@pytest.mark.parametrize("key", ["timeout", "estimate"])
@pytest.mark.parametrize("value", ["soon", "5x", "-1m", True])
def test_bad_durations(key: str, value: Any) -> None:
    msg = plan_error({"steps": [step("a", **{key: value})]})
    assert msg.startswith(f"step 'a': bad '{key}'")
    assert repr(value) in msg
    assert "bad duration" not in msg  # the prefix is not repeated


@pytest.mark.parametrize("key", ["timeout", "estimate"])
def test_negative_number_durations(key: str) -> None:
    msg = plan_error({"steps": [step("a", **{key: -5})]})
    assert msg == f"step 'a': bad '{key}': -5 is negative"


@pytest.mark.parametrize("value", [0, "0", "0s", "0ms"])
def test_timeout_zero(value: Any) -> None:
    assert plan_error({"steps": [step("a", timeout=value)]}) == ("step 'a': 'timeout' must be greater than zero")


def test_estimate_zero_is_fine() -> None:
    assert parse_plan({"steps": [step("a", estimate=0)]}).steps[0].estimate == 0.0


@pytest.mark.parametrize("value", [-1, 101, "many"])
def test_bad_retries(value: Any) -> None:
    assert plan_error({"steps": [step("a", retries=value)]}).startswith("step 'a': bad 'retries")


def test_env_values_must_be_strings() -> None:
    assert plan_error({"steps": [step("a", env={"N": 1})]}).startswith("step 'a': bad 'env.N'")


def test_needs_must_be_names() -> None:
    assert plan_error({"steps": [step("a", needs=[1])]}).startswith("step 'a': bad 'needs")


# -- graph errors via parse_plan ------------------------------------------------------


def test_unknown_dependency() -> None:
    msg = plan_error({"steps": [step("a"), step("b", needs=["a", "c"])]})
    assert msg == "step 'b' needs unknown step 'c'"


def test_two_step_cycle() -> None:
    msg = plan_error({"steps": [step("a", needs=["b"]), step("b", needs=["a"])]})
    assert "dependency cycle: a -> b -> a" in msg


def test_three_step_cycle() -> None:
    msg = plan_error({"steps": [step("a", needs=["c"]), step("b", needs=["a"]), step("c", needs=["b"])]})
    assert "dependency cycle: a -> c -> b -> a" in msg


def test_self_dependency() -> None:
    msg = plan_error({"steps": [step("x"), step("a", needs=["a"])]})
    assert "dependency cycle: a -> a" in msg


# -- load_plan -----------------------------------------------------------------------


def test_load_plan_from_file(write_file: WriteFile) -> None:
    path = write_file(
        "plans/p.yaml",
        """
        name: demo
        description: A demo
        steps:
          - name: a
            run: echo a
            estimate: 2s
          - name: b
            needs: a
            python: helpers:run
        """,
    )
    plan = load_plan(path)
    assert plan.name == "demo"
    assert plan.description == "A demo"
    assert plan.source == str(path.resolve())
    assert plan.base_dir == str(path.parent.resolve())
    assert plan.execution.critical_path == ["a", "b"]
    assert plan.execution.estimated_duration == 2.0


def test_load_plan_accepts_str_path(write_file: WriteFile) -> None:
    path = write_file("p.yaml", "steps:\n  - {name: a, run: 'true'}\n")
    assert load_plan(str(path)).steps[0].name == "a"


def test_load_plan_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"plan file .*nope\.yaml not found"):
        load_plan(tmp_path / "nope.yaml")


def test_load_plan_directory(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="is not a file"):
        load_plan(tmp_path)


def test_load_plan_invalid_yaml_names_the_line(write_file: WriteFile) -> None:
    path = write_file(
        "p.yaml",
        """\
        steps:
          - name: a
            run: echo a
          - name: b
            run: [echo, b
            needs: a
        """,
    )
    with pytest.raises(PlanError) as info:
        load_plan(path)
    msg = str(info.value)
    # The flow sequence opened on line 5 is broken on line 6.
    assert msg.startswith(f"plan {path}: invalid YAML at line 6, column ")
    assert "did not find expected" in msg  # the parser's own words follow


def test_load_plan_bad_indentation_line_and_column(write_file: WriteFile) -> None:
    path = write_file("p.yaml", "steps:\n  - name: a\n    run: x\n   bad: 1\n")
    with pytest.raises(PlanError, match=r"invalid YAML at line 4, column \d+"):
        load_plan(path)


def test_load_plan_prefixes_validation_errors_with_the_file(write_file: WriteFile) -> None:
    path = write_file("p.yaml", "steps:\n  - name: a\n    comand: x\n")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert str(info.value).startswith(f"plan {path}: step 'a': unknown key 'comand'")


def test_load_plan_cycle_in_file(write_file: WriteFile) -> None:
    path = write_file(
        "p.yaml",
        """
        steps:
          - {name: a, run: 'true', needs: b}
          - {name: b, run: 'true', needs: a}
        """,
    )
    with pytest.raises(PlanError, match="a -> b -> a"):
        load_plan(path)


def test_load_plan_empty_file(write_file: WriteFile) -> None:
    with pytest.raises(PlanError, match="must be a mapping"):
        load_plan(write_file("p.yaml", ""))


def test_load_plan_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"steps:\n  - name: \xff\xfe\n")
    with pytest.raises(PlanError, match="cannot read"):
        load_plan(path)


def test_plan_error_is_bad_input() -> None:
    with pytest.raises(BadInputError) as info:
        parse_plan({"steps": []})
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_a_plan_path_the_os_refuses_to_look_up_is_one_line() -> None:
    # issue 12 (hostile input): a 400-character file name made os.stat raise ENAMETOOLONG
    with pytest.raises(PlanError) as err:
        load_plan("9" * 400)
    message = str(err.value)
    assert "\n" not in message and "File name too long" in message and len(message) < 200
