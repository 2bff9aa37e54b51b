"""Who acts: the person at this terminal, or whom a face names (the API: its token's name
and the client's address). Every audit record (interventions, reviews) reads `who()`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_ACTOR: ContextVar[str | None] = ContextVar("agent_agency_actor", default=None)


@contextmanager
def acting_as(who: str) -> Iterator[None]:
    """Record interventions and reviews made inside this block as `who` (e.g. "api:ci@10.0.0.5")."""
    token = _ACTOR.set(who)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def who() -> str:
    """The actor set by `acting_as`, else user@host of this process."""
    actor = _ACTOR.get()
    if actor:
        return actor
    import getpass  # lazy: only commands that record who acted need it

    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return f"{user}@{os.uname().nodename}"  # what socket.gethostname() says, without importing socket
