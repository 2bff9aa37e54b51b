"""The reply to `task modify` is in words, never internal fields (issue 11 defect 12)."""

from __future__ import annotations

from typer.testing import CliRunner

from agent_agency_cli.cli.main import app


def test_modify_replies_with_old_and_new_values_in_words(orch):
    tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False)
    res = CliRunner().invoke(app, ["task", "modify", tid, "--priority", "urgent", "--deadline", "2099-01-01T18:00Z",
                                   "--max-cpu", "2"])
    assert res.exit_code == 0, res.output
    text = res.stderr if res.stderr_bytes is not None else res.output
    assert f"modified task {tid}: " in text
    assert "priority normal → urgent" in text
    assert "deadline - → 2099-01-01 18:00 UTC" in text
    assert "cpu" in text and "2" in text
    assert "priority_rank" not in text and "limits, priority" not in text


def test_the_sdk_reply_is_the_same_words(orch):
    tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False)
    msg = orch.modify(tid, priority="low")
    assert msg == f"modified task {tid}: priority normal → low"
