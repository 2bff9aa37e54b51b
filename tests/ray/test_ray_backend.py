"""The ray backend: the same tasks, CLI and guarantees with steps on a Ray cluster."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.conftest import EXAMPLES, skip_module_unless_installed, wait_for
from tests.ray.conftest import OBJECT_STORE, node_of

skip_module_unless_installed("ray", "the Ray backend tests need the 'ray' extra: pip install -e '.[dev,ray]'")

pytestmark = pytest.mark.ray


def _state(pid: int) -> str:
    try:
        return psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return "gone"


def _gone(pid: int) -> bool:
    return _state(pid) in ("gone", psutil.STATUS_ZOMBIE)


def _step_row(home: Path, tid: str, step: str) -> sqlite3.Row:
    conn = sqlite3.connect(home / "agency.db", timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM steps WHERE task_id = ? AND name = ?", (tid, step)).fetchone()
    finally:
        conn.close()


def _agent_pid(node_id: str) -> int:
    import ray

    from agent_agency_cli.backends.ray_cluster import AGENT_PREFIX

    agent = ray.get_actor(AGENT_PREFIX + node_id, namespace="agent_agency")
    return ray.get(agent.ping.remote(), timeout=60)["pid"]


def test_quickstart_runs_on_ray(cli, ray_home: Path):
    res = cli("task", "create", "--plan", str(EXAMPLES / "quickstart.yaml"), "--wait", timeout=120)
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip().splitlines()[0]
    status = cli.json("task", "status", tid)
    assert status["status"] == "completed"
    nodes = {w["id"] for w in cli.json("workers", "list")}
    shell = [s for s in status["steps"] if s["kind"] == "shell"]
    assert len(shell) == 4
    assert {s["worker"] for s in shell} <= nodes, ([s["worker"] for s in shell], nodes)
    report = next(s for s in status["steps"] if s["name"] == "report")
    assert report["kind"] == "python" and report["worker"] is None  # it ran on the head
    assert (Path(status["workspace"]) / "sum.txt").read_text().strip()  # the steps' files are there
    report = next(s for s in cli.json("task", "result", tid)["steps"] if s["name"] == "report")
    assert report["result"] == {"words": 3, "chars": 28}  # the Python step read the Ray steps' files


def test_workers_list_and_daemon_status_show_the_cluster(cli, ray_home: Path, ray_cluster):
    workers = cli.json("workers", "list")
    assert len(workers) == 2
    assert all(w["backend"] == "ray" and w["id"].startswith("ray-") for w in workers)
    by_cap = {c: w for w in workers for c in w["capabilities"]}
    assert by_cap["fpga"]["node_id"] == node_of("fpga")
    assert by_cap["ssd"]["node_id"] == node_of("ssd")
    assert by_cap["fpga"]["total"]["cpu_cores"] == 1 and by_cap["ssd"]["total"]["cpu_cores"] == 2
    plain = cli("workers", "list")
    assert plain.returncode == 0, plain.stderr
    assert "backend ray: 2 nodes, 3 CPUs, 0 GPUs" in plain.stdout
    assert cli("daemon", "start").returncode == 0
    info = cli.json("daemon", "status")
    assert info["execution"]["backend"] == "ray" and info["execution"]["nodes"] == 2
    assert info["execution"]["address"] == ray_cluster.address
    assert f"backend: ray at {ray_cluster.address}: 2 nodes, 3 CPUs" in cli("daemon", "status").stdout


def test_steps_are_placed_by_capability_on_two_nodes(cli, ray_home: Path, write_plan, tmp_path: Path):
    # Each step records its parent: the node agent that owns it. The agents are pinned
    # to their nodes, so the parent says which node ran the step.
    plan = write_plan(f"""
steps:
  - name: on-fpga
    requires: [fpga]
    run: echo $PPID > {tmp_path}/fpga.ppid; echo placed; python3 -c "sum(range(3 * 10**7))"
  - name: on-ssd
    requires: [ssd]
    resources: {{cpu: 2}}
    run: echo $PPID > {tmp_path}/ssd.ppid
""")
    res = cli("task", "create", "--plan", str(plan), "--wait", timeout=120)
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip().splitlines()[0]
    assert int((tmp_path / "fpga.ppid").read_text()) == _agent_pid(node_of("fpga"))
    assert int((tmp_path / "ssd.ppid").read_text()) == _agent_pid(node_of("ssd"))
    workers = {w["node_id"]: w["id"] for w in cli.json("workers", "list")}
    metrics = cli.json("task", "metrics", tid)
    steps = {s["name"]: s for s in metrics["steps"]}
    assert steps["on-fpga"]["worker"] == workers[node_of("fpga")]
    assert steps["on-ssd"]["worker"] == workers[node_of("ssd")]
    # metrics were sampled on the node and stored on the head
    assert steps["on-fpga"]["samples"], steps["on-fpga"]
    assert steps["on-fpga"]["summary"]["cpu_percent_max"] > 0
    assert workers[node_of("fpga")] in cli("task", "metrics", tid, COLUMNS="160").stdout
    # the output streamed back into the step's log on the head
    log = cli("task", "logs", tid, "--step", "on-fpga").stdout
    assert "placed" in log and f"on {workers[node_of('fpga')]}" in log
    # a capability no node has is bad input at create time, naming it
    bad = write_plan("steps:\n  - name: x\n    requires: [tpu]\n    run: 'true'\n", "bad.yaml")
    res = cli("task", "create", "--plan", str(bad))
    assert res.returncode == 2
    assert "tpu" in res.stderr and "Traceback" not in res.stderr


def test_the_placement_example_runs_each_step_on_its_node(cli, ray_home: Path):
    res = cli("task", "create", "--plan", str(EXAMPLES / "ray-placement.yaml"), "--wait", timeout=120)
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip().splitlines()[0]
    workers = {w["node_id"]: w["id"] for w in cli.json("workers", "list")}
    steps = {s["name"]: s for s in cli.json("task", "status", tid)["steps"]}
    assert steps["on-fpga"]["worker"] == workers[node_of("fpga")]
    assert steps["on-ssd"]["worker"] == workers[node_of("ssd")]
    assert "on the fpga node" in cli("task", "logs", tid, "--step", "on-fpga").stdout


def test_a_node_that_dies_fails_the_attempt(cli, ray_home: Path, ray_cluster, write_plan, tmp_path: Path):
    node = ray_cluster.add_node(num_cpus=1, resources={"doomed": 1}, object_store_memory=OBJECT_STORE)
    ray_cluster.wait_for_nodes()
    pid_file = tmp_path / "pid"
    plan = write_plan(f"steps:\n  - name: there\n    requires: [doomed]\n"
                      f"    run: echo $$ > {pid_file}; exec sleep 60\n")
    res = cli("task", "create", "--plan", str(plan))
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip()
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=60)
    ray_cluster.remove_node(node)
    wait_for(lambda: cli.json("task", "status", tid)["finished"], timeout=90)
    status = cli.json("task", "status", tid)
    assert status["status"] == "failed"
    assert "died" in status["steps"][0]["reason"], status["steps"][0]
    wait_for(lambda: _gone(int(pid_file.read_text())), timeout=30)  # nothing of it is left
    wait_for(lambda: len(cli.json("workers", "list")) == 2, timeout=30)  # the dead node is no worker


def test_pause_resume_cancel_signal_the_process_on_its_node(cli, ray_home: Path, write_plan, tmp_path: Path):
    pid_file = tmp_path / "pid"
    plan = write_plan(f"steps:\n  - name: long\n    run: echo $$ > {pid_file}; sleep 60\n")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=60)
    pid = int(pid_file.read_text())
    assert _state(pid) != psutil.STATUS_STOPPED
    assert cli("task", "pause", tid).returncode == 0
    wait_for(lambda: _state(pid) == psutil.STATUS_STOPPED, timeout=10)
    assert cli.json("task", "status", tid)["steps"][0]["status"] == "paused"
    assert cli("task", "resume", tid).returncode == 0
    wait_for(lambda: _state(pid) != psutil.STATUS_STOPPED, timeout=10)
    assert cli("task", "cancel", tid, "--reason", "enough").returncode == 0
    wait_for(lambda: _gone(pid), timeout=10)
    status = cli.json("task", "status", tid)
    assert status["status"] == "cancelled"
    assert status["steps"][0]["status"] == "cancelled"


def test_a_step_killed_on_its_worker_or_a_dead_agent_fails_the_attempt_and_is_retried(
        cli, ray_home: Path, write_plan, tmp_path: Path):
    pids = tmp_path / "pids"
    # First attempt: records its pid and waits; later attempts finish at once.
    run = f"if [ -s {pids} ]; then echo retried; else echo $$ > {pids}; exec sleep 60; fi"
    plan = write_plan(f"""
steps:
  - name: killed
    requires: [fpga]
    retries: {{attempts: 1, initial: 0.1s}}
    run: {json.dumps(run)}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(lambda: pids.exists() and pids.read_text().strip(), timeout=60)
    os.kill(int(pids.read_text()), signal.SIGKILL)
    wait_for(lambda: cli.json("task", "status", tid)["finished"], timeout=60)
    status = cli.json("task", "status", tid)
    assert status["status"] == "completed", status
    attempts = [a for a in status["attempts"] if a["step"] == "killed"]
    assert [a["status"] for a in attempts] == ["failed", "completed"]
    assert attempts[0]["reason"] == "killed by SIGKILL"

    # The node agent itself dies mid-step: the attempt fails, the retry gets a new agent,
    # and the first attempt's process does not outlive its agent.
    pids.unlink()
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(lambda: pids.exists() and pids.read_text().strip(), timeout=60)
    first = int(pids.read_text())
    import ray

    from agent_agency_cli.backends.ray_cluster import AGENT_PREFIX

    ray.kill(ray.get_actor(AGENT_PREFIX + node_of("fpga"), namespace="agent_agency"))
    wait_for(lambda: cli.json("task", "status", tid)["finished"], timeout=90)
    status = cli.json("task", "status", tid)
    assert status["status"] == "completed", status
    attempts = [a for a in status["attempts"] if a["step"] == "killed"]
    assert "node agent" in attempts[0]["reason"] and "died" in attempts[0]["reason"], attempts
    wait_for(lambda: _gone(first), timeout=10)


def test_daemon_killed_mid_task_on_ray_recovers_without_duplicate_attempts(
        cli, ray_home: Path, write_plan, tmp_path: Path):
    ledger = tmp_path / "ledger"
    # Each step waits for its go-file, then records itself. The test creates the file only
    # once the next daemon has recovered the task and runs the step's second attempt: an
    # attempt of the dead daemon that survived recovery would then record itself too.
    steps = "\n".join(
        f"  - name: s{i}\n    run: while [ ! -f {tmp_path}/go{i} ]; do sleep 0.02; done; echo s{i} >> {ledger}\n"
        f"    idempotent: true\n" + (f"    needs: [s{i - 1}]\n" if i else "")
        for i in range(2)
    )
    plan = write_plan("steps:\n" + steps)
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    home = ray_home
    for i in range(2):
        wait_for(lambda i=i: _step_row(home, tid, f"s{i}")["status"] == "running", timeout=60, interval=0.01)
        pid = json.loads((home / "daemon.json").read_text())["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda pid=pid: _gone(pid), timeout=10)
        with open(home / "daemon.log", "ab") as log:
            subprocess.Popen([sys.executable, "-m", "agent_agency_cli.engine.daemon", "--home", str(home)],
                             stdout=log, stderr=log, start_new_session=True)
        wait_for(lambda i=i: (row := _step_row(home, tid, f"s{i}"))["status"] == "running"
                 and row["attempt"] == 2, timeout=60, interval=0.01)
        (tmp_path / f"go{i}").touch()
    wait_for(lambda: cli.json("task", "status", tid)["finished"], timeout=90)
    status = cli.json("task", "status", tid)
    assert status["status"] == "completed", status
    assert ledger.read_text().split() == ["s0", "s1"]
    assert [s["attempt"] for s in status["steps"]] == [2, 2]
    events = [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()]
    assert sum(1 for e in events if e["kind"] == "task_recovered") == 2


def test_timeouts_and_limits_apply_on_the_node(cli, ray_home: Path, write_plan, tmp_path: Path):
    pid_file = tmp_path / "pid"
    plan = write_plan(f"""
steps:
  - name: slow
    timeout: 1s
    run: echo $$ > {pid_file}; exec sleep 60
  - name: greedy
    resources: {{memory: 64M}}
    run: python3 -c "x = bytearray(400 * 1024 * 1024)"
""")
    res = cli("task", "create", "--plan", str(plan), "--wait", timeout=120)
    assert res.returncode == 1, res.stderr
    tid = res.stdout.strip().splitlines()[0]
    steps = {s["name"]: s for s in cli.json("task", "status", tid)["steps"]}
    assert steps["slow"]["reason"] == "timeout after 1s"
    # Its shell may not have started within the 1 s on a loaded machine (nothing to end then);
    # if it did, it is gone.
    assert not pid_file.exists() or _gone(int(pid_file.read_text()))
    assert steps["greedy"]["reason"] == "memory limit 64MiB exceeded"


def test_recovery_finds_a_steps_processes_on_the_nodes_by_their_markers(ray_cluster, tmp_path: Path):
    from agent_agency_cli.backends import ray_cluster as rc

    env = {"PATH": os.environ["PATH"], "AGENT_AGENCY_TASK_ID": "t0dead", "AGENT_AGENCY_STEP": "orphan"}
    proc = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    other = subprocess.Popen(["sleep", "60"], env={**env, "AGENT_AGENCY_STEP": "another"},
                             start_new_session=True)
    try:
        assert rc.kill_step_everywhere("t0dead", "orphan") >= 1
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert other.poll() is None  # another step's process is left alone
    finally:
        for p in (proc, other):
            p.kill()
            p.wait()
