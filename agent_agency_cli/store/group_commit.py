"""Group commit: step transitions made in the same few event-loop turns share one transaction.

A runner moves steps with `Store.set_step_status(batch=True)`, which leaves the change in
an open transaction, and then calls `joined()`. The flusher commits the batch a couple of
turns after the first change in it; whoever must not act before a change is committed
awaits `durable()`. Any other write on the connection commits the batch first
(`Store.tx`), so order is kept and nothing is ever committed out of turn.
"""

from __future__ import annotations

import anyio

from agent_agency_cli.store.access import Store

FLUSH_TURNS = 2  # loop turns a batch stays open for more changes to join it


class GroupCommit:
    """The unit of work of an engine's batched changes (all its runners share the one
    connection, so they share the batch: a step start of one task and the claim of
    another go in one commit)."""

    def __init__(self, store: Store):
        self.store = store
        self._wanted = anyio.Event()
        self._flushed = anyio.Event()
        self.starting = 0  # lifecycles begun (in any runner) that have not yet reached their first attempt
        self._serving = False  # one flusher commits at a time (see flusher)
        self._vacancy = anyio.Event()

    def joined(self) -> None:
        """A change joined the open batch: have the flusher commit it soon."""
        self._wanted.set()

    async def durable(self) -> None:
        """Return once every batched change made so far is committed.

        When no begun step (of any runner) is still on its way to its first attempt,
        nothing more is coming to join the batch this turn: commit it now instead of
        waiting for the flusher (a chain's COMPLETED and its dependent's RUNNING, or the
        first steps of tasks claimed together, then share one commit)."""
        if not self.store.batch_open:
            return
        if self.starting == 0:
            done, self._flushed = self._flushed, anyio.Event()
            self.store.commit_batch()
            done.set()
            return
        self._wanted.set()
        await self._flushed.wait()

    async def flusher(self) -> None:
        """Runs for a runner's lifetime: commits each batch a few turns after it opened.
        Every runner starts one; one of them serves at a time, another takes over when
        its runner ends."""
        while self._serving:
            await self._vacancy.wait()
        self._serving = True
        try:
            while True:
                await self._wanted.wait()
                # Let the steps woken in this turn (and the lifecycles they start) add their
                # changes to the same transaction.
                for _ in range(FLUSH_TURNS):
                    await anyio.sleep(0)
                self._wanted = anyio.Event()
                done, self._flushed = self._flushed, anyio.Event()
                # A failure here ends the runner like a crash would (recovery takes over).
                self.store.commit_batch()
                done.set()
        finally:
            self._serving = False
            vacancy, self._vacancy = self._vacancy, anyio.Event()
            vacancy.set()

    def close(self) -> None:
        """Never leave a batch (and the write lock) open."""
        self.store.commit_batch()
