"""The daemon's submit socket: `task create` handed to the warm daemon process.

A local `task create` spends most of its CPU importing (pydantic, the plan and config
models, the scanner); the daemon has all of that loaded. It listens on `daemon.sock` in
the data home (0600; only its own user may connect) and, per connection in its own thread
(never on the engine's event loop), does what the local path does: prepare + store under
the caller's config, then answers with the stored result — after the commit, so an id the
client prints is durable. The client (cli/daemon_submit.py) renders the answer with the
same words and exit code as the local path.

What it cannot reproduce faithfully it declines *before storing anything*, and the client
runs the local path: a bad request (the local path words the error with the paths as the
user typed them), a dry run (its report is rendered for the caller's terminal), Python
steps (their module check depends on the process's import path), a task awaiting review
whose config has an awaiting_review command hook (it runs in the caller's environment), a
config that does not load. Each request carries the client's ids: a request the daemon stored but could not
answer (it died) is found by the local retry, never stored twice.
"""

from __future__ import annotations

import logging
import os
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_agency_cli.errors import AgencyError, StoredNotStartedError
from agent_agency_cli.models import ExecutionMode, TaskStatus
from agent_agency_cli.orchestration import submit_protocol
from agent_agency_cli.paths import HomePaths

log = logging.getLogger(__name__)
_REQUEST_KEYS = frozenset({"description", "plan", "mode", "priority", "requirements", "stakeholders",
                           "deadline", "workdir", "concurrency", "complexity"})


class _SettingsCache:
    """The caller's settings, loaded once per config file version (path, size, mtime, inode)."""

    def __init__(self, home: Path):
        self.home = home
        self._lock = threading.Lock()
        self._cache: dict[Any, Any] = {}

    def get(self, config: str | None) -> Any:
        # Never load_settings(None): that would read the *daemon's* $AGENT_AGENCY_CONFIG.
        path = config if config is not None else str(self.home / "config.yaml")
        try:
            st = os.stat(path)
            key: Any = (path, st.st_size, st.st_mtime_ns, st.st_ino)
        except OSError:
            if config is not None:
                return None  # the local path says what is wrong with it
            key, path = None, None  # no config.yaml in the home: the defaults
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        from agent_agency_cli.config import Settings, load_settings  # lazy: keeps start-up light

        try:
            settings = load_settings(path, home=self.home) if path is not None else Settings()
        except AgencyError:
            return None
        with self._lock:
            self._cache = {key: settings}  # keep the newest only: a config edited often is not a leak
        return settings


def _acceptor(settings: Any) -> Callable[[dict[str, Any], list[dict[str, Any]]], str | None]:
    """Why a prepared task must be stored by the caller's own process instead (None: not)."""
    # A command hook runs in the environment of the process that fires it (a webhook is the
    # same POST from either).
    hooked = any(h.command and {"awaiting_review", "*"} & set(h.events) for h in settings.notifications.hooks)

    def accept(task: dict[str, Any], steps: list[dict[str, Any]]) -> str | None:
        if hooked and task["status"] == TaskStatus.AWAITING_REVIEW.value:
            return "its awaiting_review hooks run in the caller's environment"
        return _accept(task, steps)

    return accept


def _accept(task: dict[str, Any], steps: list[dict[str, Any]]) -> str | None:
    if task["mode"] == ExecutionMode.DRY_RUN.value:
        return "a dry run renders its report for the caller's terminal"
    if task.get("planned") is not None:
        return "a planner's plan is announced by the caller"
    if any(s["kind"] == "python" or "python" in (s["spec"].get("fallback") or {}) for s in steps):
        return "a Python step's module is checked on the caller's import path"
    return None


def serve_request(paths: HomePaths, settings_cache: _SettingsCache, message: dict[str, Any]) -> dict[str, Any]:
    """Answer one client message: {"results": [...]} or {"fallback": why} (nothing stored by
    this message then; tasks stored earlier in a batch are found by their request ids)."""
    requests, ids = message.get("requests"), message.get("request_ids")
    if (message.get("v") != submit_protocol.PROTOCOL or not isinstance(requests, list) or not requests
            or not isinstance(ids, list) or len(ids) != len(requests)
            or not all(isinstance(r, dict) and set(r) <= _REQUEST_KEYS for r in requests)
            or not all(isinstance(i, str) and 0 < len(i) <= 100 for i in ids)):
        return {"fallback": "not a request this daemon understands"}
    config = message.get("config")
    if config is not None and (not isinstance(config, str) or not os.path.isabs(config)):
        return {"fallback": "the config path is not absolute"}
    settings = settings_cache.get(config)
    if settings is None:
        return {"fallback": "the config does not load here"}
    from agent_agency_cli.orchestration.submission import NotServed, submit  # lazy: keeps start-up light
    from agent_agency_cli.orchestrator import TaskOrchestrator  # lazy: keeps start-up light

    orch = TaskOrchestrator(paths.home, config=config, settings=settings)
    accept = _acceptor(settings)
    results: list[dict[str, Any]] = []
    try:
        for request, request_id in zip(requests, ids, strict=True):
            try:
                tid = submit(orch, request, start_daemon=False, request_id=request_id, accept=accept)
            except NotServed as exc:
                return {"fallback": str(exc)}
            except StoredNotStartedError as exc:
                results.append({"id": exc.task_id, "error": str(exc), "exit_code": exc.exit_code})
                continue
            except AgencyError as exc:
                return {"fallback": f"refused ({type(exc).__name__}); the caller words it"}
            status = orch.get_status(tid)
            results.append({"id": tid, "status": {k: v for k, v in status.items() if k != "steps"},
                            "warnings": orch.validation_warnings(tid)})
    finally:
        orch.close()
    return {"v": submit_protocol.PROTOCOL, "results": results}


def _warm_up(cache: _SettingsCache) -> None:
    """Load what a submit needs now, not in the first caller's time (the point of the socket).
    Then the plan file parser (yaml) and the rest load with the first request."""
    try:
        import agent_agency_cli.orchestration.submission  # noqa: F401
        from agent_agency_cli.orchestrator import TaskOrchestrator  # lazy: keeps start-up light

        settings = cache.get(None)
        if settings is not None:  # a plan through every check (the scanner compiles its rules); nothing stored
            with TaskOrchestrator(cache.home, settings=settings) as orch:
                orch.prepare({"description": "warm-up", "plan": {"steps": [{"name": "warm", "run": "true"}]}})
    except Exception:  # the first request then reports whatever this hit
        log.debug("submit warm-up failed", exc_info=True)


def _peer_uid(sock: socket.socket) -> int | None:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    return struct.unpack("3i", creds)[1]


def start(paths: HomePaths) -> Callable[[], None]:
    """Listen on the data home's socket in background threads; returns the function that
    stops listening (and waits for requests in flight). A socket that cannot be made is
    logged and skipped: clients then submit locally, as without a daemon."""
    cache = _SettingsCache(paths.home)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            if _peer_uid(sock) != os.getuid():
                return  # the socket is 0600; this is a second guard
            sock.settimeout(30.0)
            message = submit_protocol.receive(sock)
            if message is None:
                return
            try:
                answer = serve_request(paths, cache, message)
            except Exception as exc:  # never kill the daemon over one request
                log.exception("submit request failed")
                answer = {"fallback": f"daemon error: {type(exc).__name__}"}
            if "fallback" in answer:
                log.info("submit left to the caller: %s", answer["fallback"])
            try:
                submit_protocol.send(sock, answer)
            except OSError:
                pass  # the client went away; it finds its tasks by their request ids

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = False  # stop() waits for the requests in flight
        block_on_close = True

    path = str(paths.daemon_socket)
    try:
        # We hold the daemon lock: a socket file left here is stale (a daemon that was killed).
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("submit socket %s: cannot remove the old one: %s; submits stay local", path, exc)
        return lambda: None
    old_umask = os.umask(0o177)  # created 0600: the user's own, like the rest of the home
    try:
        with submit_protocol.address(path) as addr:
            server = Server(addr, Handler)
    except OSError as exc:
        log.warning("submit socket %s: %s; submits stay local", path, exc)
        return lambda: None
    finally:
        os.umask(old_umask)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                              name="submit-socket", daemon=True)
    thread.start()
    threading.Thread(target=_warm_up, args=(cache,), name="submit-warm-up", daemon=True).start()
    ino = os.stat(path).st_ino

    def stop() -> None:
        try:
            if os.stat(path).st_ino == ino:  # ours, not a newer daemon's
                os.unlink(path)
        except OSError:
            pass
        server.shutdown()
        server.server_close()

    return stop
