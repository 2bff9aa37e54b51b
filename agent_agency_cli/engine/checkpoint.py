"""Workspace snapshots for `checkpoint: true` steps and `on_failure: rollback`.

A snapshot is a plain copy of the directory tree (never hard links: a step that
edits a file in place would edit the snapshot too), with modes and mtimes kept
and symlinks copied as symlinks. It is written to a temp dir next to `dest` and
renamed into place, so a crash never leaves a half snapshot under the real name.

restore() makes the directory equal to the snapshot again: what was created
since is removed, what was modified or deleted is put back. It works on the
entries themselves (lstat, no following): a symlink in the workspace is removed
or replaced as a link, never descended into, so nothing outside the directory
is touched. Special files (sockets, FIFOs, devices) are not snapshotted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path  # the snapshot directory
    files: int  # regular files and symlinks copied
    bytes: int  # total size of the regular files
    skipped: tuple[str, ...] = ()  # special files left out (relative paths)


@dataclass
class RestoreReport:
    removed: list[str] = field(default_factory=list)  # created after the snapshot (relative paths)
    restored: list[str] = field(default_factory=list)  # modified or deleted since, put back

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.restored)


def _rel(path: str, root: str) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _make_writable(path: str) -> None:
    """Let us add/remove entries in a directory a step made read-only (its mode is restored later)."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode) and (st.st_mode & 0o700) != 0o700:
        os.chmod(path, st.st_mode | 0o700)


def _rmtree(path: str | Path) -> None:
    """Remove a tree even where it holds read-only directories; never follows symlinks."""
    if os.path.islink(path) or not os.path.isdir(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    _make_writable(str(path))
    for dirpath, dirnames, _ in os.walk(path):  # top-down: each dir is fixed before it is listed
        for name in dirnames:
            _make_writable(os.path.join(dirpath, name))  # lstat-based: links to dirs are left alone
    shutil.rmtree(path)


def _remove(path: str) -> None:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        _rmtree(path)
    else:
        os.unlink(path)


# -- snapshot -------------------------------------------------------------------


def _copy_tree(src: str, dst: str, root: str, skip: set[str], counts: list[int], skipped: list[str]) -> None:
    """Copy the contents of directory src into the existing directory dst (no following of links)."""
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        s = entry.path
        d = os.path.join(dst, entry.name)
        if s in skip:  # src is a real path and links are never descended: s is real too
            continue
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(s), d)
            with contextlib.suppress(OSError, NotImplementedError):
                os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
            counts[0] += 1
        elif stat.S_ISDIR(st.st_mode):
            os.mkdir(d)
            _copy_tree(s, d, root, skip, counts, skipped)
            shutil.copystat(s, d, follow_symlinks=False)
        elif stat.S_ISREG(st.st_mode):
            shutil.copy2(s, d, follow_symlinks=False)
            counts[0] += 1
            counts[1] += st.st_size
        else:
            skipped.append(_rel(s, root))


def snapshot(directory: Path, dest: Path) -> CheckpointInfo:
    """Copy `directory` into the new directory `dest` (atomically; an existing `dest` is replaced)."""
    directory, dest = Path(directory), Path(dest)
    if not directory.is_dir():
        raise NotADirectoryError(f"cannot snapshot {directory}: not a directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent)
    # If the checkpoints live inside the directory itself, don't copy them into themselves.
    skip = {os.path.realpath(tmp), os.path.realpath(dest)}
    counts = [0, 0]
    skipped: list[str] = []
    try:
        src = os.path.realpath(directory)
        _copy_tree(src, tmp, src, skip, counts, skipped)
        shutil.copystat(src, tmp)
        if os.path.lexists(dest):
            old = tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent)
            os.rename(dest, os.path.join(old, "snapshot"))
            os.rename(tmp, dest)
            _rmtree(old)
        else:
            os.rename(tmp, dest)
    except BaseException:
        _rmtree(tmp)
        raise
    return CheckpointInfo(dest, counts[0], counts[1], tuple(skipped))


# -- restore --------------------------------------------------------------------


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(_CHUNK), fb.read(_CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def _same_file(snap: os.stat_result, cur: os.stat_result, s: str, d: str) -> bool:
    """Unchanged = same mode, size, mtime and bytes (content is compared too: an edit
    within the same mtime tick, or one that reset the mtime, is still caught)."""
    if stat.S_IMODE(snap.st_mode) != stat.S_IMODE(cur.st_mode) or snap.st_size != cur.st_size:
        return False
    if snap.st_mtime_ns != cur.st_mtime_ns:
        return False
    return _same_content(s, d)


def _put_file(s: str, d: str) -> None:
    """Copy snapshot file s to d atomically: a temp file beside it, then rename over whatever is there."""
    parent = os.path.dirname(d)
    fd, tmp = tempfile.mkstemp(prefix=".restore-", dir=parent)
    os.close(fd)
    try:
        shutil.copy2(s, tmp, follow_symlinks=False)
        os.replace(tmp, d)  # replaces a file or a symlink itself, never what a link points to
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _restore_dir(snap: str, cur: str, root: str, skip: set[str], report: RestoreReport) -> None:
    """Make the real (non-symlink) directory cur equal to the snapshot directory snap."""
    _make_writable(cur)
    with os.scandir(snap) as it:
        wanted = {e.name: e for e in it}
    with os.scandir(cur) as it:
        present = {e.name: e for e in it}
    for name in sorted(present):
        if name in wanted:
            continue
        path = present[name].path
        if path in skip:
            continue
        _remove(path)
        report.removed.append(_rel(path, root))
    for name in sorted(wanted):
        s = wanted[name].path
        d = os.path.join(cur, name)
        sst = wanted[name].stat(follow_symlinks=False)
        try:
            dst: os.stat_result | None = os.lstat(d)
        except FileNotFoundError:
            dst = None
        if stat.S_ISDIR(sst.st_mode):
            if dst is not None and not stat.S_ISDIR(dst.st_mode):
                os.unlink(d)  # a file or a symlink (maybe to a dir) where a directory belongs
                dst = None
            if dst is None:
                os.mkdir(d)
                report.restored.append(_rel(d, root))
            elif stat.S_IMODE(dst.st_mode) != stat.S_IMODE(sst.st_mode):
                report.restored.append(_rel(d, root))  # its permissions were changed
            _restore_dir(s, d, root, skip, report)
            cst = os.lstat(d)
            if stat.S_IMODE(cst.st_mode) != stat.S_IMODE(sst.st_mode) or cst.st_mtime_ns != sst.st_mtime_ns:
                shutil.copystat(s, d, follow_symlinks=False)
        elif stat.S_ISLNK(sst.st_mode):
            target = os.readlink(s)
            if dst is not None and stat.S_ISLNK(dst.st_mode) and os.readlink(d) == target:
                continue
            if dst is not None:
                _remove(d)
            os.symlink(target, d)
            with contextlib.suppress(OSError, NotImplementedError):
                os.utime(d, ns=(sst.st_atime_ns, sst.st_mtime_ns), follow_symlinks=False)
            report.restored.append(_rel(d, root))
        else:
            if dst is not None and stat.S_ISREG(dst.st_mode) and _same_file(sst, dst, s, d):
                continue
            if dst is not None and not stat.S_ISREG(dst.st_mode):
                _remove(d)
            _put_file(s, d)
            report.restored.append(_rel(d, root))


def restore(snapshot_dir: Path, directory: Path) -> RestoreReport:
    """Make `directory` exactly what it was when `snapshot_dir` was taken; report what changed.

    Paths in the report are relative to `directory` (POSIX form). A directory created
    since the snapshot is reported once, as a whole.
    """
    snapshot_dir, directory = Path(snapshot_dir), Path(directory)
    if not snapshot_dir.is_dir():
        raise FileNotFoundError(f"no checkpoint at {snapshot_dir}")
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"cannot restore into {directory}: not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(directory)
    skip = {os.path.realpath(snapshot_dir)}
    report = RestoreReport()
    _restore_dir(os.path.realpath(snapshot_dir), root, root, skip, report)
    rst, cst = os.stat(snapshot_dir), os.stat(root)
    if stat.S_IMODE(rst.st_mode) != stat.S_IMODE(cst.st_mode) or rst.st_mtime_ns != cst.st_mtime_ns:
        shutil.copystat(snapshot_dir, root)
    report.removed.sort()
    report.restored.sort()
    return report


def discard(snapshot_dir: Path) -> None:
    """Delete a snapshot (no error if it is already gone)."""
    _rmtree(Path(snapshot_dir))


# -- restoring only what one step changed ---------------------------------------------


def _inside(root: str, rel: str) -> str | None:
    """The absolute path of `rel` under root, or None if it would leave root."""
    path = os.path.normpath(os.path.join(root, rel))
    return path if path == root or path.startswith(root + os.sep) else None


def _restore_one(snap_root: str, root: str, rel: str, report: RestoreReport) -> None:
    """Make the entry `rel` (file, link or subtree) what it was in the snapshot."""
    s, d = _inside(snap_root, rel), _inside(root, rel)
    if s is None or d is None or d == root:
        return
    if not os.path.lexists(s):
        if os.path.lexists(d):
            _remove(d)
            report.removed.append(rel)
        return
    os.makedirs(os.path.dirname(d), exist_ok=True)
    sst = os.lstat(s)
    if stat.S_ISDIR(sst.st_mode):
        if (os.path.lexists(d) and not os.path.isdir(d)) or os.path.islink(d):
            _remove(d)
        if not os.path.lexists(d):
            os.mkdir(d)
            report.restored.append(rel)
        _restore_dir(s, d, root, set(), report)
        shutil.copystat(s, d, follow_symlinks=False)
        return
    if os.path.lexists(d):
        dst = os.lstat(d)
        if stat.S_ISREG(sst.st_mode) and stat.S_ISREG(dst.st_mode) and _same_file(sst, dst, s, d):
            return
        if stat.S_ISLNK(sst.st_mode) and stat.S_ISLNK(dst.st_mode) and os.readlink(s) == os.readlink(d):
            return
        _remove(d)
    if stat.S_ISLNK(sst.st_mode):
        os.symlink(os.readlink(s), d)
    else:
        _put_file(s, d)
    report.restored.append(rel)


def _changed_since(snap: str, cur: str, rel: str, since: float, out: list[str]) -> None:
    """Relative paths under cur that differ from the snapshot and were changed at or after
    `since` (created or modified then; deleted entries count as changed)."""
    try:
        with os.scandir(snap) as it:
            wanted = {e.name: e for e in it}
    except FileNotFoundError:
        wanted = {}
    with os.scandir(cur) as it:
        present = {e.name: e for e in it}
    since_ns = int(since * 1e9) - 1_000_000_000  # a second of slack for coarse mtimes
    for name in sorted(set(wanted) | set(present)):
        sub = f"{rel}/{name}" if rel else name
        s, c = wanted.get(name), present.get(name)
        if c is None:
            out.append(sub)  # deleted since the snapshot
            continue
        cst = c.stat(follow_symlinks=False)
        if s is None:
            if cst.st_mtime_ns >= since_ns or stat.S_ISDIR(cst.st_mode):
                if stat.S_ISDIR(cst.st_mode):
                    _changed_since(os.path.join(snap, name), c.path, sub, since, out)  # new dir: its new entries
                    if cst.st_mtime_ns >= since_ns:
                        out.append(sub)
                else:
                    out.append(sub)
            continue
        sst = s.stat(follow_symlinks=False)
        if stat.S_ISDIR(sst.st_mode) and stat.S_ISDIR(cst.st_mode):
            _changed_since(s.path, c.path, sub, since, out)
        elif cst.st_mtime_ns >= since_ns and not (
                stat.S_ISREG(sst.st_mode) and stat.S_ISREG(cst.st_mode) and _same_file(sst, cst, s.path, c.path)):
            out.append(sub)


def restore_step(snapshot_dir: Path, directory: Path, *, declared: list[str], since: float,
                 others: set[str]) -> RestoreReport:
    """Undo what one step changed, and nothing else.

    With `declared` paths (the step's touches/outputs, relative to `directory`), exactly
    those are put back as they were in the snapshot. Without, the entries that differ
    from the snapshot and were changed at or after `since` (when the step's first attempt
    began) are put back. Either way, paths another step declares (`others`: its outputs
    and touches) are left alone, as is everything changed before the step began.
    """
    snap_root = os.path.realpath(snapshot_dir)
    root = os.path.realpath(directory)
    report = RestoreReport()

    def mine(rel: str) -> bool:
        return not any(rel == o or rel.startswith(o.rstrip("/") + "/") or o.startswith(rel + "/")
                       for o in others)

    if declared:
        candidates = [os.path.relpath(p, root) if os.path.isabs(p) else os.path.normpath(p) for p in declared]
        candidates = [c for c in candidates if c != "." and not c.startswith("..")]
    else:
        candidates = []
        _changed_since(snap_root, root, "", since, candidates)
        # A parent listed after its children (a new directory) is handled as a whole.
    for rel in sorted(set(candidates), key=lambda r: (r.count("/"), r)):
        if rel and mine(rel) and os.path.lexists(os.path.join(root, os.path.dirname(rel)) or root):
            _restore_one(snap_root, root, rel, report)
    report.removed.sort()
    report.restored.sort()
    return report
