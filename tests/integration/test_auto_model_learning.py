"""`model: auto` learns from runs, end to end: real model steps against the local
OpenAI-compatible server teach which model fails more often for a step type; the next
`model: auto` step of that type picks the other, and `task status` says why."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.openai_server import Reply, write_config

GOOD = '{"verdict": "pass"}'


def steps(model: str, n: int) -> str:
    return "".join(f"  - {{name: {model}-{i}, model: {model}, type: testing, response_format: json, "
                   f"prompt: 'judge run {i}', retries: {{attempts: 0}}}}\n" for i in range(n))


AUTO = "steps:\n  - {name: judge, type: testing, response_format: json, prompt: 'judge the build'}\n"


def test_auto_picks_the_model_that_failed_less_and_status_says_why(cli, home, openai_server, write_plan,
                                                                  tmp_path: Path):
    srv = openai_server
    config = str(write_config(tmp_path / "config.yaml", srv))  # default rule: m1, then m2
    # Too few runs yet: the config's order stands, and the reasoning says so.
    tid = cli("--config", config, "task", "create", "--plan", str(write_plan(AUTO, "auto.yaml")),
              "--no-start").stdout.strip()
    model = cli.json("--config", config, "task", "status", tid)["steps"][0]["model"]
    assert (model["selected"], model["fallbacks"]) == ("m1", ["m2"])
    assert "config order stands" in model["reasoning"] and "(runs: m1 0, m2 0)" in model["reasoning"]
    # Six runs each: m2 answers JSON; m1 answers prose where JSON is asked, so its steps fail
    # (all six start together, so the first failure stops none of them).
    srv.script(*[Reply(content=GOOD)] * 6, model="m2")
    good = write_plan("steps:\n" + steps("m2", 6), "good.yaml")
    assert cli("--config", config, "task", "create", "--plan", str(good), "--foreground").returncode == 0
    bad = write_plan("concurrency: 6\nsteps:\n" + steps("m1", 6), "bad.yaml")
    res = cli("--config", config, "task", "create", "--plan", str(bad), "--foreground")
    assert res.returncode == 1, res.stderr
    with sqlite3.connect(home / "agency.db") as conn:
        rows = conn.execute("SELECT executor, SUM(success), COUNT(*) FROM learning_records WHERE kind = 'model' "
                            "GROUP BY executor ORDER BY executor").fetchall()
    assert rows == [("m1", 0, 6), ("m2", 6, 6)]  # a failed step counts against the model that failed it
    # Now model: auto chooses m2, says why, and m2 answers first.
    srv.requests.clear()
    srv.script(Reply(content=GOOD), model="m2")
    res = cli("--config", config, "task", "create", "--plan", str(write_plan(AUTO, "auto2.yaml")), "--foreground")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip().splitlines()[0]
    status = cli.json("--config", config, "task", "status", tid)
    model = status["steps"][0]["model"]
    assert (model["selected"], model["fallbacks"], model["used"]) == ("m2", ["m1"], "m2")
    assert model["reasoning"].startswith("chose m2: 100% success over 6 runs of type testing, $")
    assert "(learning); m1: 0% over 6 runs" in model["reasoning"]
    assert model["reasoning"].endswith("; the default rule: primary m1")
    assert [r.model for r in srv.requests] == ["m2"]
    plain = cli("--config", config, "task", "status", tid, "--verbose").stdout
    assert "chose m2: 100% success over 6 runs of type testing" in plain
    events = [json.loads(line) for line in cli("task", "events", tid, "--json").stdout.splitlines()]
    (selected,) = [e for e in events if e["kind"] == "model_selected"]
    assert selected["payload"]["model"] == "m2" and "(learning)" in selected["payload"]["reasoning"]
