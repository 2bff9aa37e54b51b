"""The engine's garbage-collector setting is raised while it runs and put back after."""

from __future__ import annotations

import gc

from agent_agency_cli.engine.gc_tuning import ENGINE_GEN0_THRESHOLD, engine_gc


def test_the_threshold_is_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    gc.set_threshold(700, before[1], before[2])
    try:
        with engine_gc():
            assert gc.get_threshold()[0] == ENGINE_GEN0_THRESHOLD
        assert gc.get_threshold() == (700, before[1], before[2])
    finally:
        gc.set_threshold(*before)


def test_a_higher_or_disabled_threshold_is_left_alone() -> None:
    before = gc.get_threshold()
    try:
        for setting in (20000, 0):
            gc.set_threshold(setting, before[1], before[2])
            with engine_gc():
                assert gc.get_threshold()[0] == setting
            assert gc.get_threshold()[0] == setting
    finally:
        gc.set_threshold(*before)
