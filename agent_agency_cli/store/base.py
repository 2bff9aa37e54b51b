"""The store's foundation: one connection, its write transactions, and the JSON encoding of columns."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from typing import Any

from agent_agency_cli.store.db import write_tx


class BatchLostError(RuntimeError):
    """A group-commit batch could not be committed (see Store.commit_batch)."""


def dumps(obj: Any) -> str:
    """A JSON column value (compact; anything unknown as its str)."""
    return json.dumps(obj, separators=(",", ":"), default=str)


class StoreBase:
    """One connection; every table's queries (the mixins of Store) run on it."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._batch_lost: BaseException | None = None  # see commit_batch

    def tx(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction (see db.write_tx); an open group-commit batch commits first."""
        if self.conn.in_transaction:
            self.commit_batch()
        return write_tx(self.conn)

    def data_version(self) -> int:
        """Changes whenever another connection commits: a near-free "anything new?" check."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]
