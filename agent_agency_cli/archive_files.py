"""Archiving finished tasks: pack `tasks/<id>/` into one verified `.tar.gz`, and back.

Archive layout (gzip-compressed tar, PAX format)::

    metadata.json          the task's status JSON, exactly as the caller gave it
    task/                  the task directory: workspace/, logs/, gates/, ...
    task/workspace/...

Guarantees:

- `archive_task_files` writes to a hidden temp file in the archive dir, verifies it by
  reopening and reading every member back, and only then renames it into place
  (atomic) and removes the task directory. A crash or error at any point before the
  rename leaves the task directory untouched and no archive (not even a partial one).
- Symlinks are stored as symlinks, never followed. Symlinks that point outside the
  task directory are refused up front (restore would reject them), so every archive
  this module writes can be restored by `restore_task_files`.
- `restore_task_files` unpacks into a staging dir next to the destination and renames
  it into place, so a failed restore leaves nothing behind. Unsafe members (absolute
  paths, `..`, links leaving the destination, device files) are rejected. The archive
  itself is never modified or deleted by a restore: the caller decides what to do
  with it once it has recorded the restore.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from agent_agency_cli.errors import AgencyError, BadInputError, ConflictError, NotFoundError

ARCHIVE_SUFFIX = ".tar.gz"
META_MEMBER = "metadata.json"
ROOT_MEMBER = "task"

# tarfile's "data" extraction filter exists from Python 3.11.4 / 3.12; older
# interpreters fall back to the manual checks in `_safe_members` alone.
_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")

_CHUNK = 1 << 20


class ArchiveError(AgencyError):
    """An archive that cannot be written, read or verified (corrupt, truncated, disk full)."""


class UnsafeArchiveError(ArchiveError):
    """An archive member that would land outside the destination or is not a plain file/dir/link."""


@dataclass(frozen=True)
class ArchiveInfo:
    """What `archive_task_files` wrote."""

    path: Path  # archive_dir/<task_id>.tar.gz
    size: int  # bytes of the .tar.gz
    sha256: str  # hex digest of the .tar.gz
    files: tuple[str, ...]  # regular files and links, POSIX paths relative to the task dir, sorted
    skipped: tuple[str, ...] = ()  # sockets / FIFOs / device files left out (no content to keep)
    leftover: Path | None = None  # set only if the moved-away task dir could not be fully deleted


def archive_path_for(archive_dir: Path, task_id: str) -> Path:
    """Where the archive of `task_id` lives in `archive_dir`."""
    _check_task_id(task_id)
    return Path(archive_dir) / f"{task_id}{ARCHIVE_SUFFIX}"


# --------------------------------------------------------------------------- archive


def archive_task_files(task_dir: Path, archive_dir: Path, task_id: str, metadata: dict[str, Any]) -> ArchiveInfo:
    """Pack `task_dir` into `archive_dir/<task_id>.tar.gz`, verify it, then remove `task_dir`.

    An existing archive of the same task is replaced (atomically, and only by a
    verified one): it can only be left from a run that stopped before removing the
    directory, which is still the newer copy. Raises NotFoundError (no such dir),
    BadInputError (bad id, archive dir inside the task dir), ConflictError (a symlink
    points outside the task dir) or ArchiveError (write/verify failed); in every error
    case the task dir is untouched and no archive file is left.
    """
    _check_task_id(task_id)
    task_dir = Path(task_dir)
    archive_dir = Path(archive_dir)
    if task_dir.is_symlink() or not task_dir.is_dir():
        raise NotFoundError(f"task {task_id}: no task directory at {task_dir}")
    real_task = os.path.realpath(task_dir)
    if _inside(os.path.realpath(archive_dir), real_task):
        raise BadInputError(f"archive dir {archive_dir} is inside the task dir {task_dir}")
    try:
        meta_bytes = json.dumps(metadata, indent=2, sort_keys=True, default=_json_default).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"task {task_id}: metadata is not JSON-serialisable: {exc}") from None
    skipped = _scan_task_dir(task_dir, real_task, task_id)
    archive_dir.mkdir(parents=True, exist_ok=True)

    final = archive_path_for(archive_dir, task_id)
    fd, tmp_name = tempfile.mkstemp(dir=archive_dir, prefix=f".{task_id}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        expected = _write_archive(fd, task_dir, meta_bytes)
        sha256, size = _verify_archive(tmp, expected)
        os.replace(tmp, final)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, AgencyError) or not isinstance(exc, Exception):
            raise
        raise ArchiveError(f"task {task_id}: could not write the archive {final}: {exc}") from exc
    _fsync_dir(archive_dir)

    files = tuple(sorted(name[len(ROOT_MEMBER) + 1:] for name, (kind, _) in expected.items()
                         if kind != "dir" and name != META_MEMBER))
    try:
        leftover = _remove_tree(task_dir)
    except OSError as exc:
        # Keep the invariant "an error leaves the task dir and no archive".
        with contextlib.suppress(OSError):
            final.unlink()
        raise ArchiveError(f"task {task_id}: archive not kept: cannot remove {task_dir}: {exc}") from exc
    return ArchiveInfo(path=final, size=size, sha256=sha256, files=files, skipped=tuple(skipped),
                       leftover=leftover)


def describe_archive(path: Path) -> ArchiveInfo:
    """The ArchiveInfo of an archive already written (read back, not repacked)."""
    path = Path(path)
    with tarfile.open(path, "r:gz") as tar:
        files = tuple(sorted(m.name[len(ROOT_MEMBER) + 1:] for m in tar.getmembers()
                             if not m.isdir() and m.name.startswith(ROOT_MEMBER + "/")))
    return ArchiveInfo(path=path, size=path.stat().st_size, sha256=_sha256(path), files=files)


def _write_archive(fd: int, task_dir: Path, meta_bytes: bytes) -> dict[str, tuple[str, int]]:
    """Write the tar.gz to `fd` (closed on return) -> {member name: (kind, size)} of what was added."""
    expected: dict[str, tuple[str, int]] = {}

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
            return None  # FIFO / device (sockets never reach the filter)
        expected[info.name] = (_kind(info), info.size if info.isreg() else 0)
        return info

    with os.fdopen(fd, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT, compresslevel=6) as tar:
            meta = tarfile.TarInfo(META_MEMBER)
            meta.size = len(meta_bytes)
            meta.mtime = int(time.time())
            meta.mode = 0o644
            tar.addfile(meta, io.BytesIO(meta_bytes))
            expected[META_MEMBER] = ("file", len(meta_bytes))
            # dereference=False (the default): symlinks are stored as symlinks.
            tar.add(str(task_dir), arcname=ROOT_MEMBER, recursive=True, filter=keep)
        raw.flush()
        os.fsync(raw.fileno())
    return expected


def _verify_archive(path: Path, expected: dict[str, tuple[str, int]]) -> tuple[str, int]:
    """Reopen the archive, read every member back, compare with what was added -> (sha256, size)."""
    seen: dict[str, tuple[str, int]] = {}
    try:
        _check_gzip_stream(path)
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                seen[member.name] = (_kind(member), member.size if member.isreg() else 0)
                if member.isreg():
                    src = tar.extractfile(member)
                    assert src is not None
                    got = 0
                    while chunk := src.read(_CHUNK):
                        got += len(chunk)
                    if got != member.size:
                        raise ArchiveError(f"member {member.name}: read {got} of {member.size} bytes")
            meta = tar.extractfile(META_MEMBER)
            assert meta is not None
            json.loads(meta.read())
    except ArchiveError:
        raise
    except Exception as exc:
        raise ArchiveError(f"verification of {path.name} failed: {exc}") from exc
    if seen != expected:
        missing = sorted(set(expected) - set(seen))
        extra = sorted(set(seen) - set(expected))
        changed = sorted(k for k in set(seen) & set(expected) if seen[k] != expected[k])
        raise ArchiveError(
            f"verification of {path.name} failed: missing {missing[:5]}, unexpected {extra[:5]}, "
            f"different {changed[:5]}"
        )
    return _sha256(path), path.stat().st_size


def _scan_task_dir(task_dir: Path, real_task: str, task_id: str) -> list[str]:
    """The special files (sockets, FIFOs, devices) that will be left out, relative to task_dir.

    ConflictError if any symlink under task_dir points outside it (restore would reject it).
    """
    bad: list[str] = []
    special: list[str] = []
    for dirpath, dirnames, filenames in os.walk(task_dir, followlinks=False):
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                special.append(Path(os.path.relpath(path, task_dir)).as_posix())
                continue
            if not stat.S_ISLNK(mode):
                continue
            target = os.readlink(path)
            rel = os.path.relpath(path, task_dir)
            lexical = os.path.normpath(os.path.join(os.path.dirname(rel), target))
            real = os.path.realpath(os.path.join(dirpath, target))
            if (os.path.isabs(target) or lexical == ".." or lexical.startswith(".." + os.sep)
                    or not _inside(real, real_task)):
                bad.append(f"{rel} -> {target}")
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ConflictError(
            f"task {task_id}: not archived: symlink(s) point outside the task directory "
            f"({', '.join(bad[:3])}{more}); such links cannot be restored safely — remove or "
            "replace them, then archive again"
        )
    return sorted(special)


def _remove_tree(task_dir: Path) -> Path | None:
    """Remove task_dir: first renamed away (atomic: the task dir is gone at once), then deleted.

    Returns the renamed path if it could not be fully deleted (the archive is complete anyway).
    """
    trash = Path(tempfile.mkdtemp(dir=task_dir.parent, prefix=f".{task_dir.name}.archived-"))
    os.rmdir(trash)
    os.rename(task_dir, trash)

    def fix_and_retry(func: Callable[..., Any], path: str, *_: Any) -> None:
        # Read-only directories (e.g. a Go module cache) block deleting their entries.
        parent = os.path.dirname(path)
        with contextlib.suppress(OSError):
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | stat.S_IRWXU)
        func(path)

    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(trash, onexc=fix_and_retry)
        else:
            shutil.rmtree(trash, onerror=fix_and_retry)
    except OSError:
        return trash
    return None


# --------------------------------------------------------------------------- restore


def restore_task_files(archive_path: Path, task_dir: Path, *, expected_sha256: str | None = None) -> list[str]:
    """Unpack an archive written by `archive_task_files` into `task_dir`; return the files restored.

    The result lists regular files and links as POSIX paths relative to `task_dir`,
    sorted (the same set as `ArchiveInfo.files`). `metadata.json` is not unpacked
    (read it with `read_archive_metadata`).

    - `task_dir` must not exist or be an empty directory: otherwise ConflictError.
    - Unsafe members (absolute paths, `..`, links leaving the destination, device
      files, members outside `task/`) raise UnsafeArchiveError; a corrupt or
      truncated archive raises ArchiveError. Either way nothing is left behind:
      unpacking happens in a staging dir next to `task_dir` that is renamed into
      place only when every member was extracted.
    - Before anything is unpacked the whole gzip stream is read once, so its CRC
      and length are checked (tar extraction alone stops before the gzip trailer
      and would miss a corrupted byte); with `expected_sha256` (`ArchiveInfo.sha256`)
      the file's digest must match too, else ArchiveError.
    - The archive is kept as it is (never deleted or modified).
    """
    archive_path = Path(archive_path)
    task_dir = Path(task_dir)
    if not archive_path.is_file():
        raise NotFoundError(f"no archive at {archive_path}")
    _check_destination(task_dir)
    if expected_sha256 is not None and _sha256(archive_path) != expected_sha256.lower():
        raise ArchiveError(f"cannot restore {archive_path.name}: its sha256 does not match the recorded one")
    try:
        _check_gzip_stream(archive_path)
    except (EOFError, OSError, zlib.error) as exc:
        raise ArchiveError(f"cannot restore {archive_path.name}: corrupt or truncated archive ({exc})") from exc
    task_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=task_dir.parent, prefix=f".{task_dir.name}.restore-"))
    restored: list[str] = []
    try:
        try:
            with tarfile.open(archive_path, mode="r:gz") as tar:
                tar.errorlevel = 2
                members = _safe_members(tar, staging, restored)
                if _HAS_DATA_FILTER:
                    tar.extractall(staging, members=members, filter="data")
                else:
                    tar.extractall(staging, members=members)
        except ArchiveError:
            raise
        except tarfile.FilterError as exc:
            raise UnsafeArchiveError(f"refusing {archive_path.name}: unsafe member: {exc}") from exc
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise ArchiveError(f"cannot restore {archive_path.name}: corrupt or truncated archive ({exc})") from exc
        root = staging / ROOT_MEMBER
        if root.is_symlink() or not root.is_dir():
            raise ArchiveError(f"cannot restore {archive_path.name}: it holds no {ROOT_MEMBER}/ directory")
        _check_destination(task_dir)  # nobody created it meanwhile
        if task_dir.is_dir():
            task_dir.rmdir()  # empty (checked above)
        os.rename(root, task_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(restored)


def read_archive_metadata(archive_path: Path) -> dict[str, Any]:
    """The `metadata.json` stored in an archive (the task's status JSON at archive time)."""
    archive_path = Path(archive_path)
    if not archive_path.is_file():
        raise NotFoundError(f"no archive at {archive_path}")
    try:
        with tarfile.open(archive_path, mode="r:gz") as tar:
            member = tar.getmember(META_MEMBER)
            src = tar.extractfile(member)
            if src is None:
                raise ArchiveError(f"{archive_path.name}: {META_MEMBER} is not a file")
            data = json.loads(src.read())
    except ArchiveError:
        raise
    except KeyError:
        raise ArchiveError(f"{archive_path.name}: no {META_MEMBER} in the archive") from None
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ArchiveError(f"cannot read {archive_path.name}: corrupt or truncated archive ({exc})") from exc
    if not isinstance(data, dict):
        raise ArchiveError(f"{archive_path.name}: {META_MEMBER} is not a JSON object")
    return data


def _check_destination(task_dir: Path) -> None:
    if task_dir.is_symlink() or (task_dir.exists() and not task_dir.is_dir()):
        raise ConflictError(f"cannot restore into {task_dir}: it exists and is not a directory")
    if task_dir.is_dir() and any(task_dir.iterdir()):
        raise ConflictError(
            f"cannot restore into {task_dir}: the directory exists and is not empty "
            "(move it away or delete it first)"
        )


def _safe_members(tar: tarfile.TarFile, staging: Path, restored: list[str]) -> Iterator[tarfile.TarInfo]:
    """Yield the members to extract, checking each one just before it is extracted.

    Checked lazily so that realpath() sees the links extracted before it. Runs in
    addition to tarfile's "data" filter, and alone where that filter is missing.
    """
    dest = os.path.realpath(staging)
    prefix = ROOT_MEMBER + "/"
    for member in tar:
        name = member.name
        if name == META_MEMBER:
            continue
        _check_name(name, "member")
        if name != ROOT_MEMBER and not name.startswith(prefix):
            raise UnsafeArchiveError(f"unexpected member {name!r} (everything must be under {prefix})")
        if not _inside(os.path.realpath(os.path.join(dest, name)), dest):
            raise UnsafeArchiveError(f"member {name!r} would be written outside the destination")
        if member.issym():
            link = member.linkname
            if os.path.isabs(link) or not _inside(
                    os.path.realpath(os.path.join(dest, os.path.dirname(name), link)), dest):
                raise UnsafeArchiveError(f"symlink {name!r} -> {link!r} points outside the destination")
        elif member.islnk():
            _check_name(member.linkname, "hard link target")
            if not member.linkname.startswith(prefix) or not _inside(
                    os.path.realpath(os.path.join(dest, member.linkname)), dest):
                raise UnsafeArchiveError(f"hard link {name!r} -> {member.linkname!r} points outside the destination")
        elif not (member.isreg() or member.isdir()):
            raise UnsafeArchiveError(f"member {name!r} is a device, FIFO or other special file")
        if name == ROOT_MEMBER and not member.isdir():
            raise UnsafeArchiveError(f"member {name!r} must be a directory")
        if not _HAS_DATA_FILTER:
            # What the "data" filter would do: no setuid/setgid/sticky, no group/other
            # write, no ownership taken from the archive.
            member.mode &= ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH)
            member.uid, member.gid = os.getuid(), os.getgid()
            member.uname = member.gname = ""
        if not member.isdir() and name != ROOT_MEMBER:
            restored.append(name[len(prefix):])
        yield member


def _check_name(name: str, what: str) -> None:
    if not name or name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{what} {name!r} is an absolute path")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise UnsafeArchiveError(f"{what} {name!r} contains '..'")
    if "\x00" in name:
        raise UnsafeArchiveError(f"{what} {name!r} contains a NUL byte")


# --------------------------------------------------------------------------- helpers


def _check_task_id(task_id: str) -> None:
    if (not task_id or task_id in (".", "..") or task_id.startswith(".")
            or any(c in task_id for c in "/\\\x00")):
        raise BadInputError(f"bad task id {task_id!r} for an archive name")


def _check_gzip_stream(path: Path) -> None:
    """Decompress the whole file once: raises on a bad CRC, a short stream or non-gzip bytes."""
    with gzip.open(path, "rb") as f:
        while f.read(_CHUNK):
            pass


def _kind(info: tarfile.TarInfo) -> str:
    if info.isdir():
        return "dir"
    if info.issym():
        return f"symlink:{info.linkname}"
    if info.islnk():
        return f"hardlink:{info.linkname}"
    return "file"


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
