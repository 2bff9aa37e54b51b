"""The data home is private (issue 12 item 12): 0700 home, 0600 database, WAL and logs;
a home another user owns or others can write is refused; files are never written
through a planted symlink."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from agent_agency_cli.engine import daemon
from agent_agency_cli.errors import DaemonError
from agent_agency_cli.paths import HomePaths, data_home, write_private

PLAN = """
steps:
  - name: speak
    run: echo spoken
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode)


def _run(*args: str) -> object:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_a_new_home_and_its_files_are_private(tmp_path: Path, write_plan) -> None:
    home = tmp_path / "fresh" / "home"
    res = _run("--home", str(home), "task", "create", "--plan", str(write_plan(PLAN)), "--foreground",
               "--description", "private files")
    assert res.exit_code == 0, res.output
    assert _mode(home) == 0o700
    files = [p for p in home.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"agency.db", "speak.log"} <= names
    assert any(n.endswith("-wal") for n in names), names
    for p in files:
        if p.name.endswith((".db", "-wal", "-shm", ".log", ".json", ".lock")):
            assert _mode(p) == 0o600, f"{p.relative_to(home)} is {_mode(p):04o}"


def test_a_home_writable_by_others_is_refused_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "open"
    home.mkdir()
    os.chmod(home, 0o777)
    res = _run("--home", str(home), "task", "list", "--json")
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "writable by group or others" in lines[0] and "chmod 700" in lines[0]
    assert list(home.iterdir()) == []  # nothing written


def test_a_group_writable_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "group"
    home.mkdir()
    os.chmod(home, 0o770)
    with pytest.raises(Exception, match="writable by group or others"):
        data_home(home)


def test_a_readable_home_of_an_older_version_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "old"
    home.mkdir()
    os.chmod(home, 0o755)
    assert data_home(home) == home.resolve()
    assert _mode(home) == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the home to another user")
def test_a_home_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "theirs"
    home.mkdir(mode=0o700)
    os.chown(home, 65534, 65534)
    res = _run("--home", str(home), "task", "list")
    assert res.exit_code == 2
    assert "belongs to another user (uid 65534)" in res.output


def test_a_planted_daemon_tmp_symlink_is_not_followed(tmp_path: Path, home: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (home / "daemon.tmp").symlink_to(victim)
    write_private(home / "daemon.json", json.dumps({"pid": 1}))
    assert victim.read_text() == "precious\n"
    assert json.loads((home / "daemon.json").read_text()) == {"pid": 1}
    assert _mode(home / "daemon.json") == 0o600
    assert not (home / "daemon.tmp").exists()


def test_the_daemon_log_is_never_opened_through_a_symlink(tmp_path: Path, home: Path) -> None:
    victim = tmp_path / "victim.log"
    victim.write_text("precious\n")
    (home / "daemon.log").symlink_to(victim)
    with pytest.raises(DaemonError, match="never written through a symbolic link"):
        daemon.spawn(HomePaths(home), wait=1)
    assert victim.read_text() == "precious\n"


def test_a_symlinked_database_is_refused(tmp_path: Path, home: Path) -> None:
    target = tmp_path / "elsewhere.db"
    (home / "agency.db").symlink_to(target)
    res = _run("task", "list", "--json")
    assert res.exit_code != 0
    assert "symbolic link" in res.output
    assert not target.exists()


def test_opening_another_connection_keeps_the_first_ones_locks(home: Path) -> None:
    """Making the database private must not open and close the file: that drops the POSIX
    locks of this process's SQLite connections, so another process that closes its own
    connection believes it was the last, checkpoints and removes the WAL under ours, and
    what we commit afterwards is lost to every other reader."""
    import subprocess
    import sys

    from agent_agency_cli.store.db import connect

    db = home / "agency.db"
    count = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
             "print(c.execute('SELECT count(*) FROM probe').fetchone()[0]); c.close()")
    first = connect(db)
    try:
        first.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        first.execute("INSERT INTO probe VALUES (1)")
        connect(db).close()  # another connection of this process
        seen = subprocess.run([sys.executable, "-c", count, str(db)], capture_output=True, text=True, timeout=30)
        assert seen.stdout.strip() == "1", seen.stderr
        first.execute("INSERT INTO probe VALUES (2)")
        seen = subprocess.run([sys.executable, "-c", count, str(db)], capture_output=True, text=True, timeout=30)
        assert seen.stdout.strip() == "2", "a commit was lost: the WAL was removed under an open connection"
    finally:
        first.close()
