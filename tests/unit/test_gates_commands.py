"""functional_test, integration_test and performance_test with real commands (pytest, sh, python)."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent_agency_cli.gates.result import GateContext
from agent_agency_cli.gates.runner import run_gate
from agent_agency_cli.gates.spec import GateSpec
from agent_agency_cli.gates.tests_gate import parse_junit

PY = sys.executable

CALC = '''\
def add(a, b):
    return a + b
'''

TESTS_OK = '''\
from calc import add


def test_add():
    assert add(2, 3) == 5


def test_add_zero():
    assert add(0, 0) == 0
'''

TESTS_BAD = '''\
import pytest

from calc import add


def test_add():
    assert add(2, 3) == 5


def test_add_wrong():
    assert add(2, 2) == 5, "two and two"


class TestMore:
    def test_boom(self, missing_fixture):
        pass


@pytest.mark.skip(reason="later")
def test_later():
    pass
'''


@pytest.fixture
def ctx(tmp_path: Path) -> GateContext:
    ws = tmp_path / "ws"
    ws.mkdir()
    return GateContext(workspace=ws, workdir=ws, evidence_dir=tmp_path / "gates" / "step", timeout=60)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


# ---- functional_test ---------------------------------------------------------------------


def test_functional_default_pytest_passes_and_keeps_junit(ctx: GateContext) -> None:
    _write(ctx.workdir, {"calc.py": CALC, "tests/test_calc.py": TESTS_OK})
    r = run_gate(GateSpec(type="functional_test"), ctx)
    assert r.status == "passed", (r.violations, r.details)
    assert r.score == 1.0
    assert r.details["tests"] == {"tests": 2, "passed": 2, "failed": 0, "errors": 0, "skipped": 0}
    assert r.details["exit_code"] == 0
    junit = ctx.evidence_dir / "junit.xml"
    assert r.evidence == [str(ctx.evidence_dir / "functional_test.log"), str(junit)]
    assert junit.is_file() and "2 passed" in Path(r.evidence[0]).read_text()
    assert not (ctx.workdir / ".pytest_cache").exists()


def test_functional_failing_tests_are_named_as_violations(ctx: GateContext) -> None:
    _write(ctx.workdir, {"calc.py": CALC, "tests/test_calc.py": TESTS_BAD})
    r = run_gate(GateSpec(type="functional_test", command="python3 -m pytest -q tests"), ctx)
    assert r.status == "failed"
    assert r.details["tests"] == {"tests": 4, "passed": 1, "failed": 1, "errors": 1, "skipped": 1}
    assert r.violations[0].startswith("FAILED tests/test_calc.py::test_add_wrong: AssertionError: two and two")
    assert r.violations[1].startswith("ERROR tests/test_calc.py::TestMore::test_boom")
    assert len(r.violations) == 2
    assert r.score == pytest.approx(1 / 3)  # passed / (tests - skipped)
    assert r.recommendations[0].startswith("re-run the failing tests: pytest tests/test_calc.py::test_add_wrong")
    assert "1 failed" in r.details["output_tail"]


def test_functional_with_no_tests_fails(ctx: GateContext) -> None:
    _write(ctx.workdir, {"calc.py": CALC})
    r = run_gate(GateSpec(type="functional_test"), ctx)
    assert r.status == "failed" and r.violations == ["no tests ran"] and r.score == 0.0


def test_functional_without_junit_the_exit_status_decides(ctx: GateContext) -> None:
    ok = run_gate(GateSpec(type="functional_test", command="echo all good"), ctx)
    assert ok.status == "passed" and ok.score == 1.0 and ok.details["exit_code"] == 0
    bad = run_gate(GateSpec(type="functional_test", command="echo broken >&2; exit 3"), ctx)
    assert bad.status == "failed" and bad.score == 0.0
    assert bad.violations == ["echo broken >&2; exit 3 exited 3"]
    assert bad.details["output_tail"] == "broken"


JUNIT = """<?xml version="1.0"?>
<testsuites><testsuite name="s" tests="3">
  <testcase classname="suite.Login" name="accepts_valid_user"/>
  <testcase classname="suite.Login" name="rejects_bad_password">
    <failure message="expected 401, got 200">trace</failure></testcase>
  <testcase classname="suite.Login" name="later"><skipped/></testcase>
</testsuite></testsuites>
"""


def test_functional_reads_a_junit_report_the_command_writes(ctx: GateContext) -> None:
    script = f"import pathlib; pathlib.Path('reports').mkdir(); pathlib.Path('reports/j.xml').write_text({JUNIT!r})"
    spec = GateSpec(type="functional_test", command=[PY, "-c", script], junit="reports/j.xml")
    r = run_gate(spec, ctx)
    assert r.status == "failed"  # the command exits 0, but the report has a failure
    assert r.violations == ["FAILED suite.Login.rejects_bad_password: expected 401, got 200"]
    assert r.score == pytest.approx(0.5)
    assert (ctx.evidence_dir / "junit.xml").read_text() == JUNIT


def test_functional_ignores_a_stale_junit_report(ctx: GateContext) -> None:
    (ctx.workdir / "j.xml").write_text(JUNIT.replace("<failure", "<skipped").replace("</failure>", "</skipped>"))
    r = run_gate(GateSpec(type="functional_test", command="true", junit="j.xml"), ctx)
    assert r.status == "failed"
    assert r.violations == ["the command did not write its JUnit report j.xml"]


def test_functional_timeout_is_an_error(ctx: GateContext) -> None:
    t0 = time.monotonic()
    r = run_gate(GateSpec(type="functional_test", command="sleep 10", timeout="0.3s"), ctx)
    assert time.monotonic() - t0 < 3
    assert r.status == "error" and r.violations == ["sleep 10: timed out after 0.3s"]


def test_parse_junit_maps_classnames_to_pytest_node_ids(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("")
    xml = tmp_path / "j.xml"
    xml.write_text('<testsuite><testcase classname="tests.test_x.TestA" name="test_y">'
                   '<error message="">\n\n  boom happened\nmore</error></testcase>'
                   '<testcase classname="" name="tests.test_z"><error message="collection failure"/></testcase>'
                   "</testsuite>")
    s = parse_junit(xml, tmp_path)
    assert (s.tests, s.errors, s.passed) == (2, 2, 0)
    assert s.problems == ["ERROR tests/test_x.py::TestA::test_y: boom happened",
                          "ERROR tests.test_z: collection failure"]
    xml.write_text("<html/>")
    with pytest.raises(ValueError, match="not JUnit XML"):
        parse_junit(xml, tmp_path)


# ---- integration_test --------------------------------------------------------------------


def test_integration_passes_when_dependencies_are_there_and_the_command_succeeds(ctx: GateContext) -> None:
    _write(ctx.workdir, {"dist/app.txt": "v1\n"})
    ctx.step_outputs = {"build": [ctx.workdir / "dist/app.txt"], "docs": []}
    spec = GateSpec(type="integration_test", depends=["build", "docs"], command="grep -q v1 dist/app.txt")
    r = run_gate(spec, ctx)
    assert r.status == "passed", r.violations
    assert r.score == 1.0 and r.details["depends"] == ["build", "docs"]
    assert run_gate(GateSpec(type="integration_test", depends=["build"]), ctx).status == "passed"


def test_integration_fails_without_running_when_an_output_is_missing(ctx: GateContext) -> None:
    ctx.step_outputs = {"build": [ctx.workdir / "dist/app.tar.gz"]}
    spec = GateSpec(type="integration_test", depends=["build", "migrate"], command="touch ran")
    r = run_gate(spec, ctx)
    assert r.status == "failed" and r.score == 0.0
    assert r.violations == [
        "step 'build' output missing: dist/app.tar.gz",
        "step 'migrate' has not produced its outputs (not finished, or unknown)",
    ]
    assert not (ctx.workdir / "ran").exists()


def test_integration_fails_when_its_command_fails(ctx: GateContext) -> None:
    _write(ctx.workdir, {"calc.py": CALC, "it/test_it.py": TESTS_BAD})
    ctx.step_outputs = {"build": [ctx.workdir / "calc.py"]}
    r = run_gate(GateSpec(type="integration_test", depends=["build"], command="pytest -q it -k wrong"), ctx)
    assert r.status == "failed"
    assert [v.split(":")[0] for v in r.violations] == ["FAILED it/test_it.py"]
    assert r.details["tests"]["failed"] == 1 and r.details["depends"] == ["build"]
    assert r.evidence == [str(ctx.evidence_dir / n) for n in ("integration_test.log", "integration-junit.xml")]


# ---- performance_test --------------------------------------------------------------------


def test_performance_wall_time_under_the_threshold_passes(ctx: GateContext) -> None:
    r = run_gate(GateSpec(type="performance_test", command="true", runs=3, threshold=5), ctx)
    assert r.status == "passed", r.violations
    assert r.score == 1.0 and len(r.details["measurements"]) == 3
    assert r.details["median"] <= 5 and r.details["unit"] == "s"


def test_performance_too_slow_fails_with_a_proportional_score(ctx: GateContext) -> None:
    r = run_gate(GateSpec(type="performance_test", command="sleep 0.2", runs=2, threshold=0.05), ctx)
    assert r.status == "failed"
    assert r.violations[0].startswith("median 0.2") and r.violations[0].endswith("is above the maximum 0.05s")
    assert 0.1 < r.score <= 0.25
    assert all(m >= 0.2 for m in r.details["measurements"])


def test_performance_metric_from_the_output(ctx: GateContext) -> None:
    script = "import os; print('rate:', {'1': 90, '2': 130, '3': 120}[os.environ['RUN']])"
    # RUN counts the runs through a file so each run prints another number
    cmd = f"RUN=$(( $(cat n 2>/dev/null || echo 0) + 1 )); echo $RUN > n; RUN=$RUN {PY} -c \"{script}\""
    spec = GateSpec(type="performance_test", command=cmd, runs=3, metric=r"rate:\s*([\d.]+)",
                    threshold=100, compare="min")
    r = run_gate(spec, ctx)
    assert r.status == "passed" and r.details["measurements"] == [90, 130, 120] and r.details["median"] == 120
    assert r.score == 1.0
    (ctx.workdir / "n").unlink()
    r = run_gate(spec.model_copy(update={"threshold": 200.0}), ctx)
    assert r.status == "failed" and r.violations == ["median 120 over 3 runs is below the minimum 200"]
    assert r.score == pytest.approx(0.6)


def test_performance_errors_and_failures(ctx: GateContext) -> None:
    no_metric = run_gate(GateSpec(type="performance_test", command="echo hi", metric=r"x=(\d+)", threshold=1), ctx)
    assert no_metric.status == "error" and "no number for metric" in no_metric.violations[0]
    assert run_gate(GateSpec(type="performance_test", command="true"), ctx).violations == [
        "performance_test needs a 'threshold'"]
    crash = run_gate(GateSpec(type="performance_test", command="exit 4", runs=3, threshold=1), ctx)
    assert crash.status == "failed" and crash.violations == ["run 1 of 3 exited 4"]
    slow = run_gate(GateSpec(type="performance_test", command="sleep 5", threshold=1, timeout=0.3), ctx)
    assert slow.status == "error" and slow.violations == ["run 1: timed out after 0.3s"]


def test_gate_commands_see_the_step_env(ctx: GateContext) -> None:
    ctx.env = {"GREETING": "hej"}
    r = run_gate(GateSpec(type="functional_test", command='test "$GREETING" = hej && test -n "$PATH"'), ctx)
    assert r.status == "passed", r.details
    assert os.environ.get("GREETING") is None
