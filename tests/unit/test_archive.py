"""Archiving finished tasks: round trip, atomicity, safety of restore, purge selection."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from agent_agency_cli import archive_files as archive
from agent_agency_cli.archive_files import (
    ArchiveError,
    UnsafeArchiveError,
    archive_task_files,
    read_archive_metadata,
    restore_task_files,
)
from agent_agency_cli.archive_purge import select_for_purge
from agent_agency_cli.errors import BadInputError, ConflictError, NotFoundError

TASK_ID = "7f3a2c"
META = {"id": TASK_ID, "status": "completed", "steps": [{"name": "build", "status": "completed"}]}


@pytest.fixture(params=["data_filter", "manual_checks"])
def extraction(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with tarfile's "data" filter and with the manual-check fallback alone."""
    if request.param == "manual_checks":
        monkeypatch.setattr(archive, "_HAS_DATA_FILTER", False)
    elif not archive._HAS_DATA_FILTER:
        pytest.skip("this Python has no tarfile data filter")
    return request.param


def make_task_dir(root: Path) -> Path:
    task = root / "tasks" / TASK_ID
    ws = task / "workspace"
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "src" / "pkg" / "mod.py").write_text("print('hi')\n")
    (ws / "data.bin").write_bytes(bytes(range(256)) * 64)
    (ws / "empty-dir" / "nested-empty").mkdir(parents=True)
    (ws / "empty.txt").write_bytes(b"")
    script = ws / "run.sh"
    script.write_text("#!/bin/sh\necho ok\n")
    script.chmod(0o755)
    os.symlink("src/pkg/mod.py", ws / "link-to-mod")
    os.symlink("src", ws / "link-to-dir")
    os.link(ws / "data.bin", ws / "data-hardlink.bin")
    (task / "logs").mkdir()
    (task / "logs" / "build.log").write_text("line 1\nline 2\n")
    (task / "gates").mkdir()
    (task / "gates" / "code_style.json").write_text('{"score": 1.0}')
    return task


def snapshot(root: Path) -> dict[str, tuple[str, object]]:
    """Path -> (kind, content/target/None) plus exec bit, for comparing trees."""
    out: dict[str, tuple[str, object]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = ("symlink", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", None)
            else:
                executable = bool(p.stat().st_mode & stat.S_IXUSR)
                out[rel] = ("file", (hashlib.sha256(p.read_bytes()).hexdigest(), executable))
    return out


def test_round_trip_restores_everything_and_keeps_the_archive(tmp_path: Path, extraction: str) -> None:
    task = make_task_dir(tmp_path)
    before = snapshot(task)
    archive_dir = tmp_path / "archives"

    info = archive_task_files(task, archive_dir, TASK_ID, META)

    assert not task.exists()
    assert info.path == archive_dir / f"{TASK_ID}.tar.gz"
    assert info.path.is_file()
    assert info.size == info.path.stat().st_size
    assert info.sha256 == hashlib.sha256(info.path.read_bytes()).hexdigest()
    assert "workspace/src/pkg/mod.py" in info.files
    assert "workspace/link-to-mod" in info.files
    assert "logs/build.log" in info.files
    assert info.leftover is None
    assert sorted(os.listdir(archive_dir)) == [f"{TASK_ID}.tar.gz"]  # no temp file left
    assert [p.name for p in task.parent.iterdir()] == []  # no trash dir left

    restored = restore_task_files(info.path, task)

    assert snapshot(task) == before
    assert restored == list(info.files)
    ws = task / "workspace"
    assert os.readlink(ws / "link-to-mod") == "src/pkg/mod.py"
    assert (ws / "link-to-mod").read_text() == "print('hi')\n"
    assert (ws / "link-to-dir").is_symlink()
    assert os.access(ws / "run.sh", os.X_OK) and (ws / "run.sh").stat().st_mode & stat.S_IXUSR
    assert not (ws / "src" / "pkg" / "mod.py").stat().st_mode & stat.S_IXUSR
    assert (ws / "empty-dir" / "nested-empty").is_dir()
    assert (ws / "data-hardlink.bin").read_bytes() == (ws / "data.bin").read_bytes()
    # restore keeps the archive, unchanged, and leaves no staging dir behind
    assert info.path.is_file()
    assert hashlib.sha256(info.path.read_bytes()).hexdigest() == info.sha256
    assert sorted(p.name for p in task.parent.iterdir()) == [TASK_ID]
    assert not (task / "metadata.json").exists()


def test_archive_holds_metadata_and_task_tree(tmp_path: Path) -> None:
    task = make_task_dir(tmp_path)
    info = archive_task_files(task, tmp_path / "archives", TASK_ID, META)

    assert read_archive_metadata(info.path) == META
    with tarfile.open(info.path, "r:gz") as tar:
        names = tar.getnames()
        link = tar.getmember("task/workspace/link-to-mod")
    assert names[0] == "metadata.json"
    assert all(n == "task" or n.startswith("task/") for n in names[1:])
    assert link.issym() and link.linkname == "src/pkg/mod.py"  # stored as a link, not followed


def test_archive_replaces_a_stale_archive_of_the_same_task(tmp_path: Path) -> None:
    archive_dir = tmp_path / "archives"
    archive_dir.mkdir()
    (archive_dir / f"{TASK_ID}.tar.gz").write_bytes(b"stale")
    task = make_task_dir(tmp_path)

    info = archive_task_files(task, archive_dir, TASK_ID, META)

    assert read_archive_metadata(info.path)["status"] == "completed"


def test_read_only_directories_are_removed_after_archiving(tmp_path: Path) -> None:
    task = make_task_dir(tmp_path)
    ro = task / "workspace" / "cache"
    ro.mkdir()
    (ro / "f").write_text("x")
    ro.chmod(0o555)

    info = archive_task_files(task, tmp_path / "archives", TASK_ID, META)

    assert not task.exists() and info.leftover is None
    assert "workspace/cache/f" in info.files


def test_special_files_are_skipped_and_reported(tmp_path: Path) -> None:
    task = make_task_dir(tmp_path)
    os.mkfifo(task / "workspace" / "pipe")

    info = archive_task_files(task, tmp_path / "archives", TASK_ID, META)

    assert info.skipped == ("workspace/pipe",)
    assert "workspace/pipe" not in info.files
    restore_task_files(info.path, task)
    assert not (task / "workspace" / "pipe").exists()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "../.."])
def test_symlink_leaving_the_task_dir_is_refused_and_nothing_changes(tmp_path: Path, target: str) -> None:
    task = make_task_dir(tmp_path)
    os.symlink(target, task / "workspace" / "escape")
    before = snapshot(task)
    archive_dir = tmp_path / "archives"

    with pytest.raises(ConflictError, match="outside the task directory"):
        archive_task_files(task, archive_dir, TASK_ID, META)

    assert snapshot(task) == before
    assert not archive_dir.exists()  # refused before anything was written


def test_failed_verification_keeps_the_task_dir_and_leaves_no_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = make_task_dir(tmp_path)
    before = snapshot(task)
    archive_dir = tmp_path / "archives"

    def broken_verify(path: Path, expected: dict) -> tuple[str, int]:
        assert path.exists()  # the temp file exists while verifying...
        raise ArchiveError("simulated verification failure")

    monkeypatch.setattr(archive, "_verify_archive", broken_verify)

    with pytest.raises(ArchiveError, match="simulated"):
        archive_task_files(task, archive_dir, TASK_ID, META)

    assert snapshot(task) == before
    assert list(archive_dir.iterdir()) == []  # ...and is gone afterwards; no final archive either


def test_crash_while_writing_keeps_the_task_dir_and_leaves_no_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = make_task_dir(tmp_path)
    before = snapshot(task)
    archive_dir = tmp_path / "archives"
    real_add = tarfile.TarFile.add

    def add_then_fail(self: tarfile.TarFile, *args: object, **kwargs: object) -> None:
        real_add(self, *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "add", add_then_fail)

    with pytest.raises(ArchiveError, match="No space left"):
        archive_task_files(task, archive_dir, TASK_ID, META)

    assert snapshot(task) == before
    assert list(archive_dir.iterdir()) == []


def test_verification_detects_a_member_missing_from_the_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = make_task_dir(tmp_path)
    archive_dir = tmp_path / "archives"
    real_write = archive._write_archive

    def write_and_claim_more(fd: int, task_dir: Path, meta: bytes) -> dict:
        expected = real_write(fd, task_dir, meta)
        expected["task/workspace/ghost.txt"] = ("file", 3)
        return expected

    monkeypatch.setattr(archive, "_write_archive", write_and_claim_more)

    with pytest.raises(ArchiveError, match=r"missing \['task/workspace/ghost.txt'\]"):
        archive_task_files(task, archive_dir, TASK_ID, META)
    assert task.is_dir() and list(archive_dir.iterdir()) == []


def test_archive_input_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        archive_task_files(tmp_path / "nope", tmp_path / "archives", TASK_ID, META)
    task = make_task_dir(tmp_path)
    with pytest.raises(BadInputError, match="bad task id"):
        archive_task_files(task, tmp_path / "archives", "../x", META)
    with pytest.raises(BadInputError, match="inside the task dir"):
        archive_task_files(task, task / "archives", TASK_ID, META)
    with pytest.raises(BadInputError, match="JSON"):
        archive_task_files(task, tmp_path / "archives", TASK_ID, {"x": object()})
    assert task.is_dir() and not (task / "archives").exists()


# --------------------------------------------------------------------------- restore failures


def test_truncated_archive_raises_and_leaves_nothing(tmp_path: Path, extraction: str) -> None:
    task = make_task_dir(tmp_path)
    info = archive_task_files(task, tmp_path / "archives", TASK_ID, META)
    data = info.path.read_bytes()
    info.path.write_bytes(data[: len(data) * 2 // 3])

    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        restore_task_files(info.path, task)

    assert not task.exists()
    assert list(task.parent.iterdir()) == []  # no staging dir left
    assert info.path.exists()  # the (broken) archive is not deleted either


def test_corrupt_bytes_raise_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"this is not a gzip file at all")
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        restore_task_files(bogus, tmp_path / "tasks" / TASK_ID)
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        read_archive_metadata(bogus)
    assert not (tmp_path / "tasks" / TASK_ID).exists()


def test_flipped_byte_inside_the_stream_is_detected(tmp_path: Path) -> None:
    task = make_task_dir(tmp_path)
    info = archive_task_files(task, tmp_path / "archives", TASK_ID, META)
    data = bytearray(info.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    info.path.write_bytes(bytes(data))

    with pytest.raises(ArchiveError):
        restore_task_files(info.path, task)
    assert not task.exists()


def test_restore_refuses_an_existing_non_empty_dir(tmp_path: Path) -> None:
    task = make_task_dir(tmp_path)
    info = archive_task_files(task, tmp_path / "archives", TASK_ID, META)
    task.mkdir()
    (task / "keep.txt").write_text("mine")

    with pytest.raises(ConflictError, match="exists and is not empty"):
        restore_task_files(info.path, task)

    assert [p.name for p in task.iterdir()] == ["keep.txt"]
    assert (task / "keep.txt").read_text() == "mine"


def test_restore_into_an_existing_empty_dir_works(tmp_path: Path) -> None:
    task = make_task_dir(tmp_path)
    before = snapshot(task)
    info = archive_task_files(task, tmp_path / "archives", TASK_ID, META)
    task.mkdir()

    restore_task_files(info.path, task)

    assert snapshot(task) == before


def test_restore_of_a_missing_archive_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no archive"):
        restore_task_files(tmp_path / "none.tar.gz", tmp_path / "t")


# --------------------------------------------------------------------------- malicious archives


def build_tar(path: Path, members: list[tuple[str, str, str | bytes]]) -> Path:
    """members: (kind, name, data-or-linkname) with kind in file / dir / symlink / hardlink / fifo."""
    with tarfile.open(path, "w:gz") as tar:
        meta = json.dumps({"id": "x"}).encode()
        info = tarfile.TarInfo("metadata.json")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                raw = data.encode() if isinstance(data, str) else data
                info.size = len(raw)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(raw))
                continue
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, str(data)
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, str(data)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info)
    return path


MALICIOUS = {
    "dotdot": [("dir", "task", ""), ("file", "task/../../evil", "pwned")],
    "plain-dotdot": [("dir", "task", ""), ("file", "../evil", "pwned")],
    "absolute": [("dir", "task", ""), ("file", "/tmp/agent-agency-evil", "pwned")],
    "absolute-symlink-then-write": [
        ("dir", "task", ""), ("symlink", "task/link", "/tmp"), ("file", "task/link/agent-agency-evil", "x")],
    "relative-symlink-escape": [
        ("dir", "task", ""), ("symlink", "task/link", "../../.."), ("file", "task/link/evil", "x")],
    "symlink-chain-escape": [
        ("dir", "task", ""), ("dir", "task/sub", ""), ("symlink", "task/sub/up", ".."),
        ("symlink", "task/link", "sub/up/../../..")],
    "hardlink-escape": [("dir", "task", ""), ("hardlink", "task/passwd", "/etc/passwd")],
    "hardlink-dotdot": [("dir", "task", ""), ("hardlink", "task/x", "task/../../../etc/passwd")],
    "fifo": [("dir", "task", ""), ("fifo", "task/pipe", "")],
    "outside-task-root": [("dir", "task", ""), ("file", "other.txt", "x")],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archive_is_rejected_and_writes_nothing(tmp_path: Path, case: str, extraction: str) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    evil = build_tar(tmp_path / "evil.tar.gz", MALICIOUS[case])
    dest = sandbox / "tasks" / "abc"

    with pytest.raises(UnsafeArchiveError):
        restore_task_files(evil, dest)

    assert not dest.exists()
    assert list((sandbox / "tasks").iterdir()) == []  # staging dir removed
    assert not (sandbox / "evil").exists() and not (tmp_path / "evil").exists()
    assert not Path("/tmp/agent-agency-evil").exists()


def test_setuid_and_world_writable_bits_are_dropped(tmp_path: Path, extraction: str) -> None:
    path = tmp_path / "modes.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        root = tarfile.TarInfo("task")
        root.type, root.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(root)
        info = tarfile.TarInfo("task/suid")
        info.mode, info.size = 0o4777, 1
        tar.addfile(info, io.BytesIO(b"x"))
    dest = tmp_path / "t"

    assert restore_task_files(path, dest) == ["suid"]

    mode = (dest / "suid").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_IWOTH | stat.S_IWGRP)
    assert mode & stat.S_IXUSR


def test_archive_without_task_root_is_an_error(tmp_path: Path) -> None:
    path = build_tar(tmp_path / "meta-only.tar.gz", [])
    with pytest.raises(ArchiveError, match="no task/ directory"):
        restore_task_files(path, tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_gzip_of_garbage_tar_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.tar.gz"
    path.write_bytes(gzip.compress(b"\x01" * 2048))
    with pytest.raises(ArchiveError):
        restore_task_files(path, tmp_path / "t")
    assert not (tmp_path / "t").exists()


# --------------------------------------------------------------------------- select_for_purge

NOW = 1_800_000_000.0
DAY = 86400.0


def test_select_for_purge_picks_old_finished_unarchived_tasks_oldest_first() -> None:
    rows = [
        {"id": "done-old", "status": "completed", "finished_at": NOW - 40 * DAY},
        {"id": "fail-older", "status": "failed", "finished_at": NOW - 50 * DAY},
        {"id": "partial", "status": "partially_completed", "finished_at": NOW - 31 * DAY},
        {"id": "cancel-iso", "status": "cancelled", "finished_at": "2026-01-01T00:00:00Z"},
        {"id": "done-new", "status": "completed", "finished_at": NOW - 1 * DAY},
        {"id": "exactly-at-cutoff", "status": "completed", "finished_at": NOW - 30 * DAY},
        {"id": "running", "status": "running", "finished_at": None},
        {"id": "paused-old", "status": "paused", "finished_at": NOW - 90 * DAY},
        {"id": "escalated", "status": "escalated", "finished_at": NOW - 90 * DAY},
        {"id": "no-finish", "status": "completed", "finished_at": None},
        {"id": "archived", "status": "completed", "finished_at": NOW - 90 * DAY, "archived_at": NOW - DAY},
    ]

    picked = select_for_purge(rows, older_than=30 * DAY, now=NOW)

    # 2026-01-01 is about a year before NOW, so the ISO-dated row is the oldest
    assert picked == ["cancel-iso", "fail-older", "done-old", "partial"]


def test_select_for_purge_orders_by_finish_time_and_zero_means_never() -> None:
    rows = [
        {"id": "b", "status": "completed", "finished_at": NOW - 3 * DAY},
        {"id": "a", "status": "failed", "finished_at": NOW - 5 * DAY},
        {"id": "c", "status": "cancelled", "finished_at": NOW - 2 * DAY, "archived_at": None},
    ]
    assert select_for_purge(rows, older_than=DAY, now=NOW) == ["a", "b", "c"]
    assert select_for_purge(rows, older_than=0, now=NOW) == []
    assert select_for_purge([], older_than=DAY, now=NOW) == []


def test_restore_checks_the_recorded_sha256(tmp_path: Path) -> None:
    task = make_task_dir(tmp_path)
    info = archive_task_files(task, tmp_path / "archives", TASK_ID, META)

    with pytest.raises(ArchiveError, match="sha256 does not match"):
        restore_task_files(info.path, task, expected_sha256="0" * 64)
    assert not task.exists()

    assert restore_task_files(info.path, task, expected_sha256=info.sha256) == list(info.files)


def test_failure_to_remove_the_task_dir_drops_the_new_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = make_task_dir(tmp_path)
    before = snapshot(task)
    archive_dir = tmp_path / "archives"

    def cannot_remove(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(archive, "_remove_tree", cannot_remove)

    with pytest.raises(ArchiveError, match="archive not kept"):
        archive_task_files(task, archive_dir, TASK_ID, META)
    assert snapshot(task) == before
    assert list(archive_dir.iterdir()) == []
