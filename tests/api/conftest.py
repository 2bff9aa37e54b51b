"""Fixtures of the API tests: a real uvicorn server on 127.0.0.1 (port 0) over the test's data home."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Each test module that needs the `api` extra skips itself when it is missing
# (tests.conftest.skip_module_unless_installed, which does not import it: collection stays
# cheap for every xdist worker); fixtures import the server parts only when used.


@dataclass
class Api:
    url: str
    token: str
    home: Path
    app: object

    def client(self, token: str | None = None, timeout: float = 30.0) -> Any:
        import httpx

        return httpx.Client(base_url=self.url, timeout=timeout,
                            headers={"Authorization": f"Bearer {token or self.token}"})


def _serve(home: Path, **kwargs: object) -> Iterator[Api]:
    from agent_agency_cli.api.app import create_app
    from agent_agency_cli.api.server import start_in_thread
    from agent_agency_cli.api.tokens import ensure_token

    _, token, _ = ensure_token(home)
    app = create_app(home=home, **kwargs)  # type: ignore[arg-type]
    server = start_in_thread(app)
    try:
        yield Api(server.url, token, home, app)
    finally:
        server.stop()


@pytest.fixture
def api(home: Path) -> Iterator[Api]:
    """The API with the engine: submitted tasks start the daemon (stopped by the home fixture)."""
    yield from _serve(home)


@pytest.fixture
def api_queue_only(home: Path) -> Iterator[Api]:
    """The API that only queues tasks (no daemon), for tests that must not run anything."""
    yield from _serve(home, start_engine=False)


def sse_events(response: Any) -> Iterator[dict]:
    """Parse a server-sent event stream into {event, id, data} dicts."""
    import json

    ev: dict = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in ev:
                ev["data"] = json.loads(ev["data"])
                yield ev
            ev = {}
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            ev[key] = value[1:] if value.startswith(" ") else value
