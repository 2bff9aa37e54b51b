"""SQLite persistence: connection set-up, schema migrations and every SQL statement."""

from agent_agency_cli.store.db import connect
from agent_agency_cli.store.tasks import Store

__all__ = ["Store", "connect"]
