"""Workspace checkpoints: snapshot a directory tree, restore it exactly, discard it."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from agent_agency_cli.engine.checkpoint import CheckpointInfo, discard, restore, snapshot


def tree(root: Path) -> dict[str, tuple]:
    """Everything restore promises to bring back: type, content, mode, mtime, link target."""
    rst = root.stat()
    out: dict[str, tuple] = {".": ("dir", stat.S_IMODE(rst.st_mode), rst.st_mtime_ns)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = p.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", mode, st.st_mtime_ns)
            else:
                out[rel] = ("file", p.read_bytes(), mode, st.st_mtime_ns)
    return out


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A small workspace: files at two levels, an executable, a symlink, an empty dir."""
    w = tmp_path / "workspace"
    (w / "src" / "pkg").mkdir(parents=True)
    (w / "empty").mkdir()
    (w / "README.md").write_text("hello\n")
    (w / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (w / "src" / "pkg" / "data.bin").write_bytes(bytes(range(256)) * 40)
    run = w / "run.sh"
    run.write_text("#!/bin/sh\necho hi\n")
    run.chmod(0o755)
    (w / "link-to-readme").symlink_to("README.md")
    os.utime(w / "README.md", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    return w


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    return tmp_path / "task" / "checkpoints" / "build-1"


def test_snapshot_copies_the_tree(ws: Path, ckpt: Path) -> None:
    info = snapshot(ws, ckpt)
    assert isinstance(info, CheckpointInfo)
    assert info.path == ckpt
    assert info.files == 5  # 4 regular files + 1 symlink
    assert info.bytes == len("hello\n") + len("int main(void) { return 0; }\n") + 256 * 40 + len("#!/bin/sh\necho hi\n")
    assert tree(ckpt) == tree(ws)
    assert (ckpt / "link-to-readme").is_symlink()
    assert os.readlink(ckpt / "link-to-readme") == "README.md"
    # a copy, not hard links: editing the workspace in place leaves the snapshot alone
    assert (ws / "README.md").stat().st_ino != (ckpt / "README.md").stat().st_ino
    with open(ws / "README.md", "r+") as fh:
        fh.write("HELLO")
    assert (ckpt / "README.md").read_text() == "hello\n"
    # no temp dirs are left beside it
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["build-1"]


def test_created_file_is_removed(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    before = tree(ws)
    (ws / "zz-new.txt").write_text("junk")
    (ws / "src" / "generated.o").write_bytes(b"\0\1")
    report = restore(ckpt, ws)
    assert report.removed == ["src/generated.o", "zz-new.txt"]
    assert report.restored == []
    assert tree(ws) == before


def test_modified_file_is_restored_with_content_and_mode(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    before = tree(ws)
    (ws / "src" / "main.c").write_text("broken")
    (ws / "run.sh").chmod(0o600)
    report = restore(ckpt, ws)
    assert report.restored == ["run.sh", "src/main.c"]
    assert report.removed == []
    assert (ws / "src" / "main.c").read_text() == "int main(void) { return 0; }\n"
    assert stat.S_IMODE((ws / "run.sh").stat().st_mode) == 0o755
    assert tree(ws) == before


def test_same_size_same_mtime_edit_is_still_caught(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    st = (ws / "README.md").stat()
    (ws / "README.md").write_text("HELLO\n")  # same size
    os.utime(ws / "README.md", ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime
    assert restore(ckpt, ws).restored == ["README.md"]
    assert (ws / "README.md").read_text() == "hello\n"


def test_touched_file_gets_its_mtime_back(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    before = tree(ws)
    os.utime(ws / "README.md")  # same content, new mtime (as `touch` or a rebuild would)
    assert restore(ckpt, ws).restored == ["README.md"]
    assert tree(ws) == before


def test_deleted_file_and_dir_are_restored(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    before = tree(ws)
    (ws / "README.md").unlink()
    (ws / "src" / "pkg" / "data.bin").unlink()
    (ws / "src" / "pkg").rmdir()
    (ws / "empty").rmdir()
    report = restore(ckpt, ws)
    assert report.restored == ["README.md", "empty", "src/pkg", "src/pkg/data.bin"]
    assert tree(ws) == before


def test_new_nested_dir_is_removed(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    before = tree(ws)
    (ws / "build" / "obj" / "deep").mkdir(parents=True)
    (ws / "build" / "obj" / "deep" / "x.o").write_text("x")
    (ws / "src" / "pkg" / "cache").mkdir()
    report = restore(ckpt, ws)
    assert report.removed == ["build", "src/pkg/cache"]
    assert not (ws / "build").exists()
    assert tree(ws) == before


def test_type_changes_are_undone(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    before = tree(ws)
    (ws / "empty").rmdir()
    (ws / "empty").write_text("now a file")
    (ws / "README.md").unlink()
    (ws / "README.md").mkdir()
    (ws / "README.md" / "inner").write_text("x")
    report = restore(ckpt, ws)
    assert set(report.restored) == {"README.md", "empty"}
    assert tree(ws) == before


def test_symlinks_are_preserved_and_never_followed(ws: Path, ckpt: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    (ws / "dir-link").symlink_to(outside)
    snapshot(ws, ckpt)
    assert (ckpt / "dir-link").is_symlink()
    assert not (ckpt / "precious.txt").exists() and not (ckpt / "dir-link" / "x").exists()
    assert os.readlink(ckpt / "dir-link") == str(outside)
    before = tree(ws)
    # the step retargets a link, writes through the directory link and adds a new link out
    (ws / "link-to-readme").unlink()
    (ws / "link-to-readme").symlink_to("src/main.c")
    (outside / "written-through-link.txt").write_text("outside the workspace")
    (ws / "escape").symlink_to(outside)
    report = restore(ckpt, ws)
    assert report.restored == ["link-to-readme"]
    assert report.removed == ["escape"]
    assert os.readlink(ws / "link-to-readme") == "README.md"
    assert tree(ws) == before
    # nothing outside the workspace was touched (restore doesn't follow links out)
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt", "written-through-link.txt"]
    assert (outside / "precious.txt").read_text() == "keep me"


def test_a_link_put_where_a_directory_was_is_replaced_not_followed(ws: Path, ckpt: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "main.c").write_text("not yours")
    snapshot(ws, ckpt)
    before = tree(ws)
    shutil.rmtree(ws / "src")
    (ws / "src").symlink_to(outside)
    restore(ckpt, ws)
    assert tree(ws) == before
    assert (outside / "main.c").read_text() == "not yours"  # not overwritten through the link
    assert sorted(p.name for p in outside.iterdir()) == ["main.c"]


def test_restore_is_idempotent(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    before = tree(ws)
    (ws / "new.txt").write_text("x")
    (ws / "README.md").write_text("changed")
    first = restore(ckpt, ws)
    assert first.removed == ["new.txt"] and first.restored == ["README.md"]
    second = restore(ckpt, ws)
    assert second.removed == [] and second.restored == []
    assert not second.changed
    assert tree(ws) == before
    assert tree(ckpt) == before  # restoring never changes the snapshot


def test_snapshot_of_an_empty_dir(tmp_path: Path, ckpt: Path) -> None:
    empty = tmp_path / "empty-ws"
    empty.mkdir()
    info = snapshot(empty, ckpt)
    assert (info.files, info.bytes) == (0, 0)
    assert ckpt.is_dir() and list(ckpt.iterdir()) == []
    (empty / "a").mkdir()
    (empty / "a" / "b.txt").write_text("b")
    (empty / "c.txt").write_text("c")
    report = restore(ckpt, empty)
    assert report.removed == ["a", "c.txt"]
    assert list(empty.iterdir()) == []


def test_restore_into_a_missing_directory_recreates_it(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    before = tree(ws)
    shutil.rmtree(ws)
    restore(ckpt, ws)
    assert tree(ws) == before


def test_snapshot_replaces_an_existing_one(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    (ws / "later.txt").write_text("later")
    info = snapshot(ws, ckpt)
    assert info.files == 6
    assert (ckpt / "later.txt").read_text() == "later"
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["build-1"]


def test_snapshot_of_a_missing_directory_fails_and_leaves_nothing(tmp_path: Path, ckpt: Path) -> None:
    with pytest.raises(NotADirectoryError):
        snapshot(tmp_path / "nope", ckpt)
    assert not ckpt.exists()
    with pytest.raises(FileNotFoundError):
        restore(ckpt, tmp_path / "nope")


def test_discard_removes_the_snapshot(ws: Path, ckpt: Path) -> None:
    snapshot(ws, ckpt)
    (ws / "dir-link").symlink_to(ws / "src")
    discard(ckpt)
    assert not ckpt.exists()
    discard(ckpt)  # already gone: no error
    assert (ws / "README.md").exists() and (ws / "src" / "main.c").exists()


def test_read_only_directories_round_trip(ws: Path, ckpt: Path) -> None:
    # (Meaningful as a normal user: root ignores the permission bits.)
    (ws / "src" / "pkg").chmod(0o555)
    try:
        snapshot(ws, ckpt)
        before = tree(ws)
        (ws / "src" / "pkg").chmod(0o755)
        (ws / "src" / "pkg" / "extra").write_text("x")
        (ws / "src" / "pkg").chmod(0o500)
        report = restore(ckpt, ws)
        assert "src/pkg/extra" in report.removed and "src/pkg" in report.restored
        assert tree(ws) == before
        discard(ckpt)
        assert not ckpt.exists()
    finally:
        for p in (ws / "src" / "pkg", ckpt / "src" / "pkg"):
            if p.exists():
                p.chmod(0o755)


def test_large_tree_round_trip(tmp_path: Path, ckpt: Path) -> None:
    w = tmp_path / "big"
    for i in range(500):
        p = w / f"d{i % 10}" / f"s{i % 7}" / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"file {i}\n" * (i % 13 + 1))
    info = snapshot(w, ckpt)
    assert info.files == 500
    before = tree(w)
    for i in range(0, 500, 5):
        (w / f"d{i % 10}" / f"s{i % 7}" / f"f{i}.txt").write_text("changed")
    for i in range(1, 500, 50):
        (w / f"d{i % 10}" / f"s{i % 7}" / f"f{i}.txt").unlink()
    for i in range(30):
        (w / f"d{i % 10}" / f"new{i}.tmp").write_text("new")
    report = restore(ckpt, w)
    assert len(report.restored) == 100 + 10
    assert len(report.removed) == 30
    assert tree(w) == before
