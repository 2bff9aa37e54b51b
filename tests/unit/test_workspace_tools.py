"""The built-in workspace tools: paths confined to the workspace, commands scanned and
run as shell steps (process group, step log), results as the model sees them."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from agent_agency_cli.config import Settings
from agent_agency_cli.executors.base import StepLog
from agent_agency_cli.executors.registry import AttemptContext
from agent_agency_cli.executors.workspace_tools import ToolRefused, Workspace, confine


def make_ws(tmp_path: Path) -> tuple[Workspace, Path, StepLog]:
    root = tmp_path / "ws"
    root.mkdir()
    log = StepLog(tmp_path / "logs" / "agent.log")
    ctx = AttemptContext(task_id="t1", step="agent", attempt=1, spec={}, cwd=root, env=dict(os.environ), log=log,
                         workspace=root, workdir=None, settings=Settings())
    return Workspace(ctx), root, log


def call(ws: Workspace, name: str, **args: object) -> str:
    return anyio.run(ws.call, name, args)


def test_read_write_list(tmp_path: Path) -> None:
    ws, root, _ = make_ws(tmp_path)
    assert call(ws, "write_file", path="src/a.txt", content="héllo\n") == "wrote 7 bytes to src/a.txt"
    assert (root / "src" / "a.txt").read_text() == "héllo\n"
    assert call(ws, "read_file", path="src/a.txt") == "héllo\n"
    (root / "b.txt").write_text("b")
    assert call(ws, "list_files").splitlines() == ["b.txt", "src/a.txt"]
    assert call(ws, "list_files", path="src") == "src/a.txt"
    assert Workspace.read_only("read_file") and Workspace.read_only("list_files")
    assert not Workspace.read_only("write_file") and not Workspace.read_only("run_command")


@pytest.mark.parametrize(("path", "expected"), [
    ("/etc/passwd", "is absolute"),
    ("../outside.txt", "'..' is not allowed"),
    ("a/../../x", "'..' is not allowed"),
    ("", "non-empty relative path"),
    ("link/secret", "outside the workspace"),
])
def test_paths_cannot_escape(tmp_path: Path, path: str, expected: str) -> None:
    ws, root, _ = make_ws(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("no")
    (root / "link").symlink_to(outside)
    for tool, args in (("read_file", {"path": path}), ("write_file", {"path": path, "content": "x"})):
        with pytest.raises(ToolRefused, match=expected):
            anyio.run(ws.call, tool, args)
    assert (outside / "secret").read_text() == "no"
    assert not (tmp_path / "outside.txt").exists()


def test_a_symlink_inside_the_workspace_is_fine(tmp_path: Path) -> None:
    ws, root, _ = make_ws(tmp_path)
    (root / "real.txt").write_text("r")
    (root / "alias.txt").symlink_to(root / "real.txt")
    assert call(ws, "read_file", path="alias.txt") == "r"
    assert confine(root, ".") == root.resolve()


def test_run_command_in_the_workspace_with_output_in_the_step_log(tmp_path: Path) -> None:
    ws, root, log = make_ws(tmp_path)
    out = call(ws, "run_command", command="echo made > f.txt && cat f.txt && echo oops >&2 && exit 3")
    assert out.splitlines()[0] == "exit code 3"
    assert "made" in out and "oops" in out
    assert (root / "f.txt").read_text() == "made\n"
    log.close()
    text = log.path.read_text()
    assert "out| made" in text and "err| oops" in text


def test_critical_command_is_refused_and_not_run(tmp_path: Path) -> None:
    ws, root, _ = make_ws(tmp_path)
    with pytest.raises(ToolRefused, match="refused by the security scanner"):
        call(ws, "run_command", command="touch ran; rm -rf /etc")
    assert not (root / "ran").exists()


def test_command_timeout_kills_its_process_group(tmp_path: Path) -> None:
    ws, root, _ = make_ws(tmp_path)
    out = call(ws, "run_command", command="sleep 30 & echo $! > child.pid; wait", timeout=0.5)
    assert out.startswith("timed out after 0.5s")
    import time

    import psutil

    pid = int((root / "child.pid").read_text())

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    deadline = time.monotonic() + 10
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(), "the command's child outlived its timeout"


def test_unknown_tool(tmp_path: Path) -> None:
    ws, _, _ = make_ws(tmp_path)
    with pytest.raises(ToolRefused, match="unknown workspace tool 'rm'"):
        call(ws, "rm")
