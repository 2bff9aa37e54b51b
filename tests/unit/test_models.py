"""The state-transition tables, exit codes of terminal statuses and priority ranks."""

from __future__ import annotations

import itertools

import pytest

from agent_agency_cli.errors import EXIT_CONFLICT, ConflictError, InvalidTransition
from agent_agency_cli.models import (
    STEP_TRANSITIONS,
    TASK_TRANSITIONS,
    TERMINAL_TASK_STATUSES,
    Priority,
    StepStatus,
    TaskStatus,
    check_step_transition,
    check_task_transition,
)

T = TaskStatus
S = StepStatus

TASK_ALLOWED = sorted((old, new) for old, news in TASK_TRANSITIONS.items() for new in news)
TASK_FORBIDDEN = sorted(
    (old, new) for old, new in itertools.product(TaskStatus, TaskStatus) if new not in TASK_TRANSITIONS[old]
)
STEP_ALLOWED = sorted((old, new) for old, news in STEP_TRANSITIONS.items() for new in news)
STEP_FORBIDDEN = sorted(
    (old, new) for old, new in itertools.product(StepStatus, StepStatus) if new not in STEP_TRANSITIONS[old]
)


def _ids(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"{a}->{b}" for a, b in pairs]


# -- the tables themselves -----------------------------------------------------


def test_every_task_status_has_a_row() -> None:
    assert set(TASK_TRANSITIONS) == set(TaskStatus)


def test_every_step_status_has_a_row() -> None:
    assert set(STEP_TRANSITIONS) == set(StepStatus)


def test_tables_only_name_known_statuses() -> None:
    for news in TASK_TRANSITIONS.values():
        assert news <= set(TaskStatus)
    for news in STEP_TRANSITIONS.values():
        assert news <= set(StepStatus)


def test_no_status_transitions_to_itself() -> None:
    assert [t for t in TaskStatus if t in TASK_TRANSITIONS[t]] == []
    assert [s for s in StepStatus if s in STEP_TRANSITIONS[s]] == []


def test_completed_is_final_for_tasks_and_steps() -> None:
    assert TASK_TRANSITIONS[T.COMPLETED] == frozenset()
    assert STEP_TRANSITIONS[S.COMPLETED] == frozenset()


def test_unsuccessful_terminal_tasks_can_only_be_requeued() -> None:
    for status in (T.FAILED, T.CANCELLED, T.PARTIALLY_COMPLETED):
        assert TASK_TRANSITIONS[status] == frozenset({T.QUEUED}), status


def test_key_lifecycle_edges_are_present() -> None:
    # The happy path of a task and of a step must always be allowed.
    for old, new in [
        (T.QUEUED, T.RUNNING),
        (T.RUNNING, T.PAUSED),
        (T.PAUSED, T.RUNNING),
        (T.RUNNING, T.AWAITING_APPROVAL),
        (T.AWAITING_APPROVAL, T.RUNNING),
        (T.RUNNING, T.COMPLETED),
        (T.RUNNING, T.FAILED),
        (T.RUNNING, T.CANCELLED),
        (T.RUNNING, T.QUEUED),
    ]:
        assert new in TASK_TRANSITIONS[old], f"{old}->{new}"
    for old, new in [
        (S.PENDING, S.RUNNING),
        (S.RUNNING, S.COMPLETED),
        (S.RUNNING, S.FAILED),
        (S.RUNNING, S.PAUSED),
        (S.PAUSED, S.RUNNING),
        (S.RUNNING, S.INTERRUPTED),
        (S.INTERRUPTED, S.PENDING),
        (S.FAILED, S.PENDING),
    ]:
        assert new in STEP_TRANSITIONS[old], f"{old}->{new}"


# -- check_task_transition -----------------------------------------------------


@pytest.mark.parametrize(("old", "new"), TASK_ALLOWED, ids=_ids(TASK_ALLOWED))
def test_allowed_task_transition_passes(old: TaskStatus, new: TaskStatus) -> None:
    assert check_task_transition("abc123", old, new) is None


@pytest.mark.parametrize(("old", "new"), TASK_FORBIDDEN, ids=_ids(TASK_FORBIDDEN))
def test_forbidden_task_transition_raises(old: TaskStatus, new: TaskStatus) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_task_transition("abc123", old, new)
    msg = str(info.value)
    assert "abc123" in msg
    assert f"is {old.value};" in msg
    assert msg.endswith(f"cannot become {new.value}")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (T.QUEUED, T.COMPLETED),
        (T.QUEUED, T.AWAITING_APPROVAL),
        (T.COMPLETED, T.RUNNING),
        (T.COMPLETED, T.QUEUED),
        (T.FAILED, T.RUNNING),
        (T.FAILED, T.COMPLETED),
        (T.CANCELLED, T.RUNNING),
        (T.PAUSED, T.COMPLETED),
        (T.AWAITING_REVIEW, T.RUNNING),
        (T.ESCALATED, T.COMPLETED),
    ],
)
def test_sample_of_forbidden_task_transitions(old: TaskStatus, new: TaskStatus) -> None:
    assert new not in TASK_TRANSITIONS[old]
    with pytest.raises(InvalidTransition, match=f"is {old.value}; it cannot become {new.value}"):
        check_task_transition("t1", old, new)


def test_invalid_transition_is_a_conflict() -> None:
    with pytest.raises(ConflictError) as info:
        check_task_transition("t1", T.COMPLETED, T.RUNNING)
    assert info.value.exit_code == EXIT_CONFLICT == 5


# -- check_step_transition -----------------------------------------------------


@pytest.mark.parametrize(("old", "new"), STEP_ALLOWED, ids=_ids(STEP_ALLOWED))
def test_allowed_step_transition_passes(old: StepStatus, new: StepStatus) -> None:
    assert check_step_transition("abc123", "build", old, new) is None


@pytest.mark.parametrize(("old", "new"), STEP_FORBIDDEN, ids=_ids(STEP_FORBIDDEN))
def test_forbidden_step_transition_raises(old: StepStatus, new: StepStatus) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_step_transition("abc123", "build", old, new)
    msg = str(info.value)
    assert "'build'" in msg
    assert "abc123" in msg
    assert f"is {old.value};" in msg
    assert msg.endswith(f"cannot become {new.value}")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.COMPLETED, S.PENDING),
        (S.COMPLETED, S.RUNNING),
        (S.PENDING, S.PAUSED),
        (S.PENDING, S.INTERRUPTED),
        (S.SKIPPED, S.RUNNING),
        (S.FAILED, S.RUNNING),
        (S.CANCELLED, S.RUNNING),
        (S.WAITING_RESOURCES, S.COMPLETED),
        (S.INTERRUPTED, S.RUNNING),
        (S.PAUSED, S.SKIPPED),  # paused -> pending is allowed: a graceful engine stop requeues it
    ],
)
def test_sample_of_forbidden_step_transitions(old: StepStatus, new: StepStatus) -> None:
    assert new not in STEP_TRANSITIONS[old]
    with pytest.raises(InvalidTransition, match=f"is {old.value}; it cannot become {new.value}"):
        check_step_transition("t1", "s", old, new)


# -- exit codes, terminal and finished sets -----------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (T.COMPLETED, 0),
        (T.PARTIALLY_COMPLETED, 1),
        (T.FAILED, 1),
        (T.CANCELLED, 4),
    ],
)
def test_terminal_task_exit_code(status: TaskStatus, code: int) -> None:
    assert status.is_terminal
    assert status.exit_code == code


@pytest.mark.parametrize("status", [t for t in TaskStatus if t not in TERMINAL_TASK_STATUSES])
def test_unfinished_task_has_no_exit_code(status: TaskStatus) -> None:
    assert not status.is_terminal
    assert status.exit_code is None


def test_terminal_set_is_exactly_the_four_outcomes() -> None:
    assert {t for t in TaskStatus if t.is_terminal} == {
        T.COMPLETED,
        T.PARTIALLY_COMPLETED,
        T.FAILED,
        T.CANCELLED,
    }


def test_finished_and_active_step_statuses() -> None:
    assert {s for s in StepStatus if s.is_finished} == {
        S.COMPLETED,
        S.FAILED,
        S.SKIPPED,
        S.CANCELLED,
    }
    assert {s for s in StepStatus if s.is_active} == {S.RUNNING, S.PAUSED}
    # An interrupted step is neither finished nor running: recovery decides.
    assert not S.INTERRUPTED.is_finished
    assert not S.INTERRUPTED.is_active


# -- priority -------------------------------------------------------------------


def test_priority_rank_orders_low_to_urgent() -> None:
    ordered = sorted(Priority, key=lambda p: p.rank)
    assert ordered == [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]


def test_priority_ranks_are_distinct_and_urgent_highest() -> None:
    ranks = [p.rank for p in Priority]
    assert len(set(ranks)) == len(ranks)
    assert Priority.URGENT.rank > Priority.HIGH.rank > Priority.NORMAL.rank > Priority.LOW.rank
    assert max(Priority, key=lambda p: p.rank) is Priority.URGENT


def test_priority_from_text() -> None:
    assert Priority("high") is Priority.HIGH
    with pytest.raises(ValueError):
        Priority("critical")
