"""`task create` through the running daemon: the client end of its submit socket.

A local submit imports pydantic, the plan and config models and the scanner (most of its
CPU); the daemon has them loaded (orchestration/submit_server.py). This end imports only
socket and json, sends the request with every path made absolute against the caller's
cwd and the caller's config file, and renders the answer through cli/submit_output.py,
as the local path does. It returns None — and the caller runs the local path with the
same request ids — whenever the daemon does not answer with stored results: no daemon or
a stale socket (nothing was sent), a daemon that declined (nothing stored), or one that
died or hung mid-request (it may have stored some: the local path finds those by their
request ids and does not store them twice).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from agent_agency_cli.orchestration import submit_protocol

CONNECT_TIMEOUT = 5.0
ANSWER_TIMEOUT = 120.0  # a loaded machine; past this the local path takes over (ids dedupe)


def request_ids(count: int) -> list[str]:
    """Fresh ids for this command's submissions (one per plan)."""
    base = os.urandom(12).hex()
    return [f"{base}.{i}" for i in range(count)]


def _absolute(path: str) -> str:
    # Joined, not normalised: Path(x).resolve() in the daemon then equals what it is in the
    # caller's cwd (`link/..` included). `~` is left as typed, as the local path leaves it.
    return os.path.join(os.getcwd(), path)


def try_daemon(opts: dict[str, Any], plans: list[str], ids: list[str], home: str | None,
               config: str | None, batch: bool) -> int | None:
    """Submit through the daemon; its exit code once the answer is printed, else None."""
    if not plans or not all(os.path.isfile(p) for p in plans):
        return None  # the planner (no plan) and odd paths: the local path words them
    from agent_agency_cli.paths import HomePaths, data_home  # lazy: keeps start-up light

    sock_path = str(HomePaths(data_home(home)).daemon_socket)
    if not os.path.exists(sock_path):
        return None
    requirements, stakeholders = opts.get("requirements"), opts.get("stakeholders")
    concurrency, workdir = opts.get("concurrency"), opts.get("workdir")
    common = {
        "description": opts.get("description"), "mode": opts.get("mode") or None,
        "priority": opts.get("priority", "normal"),
        "requirements": requirements.split(",") if requirements else [],
        "stakeholders": stakeholders.split(",") if stakeholders else [],
        "deadline": opts.get("deadline"),
        "workdir": None if workdir is None else _absolute(os.path.expanduser(workdir)),
        "concurrency": None if concurrency is None else int(concurrency), "complexity": opts.get("complexity"),
    }
    message = {"v": submit_protocol.PROTOCOL, "config": None if config is None else _absolute(config),
               "requests": [{**common, "plan": _absolute(p)} for p in plans], "request_ids": ids}
    answer = _exchange(sock_path, message)
    results = answer.get("results") if answer else None
    if not isinstance(results, list) or len(results) != len(plans):
        return None
    return _render(results, plans, opts.get("as_json", False), batch)


def _exchange(sock_path: str, message: dict[str, Any]) -> dict[str, Any] | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            with submit_protocol.address(sock_path) as addr:
                sock.connect(addr)
        except OSError:
            return None  # refused (a stale socket: its daemon is gone), missing, not ours
        sock.settimeout(ANSWER_TIMEOUT)
        try:
            submit_protocol.send(sock, message)
        except OSError:
            return None
        return submit_protocol.receive(sock)
    finally:
        sock.close()


def _render(results: list[dict[str, Any]], plans: list[str], as_json: bool, batch: bool) -> int:
    from agent_agency_cli.cli import submit_output  # lazy: keeps start-up light
    from agent_agency_cli.cli.common import print_error  # lazy: keeps start-up light

    if not batch:
        result = results[0]
        if "error" in result:
            submit_output.announce_not_started(result["id"], result["error"], as_json)
            print_error(result["error"])
            return int(result["exit_code"])
        submit_output.announce(result["id"], result["status"], result["warnings"], as_json)
        return 0
    out = submit_output.BatchOutput(as_json)
    for plan, result in zip(plans, results, strict=True):
        if "error" in result:
            out.refused(plan, result["error"], int(result["exit_code"]), tid=result["id"])
        else:
            out.stored(result["id"], result["status"], result["warnings"])
    return out.finish()
