"""The seed's `stakeholders`: given at create, stored with the task, shown and sent to hooks."""

from __future__ import annotations

import json

from tests.conftest import EXAMPLES, wait_for


def test_stakeholders_are_stored_shown_and_in_the_hook_payload(cli, home, tmp_path):
    out = tmp_path / "hook.json"
    (home / "config.yaml").write_text(
        f"notifications:\n  hooks:\n    - events: [task_completed]\n      command: cat > {out}\n")
    res = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"), "--stakeholders",
              "security_team, backend_team,security_team", "--foreground")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip().splitlines()[0]
    status = cli.json("task", "status", tid)
    # Trimmed, duplicates dropped, order kept.
    assert status["stakeholders"] == ["security_team", "backend_team"]
    plain = cli("task", "status", tid)
    assert plain.returncode == 0
    assert "stakeholders: security_team, backend_team" in plain.stdout.splitlines()
    wait_for(lambda: out.exists() and out.stat().st_size, timeout=15)
    payload = json.loads(out.read_text())
    assert payload["event"] == "task_completed" and payload["task"]["id"] == tid
    assert payload["task"]["stakeholders"] == ["security_team", "backend_team"]


def test_no_stakeholders_is_an_empty_list_and_prints_no_line(cli):
    tid = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"), "--no-start").stdout.strip()
    assert cli.json("task", "status", tid)["stakeholders"] == []
    assert "stakeholders" not in cli("task", "status", tid).stdout


def test_a_blank_stakeholder_is_one_line_exit_2_and_stores_nothing(cli):
    res = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"), "--stakeholders", "ops,,qa",
              "--no-start")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "stakeholders: empty name" in res.stderr
    assert "Traceback" not in res.stderr
    assert cli.json("task", "list") == []
