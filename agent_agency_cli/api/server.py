"""Running the API: the bind check, uvicorn in the foreground (serve) or in a thread (tests, bench)."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from agent_agency_cli.errors import BadInputError


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        raise BadInputError(f"--host {host!r}: cannot resolve it (use an IP address such as 127.0.0.1)") from None
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def check_bind(host: str, allow_remote: bool) -> None:
    if not is_loopback(host) and not allow_remote:
        raise BadInputError(f"--host {host} is reachable from other machines; the API controls tasks that run "
                            "commands, so add --allow-remote to mean it (and keep the token secret)")


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on host:port (0: any free port); a clear error when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise BadInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                            "(another server there? pick one with --port N)") from None
    sock.set_inheritable(True)
    return sock


@dataclass
class RunningServer:
    """A uvicorn server on a background thread (tests and benchmarks)."""

    server: Any
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, timeout: float = 15.0) -> RunningServer:
    """Serve `app` on host:port (0 = a free port) in a thread; returns once it accepts connections."""
    import uvicorn  # lazy: the 'api' extra

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-server", daemon=True)
    thread.start()
    ready = threading.Event()

    def started() -> bool:
        return bool(server.started and server.servers)


    deadline = time.monotonic() + timeout
    while not started():
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the API server did not start")
        ready.wait(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningServer(server, thread, host, bound)
