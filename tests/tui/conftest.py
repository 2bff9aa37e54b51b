"""Helpers for the TUI tests (the `orch` fixture is in tests/conftest.py): waits that
poll the running app, and a way to create tasks with frozen ids and times so the
snapshots are the same on every machine."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

FROZEN = 1_700_000_000.0  # 2023-11-14T22:13:20Z: in the past on any machine


async def wait_until(pilot: Any, predicate: Callable[[], object], timeout: float = 15.0,
                     what: str = "condition") -> Any:
    """Let the app run until predicate() is truthy (checked every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


def step_cell(app: Any, step: str, column: str = "step") -> str:
    table = app.screen.query_one("#steps")
    return table.get_cell(step, column).plain


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """frozen(fn, *args, id=...) runs fn with time.time() fixed, the given task id and
    `ana@box` as the user — for deterministic snapshots. Also pins TZ to UTC."""
    from agent_agency_cli.orchestration import actor as actor_mod
    from agent_agency_cli.orchestration import intake as intake_mod
    from agent_agency_cli.tui import format as fmt

    old_tz = os.environ.get("TZ")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    fmt._HMS_CACHE.clear()
    monkeypatch.setattr(actor_mod, "who", lambda: "ana@box")

    def run(fn: Callable[..., Any], *args: Any, id: str | None = None, at: float = FROZEN,
            **kwargs: Any) -> Any:
        with contextlib.ExitStack() as stack:
            mp = stack.enter_context(monkeypatch.context())
            mp.setattr(time, "time", lambda: at)
            if id is not None:
                mp.setattr(intake_mod.secrets, "token_hex", lambda n=3: id)
            return fn(*args, **kwargs)

    yield run
    if old_tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old_tz
    time.tzset()
    fmt._HMS_CACHE.clear()


def shell_plan(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"plan": {"steps": list(steps)}, **extra}


@pytest.fixture
def anyio_backend() -> str:
    """The async tests run on asyncio (Textual's loop) through anyio's pytest plugin."""
    return "asyncio"
