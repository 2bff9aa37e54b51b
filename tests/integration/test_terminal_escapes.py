"""Step output cannot drive the terminal (issue 12 item 13): `task logs`, `task status`,
`task result`, `task watch --plain` and the TUI's log pane strip control sequences;
`task logs --raw` gives them back."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from agent_agency_cli.security.terminal import strip_controls

# OSC 52 clipboard write, clear screen, window title, NUL, a carriage return, a colour
PRINTF = r"printf 'hello \033]52;c;aGVsbG8=\007\033[2J\033]0;pwned\007wor\000ld\r!\033[31mred\033[0m\n'"
HELPER = '''
def boom(ctx):
    print("\\x1b[2Jprinted by python")
    raise RuntimeError("bad \\x1b]0;title\\x07 thing \\x1b]52;c;Zm9v\\x07")
'''
PLAN = f"""
steps:
  - name: noisy
    run: {PRINTF!r}
  - name: boom
    needs: [noisy]
    python: evil_steps:boom
    retries: 0
"""
BAD = ("\x1b", "\x00", "\x07", "\r", "\x9b")


def _run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def task_id(write_plan) -> str:
    plan = write_plan(PLAN)
    (plan.parent / "evil_steps.py").write_text(HELPER)
    res = _run("task", "create", "--plan", str(plan), "--foreground", "--description", "escapes")
    assert res.exit_code == 1, res.output  # the python step fails
    return res.stdout.split()[0]


def _clean(text: str) -> None:
    for ch in BAD:
        assert ch not in text, f"{ch!r} reached the terminal: {text!r}"


def test_logs_strip_control_sequences_and_raw_keeps_them(task_id: str) -> None:
    res = _run("task", "logs", task_id)
    assert res.exit_code == 0, res.output
    _clean(res.stdout)
    assert "hello world" in res.stdout and "!red" in res.stdout  # (a reader splits at the \r)
    assert "printed by python" in res.stdout
    raw = _run("task", "logs", task_id, "--step", "noisy", "--raw")
    assert "\x1b]52;c;aGVsbG8=\x07" in raw.stdout and "\x1b[2J" in raw.stdout and "\x00" in raw.stdout


def test_status_result_and_watch_plain_strip_them(task_id: str) -> None:
    status = _run("task", "status", task_id, "--verbose")
    assert "bad" in status.stdout and "thing" in status.stdout
    _clean(status.stdout)
    result = _run("task", "result", task_id)
    assert result.exit_code == 1
    _clean(result.stdout)
    watch = _run("task", "watch", task_id, "--plain")
    assert watch.exit_code == 1
    assert "FAILED" in watch.stdout
    _clean(watch.stdout)
    events = _run("task", "events", task_id)
    _clean(events.stdout)


def test_the_tui_log_pane_strips_them() -> None:
    from agent_agency_cli.tui.step_log import StepLogView

    view = StepLogView()
    text = view.to_text("12:00:01 » \x1b]52;c;aGVsbG8=\x07\x1b[2Jhi\x00 \x1b]0;t\x07there")
    assert text.plain == "12:00:01 » hi there"


@pytest.mark.parametrize(("raw", "shown"), [
    ("a\x1b]52;c;aGVsbG8=\x07b", "ab"),
    ("\x1b[2Jclear", "clear"),
    ("\x1b]0;title\x1b\\x", "x"),
    ("nul\x00x", "nulx"),
    ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
    ("cr\rover", "crover"),
    ("\x1b[1;31mred\x1b[0m", "red"),
    ("\x9b2J8-bit CSI", "8-bit CSI"),
    ("\x1bc reset", " reset"),
    ("\x1bP1$r payload\x1b\\after", "after"),
    ("unterminated \x1b]52;c;aGVsbG8=", "unterminated "),
    ("ünïcödé ✓ stays", "ünïcödé ✓ stays"),
])
def test_strip_controls(raw: str, shown: str) -> None:
    assert strip_controls(raw) == shown
