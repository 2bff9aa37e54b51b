"""The human face (issue 11): what a person sees at the CLI: one JSON document, warnings that
are shown, secrets that stay masked, messages in the plan's and config's own words."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from agent_agency_cli.cli.main import app

KEY = "AKIAIOSFODNN7EXAMPLE"


def _run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_create_json_foreground_writes_one_document_with_the_id(write_plan):
    # defect 3: `--json --wait/--foreground` wrote {"id": ...} and then the final status
    plan = write_plan("steps:\n  - name: a\n    run: echo hi\n")
    res = _run("task", "create", "--plan", str(plan), "--foreground", "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)  # fails on two concatenated documents ("Extra data")
    assert doc["status"] == "completed"
    assert len(doc["id"]) == 6 and doc["steps"][0]["name"] == "a"


def test_create_shows_the_deadline_warning_in_plain_words(write_plan):
    # defect 8: warnings were only in the stored JSON; the words rounded both sides alike
    plan = write_plan("steps:\n  - name: a\n    run: echo hi\n    estimate: 20\n")
    res = _run("task", "create", "--plan", str(plan), "--no-start", "--deadline", "10s")
    assert res.exit_code == 0, res.stderr
    warning = next(line for line in res.stderr.splitlines() if line.startswith("warning: "))
    assert "the deadline leaves 9." in warning or "the deadline leaves 10s" in warning
    assert "estimated to take 20s (short by 10s)" in warning
    assert "--deadline" in warning


def test_deadline_message_never_rounds_both_sides_to_the_same_words():
    from agent_agency_cli.validation import _check_feasibility

    msg = _check_feasibility(1.2, 1000.96, 1000.0).messages[0]
    assert "leaves 0.96s" in msg and "take 1.2s" in msg
    msg = _check_feasibility(1.04, 1001.0, 1000.0).messages[0]  # both would read "1s"
    assert "leaves 1.00s but the plan is estimated to take 1.04s" in msg


def test_dry_run_report_lists_warnings_and_masks_secrets(write_plan):
    # defects 8 and 9: the dry-run report is made to be shared
    plan = write_plan(f"steps:\n  - name: a\n    run: echo {KEY}\n    estimate: 20\n")
    res = _run("task", "create", "--plan", str(plan), "--mode", "dry-run", "--deadline", "10s")
    assert res.exit_code == 0, res.stderr
    assert KEY not in res.stdout
    assert "warning: the deadline leaves" in res.stdout
    as_json = _run("task", "create", "--plan", str(plan), "--mode", "dry-run", "--json")
    report = json.loads(as_json.stdout)
    assert KEY not in as_json.stdout and report["steps"][0]["command"].startswith("echo ")


def test_status_json_masks_secrets_in_step_commands(write_plan):
    plan = write_plan(f"steps:\n  - name: a\n    run: echo {KEY}\n")
    tid = _run("task", "create", "--plan", str(plan), "--no-start").stdout.strip().splitlines()[-1]
    res = _run("task", "status", tid, "--json")
    assert res.exit_code == 0, res.stderr
    assert KEY not in res.stdout
    assert json.loads(res.stdout)["steps"][0]["command"].startswith("echo ")


def test_missing_config_file_is_bad_input_even_for_read_commands(tmp_path):
    # defect 16: `--config /nonexistent.yaml task list` exited 0 with the defaults
    res = _run("--config", str(tmp_path / "nonexistent.yaml"), "task", "list")
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "nonexistent.yaml not found" in res.stderr
    assert "Traceback" not in res.stderr


def test_plan_type_errors_name_the_plans_keys(write_plan):
    # defect 17: `run: true` read "bad 'run.str': Input should be a valid string"
    plan = write_plan("steps:\n  - name: a\n    run: true\n")
    res = _run("task", "create", "--plan", str(plan), "--no-start")
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert line.endswith("step 'a': bad 'run': expected text or a list, got true"), line
    assert "str" not in line.split("bad ")[1] and "Input should" not in line


def test_plan_enum_and_number_errors_say_what_is_expected(write_plan):
    plan = write_plan("steps:\n  - name: a\n    run: echo\n    on_failure: explode\n")
    res = _run("task", "create", "--plan", str(plan), "--no-start")
    assert res.exit_code == 2
    assert "bad 'on_failure': expected one of 'fail', 'abort', 'rollback' or 'human', got \"explode\"" in res.stderr
    plan = write_plan("steps:\n  - name: a\n    run: echo\n    resources: {open_files: lots}\n")
    res = _run("task", "create", "--plan", str(plan), "--no-start")
    assert "bad 'resources.open_files': expected a whole number, got \"lots\"" in res.stderr


def test_unknown_config_key_gets_a_did_you_mean(tmp_path, write_plan):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task_execution:\n  max_concurent_tasks: 3\n")
    plan = write_plan("steps:\n  - name: a\n    run: echo\n")
    res = _run("--config", str(cfg), "task", "create", "--plan", str(plan), "--no-start")
    assert res.exit_code == 2
    assert ("unknown key task_execution.max_concurent_tasks (did you mean 'max_concurrent_tasks'?)"
            in res.stderr)
    cfg.write_text("workers:\n  - id: w1\n    gpus: 2\n")
    res = _run("--config", str(cfg), "task", "create", "--plan", str(plan), "--no-start")
    assert "unknown key workers.0.gpus (allowed: id, capabilities, resources, models)" in res.stderr


def _foreground(write_plan, text: str) -> str:
    res = _run("task", "create", "--plan", str(write_plan(text)), "--foreground")
    return res.stdout.strip().splitlines()[0]


def test_a_quiet_step_log_shows_command_start_end_and_exit(write_plan):
    # defect 13: a step that printed nothing had no log: `task logs ID --step quiet` was empty
    tid = _foreground(write_plan, "steps:\n  - name: quiet\n    run: 'true'\n"
                                  "  - name: loud\n    run: echo hi; exit 3\n    needs: []\n")
    res = _run("task", "logs", tid, "--step", "quiet")
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "# $ true"
    assert lines[-1].startswith("# exit 0 · completed in ")
    doc = [json.loads(x) for x in _run("task", "logs", tid, "--json").stdout.splitlines()]
    quiet = [d for d in doc if d["step"] == "quiet"]
    assert [d["stream"] for d in quiet] == ["sys", "sys"] and quiet[0]["ts"] <= quiet[1]["ts"]
    loud = [d["text"] for d in doc if d["step"] == "loud"]
    assert loud[0].startswith("$ echo hi") and "hi" in loud
    assert loud[-1].startswith("exit 3 · failed in ")
    assert sum(t.startswith("$ ") for t in loud) == 1  # the file's own command line, not twice


def test_logs_of_an_archived_task_say_how_to_restore(write_plan):
    # defect 14: `task logs` on an archived task printed nothing and exited 0
    tid = _foreground(write_plan, "steps:\n  - name: a\n    run: echo hello\n")
    assert _run("task", "archive", tid).exit_code == 0
    res = _run("task", "logs", tid)
    assert res.exit_code == 3
    assert f"task {tid} is archived" in res.stderr
    assert f"agent-agency-cli task restore {tid}" in res.stderr
    assert _run("task", "restore", tid).exit_code == 0
    restored = _run("task", "logs", tid)
    assert restored.exit_code == 0 and "[a] hello" in restored.stdout


GATED = """
steps:
  - name: code
    run: printf 'import os\\\\n' > m.py
    outputs: [m.py]
    gates: [{type: code_style, required: false, select: [F]}]
  - name: other
    run: echo hi
"""


def test_status_and_result_show_gates_evidence_and_gaps(write_plan, monkeypatch):
    # defect 7: gates, scores, gaps and evidence showed only in --json; a failed gate read ✓
    monkeypatch.setenv("COLUMNS", "200")
    plan = write_plan(GATED)
    res = _run("task", "create", "--plan", str(plan), "--requirements", "no lint errors", "--foreground")
    tid = res.stdout.strip().splitlines()[0]
    evidence = json.loads(_run("task", "result", tid, "--json").stdout)["gates"][0]["evidence"][0]
    for command in ("status", "result"):
        out = _run("task", command, tid).stdout
        code_row = next(line for line in out.splitlines() if " code " in f" {line} " and "gates:" in line)
        assert "completed, gate failed" in code_row and "✓" not in code_row.split("gates:")[0]
        assert "code_style ✗ 0.90 (1 violation, advisory)" in code_row
        assert f"code: code_style failed score 0.90, 1 violation (advisory)  evidence {evidence}" in out
        assert "partially completed: every step ran, but the final review found gaps:" in out
        assert "  - requirement 'no lint errors' is not met: code_style on step 'code' failed" in out
    other = next(line for line in _run("task", "status", tid).stdout.splitlines() if line.startswith("other"))
    assert "completed" in other and "gate failed" not in other


def test_result_shows_a_return_value_as_json(write_plan, tmp_path):
    # defect 12: a step's return value was printed as a Python repr ({'a': None, 'b': True})
    (tmp_path / "ret_steps.py").write_text("def give(ctx):\n    return {'a': None, 'b': True}\n")
    plan = write_plan("steps:\n  - name: give\n    python: ret_steps:give\n")
    tid = _run("task", "create", "--plan", str(plan), "--foreground").stdout.strip().splitlines()[0]
    out = _run("task", "result", tid).stdout
    assert '→ {"a": null, "b": true}' in out and "None" not in out


def test_dry_run_tasks_read_as_dry_runs_in_list_and_status(write_plan):
    plan = write_plan("steps:\n  - name: a\n    run: echo hi\n")
    tid = _run("task", "create", "--plan", str(plan), "--mode", "dry-run").stdout.splitlines()[0]
    row = next(line for line in _run("task", "list").stdout.splitlines() if line.startswith(tid))
    cells = re.split(r"\s{2,}", row)  # id, status, priority, progress, elapsed, age, description
    assert cells[1] == "dry-run" and "completed" not in row and cells[4] == "-", cells  # no elapsed time
    assert row.split()[1] == "dry-run"  # one word: `task list | awk '{print $2}'` is the status
    status = _run("task", "status", tid).stdout
    # piped, the status is a plain word (cli/plain.py): `dry-run`, never `completed`
    assert status.splitlines()[1].startswith("dry-run  1/1 steps") and "dry run: nothing was run" in status
    row = next(line for line in status.splitlines() if line.startswith("a "))
    assert "simulated" in row and "completed" not in row and "✓" not in row  # plain when piped
    assert "elapsed" not in status


def _alerts(tid: str) -> list[dict]:
    events = [json.loads(x) for x in _run("task", "events", tid, "--json").stdout.splitlines()]
    return [e for e in events if e["kind"] == "alert" and e["payload"]["cause"] == "error_rate"]


def test_one_failed_step_of_a_small_task_is_not_an_error_rate_alert(write_plan):
    # the default error_rate_warning (5%) fired on the first failed step of any small task
    plan = write_plan("steps:\n  - name: ok\n    run: 'true'\n  - name: bad\n    run: exit 1\n    needs: [ok]\n")
    res = _run("task", "create", "--plan", str(plan), "--foreground")
    assert res.exit_code == 1
    assert _alerts(res.stdout.splitlines()[0]) == []


def test_error_rate_alert_fires_once_enough_attempts_were_made(write_plan, home):
    (home / "config.yaml").write_text(
        "task_execution:\n  monitoring:\n    alert_thresholds: {error_rate_min_attempts: 3}\n")
    plan = write_plan("steps:\n  - name: a\n    run: 'true'\n  - name: b\n    run: 'true'\n"
                      "  - name: bad\n    run: exit 1\n    needs: [a, b]\n")
    res = _run("task", "create", "--plan", str(plan), "--foreground")
    alerts = _alerts(res.stdout.splitlines()[0])
    assert len(alerts) == 1 and "1 of 3 attempts failed" in alerts[0]["payload"]["message"]


def test_the_daemon_exits_when_idle(cli, home):
    # the daemon never exited (a user collected nine); now after daemon.idle_exit, 10m by default
    from agent_agency_cli.config import Settings
    from tests.conftest import pid_alive, wait_for

    assert Settings().daemon.idle_exit == 600.0
    (home / "config.yaml").write_text("daemon:\n  idle_exit: 0.5s\n")
    assert cli("daemon", "start").returncode == 0
    pid = json.loads((home / "daemon.json").read_text())["pid"]
    wait_for(lambda: not pid_alive(pid), timeout=30)
    assert cli("daemon", "status").returncode == 3  # no daemon is running


def test_task_wait_exits_with_the_tasks_code_and_times_out_with_5(write_plan):
    ok = _foreground(write_plan, "steps:\n  - name: a\n    run: 'true'\n")
    bad = _foreground(write_plan, "steps:\n  - name: a\n    run: exit 2\n")
    assert _run("task", "wait", ok).exit_code == 0
    res = _run("task", "wait", bad, "--json")
    assert res.exit_code == 1 and json.loads(res.stdout)["status"] == "failed"
    plan = write_plan("steps:\n  - name: a\n    run: 'true'\n")
    queued = _run("task", "create", "--plan", str(plan), "--no-start").stdout.strip()
    res = _run("task", "wait", queued, "--timeout", "0.3s")
    assert res.exit_code == 5
    assert f"task {queued} is still queued after 0.3s; it keeps running" in res.stderr
    bad_timeout = _run("task", "wait", queued, "--timeout", "soon")
    assert bad_timeout.exit_code == 2 and "--timeout" in bad_timeout.stderr


def test_task_list_search(write_plan):
    plan = write_plan("steps:\n  - name: a\n    run: 'true'\n")
    first = _run("task", "create", "--plan", str(plan), "--no-start", "-d", "Build the Parser").stdout.strip()
    _run("task", "create", "--plan", str(plan), "--no-start", "-d", "deploy the site")
    res = _run("task", "list", "--search", "parser", "--json")
    assert [t["id"] for t in json.loads(res.stdout)] == [first]
    assert [t["id"] for t in json.loads(_run("task", "list", "-q", first[:4], "--json").stdout)] == [first]


def test_control_commands_answer_with_the_applied_intervention_as_json(write_plan):
    plan = write_plan("steps:\n  - name: a\n    run: 'true'\n")
    tid = _run("task", "create", "--plan", str(plan), "--no-start").stdout.strip()
    res = _run("task", "pause", tid, "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["task_id"] == tid and doc["status"] == "paused" and doc["message"]
    assert doc["intervention"]["kind"] == "pause" and doc["intervention"]["outcome"] == "applied"
    doc = json.loads(_run("task", "cancel", tid, "--reason", "not needed", "--json").stdout)
    assert doc["status"] == "cancelled" and doc["intervention"]["kind"] == "cancel"
    assert doc["intervention"]["reason"] == "not needed"


def test_a_steps_own_exit_code_never_opens_a_breaker(write_plan, home):
    # defect 5: five failing `python3 -c 'raise SystemExit(1)'` opened breaker python3, and an
    # unrelated task's `python3 -c 'print(42)'` then failed at once
    (home / "config.yaml").write_text("recovery:\n  breakers: {failure_threshold: 2}\n")
    failing = write_plan("steps:\n  - name: f\n    run: python3 -c 'raise SystemExit(1)'\n", "f.yaml")
    for _ in range(3):
        assert _run("task", "create", "--plan", str(failing), "--foreground").exit_code == 1
    breakers = {b["name"]: b for b in json.loads(_run("breakers", "list", "--json").stdout)}
    assert breakers.get("python3", {"state": "closed"})["state"] == "closed"
    ok = write_plan("steps:\n  - name: p\n    run: python3 -c 'print(42)'\n", "ok.yaml")
    res = _run("task", "create", "--plan", str(ok), "--foreground")
    assert res.exit_code == 0, res.stderr
    raising = write_plan("steps:\n  - name: r\n    python: os:abort_me_not_there\n", "r.yaml")
    for _ in range(2):  # a module whose function cannot be found cannot start: that counts
        assert _run("task", "create", "--plan", str(raising), "--foreground").exit_code == 1
    breakers = {b["name"]: b for b in json.loads(_run("breakers", "list", "--json").stdout)}
    assert breakers["os"]["state"] == "open"


def test_dry_run_report_never_breaks_a_token_at_80_columns(write_plan, tmp_path, monkeypatch):
    # defect 19: the dry-run table folded commands and paths mid-token at 80 columns
    monkeypatch.setenv("COLUMNS", "80")
    deep = tmp_path / ("a-rather-long-directory-name-" * 3).rstrip("-")
    deep.mkdir()
    command = "python3 -m some_long_module_name --option-with-a-long-name=" + "x" * 30
    plan = write_plan(f"steps:\n  - name: build-the-thing\n    run: {command}\n    workdir: {deep}\n"
                      "    outputs: [dist/some-long-artifact-name.tar.gz]\n")
    res = _run("task", "create", "--plan", str(plan), "--mode", "dry-run")
    assert res.exit_code == 0, res.stderr
    assert f"   $ {command}" in res.stdout.splitlines()
    assert f"   workdir: {deep}" in res.stdout.splitlines()
    assert "   paths: dist/some-long-artifact-name.tar.gz" in res.stdout.splitlines()


def test_daemon_start_with_another_config_says_how_to_restart(cli, home, tmp_path):
    # defect 16: a different --config for a running daemon was "already running", exit 0
    one = tmp_path / "one.yaml"
    one.write_text("daemon:\n  poll_interval: 50ms\n")
    two = tmp_path / "two.yaml"
    two.write_text("daemon:\n  poll_interval: 100ms\n")
    assert cli("--config", str(one), "daemon", "start").returncode == 0
    pid = json.loads((home / "daemon.json").read_text())["pid"]
    same = cli("--config", str(one), "daemon", "start")
    assert same.returncode == 0 and "already running" in same.stderr
    other = cli("--config", str(two), "daemon", "start")
    assert other.returncode == 5
    assert f"a daemon (pid {pid}) already runs with {one}, not {two}" in other.stderr
    assert f"agent-agency-cli daemon stop && agent-agency-cli --config {two} daemon start" in other.stderr


def test_modifications_read_in_words_not_internals(write_plan, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    # defect 12: "changes={'priority_rank': 3, 'deadline': 1795994309.68…}", "deadline None→1795…"
    plan = write_plan("steps:\n  - name: a\n    run: 'true'\n")
    tid = _run("task", "create", "--plan", str(plan), "--no-start", "--requirements", "tests pass").stdout.strip()
    res = _run("task", "modify", tid, "--priority", "urgent", "--deadline", "2099-01-01T18:00Z",
               "--requirements", "tests pass,docs")
    assert res.exit_code == 0, res.stderr
    events = _run("task", "events", tid).stdout
    line = next(x for x in events.splitlines() if "task modified" in x)
    assert "deadline - → 2099-01-01 18:00 UTC" in line
    assert "priority normal → urgent" in line and "requirements tests pass → tests pass, docs" in line
    assert "priority_rank" not in line and "None" not in line and "[" not in line
    audit = _run("task", "status", tid, "--verbose").stdout
    row = next(x for x in audit.splitlines() if " modify " in x)
    assert "deadline 2099-01-01 18:00 UTC" in row and "priority urgent" in row
    assert "priority_rank" not in row and "{" not in row and "1795" not in row


def test_change_text_shows_values_as_people_write_them():
    from agent_agency_cli.change_text import describe_changes

    assert describe_changes({"limits": {"max_cpu": 2, "max_memory": "512M"}, "priority_rank": 3},
                            {"limits": "{}"}) == "limits - → cpu 2, memory 512M"
    assert describe_changes({"requirements": ["a", "b"]}, {"requirements": '["a"]'}) == "requirements a → a, b"


def test_step_rows_show_only_what_belongs_to_the_current_state(monkeypatch):
    # defect 11: `awaiting_approval 1/2 … exit -15 "cancelled: testing cancel"`, pending steps
    # after reject→retry still saying "a dependency failed", and `2/1` after a crash
    from agent_agency_cli.step_view import shown_exit, shown_reason, shown_tries

    waiting = {"status": "awaiting_approval", "exit_code": -15, "reason": "cancelled: testing cancel",
               "attempt": 1, "max_attempts": 2}
    assert shown_exit(waiting) is None and shown_reason(waiting) is None
    pending = {"status": "pending", "reason": "a dependency failed", "exit_code": None, "next_retry_at": None}
    assert shown_reason(pending) is None
    retrying = {**pending, "reason": "exit code 1", "next_retry_at": "2026-11-30T01:00:00Z"}
    assert shown_reason(retrying) == "exit code 1"
    assert shown_tries({"attempt": 2, "max_attempts": 1}) == (2, 2)
    failed = {"status": "failed", "exit_code": 3, "reason": "exit code 3"}
    assert shown_exit(failed) == 3 and shown_reason(failed) == "exit code 3"


def test_status_table_of_a_retried_task_has_no_stale_reasons(write_plan, monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    flag = tmp_path / "ok"
    plan = write_plan(f"steps:\n  - name: a\n    run: test -e {flag}\n  - name: b\n    needs: [a]\n"
                      "    run: 'true'\n")
    tid = _foreground(write_plan, plan.read_text())
    b_row = next(x for x in _run("task", "status", tid).stdout.splitlines() if x.startswith("b "))
    assert "skipped" in b_row
    flag.write_text("")
    assert _run("task", "retry", tid).exit_code == 0  # queued again (a daemon may pick it up)
    rows = _run("task", "status", tid).stdout.splitlines()
    for name in ("a ", "b "):
        row = next(x for x in rows if x.startswith(name))
        assert "dependency" not in row and "exit code" not in row, row


def test_read_commands_notice_a_dead_engine_and_start_recovery(cli, home, write_plan, latch):
    # defect 18: after the daemon was killed, `task status` showed "● running" with no warning
    import os
    import signal

    from tests.conftest import pid_alive, wait_for

    gate = latch("go")
    plan = write_plan(f'steps:\n  - name: long\n    run: "{gate.cmd}"\n    idempotent: true\n')
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    cli.wait_status(tid, lambda s: s["steps"][0]["status"] == "running")
    pid = json.loads((home / "daemon.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), timeout=30)
    held = cli("task", "status", tid, "--no-start")
    assert f"warning: the engine running task {tid} is gone" in held.stderr
    assert "daemon start recovers it" in held.stderr
    listed = cli("task", "list", "--no-start")
    assert f"the engine running task {tid} is gone" in listed.stderr
    res = cli("task", "status", tid)
    assert "started a daemon, which recovers it" in res.stderr
    gate.open()
    cli.wait_status(tid, lambda s: s["status"] == "completed")
    quiet = cli("task", "status", tid)
    assert "warning" not in quiet.stderr


def test_piped_status_rows_are_words_in_fixed_columns(write_plan):
    # defect 19: piped, `task status` put a ★ after each step on the critical path, so the
    # second column was ★ for some rows and the status for others
    plan = write_plan("steps:\n  - name: a\n    run: 'true'\n  - name: b\n    needs: [a]\n    run: 'true'\n"
                      "  - name: side\n    run: 'true'\n")
    tid = _foreground(write_plan, plan.read_text())
    lines = _run("task", "status", tid).stdout.splitlines()
    assert "critical path: a, b" in lines
    table = lines[next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["step", "status"]) + 1:]
    rows = {ln.split()[0]: ln.split()[1] for ln in table if ln.strip()}
    assert rows == {"a": "completed", "b": "completed", "side": "completed"}
    assert not any(glyph in "\n".join(lines) for glyph in "★✓✗●◌")


def test_created_event_counts_steps_in_words():
    from agent_agency_cli.cli.render import event_line

    ev = {"kind": "task_created", "task_id": "abc123", "ts": "2026-01-01T00:00:00Z", "step": None,
          "payload": {"description": "d", "steps": 1}}
    assert event_line(ev).endswith("created: d (1 step)")
    assert event_line({**ev, "payload": {"description": "d", "steps": 2}}).endswith("(2 steps)")
