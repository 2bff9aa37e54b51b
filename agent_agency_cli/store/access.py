"""Store: data access on one connection, one mixin per table.

The only place with SQL (a test checks that no `.execute(` is outside store/). Each
state change is one transaction that updates its row and appends an event.
"""

from __future__ import annotations

from agent_agency_cli.store.base import StoreBase
from agent_agency_cli.store.events import EventQueries
from agent_agency_cli.store.history import HistoryQueries
from agent_agency_cli.store.interventions import InterventionQueries
from agent_agency_cli.store.steps import StepQueries
from agent_agency_cli.store.tasks import TaskQueries


class Store(TaskQueries, StepQueries, EventQueries, InterventionQueries, HistoryQueries, StoreBase):
    """Tasks, steps, events, interventions and their history on one connection."""
