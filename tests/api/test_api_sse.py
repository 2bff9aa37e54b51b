"""The progress stream: server-sent events from the events table, resumable with Last-Event-ID."""

from __future__ import annotations

import httpx

from tests.api.conftest import sse_events
from tests.conftest import skip_module_unless_installed, wait_for

skip_module_unless_installed("fastapi", "the API tests need the 'api' extra: pip install -e '.[dev,api]'")


def _many_steps(n: int) -> dict:
    return {"concurrency": 8, "steps": [{"name": f"s{i:03d}", "run": "true"} for i in range(n)]}


def test_reconnecting_with_last_event_id_misses_nothing_and_repeats_nothing(api):
    with api.client() as c:
        tid = c.post("/api/v1/tasks", json={"description": "hundreds of events", "plan": _many_steps(150)}).json()["id"]
        got: list[int] = []
        with c.stream("GET", f"/api/v1/tasks/{tid}/progress", headers={"Accept": "text/event-stream"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            for ev in sse_events(r):
                if "id" in ev:
                    got.append(int(ev["id"]))
                    assert ev["data"]["id"] == got[-1] and ev["event"] == ev["data"]["kind"]
                if len(got) >= 120:
                    break  # drop the connection mid-stream
        ended = None
        with c.stream("GET", f"/api/v1/tasks/{tid}/progress", headers={"Last-Event-ID": str(got[-1])}) as r:
            for ev in sse_events(r):
                if "id" in ev:
                    got.append(int(ev["id"]))
                if ev["event"] == "end":
                    ended = ev["data"]
        stored = [e["id"] for e in c.get(f"/api/v1/tasks/{tid}/events", params={"limit": 10000}).json()]
    assert ended == {"task_id": tid, "status": "completed", "exit_code": 0}
    # Both streams are gone from the hub once their connections closed.
    wait_for(lambda: httpx.get(f"{api.url}/api/v1/health").json()["streams"] == 0)
    assert len(stored) > 300
    assert got == stored  # every stored event once, in order, across the two connections


def test_progress_events_carry_the_seeds_fields_and_the_stream_ends_with_the_task(api, tmp_path):
    # Step one waits until the stream has shown it running (the test creates `go` then), so
    # the stream sees the task while a step runs, however slow the machine.
    go = tmp_path / "go"
    plan = {"steps": [{"name": "one", "run": f"while [ ! -e {go} ]; do sleep 0.02; done; echo 1",
                       "estimate": "1s"},
                      {"name": "two", "run": "echo 2", "needs": ["one"], "estimate": "1s"}]}
    with api.client() as c:
        tid = c.post("/api/v1/tasks", json={"description": "watch my progress", "plan": plan}).json()["id"]
        events = []
        with c.stream("GET", f"/api/v1/tasks/{tid}/progress") as r:
            for ev in sse_events(r):
                events.append(ev)
                if ev["event"] == "progress" and ev["data"]["current_step"]:
                    go.touch()
    progress = [e["data"] for e in events if e["event"] == "progress"]
    assert events[-1]["event"] == "end" and events[-2]["event"] == "progress"
    assert all("id" not in e for e in events if e["event"] in ("progress", "end"))
    for p in progress:
        assert {"task_id", "progress", "current_step", "status", "eta"} <= set(p)
        assert p["task_id"] == tid and 0.0 <= p["progress"] <= 1.0
    fractions = [p["progress"] for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert progress[-1]["status"] == "completed" and progress[-1]["eta"] is None
    assert any(p["current_step"] in (1, 2) for p in progress)
    assert [e["data"]["kind"] for e in events if "id" in e][-1] == "task_completed"
    # A finished task's stream replays its events and ends at once.
    with api.client() as c, c.stream("GET", f"/api/v1/tasks/{tid}/progress") as r:
        again = list(sse_events(r))
    assert [e["id"] for e in again if "id" in e] == [e["id"] for e in events if "id" in e]


def test_the_all_tasks_stream_shows_new_tasks(api_queue_only):
    with api_queue_only.client() as c:
        with c.stream("GET", "/api/v1/progress") as r:
            assert r.status_code == 200
            ids = [c.post("/api/v1/tasks", json={"description": f"stream me {i}", "plan": _many_steps(1)}).json()["id"]
                   for i in range(2)]
            seen: dict[str, str] = {}
            for ev in sse_events(r):
                if ev["event"] == "task_created":
                    seen[ev["data"]["task_id"]] = ev["id"]
                if ev["event"] == "progress":
                    assert ev["data"]["status"] == "queued"
                if len(seen) == 2:
                    break
    assert sorted(seen) == sorted(ids)


def test_stream_errors_are_problems(api_queue_only):
    with api_queue_only.client() as c:
        assert c.get("/api/v1/tasks/nosuch/progress").status_code == 404
        r = c.get("/api/v1/progress", headers={"Last-Event-ID": "abc"})
        assert r.status_code == 422 and "Last-Event-ID" in r.json()["detail"]
