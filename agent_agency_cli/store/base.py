"""The store's foundation: one connection, its write transactions, and the JSON encoding of columns."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from agent_agency_cli.store.db import write_tx


class BatchLostError(RuntimeError):
    """A group-commit batch could not be committed (see Store.commit_batch)."""


def _keep(task_id: str | None, value: Any) -> Any:
    return value


# The test suite checks every event against its payload model as it is written (event_payloads.
# check_event); read once, so production writes pay one attribute test.
CHECK_EVENTS = os.environ.get("AGENT_AGENCY_CHECK_EVENTS") == "1"


def check_event(kind: str, payload: dict[str, Any] | None) -> None:
    """Raise EventPayloadError when the event drifts from its model (only with CHECK_EVENTS on)."""
    from agent_agency_cli.event_payloads import check_event as check  # pydantic: tests only

    check(kind, payload)


def dumps(obj: Any) -> str:
    """A JSON column value (compact; anything unknown as its str)."""
    return json.dumps(obj, separators=(",", ":"), default=str)


class StoreBase:
    """One connection; every table's queries (the mixins of Store) run on it."""

    def __init__(self, conn: sqlite3.Connection, vault: Any = None):
        self.conn = conn
        self._batch_lost: BaseException | None = None  # see commit_batch
        # The task secrets' keeper (security.vault.Vault): every text a writer
        # stores passes its `redact(task_id, value)`, so no secret reaches a row in clear.
        self.vault = vault
        self.redact: Callable[[str | None, Any], Any] = vault.redact if vault is not None else _keep

    def _fields(self, task_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Row fields with the task's secrets redacted (JSON text: its values, not the text)."""
        out: dict[str, Any] = {}
        for k, v in fields.items():
            if isinstance(v, str) and v[:1] in ("{", "["):
                try:  # JSON text: mask the values, not the text (a mask must not cut an escape)
                    out[k] = dumps(self.redact(task_id, json.loads(v)))
                    continue
                except ValueError:
                    pass
            out[k] = self.redact(task_id, v) if isinstance(v, str | dict | list) else v
        return out

    def tx(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction (see db.write_tx); an open group-commit batch commits first."""
        if self.conn.in_transaction:
            self.commit_batch()
        return write_tx(self.conn)

    def home(self) -> Path:
        """The data home this store's database lives in."""
        row = self.conn.execute("PRAGMA database_list").fetchone()
        return Path(row["file"]).parent

    def data_version(self) -> int:
        """Changes whenever another connection commits: a near-free "anything new?" check."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]
