"""execution: the backend choice in the config, and what the local backend never imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agent_agency_cli.config import Settings, load_settings
from agent_agency_cli.errors import BadInputError, ConfigError


def test_the_default_backend_is_local():
    s = Settings()
    assert s.execution.backend == "local" and s.execution.ray_address is None


def test_ray_backend_and_address_are_read_from_the_config(write_file):
    path = write_file("c.yaml", "execution:\n  backend: ray\n  ray_address: 127.0.0.1:6379\n")
    s = load_settings(path)
    assert s.execution.backend == "ray" and s.execution.ray_address == "127.0.0.1:6379"


@pytest.mark.parametrize(("text", "message"), [
    ("execution:\n  backend: slurm\n", "execution.backend"),
    ("execution:\n  ray_adress: x\n", "unknown key execution.ray_adress"),
])
def test_bad_execution_settings_name_the_key(write_file, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write_file("c.yaml", text))


def test_missing_ray_extra_is_one_clear_line(monkeypatch):
    from agent_agency_cli.backends import ray_cluster

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(BadInputError, match=r"pip install 'agent-agency-cli\[ray\]'"):
        ray_cluster.import_ray()


def test_only_shell_steps_run_remotely_and_only_with_the_ray_backend(write_file):
    from agent_agency_cli.backends import runs_remotely

    ray = load_settings(write_file("c.yaml", "execution: {backend: ray}\n"))
    assert runs_remotely(ray, {"run": "true"})
    assert not runs_remotely(ray, {"python": "m:f"})  # a callable stays on the head
    assert not runs_remotely(Settings(), {"run": "true"})


def test_local_backend_info_and_its_line():
    from agent_agency_cli.backends import backend_info, describe

    info = backend_info(Settings())
    assert info["backend"] == "local" and info["nodes"] == 1 and info["cpus"] >= 1
    assert describe({"backend": "ray", "address": "h:1", "nodes": 2, "cpus": 3, "gpus": 0}) == \
        "ray at h:1: 2 nodes, 3 CPUs, 0 GPUs"
    assert describe(info).startswith("local: 1 worker, ")


def test_status_and_help_never_import_ray(tmp_path):
    code = (
        "import sys\n"
        "from agent_agency_cli.cli.main import app\n"
        "for argv in (['--help'], ['task', 'list', '--json'], ['workers', 'list', '--json']):\n"
        "    try:\n"
        "        app(argv, prog_name='agent-agency-cli')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('RAY', 'ray' in sys.modules)\n"
    )
    env = {"AGENT_AGENCY_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "RAY False" in res.stdout, res.stdout + res.stderr


def test_task_create_with_the_ray_backend_but_no_ray_is_bad_input(isolated_home, write_file, monkeypatch):
    from typer.testing import CliRunner

    from agent_agency_cli.cli.main import app

    config = write_file("c.yaml", "execution: {backend: ray}\n")
    plan = write_file("p.yaml", "steps:\n  - name: a\n    run: 'true'\n")
    monkeypatch.setitem(sys.modules, "ray", None)
    res = CliRunner().invoke(app, ["--config", str(config), "task", "create", "--plan", str(plan), "--no-start"])
    assert res.exit_code == 2, res.output
    assert "pip install 'agent-agency-cli[ray]'" in res.output
    assert "Traceback" not in res.output
    listed = CliRunner().invoke(app, ["task", "list", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []  # nothing was stored
