"""Storage and file-system faults at the CLI boundary: one line saying what happened and
what to do, instead of a traceback (a locked, read-only, full or corrupted database, a
file the command cannot read or write)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from agent_agency_cli.errors import EXIT_FAILED
from agent_agency_cli.store.db import database_fault


def describe(exc: BaseException, db: Path | None) -> tuple[str, int]:
    """(one line, exit code) for a sqlite3.Error or an OSError that reached the CLI."""
    if isinstance(exc, sqlite3.Error):
        return database_fault(exc, db), EXIT_FAILED
    assert isinstance(exc, OSError)
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"no space left{where}: free some space on that file system and try again", EXIT_FAILED
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"not allowed{where}: {exc.strerror}; check the permissions of the data home "
                "or the file named"), EXIT_FAILED
    return f"{exc.strerror or type(exc).__name__}{where}", EXIT_FAILED
