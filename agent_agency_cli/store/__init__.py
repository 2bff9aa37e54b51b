"""SQLite persistence: connection set-up, schema migrations, the Store and retention."""

from agent_agency_cli.store.access import Store
from agent_agency_cli.store.base import BatchLostError
from agent_agency_cli.store.db import connect

__all__ = ["BatchLostError", "Store", "connect"]
