"""SQLite persistence: connection set-up, schema migrations, the Store and retention."""

from agent_agency_cli.store.db import connect
from agent_agency_cli.store.tasks import Store

__all__ = ["Store", "connect"]
