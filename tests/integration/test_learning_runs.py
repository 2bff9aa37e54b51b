"""Learning through real runs: finished steps add records; a new step like them is
estimated from them, and status says so."""

from __future__ import annotations

import sqlite3


def test_finished_steps_teach_estimates_of_similar_steps(cli, home, write_plan, tmp_path):
    first = write_plan("""
steps:
  - name: nap
    run: "sleep 0.4"
    type: testing
    gates: [{type: performance_test, command: "true", runs: 1, threshold: 5}]
  - {name: fails, run: "false", needs: [nap], on_failure: fail}
""", "first.yaml")
    assert cli("task", "create", "--plan", str(first), "-d", "learn", "--foreground").returncode == 1
    with sqlite3.connect(home / "agency.db") as conn:
        rows = conn.execute("SELECT kind, target, type, success, duration, gate_score FROM learning_records "
                            "ORDER BY target").fetchall()
        scores = conn.execute("SELECT score FROM gate_results").fetchall()
    assert [r[:4] for r in rows] == [("shell", "false", None, 0), ("shell", "sleep", "testing", 1)]
    assert scores and rows[1][5] == scores[0][0] and rows[0][5] is None  # the gate's score, where there was one
    assert rows[1][4] >= 0.4
    # Another step (other name, other arguments) of the same class: estimated from it.
    second = write_plan("steps:\n  - {name: other, run: 'sleep 0.05', type: testing}\n", "second.yaml")
    tid = cli("task", "create", "--plan", str(second), "-d", "estimate", "--no-start").stdout.strip()
    status = cli.json("task", "status", tid)
    assert status["plan"]["learned_from"] == {"other": "similar steps"}
    assert status["plan"]["learned"] == {"other": 1}
    assert abs(status["plan"]["estimated_duration"] - rows[1][4]) < 1e-6
    verbose = cli("task", "status", tid, "--verbose").stdout
    assert "other from similar steps (learning)" in verbose
    shown = cli.json("learning", "show")
    sleep = next(r for r in shown if r["target"] == "sleep")
    assert sleep["runs"] == 1 and sleep["success_rate"] == 1.0
