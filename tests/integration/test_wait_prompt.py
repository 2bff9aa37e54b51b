"""Strict mode under `task create --wait` on a terminal (issue 11 defect 10): the prompt
goes away by itself when the step is approved from another terminal, and the next step
is asked about right there."""

from __future__ import annotations

import os
import re

from tests.tui.test_cli_entry import _read_until, in_pty

PLAN = "steps:\n  - name: first\n    run: echo one\n  - name: second\n    needs: [first]\n    run: echo two\n"


def test_a_step_approved_elsewhere_closes_the_prompt(cli, home, write_plan):
    plan = write_plan(PLAN)
    with in_pty(["task", "create", "--plan", str(plan), "--mode", "strict", "--wait"], home,
                cols=100) as (proc, term):
        screen = _read_until(term.fd, proc, "approve? run step first", timeout=60)
        tid = re.search(r"\b([0-9a-f]{6})\b", screen).group(1)
        assert cli("task", "approve", tid, "--step", "first").returncode == 0  # another terminal
        screen = _read_until(term.fd, proc, "approve? run step second", timeout=60)
        assert "step first was decided elsewhere" in screen
        os.write(term.fd, b"a\n")
        _read_until(term.fd, proc, f"task {tid} completed", timeout=60)
        assert proc.wait(timeout=30) == 0
    assert cli.json("task", "status", tid)["status"] == "completed"


def test_prompt_details_are_words_not_python_reprs():
    from agent_agency_cli.cli.follow import detail_text

    risk = {"level": "high", "reasons": ["pipes a download into a shell"], "score": 0.8}
    assert detail_text("risk", risk) == "high (pipes a download into a shell)"
    assert detail_text("resources", {"cpu": 2, "memory": None}) == '{"cpu": 2, "memory": null}'


class _Scrollback:
    """What a person sees on an 80x24 terminal and above it in the scrollback: the pty's
    bytes through a VT100 emulator (pyte), cursor moves and erasures applied."""

    def __init__(self, fd: int, proc, cols: int = 80, rows: int = 24):
        import pyte

        self.fd, self.proc = fd, proc
        self.screen = pyte.HistoryScreen(cols, rows, history=5000, ratio=1.0)
        self.screen.set_mode(pyte.modes.LNM)  # a pty turns \n into \r\n (onlcr)
        self.stream = pyte.ByteStream(self.screen)

    def lines(self) -> list[str]:
        above = ["".join(ch.data for ch in row.values()) if isinstance(row, dict) else
                 "".join(row[x].data for x in range(self.screen.columns)) for row in self.screen.history.top]
        return [line.rstrip() for line in [*above, *self.screen.display]]

    def wait_for(self, text: str, timeout: float = 60.0) -> list[str]:
        return self.wait_until(lambda lines: any(text in line for line in lines), timeout, text)

    def wait_until(self, predicate, timeout: float = 60.0, what: str = "the expected lines") -> list[str]:  # type: ignore[no-untyped-def]
        import select
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.lines()):
                return self.lines()
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.stream.feed(os.read(self.fd, 65536))
                except OSError:
                    break
            elif self.proc.poll() is not None:
                break
        raise AssertionError(f"{what!r} not on the terminal:\n" + "\n".join(self.lines()[-30:]))


def test_the_scrollback_has_whole_views_and_no_stale_question(cli, home, write_plan):
    """Defect 10 at 80x24: after a step approved elsewhere, pieces of the live view's header
    stayed in the scrollback (the view restarted over the question), and a question about
    a step already decided must never be asked."""
    plan = write_plan(PLAN)
    with in_pty(["task", "create", "--plan", str(plan), "--mode", "strict", "--wait"], home,
                cols=80, rows=24) as (proc, term):
        sb = _Scrollback(term.fd, proc)
        lines = sb.wait_for("approve? run step first")
        tid = next(m.group(1) for line in lines if (m := re.match(r"^([0-9a-f]{6})$", line)))
        assert cli("task", "approve", tid, "--step", "first").returncode == 0  # another terminal
        sb.wait_for("approve? run step second")
        sb.wait_until(lambda ls: sum("approve its [g]roup or [A]ll" in x for x in ls) == 2)
        os.write(term.fd, b"a\n")
        lines = sb.wait_for(f"task {tid} completed")
        assert proc.wait(timeout=30) == 0
    text = "\n".join(lines)
    headers = [i for i, line in enumerate(lines) if line.startswith(f"{tid}  plan ")]
    assert len(headers) == 3, text  # the view before each question, and the final one
    for i, end in zip(headers, [*headers[1:], len(lines)], strict=True):
        # each view whole, up to the next one: header, status, the steps table with both steps
        block = lines[i:end]
        table = next((j for j, line in enumerate(block) if line.startswith("step ")), len(block))
        rows = [line.split()[0] for line in block[table + 1:table + 3]]
        assert rows == ["first", "second"], "a view cut short:\n" + "\n".join(block)
    assert [line for line in lines if line.startswith("approve? ")] == [
        "approve? run step first: echo one", "approve? run step second: echo two"]
    decided = next(i for i, line in enumerate(lines) if "step first was decided elsewhere" in line)
    assert decided < next(i for i, line in enumerate(lines) if line.startswith("approve? run step second"))
    assert not any("approve?" in line and "plan" in line for line in lines)  # nothing drawn over a question


def test_g_at_the_prompt_approves_the_whole_parallel_group(cli, home, write_plan):
    plan = write_plan("steps:\n  - {name: setup, run: 'true'}\n  - {name: lint, needs: [setup], run: 'true'}\n"
                      "  - {name: test, needs: [setup], run: 'true'}\n")
    with in_pty(["task", "create", "--plan", str(plan), "--mode", "strict", "--wait"], home,
                cols=80, rows=24) as (proc, term):
        sb = _Scrollback(term.fd, proc)
        sb.wait_for("approve? run step setup")
        lines = sb.wait_for("approve its [g]roup or [A]ll (a):")
        assert "  [a]pprove, [r]eject, [d]etails, approve its [g]roup or [A]ll (a):" in lines, "\n".join(lines)
        tid = next(m.group(1) for line in lines if (m := re.match(r"^([0-9a-f]{6})$", line)))
        os.write(term.fd, b"a\n")
        # Answer once the second question's choices are on screen: typed earlier, the echo
        # lands before the prompt and the reply shares (and wraps) its line.
        sb.wait_until(lambda ls: sum("approve its [g]roup or [A]ll" in x for x in ls) == 2)
        os.write(term.fd, b"g\n")
        lines = sb.wait_for(f"task {tid} completed")
        assert proc.wait(timeout=30) == 0
    asked = [x.split()[3].rstrip(":") for x in lines if x.startswith("approve? ")]
    assert asked[0] == "setup" and asked[1] in ("lint", "test") and len(asked) == 2  # the other: never asked
    assert any(x.startswith("approved steps ") and "(parallel group)" in x for x in lines), "\n".join(lines)
    assert [s["status"] for s in cli.status(tid)["steps"]] == ["completed"] * 3


def test_no_question_about_a_step_decided_before_its_event_was_read(capsys):
    """The follower reads events after the fact: by the time it reads `first`'s
    approval_requested, `first` may be approved and `second` waiting. It must not ask about
    `first` (nor, while `second` waits, take that for `first` still waiting)."""
    from agent_agency_cli.cli.follow import ask_approval, awaits

    class Status:  # the facade's get_status, frozen at the moment the event is read
        def __init__(self, status: dict):
            self.status = status

        def get_status(self, tid: str) -> dict:
            return self.status

    ev = {"kind": "approval_requested", "payload": {"step": "first", "command": "echo one", "kind": "start"}}
    moved_on = Status({"status": "awaiting_approval", "approval": {"step": "second"}})
    assert awaits(moved_on, "abc123", ev) is False
    ask_approval(moved_on, "abc123", ev)  # returns at once: no question, nothing read from stdin
    running = Status({"status": "running", "approval": None})
    ask_approval(running, "abc123", ev)
    assert "approve?" not in capsys.readouterr().err
    assert awaits(Status({"status": "awaiting_approval", "approval": {"step": "first"}}), "abc123", ev) is True
