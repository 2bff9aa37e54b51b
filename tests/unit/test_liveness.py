"""engine/liveness.py names the engine-held statuses in plain words (to stay free of
pydantic on the fast path): they must be the models' ACTIVE_TASK_STATUSES."""

from agent_agency_cli.engine.liveness import ENGINE_HELD
from agent_agency_cli.models import ACTIVE_TASK_STATUSES


def test_engine_held_statuses_are_the_models_active_ones():
    assert {s.value for s in ACTIVE_TASK_STATUSES} == ENGINE_HELD
