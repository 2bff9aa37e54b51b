"""create_app: the FastAPI application over TaskOrchestrator (routes in routes.py).

Every request but the static monitor files and the OpenAPI document needs a bearer token
from the data home's `api-tokens`; interventions are audited as `api:<token name>@<client>`.
Each facade call runs in a worker thread (the app's own executor: a plain
`loop.run_in_executor`, cheaper per call than Starlette's anyio thread hop) with an orchestrator
of its own for the call (own SQLite connection), borrowed from a small pool; the config is
read when an orchestrator is first made, so restart `serve` after editing it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_agency_cli import __version__
from agent_agency_cli.api import problems, tokens
from agent_agency_cli.api.hub import EventHub

MAX_BODY_BYTES = 1024 * 1024
# Facade calls at once (an intervention waits up to ~15 s for the engine, holding its thread).
WORKER_THREADS = 32
PUBLIC_PATHS = ("/", "/favicon.ico", "/api/v1/openapi.json", "/api/v1/docs", "/api/v1/health")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
# The monitor runs only its own files; the interactive docs page needs Swagger UI's inline
# script and its CDN (the one page that gets the looser policy).
CSP_STRICT = (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'")
CSP_DOCS = (b"content-security-policy",
            b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
            b"https://fastapi.tiangolo.com; frame-ancestors 'none'")


class Guard:
    """ASGI middleware: body size limit, bearer token, security headers on every response."""

    def __init__(self, app: ASGIApp, token_map: Callable[[], dict[str, str]], max_body: int):
        self.app = app
        self.token_map = token_map
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path = scope["path"]
        extra = [*SECURITY_HEADERS, CSP_DOCS if path == "/api/v1/docs" else CSP_STRICT]

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] in ("POST", "PUT", "PATCH"):
            length = headers.get("content-length")
            if length is None and "chunked" in headers.get("transfer-encoding", ""):
                await problems.problem(411, "send a Content-Length (chunked bodies are not accepted)",
                                       path)(scope, receive, send_with_headers)
                return
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await problems.problem(413, f"the body is over {self.max_body} bytes", path)(
                    scope, receive, send_with_headers)
                return
        if not (path in PUBLIC_PATHS or path.startswith("/static/")):
            name = _authorize(headers.get("authorization", ""), self.token_map())
            if name is None:
                detail = ("missing bearer token: send 'Authorization: Bearer TOKEN' (the token is in the "
                          "data home's api-tokens file)" if "authorization" not in headers
                          else "the bearer token is not valid (see the data home's api-tokens file)")
                await problems.problem(401, detail, path, headers={"WWW-Authenticate": "Bearer"})(
                    scope, receive, send_with_headers)
                return
            scope.setdefault("state", {})["token_name"] = name
        await self.app(scope, receive, send_with_headers)


def _authorize(header: str, token_map: dict[str, str]) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return tokens.check(token_map, value.strip())


def create_app(
    home: str | Path | None = None,
    config: str | Path | None = None,
    *,
    orch_factory: Callable[[], Any] | None = None,
    start_engine: bool = True,
    cors_origins: Sequence[str] = (),
    max_body: int = MAX_BODY_BYTES,
    hub_poll: float | None = None,
) -> FastAPI:
    """The API app for one data home. `orch_factory` makes a TaskOrchestrator (default: for
    `home`/`config`); `start_engine=False` only queues tasks (no daemon is started)."""
    from agent_agency_cli.orchestrator import TaskOrchestrator  # lazy: keeps start-up light

    if orch_factory is None:
        def orch_factory() -> Any:
            return TaskOrchestrator(home=home, config=config)

    data_home = orch_factory().home
    hub = EventHub(orch_factory, **({"poll": hub_poll} if hub_poll else {}))
    pool = OrchestratorPool(orch_factory)
    executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="api-facade")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            hub.stop()
            executor.shutdown(wait=True, cancel_futures=True)
            pool.close()

    app = FastAPI(
        title="agent-agency-cli API", version=__version__, lifespan=lifespan,
        openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None,
        description="Submit, follow and steer tasks. Every /api/v1 call but this document needs "
                    "`Authorization: Bearer TOKEN`. Errors are RFC 7807 problem details whose "
                    "`exit_code` is what the CLI would exit with.",
    )
    app.state.pool = pool
    app.state.executor = executor
    app.state.hub = hub
    app.state.start_engine = start_engine
    token_cache: dict[str, Any] = {"mtime": None, "map": {}}
    token_file = tokens.token_path(data_home)

    def token_map() -> dict[str, str]:
        # Re-read when the file changes: a token added or removed by hand takes effect at once.
        try:
            mtime = token_file.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if mtime != token_cache["mtime"]:
            token_cache["map"] = tokens.load_tokens(data_home)
            token_cache["mtime"] = mtime
        return token_cache["map"]

    problems.install(app)
    from agent_agency_cli.api import routes  # lazy: api imports this module back

    app.include_router(routes.router)
    static = resources.files("agent_agency_cli.api") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/api/v1/health", tags=["meta"])
    async def health() -> dict[str, Any]:
        """Liveness and version; needs no token."""
        return {"ok": True, "version": __version__, "streams": hub.subscribers}

    app.add_middleware(Guard, token_map=token_map, max_body=max_body)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware  # lazy: the 'api' extra

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type",
                                                                          "Last-Event-ID"])
    return app


def actor(request: Request) -> str:
    """How the audit trail names this caller: api:<token name>@<client address>."""
    client = request.client.host if request.client else "unknown"
    return f"api:{getattr(request.state, 'token_name', '?')}@{client}"


class OrchestratorPool:
    """Idle orchestrators kept for the next request: opening a connection and loading the
    config per request cost ten times the work of a typical call. One user at a time each."""

    def __init__(self, factory: Callable[[], Any], keep: int = 16):
        self._factory = factory
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._keep = keep

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        with self._lock:
            orch = self._idle.pop() if self._idle else None
        if orch is None:
            orch = self._factory()
        try:
            yield orch
        finally:
            with self._lock:
                keep = len(self._idle) < self._keep
                if keep:
                    self._idle.append(orch)
            if not keep:
                orch.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for orch in idle:
            orch.close()


async def facade(request: Request, fn: Callable[[Any], Any]) -> Any:
    """Run fn(orchestrator) in a worker thread, acting as this request's caller."""
    from agent_agency_cli.orchestrator import acting_as  # lazy: keeps start-up light

    who = actor(request)
    pool: OrchestratorPool = request.app.state.pool

    def run() -> Any:
        with pool.borrow() as orch, acting_as(who):
            return fn(orch)

    # Not Starlette's run_in_threadpool: anyio's limiter and cancel scope per call cost about as
    # much as a small facade call (bench/api.py); run() sets its own context (acting_as).
    return await asyncio.get_running_loop().run_in_executor(request.app.state.executor, run)
