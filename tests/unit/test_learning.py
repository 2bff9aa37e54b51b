"""Learning from runs: step classes, records, aggregates, export/import and estimates."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from agent_agency_cli.executors.base import StepOutcome
from agent_agency_cli.learning.aggregate import all_stats, class_estimates, summary
from agent_agency_cli.learning.records import class_signature, learning_row, step_class
from agent_agency_cli.orchestrator import TaskOrchestrator

SECRET = "sk-live-abcdefghijklmnopqrstuvwx"


def record(orch: TaskOrchestrator, kind: str, spec: dict[str, Any], ok: bool = True, duration: float = 1.0,
           **extra: Any) -> None:
    sql, params = learning_row(kind, spec, StepOutcome(ok=ok, extra=extra), duration, extra.pop("gate", None))
    with orch.store.conn as conn:
        conn.execute(sql, params)


@pytest.fixture
def orch(isolated_home: Path) -> TaskOrchestrator:
    return TaskOrchestrator(home=isolated_home)


def test_a_class_names_the_program_not_the_command_text() -> None:
    assert step_class("shell", {"run": f"/opt/secret/bin/deploy --token {SECRET} /home/ana/x"}) == (
        "shell", "deploy", None)
    assert step_class("shell", {"run": ["python3", "-m", "pytest.main", "-q", "tests/"], "type": "testing"}) == (
        "shell", "python3 -m pytest", "testing")
    assert step_class("shell", {"run": "FOO=1 make -j2 all"})[1] == "make"
    assert step_class("tool", {"tool": "git/git_log", "arguments": {"repo_path": "/x"}})[1] == "git/git_log"
    assert step_class("python", {"python": "steps:build"})[1] == "steps:build"
    a = class_signature(*step_class("shell", {"run": "make a"}))
    assert a == class_signature(*step_class("shell", {"run": "make b c"}))
    assert a != class_signature(*step_class("shell", {"run": "make a", "type": "code"}))


def test_records_aggregate_per_class_and_executor(orch: TaskOrchestrator) -> None:
    spec = {"run": "make all"}
    record(orch, "shell", spec, duration=1.0, metrics={"cpu_percent_mean": 50.0, "rss_peak_bytes": 2**21})
    record(orch, "shell", spec, duration=3.0, metrics={"cpu_percent_mean": 70.0, "rss_peak_bytes": 2**22})
    record(orch, "shell", spec, ok=False, duration=2.0)
    record(orch, "model", {"model": "auto", "type": "code"}, model="m-small", tokens=100, cost=0.01)
    record(orch, "model", {"model": "auto", "type": "code"}, model="m-big", usage={"total_tokens": 300}, cost=0.05)
    rows = {(r["target"], r["executor"]): r for r in orch.learning()}
    make = rows[("make", None)]
    assert make["runs"] == 3 and make["success_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert make["duration_mean"] == pytest.approx(2.0)
    assert make["cpu_percent_mean"] == pytest.approx(60.0)
    assert make["peak_rss_mb_mean"] == pytest.approx(3.0)
    assert rows[("auto", "m-small")]["tokens_mean"] == 100
    assert rows[("auto", "m-big")]["tokens_mean"] == 300
    assert rows[("auto", "m-big")]["cost_mean"] == pytest.approx(0.05)


def test_export_holds_only_aggregates(orch: TaskOrchestrator, tmp_path: Path) -> None:
    host = socket.gethostname()
    record(orch, "shell", {"run": f"{tmp_path}/bin/deploy --password {SECRET} {host}"}, duration=2.0)
    record(orch, "tool", {"tool": "git/git_log", "arguments": {"repo_path": str(tmp_path)}}, duration=0.5)
    out = tmp_path / "learnt.jsonl"
    assert orch.learning_export(out) == 2
    text = out.read_text()
    for leak in (SECRET, str(tmp_path), host, os.environ.get("USER") or "\0", "--password", "repo_path"):
        assert leak not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert {line["target"] for line in lines} == {"deploy", "git/git_log"}
    assert all(set(line) == {"version", "origin", "signature", "kind", "target", "type", "executor", "count",
                             "successes", "n", "mean"} for line in lines)


def test_import_merges_weighted_by_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = TaskOrchestrator(home=tmp_path / "a")
    b = TaskOrchestrator(home=tmp_path / "b")
    for d in (1.0, 1.0, 1.0):  # machine A: 3 runs of 1 s
        record(a, "shell", {"run": "make"}, duration=d)
    record(b, "shell", {"run": "make x"}, ok=False, duration=5.0)  # machine B: 1 run of 5 s, failed
    a.learning_export(tmp_path / "a.jsonl")
    res = b.learning_import(tmp_path / "a.jsonl")
    assert res == {"aggregates": 1, "runs": 3, "origins": 1}
    [row] = b.learning()
    assert row["runs"] == 4 and row["local_runs"] == 1 and row["imported_runs"] == 3
    assert row["duration_mean"] == pytest.approx((3 * 1.0 + 5.0) / 4)
    assert row["success_rate"] == pytest.approx(0.75)
    # A newer export from the same machine replaces the older one (no double counting).
    record(a, "shell", {"run": "make"}, duration=5.0)
    a.learning_export(tmp_path / "a.jsonl")
    b.learning_import(tmp_path / "a.jsonl")
    [row] = b.learning()
    assert row["runs"] == 5 and row["duration_mean"] == pytest.approx((3 + 5 + 5) / 5)
    # A's own file cannot be imported back into A.
    from agent_agency_cli.errors import BadInputError

    with pytest.raises(BadInputError, match="own export"):
        a.learning_import(tmp_path / "a.jsonl")
    sig = class_signature("shell", "make", None)
    assert class_estimates(b.store.conn, [sig]) == {sig: (pytest.approx(13 / 5), 5)}
    assert [summary(s)["runs"] for s in all_stats(b.store.conn, [sig])] == [5]


def test_cli_show_export_import(isolated_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["learning", "show"])
    assert res.exit_code == 0 and "nothing learnt yet" in res.output
    orch = TaskOrchestrator(home=isolated_home)
    record(orch, "tool", {"tool": "time/get_current_time"}, duration=0.25, gate=0.9)
    res = runner.invoke(app, ["learning", "show"])
    assert res.exit_code == 0
    header, row = res.stdout.splitlines()
    assert header.split("\t")[:5] == ["kind", "target", "type", "executor", "runs"]
    assert row.split("\t")[:5] == ["tool", "time/get_current_time", "-", "time", "1"]
    assert "0.250" in row and "0.90" in row and "100%" in row
    res = runner.invoke(app, ["learning", "show", "--json"])
    assert json.loads(res.stdout)[0]["gate_score_mean"] == pytest.approx(0.9)
    out = tmp_path / "x.jsonl"
    res = runner.invoke(app, ["learning", "export", "--out", str(out)])
    assert res.exit_code == 0 and out.is_file()


@pytest.mark.parametrize(("content", "code", "expected"), [
    (None, 3, "not found"),
    ("not json\n", 2, ":1: not JSON"),
    ('{"version": 9}\n', 2, "not a learning export"),
    ('{"version": 1, "count": -1}\n', 2, "missing or bad fields"),
])
def test_cli_import_bad_file_is_one_line_and_writes_nothing(isolated_home: Path, tmp_path: Path,
                                                            content: str | None, code: int, expected: str) -> None:
    path = tmp_path / "in.jsonl"
    if content is not None:
        path.write_text(content)
    res = CliRunner().invoke(app, ["learning", "import", str(path)])
    assert res.exit_code == code
    assert expected in res.output and "Traceback" not in res.output
    assert TaskOrchestrator(home=isolated_home).learning() == []


def test_model_record_for_auto_selection(orch: TaskOrchestrator, tmp_path: Path) -> None:
    from agent_agency_cli.learning.aggregate import model_record

    code = {"model": "auto", "type": "code"}
    for ok in (True, True, False):
        record(orch, "model", code, ok=ok, model="cheap", cost=0.01, tokens=100)
    record(orch, "model", {"model": "big", "type": "code"}, model="big", cost=0.2, tokens=900)
    record(orch, "model", {"model": "auto", "type": "review"}, model="cheap", ok=False, cost=0.01)
    rows = model_record(orch.store.conn, "code")
    assert [r["model"] for r in rows] == ["big", "cheap"]  # 100% before 67%
    assert rows[1] == {"model": "cheap", "runs": 3, "success_rate": pytest.approx(0.6667, abs=1e-4),
                       "cost_mean": pytest.approx(0.01), "tokens_mean": 100, "duration_mean": 1.0}
    assert [r["model"] for r in model_record(orch.store.conn, "review")] == ["cheap"]
    assert model_record(orch.store.conn, "testing") == []
    from agent_agency_cli.learning.aggregate import model_records

    both = model_records(orch.store.conn, ["code", "review", None])
    assert {t: [r["model"] for r in rows] for t, rows in both.items()} == {"code": ["big", "cheap"],
                                                                          "review": ["cheap"], None: []}


def test_a_model_step_result_gives_model_tokens_and_cost(orch: TaskOrchestrator) -> None:
    outcome = StepOutcome(ok=True, result={"model": "local-small", "tokens_in": 30, "tokens_out": 12,
                                           "cost": 0.002, "output": "the answer"})
    sql, params = learning_row("model", {"model": "auto", "type": "review", "prompt": "secret prompt"},
                               outcome, 0.5, None)
    with orch.store.conn as conn:
        conn.execute(sql, params)
    [row] = orch.learning()
    assert (row["target"], row["executor"], row["tokens_mean"], row["cost_mean"]) == ("auto", "local-small", 42,
                                                                                      0.002)
    assert "secret prompt" not in json.dumps(row) and "the answer" not in json.dumps(row)


def test_model_records_merge_another_machines_model_runs(tmp_path: Path) -> None:
    from agent_agency_cli.learning.aggregate import model_records

    a = TaskOrchestrator(home=tmp_path / "a")
    b = TaskOrchestrator(home=tmp_path / "b")
    for ok in (True, False, False, False):  # machine A: m1 fails 3 of 4 testing steps
        record(a, "model", {"model": "auto", "type": "testing"}, ok=ok, model="m1", cost=0.01)
    record(a, "shell", {"run": "make"})  # not a model step: never a candidate's record
    record(b, "model", {"model": "m1", "type": "testing"}, ok=True, model="m1", cost=0.03)
    a.learning_export(tmp_path / "a.jsonl")
    b.learning_import(tmp_path / "a.jsonl")
    [m1] = model_records(b.store.conn, ["testing"])["testing"]
    assert (m1["model"], m1["runs"], m1["success_rate"]) == ("m1", 5, pytest.approx(0.4))
    assert m1["cost_mean"] == pytest.approx((4 * 0.01 + 0.03) / 5)
