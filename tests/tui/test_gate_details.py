"""Issue 11 defect 7 in the TUI: the details pane shows each gate's status, score,
violation count and evidence file, and the task's gaps (why it is partially_completed);
a step whose gate failed is never drawn as a plain ✓."""

from __future__ import annotations

import pytest

from agent_agency_cli.tui.app import create_app
from agent_agency_cli.tui.step_details import StepDetails
from agent_agency_cli.tui.task_screen import TaskScreen
from tests.integration.test_human_face import GATED  # the CLI's test of the same defect
from tests.tui.conftest import step_cell, wait_until

pytestmark = pytest.mark.anyio

def _gate_lines(details: StepDetails) -> list[str]:
    return [line for line in details.render().plain.splitlines() if line.startswith("gate ")]


async def test_details_show_gates_evidence_and_the_tasks_gaps(orch, cli, write_plan):
    plan = write_plan(GATED)
    res = cli.run("task", "create", "--plan", str(plan), "--requirements", "no lint errors", "--foreground")
    tid = res.stdout.strip().splitlines()[0]
    assert orch.get_status(tid)["status"] == "partially_completed"
    evidence = orch.result(tid)["gates"][0]["evidence"][0]
    app = create_app(orch, tid)
    async with app.run_test(size=(400, 40)) as pilot:  # wide: the whole evidence path fits
        screen = app.screen
        assert isinstance(screen, TaskScreen)
        table = screen.query_one("#steps")
        await wait_until(pilot, lambda: table.selected() is not None, what="a step selected")
        # the steps table: the gated step is ◐ with "gate failed", the other one a plain ✓
        code_cell, other_cell = step_cell(app, "code"), step_cell(app, "other")
        assert "◐" in code_cell and "✓" not in code_cell, code_cell
        assert "gate failed" in step_cell(app, "code", "prog")
        assert "✓" in other_cell and "gate failed" not in step_cell(app, "other", "prog")

        await wait_until(pilot, lambda: screen._selected == "code", what="the gated step selected")
        details = screen.query_one("#details", StepDetails)
        await wait_until(pilot, lambda: _gate_lines(details), what="the gate lines")
        text = details.render().plain
        assert "◐ completed, gate failed" in text and "✓ completed" not in text
        (gate_line,) = _gate_lines(details)
        assert gate_line == f"gate ✗ code_style failed 0.90 · 1 violation · advisory · {evidence}", gate_line
        assert "partially completed: every step ran, but the final review found gaps:" in text
        assert "  - requirement 'no lint errors' is not met: code_style on step 'code' failed" in text

        table.focus()
        await pilot.press("down")  # the user moves to the other step: no gate lines, the task's gaps stay
        await wait_until(pilot, lambda: not _gate_lines(details), what="the other step's details")
        assert "✓ completed" in details.render().plain
        assert "partially completed" in details.render().plain


async def test_a_narrow_pane_keeps_the_evidence_files_name(orch, cli, write_plan):
    plan = write_plan(GATED)
    tid = cli.run("task", "create", "--plan", str(plan), "--foreground").stdout.strip().splitlines()[0]
    app = create_app(orch, tid)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        table = screen.query_one("#steps")
        await wait_until(pilot, lambda: table.selected() is not None, what="a step selected")
        table.select("code")
        details = screen.query_one("#details", StepDetails)
        await wait_until(pilot, lambda: _gate_lines(details), what="the gate lines")
        lines = details.render().plain.splitlines()
        (gate_line,) = _gate_lines(details)
        assert gate_line == "gate ✗ code_style 0.90 · 1 violation · adv.", gate_line
        evidence_line = lines[lines.index(gate_line) + 1]
        assert evidence_line.startswith("  evidence …") and evidence_line.endswith("/code/ruff.json"), evidence_line
        assert len(evidence_line) <= details.size.width - 2  # (its padding) the file name is never cut
        assert lines.index(evidence_line) < details.size.height  # on screen in the short pane
        # d: the whole evidence path (on lines of its own) and every gap in full, wrapped
        evidence = orch.result(tid)["gates"][0]["evidence"][0]
        await pilot.press("d")
        await wait_until(pilot, lambda: details.has_class("-expanded"), what="details expanded")
        lines = details.render().plain.splitlines()
        start = lines.index("  evidence") + 1
        chunk = details.size.width - 4  # the pane less its padding, less the indent
        path_lines = lines[start:start - (-len(evidence) // chunk)]
        assert "".join(ln[2:] for ln in path_lines) == evidence, path_lines
        assert all(len(ln) <= details.size.width - 2 for ln in path_lines)
        assert "- advisory gate code_style on step 'code' failed (score 0.90)" in " ".join(ln.strip() for ln in lines)
