"""Circuit breakers in SQLite: the state machine, persistence, and concurrent writers."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_agency_cli.config import BreakerSettings
from agent_agency_cli.store.breakers import BreakerStore, Decision, breaker_name, clock
from agent_agency_cli.store.db import connect

T0 = 1_750_000_000.0
S = BreakerSettings(failure_threshold=3, window=60, recovery_timeout=30, success_threshold=1)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "agency.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(db_path)
    yield c
    c.close()


@pytest.fixture
def breakers(conn: sqlite3.Connection) -> BreakerStore:
    return BreakerStore(conn)


def trip(b: BreakerStore, name: str = "make", settings: BreakerSettings = S, at: float = T0) -> None:
    """Open the breaker with failure_threshold failures one second apart, the last at `at`."""
    n = settings.failure_threshold
    states = [b.record(name, settings, False, at - (n - 1 - i)) for i in range(n)]
    assert states[-1] == "open"


# -- closed -> open -------------------------------------------------------------------


def test_unknown_breaker_is_closed_and_allowed(breakers: BreakerStore) -> None:
    assert breakers.check("make", S, T0) == Decision(True, "closed", None, False)
    assert breakers.get("make") is None


def test_opens_after_threshold_failures_within_window(breakers: BreakerStore) -> None:
    assert breakers.record("make", S, False, T0) == "closed"
    assert breakers.record("make", S, False, T0 + 10) == "closed"
    assert breakers.check("make", S, T0 + 11).allowed
    assert breakers.record("make", S, False, T0 + 20) == "open"
    d = breakers.check("make", S, T0 + 21)
    assert not d.allowed and d.state == "open" and not d.trial
    assert breakers.get("make", S, T0 + 21)["state"] == "open"


def test_failures_outside_the_window_do_not_count(breakers: BreakerStore) -> None:
    assert breakers.record("make", S, False, T0) == "closed"
    assert breakers.record("make", S, False, T0 + 30) == "closed"
    # the first failure is 61s old now: only two failures remain in the 60s window
    assert breakers.record("make", S, False, T0 + 61) == "closed"
    assert breakers.get("make", S, T0 + 61)["failures"] == 2
    assert breakers.check("make", S, T0 + 62).allowed
    # the next one makes three within 60s (T0+30, T0+61, T0+70)
    assert breakers.record("make", S, False, T0 + 70) == "open"


def test_successes_in_closed_do_not_reset_the_window(breakers: BreakerStore) -> None:
    breakers.record("make", S, False, T0)
    breakers.record("make", S, True, T0 + 1)
    breakers.record("make", S, False, T0 + 2)
    breakers.record("make", S, True, T0 + 3)
    assert breakers.record("make", S, False, T0 + 4) == "open"


def test_success_on_unknown_breaker_writes_nothing(breakers: BreakerStore) -> None:
    assert breakers.record("make", S, True, T0) == "closed"
    assert breakers.list() == []


def test_breakers_are_independent(breakers: BreakerStore) -> None:
    trip(breakers, "make")
    assert not breakers.check("make", S, T0 + 1).allowed
    assert breakers.check("curl", S, T0 + 1).allowed


# -- open: rejection and its reason -----------------------------------------------------


def test_open_rejects_with_a_reason_until_the_cool_down(breakers: BreakerStore) -> None:
    settings = BreakerSettings(failure_threshold=5, window=60, recovery_timeout=90)
    trip(breakers, "make", settings, at=T0)
    d = breakers.check("make", settings, T0 + 89.9)
    assert not d.allowed and d.state == "open" and not d.trial
    assert d.retry_at == T0 + 90
    assert d.reason == (
        f"circuit 'make' is open after 5 failures in 1m; retry after {clock(T0 + 90)} "
        "(or `agent-agency-cli breakers reset make`)"
    )


def test_reason_after_a_failed_trial_says_so(breakers: BreakerStore) -> None:
    settings = BreakerSettings(failure_threshold=3, window=10, recovery_timeout=30)
    trip(breakers, "make", settings, at=T0)
    assert breakers.check("make", settings, T0 + 31).trial
    assert breakers.record("make", settings, False, T0 + 32) == "open"
    d = breakers.check("make", settings, T0 + 33)
    assert not d.allowed
    assert d.reason is not None and "trial call failed" in d.reason and clock(T0 + 32) in d.reason


def test_record_while_open_keeps_it_open(breakers: BreakerStore) -> None:
    trip(breakers)
    assert breakers.record("make", S, True, T0 + 1) == "open"  # a late success of an older call
    assert breakers.record("make", S, False, T0 + 2) == "open"
    assert breakers.get("make", S, T0 + 2)["opened_at"] == breakers.get("make", S, T0)["opened_at"]
    assert not breakers.check("make", S, T0 + 29).allowed


# -- half-open: exactly one trial -------------------------------------------------------


def test_cool_down_lets_exactly_one_trial_through(breakers: BreakerStore) -> None:
    trip(breakers)
    first = breakers.check("make", S, T0 + 30)
    assert first.allowed and first.trial and first.state == "half_open"
    second = breakers.check("make", S, T0 + 31)
    assert not second.allowed and not second.trial and second.state == "half_open"
    assert second.reason is not None and "trial" in second.reason
    assert second.retry_at == T0 + 60
    assert breakers.get("make", S, T0 + 31)["trial_in_progress"] is True


def test_trial_success_closes(breakers: BreakerStore) -> None:
    trip(breakers)
    assert breakers.check("make", S, T0 + 30).trial
    assert breakers.record("make", S, True, T0 + 31) == "closed"
    d = breakers.check("make", S, T0 + 32)
    assert d.allowed and d.state == "closed" and not d.trial
    info = breakers.get("make", S, T0 + 32)
    assert info["failures"] == 0 and info["opened_at"] is None
    # the old failures were cleared: it takes a full threshold again to re-open
    assert breakers.record("make", S, False, T0 + 33) == "closed"
    assert breakers.record("make", S, False, T0 + 34) == "closed"
    assert breakers.record("make", S, False, T0 + 35) == "open"


def test_trial_failure_reopens_with_a_fresh_cool_down(breakers: BreakerStore) -> None:
    trip(breakers)
    assert breakers.check("make", S, T0 + 30).trial
    assert breakers.record("make", S, False, T0 + 40) == "open"
    assert not breakers.check("make", S, T0 + 69).allowed  # 30s from the failed trial, not from T0
    again = breakers.check("make", S, T0 + 70)
    assert again.allowed and again.trial


def test_success_threshold_needs_several_trials(breakers: BreakerStore) -> None:
    settings = BreakerSettings(failure_threshold=2, window=60, recovery_timeout=10, success_threshold=2)
    trip(breakers, "make", settings)
    assert breakers.check("make", settings, T0 + 10).trial
    assert breakers.record("make", settings, True, T0 + 11) == "half_open"
    nxt = breakers.check("make", settings, T0 + 12)  # the first trial is done: a second one may start
    assert nxt.allowed and nxt.trial
    assert not breakers.check("make", settings, T0 + 13).allowed
    assert breakers.record("make", settings, True, T0 + 14) == "closed"


def test_a_stale_trial_does_not_block_forever(breakers: BreakerStore) -> None:
    trip(breakers)
    assert breakers.check("make", S, T0 + 30).trial  # its caller dies and never records
    assert not breakers.check("make", S, T0 + 59).allowed
    d = breakers.check("make", S, T0 + 60)
    assert d.allowed and d.trial


def test_release_trial_lets_the_next_check_try(breakers: BreakerStore) -> None:
    trip(breakers)
    assert breakers.check("make", S, T0 + 30).trial
    assert breakers.release_trial("make", T0 + 31) is True
    assert breakers.check("make", S, T0 + 32).trial
    assert breakers.release_trial("curl", T0 + 33) is False


def test_non_trial_result_does_not_decide_the_trial(breakers: BreakerStore) -> None:
    trip(breakers)
    assert breakers.check("make", S, T0 + 30).trial
    assert breakers.record("make", S, True, T0 + 31, trial=False) == "half_open"
    assert breakers.record("make", S, False, T0 + 32, trial=False) == "half_open"
    assert not breakers.check("make", S, T0 + 33).allowed  # the trial is still in flight
    assert breakers.record("make", S, True, T0 + 34, trial=True) == "closed"


def test_disabled_breakers_always_allow_and_store_nothing(breakers: BreakerStore) -> None:
    off = BreakerSettings(enabled=False, failure_threshold=1)
    for i in range(5):
        assert breakers.record("make", off, False, T0 + i) == "closed"
    assert breakers.check("make", off, T0 + 5).allowed
    assert breakers.list() == []
    trip(breakers, "curl")  # opened while enabled, then the user turns breakers off
    assert not breakers.check("curl", S, T0 + 1).allowed
    assert breakers.check("curl", off, T0 + 1).allowed


# -- list, get, reset ------------------------------------------------------------------


def test_list_and_get_describe_each_breaker(breakers: BreakerStore) -> None:
    trip(breakers, "make", at=T0)
    breakers.record("curl", S, False, T0)
    rows = breakers.list(S, now=T0 + 1)
    assert [r["name"] for r in rows] == ["curl", "make"]
    curl, make = rows
    assert curl["state"] == "closed" and curl["failures"] == 1 and curl["retry_at"] is None
    assert make["state"] == "open" and make["failures"] == 3
    assert make["opened_at"] == "2025-06-15T15:06:40.000Z"
    assert make["retry_at"] == "2025-06-15T15:07:10.000Z"
    assert breakers.get("make", S, T0 + 1) == make
    assert breakers.get("nope") is None
    # failures age out of the listing's window too
    assert breakers.get("curl", S, T0 + 61)["failures"] == 0


def test_reset_closes_and_forgets(breakers: BreakerStore) -> None:
    trip(breakers)
    assert breakers.reset("make") is True
    d = breakers.check("make", S, T0 + 1)
    assert d.allowed and d.state == "closed"
    assert breakers.get("make", S, T0 + 1)["failures"] == 0
    assert breakers.record("make", S, False, T0 + 2) == "closed"  # the old failures are gone
    assert breakers.reset("unknown") is False


# -- persistence and concurrency ----------------------------------------------------------


def test_state_survives_reopening_the_database(db_path: Path) -> None:
    c1 = connect(db_path)
    trip(BreakerStore(c1))
    c1.close()  # the daemon stops
    c2 = connect(db_path)  # a new daemon starts
    try:
        b = BreakerStore(c2)
        assert b.get("make", S, T0 + 1)["state"] == "open"
        assert not b.check("make", S, T0 + 1).allowed
        assert b.check("make", S, T0 + 30).trial
    finally:
        c2.close()
    c3 = connect(db_path)
    try:  # the trial in flight is persisted too: another engine is not let through
        assert not BreakerStore(c3).check("make", S, T0 + 31).allowed
    finally:
        c3.close()


def test_only_one_of_many_connections_gets_the_trial(db_path: Path) -> None:
    setup = connect(db_path)
    trip(BreakerStore(setup))
    setup.close()
    conns = [connect(db_path) for _ in range(8)]
    barrier = threading.Barrier(len(conns))
    results: list[Decision] = []
    lock = threading.Lock()

    def worker(c: sqlite3.Connection) -> None:
        b = BreakerStore(c)
        barrier.wait()
        d = b.check("make", S, T0 + 30)
        with lock:
            results.append(d)

    threads = [threading.Thread(target=worker, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    for c in conns:
        c.close()
    assert len(results) == 8
    assert sum(d.trial for d in results) == 1
    assert sum(d.allowed for d in results) == 1


def _hammer(path: str, name: str, count: int, start: float, go: Any) -> None:
    settings = BreakerSettings(failure_threshold=100_000, window=1e9)
    conn = connect(path)
    b = BreakerStore(conn)
    go.wait(30)  # both processes start recording together
    for i in range(count):
        b.record(name, settings, False, start + i * 1e-3)
    conn.close()


def test_two_processes_recording_failures_lose_none(db_path: Path) -> None:
    connect(db_path).close()  # schema applied once, up front
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Barrier(2)
    n = 150
    procs = [ctx.Process(target=_hammer, args=(str(db_path), "make", n, T0 + k * 0.5e-3, go)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]  # a "database is locked" would make it non-zero
    c = connect(db_path)
    try:
        info = BreakerStore(c).get("make", BreakerSettings(failure_threshold=100_000, window=1e9), T0 + 10)
        assert info is not None and info["failures"] == 2 * n
    finally:
        c.close()


# -- breaker_name ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "target", "name"),
    [
        ("shell", "make -j2 all", "make"),
        ("shell", ["make", "test"], "make"),
        ("shell", "/usr/bin/python3 -m pytest", "python3"),
        ("shell", ["/usr/local/bin/python3", "x.py"], "python3"),
        ("shell", ["/bin/sh", "-c", "curl -fsS https://x | jq ."], "curl"),
        ("shell", ["bash", "-eu", "-o", "pipefail", "-c", "wget -q x"], "wget"),
        ("shell", "sh -c 'cd build && ./configure --fast'", "configure"),
        ("shell", "set -e; cd x && npm test", "npm"),
        ("shell", "FOO=1 BAR=2 cargo build", "cargo"),
        ("shell", "env -i timeout 5 rsync a b", "rsync"),
        ("shell", "echo 'a; b' && make", "echo"),
        ("shell", "./scripts/deploy.sh --prod", "deploy.sh"),
        ("shell", ["sh", "run.sh"], "sh"),
        ("shell", "cd somewhere", "cd"),
        ("shell", "   ", "sh"),
        ("python", "steps:build", "steps"),
        ("python", "pkg.tools.lint:run", "pkg.tools.lint"),
        ("llm", "gpt-4o", "gpt-4o"),
    ],
)
def test_breaker_name(kind: str, target: str | list[str], name: str) -> None:
    assert breaker_name(kind, target) == name
