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
