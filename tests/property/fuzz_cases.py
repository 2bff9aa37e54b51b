"""The hypothesis strategies and @given checks of test_fuzz_inputs.py.

They live here, imported inside each test, so that hypothesis (~0.5 s of imports) is loaded
only by the xdist worker that runs a property test, not by every worker at collection.
Each check takes the test's fixtures as plain arguments; its inner @given function closes
over them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from agent_agency_cli.errors import AgencyError
from agent_agency_cli.orchestrator import TaskOrchestrator
from agent_agency_cli.planning.plan_file import STEP_KEYS, parse_plan

# Values that broke the first version: huge and odd numbers, NUL bytes, odd units.
nasty_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "\x00", "a\x00b", "1e3", "9" * 400, "-1", "inf", "nan", "NaN", "1d",
                     "10000000000000d", "512k", "2G", "0", "true", "../../etc/passwd", "$(rm -rf /)",
                     "module:function", "x:y", "a", "b", "s0", "\u202e", "é" * 5]),
)
numbers = st.one_of(st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
                    st.floats(allow_nan=True, allow_infinity=True), st.booleans())
scalars = st.one_of(st.none(), nasty_text, numbers)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(nasty_text, inner, max_size=3)),
                      max_leaves=6)
step_keys = st.one_of(st.sampled_from(STEP_KEYS), nasty_text)


@st.composite
def steps(draw: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"name": draw(st.one_of(st.sampled_from(["a", "b", "s0", "build"]), nasty_text))}
    if draw(st.booleans()):
        step["run"] = draw(st.one_of(st.just("true"), nasty_text, st.lists(nasty_text, max_size=3)))
    step.update(draw(st.dictionaries(step_keys, values, max_size=4)))
    return step


plans = st.one_of(
    st.fixed_dictionaries({"steps": st.lists(steps(), min_size=0, max_size=4)},
                          optional={"concurrency": numbers, "name": scalars, "description": scalars}),
    values,
)


options = st.lists(st.one_of(
    st.tuples(st.sampled_from(["--deadline", "--concurrency", "--priority", "--mode", "--complexity",
                               "--workdir", "--description", "--requirements"]), nasty_text),
    st.tuples(st.just("--concurrency"), st.integers(min_value=-(10 ** 25), max_value=10 ** 25).map(str)),
), max_size=4)


def _no_traceback_parse(data: Any) -> bool:
    try:
        parse_plan(data)
    except AgencyError as exc:
        text = str(exc)
        assert text and "\n" not in text.strip(), text  # one line
        return False
    return True


def _count(home: Path) -> int:
    conn = sqlite3.connect(home / "agency.db")
    try:
        return conn.execute("SELECT (SELECT count(*) FROM tasks) + (SELECT count(*) FROM steps)").fetchone()[0]
    finally:
        conn.close()


def check_plans_parse_or_are_refused_with_one_line() -> None:
    @settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(plans)
    def check(data: Any) -> None:
        _no_traceback_parse(data)

    check()


def check_submitted_plans_are_stored_whole_or_not_at_all(fuzz_home: Path) -> None:
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=plans)
    def check(data: Any) -> None:
        home = fuzz_home / "submit"
        with TaskOrchestrator(home=home) as orch:
            orch.list_tasks()  # the schema exists
            before = _count(home)
            try:
                tid = orch.submit_task({"plan": data, "description": "fuzz"}, start_daemon=False)
            except AgencyError:
                assert _count(home) == before  # nothing stored for a rejected plan
                return
            # What was accepted reads back, in every form.
            status = orch.get_status(tid)
            # No plan at all goes to the built-in planner, which plans at least one step.
            expected = len(data["steps"]) if data is not None else len(status["steps"])
            assert status["id"] == tid and status["progress"]["total"] == expected > 0
        runner = CliRunner()
        for args in (["task", "status", tid], ["task", "status", tid, "--json"], ["task", "list"]):
            res = runner.invoke(app, ["--home", str(home), *args])
            assert res.exit_code == 0, (args, res.output)

    check()


def check_create_options_give_exit_0_or_one_line_and_exit_2(fuzz_home: Path) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(opts=options)
    def check(opts: list[tuple[str, str]]) -> None:
        home = fuzz_home / "cli"
        plan = fuzz_home / "plan.yaml"
        plan.write_text("steps:\n  - {name: a, run: 'true'}\n")
        args = [x for pair in opts for x in pair]
        runner = CliRunner()
        before = _count(home) if (home / "agency.db").exists() else 0
        res = runner.invoke(app, ["--home", str(home), "task", "create", "--plan", str(plan), "--no-start", *args])
        assert res.exit_code in (0, 2), (args, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit), (args, res.exception)
        if res.exit_code == 2:
            lines = res.stderr.strip().splitlines()
            # Our errors are one line; a value Click cannot convert gets Click's usage block.
            assert len(lines) == 1 or "Usage:" in res.stderr, res.stderr
            assert "Traceback" not in res.output
            if (home / "agency.db").exists():
                assert _count(home) == before, args
            return
        tid = res.stdout.strip().splitlines()[-1]
        for later in (["task", "list"], ["task", "status", tid], ["task", "status", tid, "--json"]):
            res = runner.invoke(app, ["--home", str(home), *later])
            assert res.exit_code == 0, (args, later, res.output)

    check()
