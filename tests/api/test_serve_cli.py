"""`serve` and `mcp-server` as commands: fast --help, the token printed, a missing extra named."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys

import pytest

from tests.conftest import cli_path, wait_for


def test_help_imports_no_web_framework_nor_mcp():
    code = ("import sys; from typer.testing import CliRunner; from agent_agency_cli.cli.main import app; "
            "r = CliRunner().invoke(app, ['--help']); assert 'serve' in r.stdout and 'mcp-server' in r.stdout; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('fastapi', 'starlette', 'uvicorn', 'mcp', 'httpx', 'pydantic_settings')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_port_in_use_is_one_line(home):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = subprocess.run([*cli_path(), "serve", "--port", str(port)], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "AGENT_AGENCY_HOME": str(home)})
    assert res.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr and "Traceback" not in res.stderr
    assert not (home / "api-tokens").exists()  # nothing written


def test_a_missing_extra_is_named(tmp_path):
    # Hide fastapi from a child interpreter: serve must say which extra to install.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "fastapi.py").write_text("raise ImportError('hidden for the test', name='fastapi')\n")
    env = {**os.environ, "PYTHONPATH": str(shim)}
    res = subprocess.run([sys.executable, "-m", "agent_agency_cli.cli.main", "serve", "--port", "0"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2
    assert "serve needs the 'api' extra: pip install 'agent-agency-cli[api]'" in res.stderr
    assert "Traceback" not in res.stderr


def _answers(port: int) -> object:
    """The health answer of a server on port, or None while it does not listen yet."""
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/v1/health")
    except httpx.TransportError:
        return None


def test_serve_writes_the_token_prints_it_and_answers_with_it(home):
    pytest.importorskip("fastapi", reason="serve needs the 'api' extra: pip install -e '.[dev,api]'")
    import httpx

    proc = subprocess.Popen([*cli_path(), "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "AGENT_AGENCY_HOME": str(home)})
    try:
        lines = [proc.stderr.readline() for _ in range(4)]
        token_file = home / "api-tokens"
        assert f"new API token 'default' from {token_file} (mode 0600)" in lines[0]
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = lines[1].split("token: ", 1)[1].strip()
        assert token_file.read_text() == f"default {token}\n"
        bound = int(re.search(r"web monitor: http://127\.0\.0\.1:(\d+)/#token=" + re.escape(token),
                              lines[2]).group(1))
        assert bound != 0 and lines[3].startswith(f"API: http://127.0.0.1:{bound}/api/v1")
        wait_for(lambda: _answers(bound), timeout=30)
        r = httpx.get(f"http://127.0.0.1:{bound}/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["tasks"] == []
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    # A second start reuses the token.
    proc = subprocess.Popen([*cli_path(), "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "AGENT_AGENCY_HOME": str(home)})
    try:
        assert proc.stderr.readline().startswith("using API token 'default'")
        assert proc.stderr.readline().strip() == f"token: {token}"
        # Ctrl-C only once it serves: a SIGINT during start-up (slow under coverage or
        # load) is not what this test is about
        bound = int(re.search(r"web monitor: http://127\.0\.0\.1:(\d+)/", proc.stderr.readline()).group(1))
        wait_for(lambda: _answers(bound), timeout=30)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
