"""The store's foundation: one connection, its write transactions, and the JSON encoding of columns."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from agent_agency_cli.store.db import begin_immediate, write_tx


class BatchLostError(RuntimeError):
    """A group-commit batch could not be committed (see Store.commit_batch)."""


def _keep(task_id: str | None, value: Any) -> Any:
    return value


def _same(text: str) -> str:
    return text


# The test suite checks every event against its payload model as it is written (event_payloads.
# check_event); read once, so production writes pay one attribute test.
CHECK_EVENTS = os.environ.get("AGENT_AGENCY_CHECK_EVENTS") == "1"


def check_event(kind: str, payload: dict[str, Any] | None) -> None:
    """Raise EventPayloadError when the event drifts from its model (only with CHECK_EVENTS on)."""
    from agent_agency_cli.event_payloads import check_event as check  # pydantic: tests only

    check(kind, payload)


# One encoder: json.dumps with non-default arguments builds a new JSONEncoder on every call
# (twice per step on the engine's hot path).
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def dumps(obj: Any) -> str:
    """A JSON column value (compact; anything unknown as its str)."""
    return _encode(obj)


class StoreBase:
    """One connection; every table's queries (the mixins of Store) run on it."""

    def __init__(self, conn: sqlite3.Connection, vault: Any = None):
        self.conn = conn
        self._batch_lost: BaseException | None = None  # see commit_batch
        self._in_unit = False  # see unit()
        # The task secrets' keeper (security.vault.Vault): every text a writer
        # stores passes its `redact(task_id, value)`, so no secret reaches a row in clear.
        self.vault = vault
        self.redact: Callable[[str | None, Any], Any] = vault.redact if vault is not None else _keep

    def text_mask(self, task_id: str) -> Callable[[str], str]:
        """The task's masking of one string (what redact does to a str, without its type
        dispatch: the hot path masks a dozen plain strings per step)."""
        return self.vault.masker(task_id) if self.vault is not None else _same

    def _fields(self, task_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Row fields with the task's secrets redacted (JSON text: its values, not the text)."""
        out: dict[str, Any] = {}
        mask = None
        for k, v in fields.items():
            kind = type(v)
            if kind is str:
                if v[:1] in ("{", "["):
                    try:  # JSON text: mask the values, not the text (a mask must not cut an escape)
                        out[k] = dumps(self.redact(task_id, json.loads(v)))
                        continue
                    except ValueError:
                        pass
                if mask is None:
                    mask = self.text_mask(task_id)
                out[k] = mask(v)
            elif v is None or kind is int or kind is float or kind is bool:
                out[k] = v
            else:
                out[k] = self.redact(task_id, v) if isinstance(v, str | dict | list) else v
        return out

    def tx(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction (see db.write_tx); an open group-commit batch commits first.
        Inside unit(), a savepoint of the unit's transaction instead."""
        if self._in_unit:
            return self._savepoint()
        if self.conn.in_transaction:
            self.commit_batch()  # type: ignore[attr-defined]
        return write_tx(self.conn)

    def join_batch(self) -> sqlite3.Connection:
        """The connection inside the open group-commit batch (opened now if none): what is
        written is NOT committed on return (see StepQueries.set_step_status, batch=True)."""
        if self._batch_lost is not None:
            raise BatchLostError(f"a group-commit batch was lost: {self._batch_lost}")
        if not self.conn.in_transaction:
            begin_immediate(self.conn)
        return self.conn

    @contextmanager
    def unit(self) -> Iterator[None]:
        """One commit for every write inside the block, joined to the open group-commit
        batch: e.g. a task's last step end, its final review and its end state (issue 13:
        commits per task). Each write is a savepoint, all-or-nothing on its own as with
        tx(); what was written is committed at the end of the block, also when it raises
        (as separate transactions would have been). Nothing inside may act outside the
        database on what it wrote: that waits until the block has ended."""
        if self._in_unit:
            yield
            return
        self._in_unit = True
        try:
            yield
        finally:
            self._in_unit = False
            self.commit_batch()  # type: ignore[attr-defined]

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Every write inside the block is one transaction: committed at its end, all of it
        rolled back if the block raises (an intervention applied outside an engine: a cancel
        whose task an engine claimed meanwhile must not leave its steps cancelled). Inside
        unit() or another atomic(), it joins that one."""
        if self._in_unit:
            yield
            return
        if self.conn.in_transaction:
            self.commit_batch()  # type: ignore[attr-defined]
        begin_immediate(self.conn)
        self._in_unit = True
        try:
            yield
        except BaseException:
            self._in_unit = False
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            # the block began with no batch open and all of it is rolled back: a change
            # that failed halfway inside it (which marks the batch lost) took nothing else
            self._batch_lost = None
            raise
        self._in_unit = False
        self.commit_batch()  # type: ignore[attr-defined]

    @contextmanager
    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        conn = self.join_batch()
        conn.execute("SAVEPOINT unit_tx")
        try:
            yield conn
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO unit_tx")
                conn.execute("RELEASE unit_tx")
            else:  # SQLite rolled back the whole transaction (I/O error, disk full)
                self._batch_lost = self._batch_lost or exc
            raise
        conn.execute("RELEASE unit_tx")

    @property
    def in_unit(self) -> bool:
        """Writes join one transaction (see unit())."""
        return self._in_unit

    def home(self) -> Path:
        """The data home this store's database lives in."""
        row = self.conn.execute("PRAGMA database_list").fetchone()
        return Path(row["file"]).parent

    def data_version(self) -> int:
        """Changes whenever another connection commits: a near-free "anything new?" check."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]
