"""Notification hooks: run a command and/or POST a webhook when a task event happens.

Every matching hook gets the same JSON document::

    {"event": "task_completed", "task": {...as given by the caller...}, "sent_at": "2026-01-01T12:00:00.000Z"}

- command hooks: `/bin/sh -c COMMAND` with the document on stdin, in a new process
  group (killed as a whole on timeout), stdout/stderr captured (never printed), and
  `AGENT_AGENCY_EVENT` / `AGENT_AGENCY_TASK_ID` in the environment. A command is run
  once: it may not be idempotent, so a failure is reported, not retried.
- webhook hooks: HTTP(S) POST with `Content-Type: application/json`, no redirects
  followed, retried up to `hook.retries` more times with exponential backoff
  (base 0.2 s, doubled, capped at 2 s) on connection errors, timeouts and 5xx;
  never on 4xx or 3xx.

Nothing here raises: each failure is one line through `log(...)` and a
`DeliveryResult(ok=False, error=...)`. The task dict is sent as given — callers
must mask secrets before calling. Log lines and errors never contain a webhook's
path, query or credentials (a webhook URL is often itself a secret), nor more of
a command than its program name.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from agent_agency_cli import __version__
from agent_agency_cli.backoff import retry_delay
from agent_agency_cli.config import NotificationHook
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.procgroup import kill_group, spawn
from agent_agency_cli.timeutil import iso

# What a hook can be notified of: four task events, the alert event, and two waits (not events).
EVENT_KINDS = (
    EventKind.TASK_COMPLETED, EventKind.TASK_FAILED, EventKind.TASK_CANCELLED, EventKind.TASK_ESCALATED,
    "awaiting_approval", "awaiting_review", EventKind.ALERT,
)
DEFAULT_TIMEOUT = 5.0
BACKOFF_BASE = 0.2
BACKOFF_CAP = 2.0
_RESPONSE_READ_LIMIT = 64 * 1024

Channel = Literal["command", "webhook"]
Log = Callable[[str], None]


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one channel (command or webhook) of one hook."""

    hook: int  # index of the hook in the list given to deliver()
    channel: Channel
    ok: bool
    attempts: int  # 0 when nothing was tried (bad URL)
    code: int | None = None  # HTTP status (webhook) or exit code (command; -N = killed by signal N)
    error: str | None = None
    duration: float = 0.0  # seconds, all attempts and backoff included


def hook_wants(hook: NotificationHook, event_kind: str) -> bool:
    """True when the hook subscribes to `event_kind` (or to every event with "*")."""
    return event_kind in hook.events or "*" in hook.events


def task_payload(task: Any) -> dict[str, Any]:
    """The task part of the document, from a tasks row: the same whoever sends it (the
    engine, or a CLI that changed a task no engine holds)."""
    payload = {k: task[k] for k in ("id", "description", "status", "priority", "mode", "reason",
                                    "failed_step", "exit_code")}
    payload["requirements"] = json.loads(task["requirements"] or "[]")
    payload["stakeholders"] = json.loads(task["stakeholders"] or "[]")
    payload["risk"] = json.loads(task["risk"]) if task["risk"] else None
    return payload


def build_payload(event_kind: str, task: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """The document every hook receives."""
    return {"event": event_kind, "task": task, "sent_at": iso(time.time() if now is None else now)}


def deliver(
    hooks: Iterable[NotificationHook],
    event_kind: str,
    task: dict[str, Any],
    *,
    log: Log,
    backoff_base: float = BACKOFF_BASE,
    backoff_cap: float = BACKOFF_CAP,
    sleep: Callable[[float], None] = time.sleep,
    now: float | None = None,
) -> list[DeliveryResult]:
    """Deliver `event_kind` for `task` to every subscribed hook, in order; blocks until done.

    Returns one result per channel tried (a hook with both a command and a webhook
    gives two: command first). Hooks not subscribed to the event give none. Never raises.
    """
    hooks = list(hooks)
    wanted = [(i, h) for i, h in enumerate(hooks) if hook_wants(h, event_kind)]
    if not wanted:
        return []
    results: list[DeliveryResult] = []
    try:
        body = json.dumps(build_payload(event_kind, task, now=now), default=str).encode("utf-8")
    except (TypeError, ValueError) as exc:  # e.g. a circular reference in the task dict
        error = f"task is not JSON-serialisable: {exc}"
        for i, hook in wanted:
            for channel in _channels(hook):
                results.append(DeliveryResult(i, channel, False, 0, None, error))
                _safe_log(log, f"notify: hook #{i} {channel} for {event_kind} failed: {error}")
        return results
    task_id = task.get("id") if isinstance(task, dict) else None
    for i, hook in wanted:
        timeout = hook.timeout if hook.timeout > 0 else DEFAULT_TIMEOUT
        if hook.command:
            result = _guarded(i, "command", _run_command, i, hook.command, body, timeout, event_kind, task_id)
            results.append(result)
            if not result.ok:
                _safe_log(log, f"notify: hook #{i} command {_describe_command(hook.command)} for {event_kind} "
                               f"failed: {result.error}")
        if hook.webhook:
            result = _guarded(i, "webhook", _post, i, hook.webhook, body, timeout, hook.retries, event_kind,
                              backoff_base, backoff_cap, sleep)
            results.append(result)
            if not result.ok:
                n = result.attempts
                tries = f" after {n} attempt{'s' if n != 1 else ''}" if n else ""
                _safe_log(log, f"notify: hook #{i} webhook {_redact_url(hook.webhook)} for {event_kind} "
                               f"failed{tries}: {result.error}")
    return results


# Threads started by deliver_async that have not finished yet (see wait_pending).
_pending: set[threading.Thread] = set()
_pending_lock = threading.Lock()


def deliver_async(
    hooks: Iterable[NotificationHook],
    event_kind: str,
    task: dict[str, Any],
    *,
    log: Log,
    on_done: Callable[[list[DeliveryResult]], None] | None = None,
    **kwargs: Any,
) -> threading.Thread | None:
    """Run `deliver` in a daemon thread and return at once (None when no hook wants the event).

    The task dict is copied (through JSON) before returning, so the caller may keep
    changing it. `on_done(results)` is called from that thread when delivery ends.
    Pending deliveries die with the process; call `wait_pending(timeout)` at
    shutdown to give them a bounded chance to finish.
    """
    hooks = list(hooks)
    if not any(hook_wants(h, event_kind) for h in hooks):
        return None
    try:
        snapshot = json.loads(json.dumps(task, default=str))
    except (TypeError, ValueError):
        snapshot = dict(task)  # deliver() reports the serialisation error

    def run() -> None:
        try:
            results = deliver(hooks, event_kind, snapshot, log=log, **kwargs)
            if on_done is not None:
                try:
                    on_done(results)
                except Exception as exc:
                    _safe_log(log, f"notify: on_done callback for {event_kind} failed: {exc}")
        finally:
            with _pending_lock:
                _pending.discard(threading.current_thread())

    thread = threading.Thread(target=run, name=f"notify-{event_kind}", daemon=True)
    with _pending_lock:
        _pending.add(thread)
    thread.start()
    return thread


def wait_pending(timeout: float) -> bool:
    """Wait up to `timeout` seconds for deliver_async threads; True when none is left."""
    deadline = time.monotonic() + timeout
    while True:
        with _pending_lock:
            threads = list(_pending)
        if not threads:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        threads[0].join(left)


# --------------------------------------------------------------------------- command


def _run_command(index: int, command: str, body: bytes, timeout: float, event_kind: str,
                 task_id: Any) -> DeliveryResult:
    start = time.monotonic()
    env = dict(os.environ)
    env["AGENT_AGENCY_EVENT"] = event_kind
    if task_id is not None:
        env["AGENT_AGENCY_TASK_ID"] = str(task_id)
    try:
        proc = spawn(["/bin/sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, env=env)
    except OSError as exc:
        return DeliveryResult(index, "command", False, 1, None, f"cannot start /bin/sh: {exc}",
                              time.monotonic() - start)
    try:
        _, err = proc.communicate(input=body, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return DeliveryResult(index, "command", False, 1, proc.returncode, f"timed out after {timeout:g}s (killed)",
                              time.monotonic() - start)
    took = time.monotonic() - start
    if proc.returncode == 0:
        return DeliveryResult(index, "command", True, 1, 0, None, took)
    code = proc.returncode
    what = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    last = _last_line(err)
    return DeliveryResult(index, "command", False, 1, code, f"{what}: {last}" if last else what, took)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the hook's whole process group, then reap it without waiting on stray pipe holders."""
    kill_group(proc.pid)
    try:
        proc.communicate(timeout=1.0)
    except subprocess.TimeoutExpired:
        # A descendant left the group and still holds the pipes: stop reading them.
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1.0)


def _last_line(data: bytes | None) -> str:
    lines = [ln.strip() for ln in (data or b"").decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def _describe_command(command: str | None) -> str:
    try:
        words = shlex.split(command or "")
    except ValueError:
        words = (command or "").split()
    prog = os.path.basename(words[0]) if words else ""
    return repr(prog[:40])


# --------------------------------------------------------------------------- webhook


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without a body: report it instead."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


def check_webhook_url(url: str) -> str | None:
    """None when `url` is an acceptable webhook URL, else why not (one line, URL redacted)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"bad webhook URL: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"{parts.scheme}:" if parts.scheme else "no scheme"
        return f"bad webhook URL ({scheme}): only http:// and https:// URLs are accepted"
    if not parts.hostname:
        return "bad webhook URL: no host"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "bad webhook URL: it contains spaces or control characters"
    return None


def _post(index: int, url: str, body: bytes, timeout: float, retries: int, event_kind: str,
          backoff_base: float, backoff_cap: float, sleep: Callable[[float], None]) -> DeliveryResult:
    start = time.monotonic()
    bad = check_webhook_url(url)
    if bad:
        return DeliveryResult(index, "webhook", False, 0, None, bad, 0.0)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"agent-agency-cli/{__version__}",
        "X-Agent-Agency-Event": event_kind,
    }
    opener = urllib.request.build_opener(_NoRedirect)
    max_attempts = 1 + max(0, retries)
    code: int | None = None
    error = ""
    attempt = 0
    for attempt in range(1, max_attempts + 1):
        retryable = False
        code = None
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=timeout) as response:
                code = response.status
                response.read(_RESPONSE_READ_LIMIT)
            if 200 <= code < 300:
                return DeliveryResult(index, "webhook", True, attempt, code, None, time.monotonic() - start)
            error = f"HTTP {code}"
            retryable = code >= 500
        except urllib.error.HTTPError as exc:
            code = exc.code
            with contextlib.suppress(Exception):
                exc.close()
            error = f"HTTP {code} {exc.reason}".rstrip()
            if 300 <= code < 400:
                error += " (redirects are not followed)"
            retryable = 500 <= code < 600
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                error = f"timed out after {timeout:g}s"
            else:
                error = f"connection failed: {getattr(reason, 'strerror', None) or reason}"
            retryable = True
        except TimeoutError:
            error = f"timed out after {timeout:g}s"
            retryable = True
        except (http.client.HTTPException, OSError) as exc:
            error = f"connection failed: {type(exc).__name__}: {exc}"
            retryable = True
        except ValueError as exc:
            error = f"bad webhook URL: {exc}"
        if not retryable or attempt == max_attempts:
            break
        sleep(retry_delay(attempt, backoff="exponential", initial=backoff_base, max=backoff_cap, jitter=0.0))
    return DeliveryResult(index, "webhook", False, attempt, code, error, time.monotonic() - start)


def _redact_url(url: str | None) -> str:
    """scheme://host[:port] and "/…" if there was more: the rest may be a secret token."""
    try:
        parts = urllib.parse.urlsplit(url or "")
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not host:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    more = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{more}"


# --------------------------------------------------------------------------- helpers


def _channels(hook: NotificationHook) -> list[Channel]:
    out: list[Channel] = []
    if hook.command:
        out.append("command")
    if hook.webhook:
        out.append("webhook")
    return out


def _guarded(index: int, channel: Channel, fn: Callable[..., DeliveryResult], *args: Any) -> DeliveryResult:
    try:
        return fn(*args)
    except Exception as exc:  # a bug here must never reach the engine
        return DeliveryResult(index, channel, False, 0, None, f"internal error: {type(exc).__name__}: {exc}")


def _safe_log(log: Log, line: str) -> None:
    with contextlib.suppress(Exception):
        log(line)
