"""EventHub's fan-out rules, without a server."""

from __future__ import annotations

from agent_agency_cli.api.hub import MAX_PENDING, EventHub, Subscriber


def test_a_reader_that_falls_behind_is_told_to_catch_up_from_the_database():
    sub = Subscriber(None)
    for i in range(MAX_PENDING):
        sub.push(("event", {"id": i}))
    assert not sub.lagged and len(sub.pending) == MAX_PENDING
    sub.push(("event", {"id": MAX_PENDING}))
    assert sub.lagged and not sub.pending and sub.wake.is_set()
    sub.push(("event", {"id": MAX_PENDING + 1}))
    assert not sub.pending  # stays empty until the stream has re-read the backlog


def test_dispatch_filters_by_task_and_sends_progress_after_that_tasks_events():
    hub = EventHub(lambda: None)
    one, every = hub.subscribe("t1"), hub.subscribe(None)
    events = [{"id": 1, "task_id": "t1"}, {"id": 2, "task_id": "t2"}, {"id": 3, "task_id": "t1"}]
    progress = {"t1": {"task_id": "t1"}, "t2": {"task_id": "t2"}}
    hub._dispatch(events, progress)
    assert list(one.pending) == [("event", events[0]), ("event", events[2]), ("progress", progress["t1"])]
    assert [k for k, _ in every.pending] == ["event", "event", "event", "progress", "progress"]
    hub.unsubscribe(one)
    assert hub.subscribers == 1 and hub._wanted == frozenset({None})
