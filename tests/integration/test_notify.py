"""Notification hooks against a real HTTP server on 127.0.0.1 and real shell commands."""

from __future__ import annotations

import json
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from agent_agency_cli import notify
from agent_agency_cli.config import NotificationHook
from agent_agency_cli.notify import DeliveryResult, deliver, deliver_async, wait_pending
from tests.quiet_http import QuietThreadingHTTPServer

TASK = {"id": "7f3a2c", "status": "completed", "description": "Build and test", "steps": [{"name": "lint"}]}
FAST = {"backoff_base": 0.01}  # keep retry loops short


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours *_proxy variables: make sure 127.0.0.1 is reached directly."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


class Recorder:
    """What the server received, and the scripted answers it gives (one per request)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[int | tuple[str, float, int]] = []
        self.default = 200
        self.lock = threading.Lock()
        self.stop = threading.Event()  # set at teardown to cut any scripted sleep short
        self.gate: threading.Event | None = None  # when set, requests wait on it (max 5 s)

    def next_answer(self) -> int | tuple[str, float, int]:
        with self.lock:
            return self.answers.pop(0) if self.answers else self.default

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_POST(self) -> None:
        rec = self.server.recorder
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with rec.lock:
            rec.requests.append({"path": self.path, "headers": self.headers, "body": body,
                                 "method": self.command})
        if rec.gate is not None:
            rec.gate.wait(5)
        answer = rec.next_answer()
        if isinstance(answer, tuple):  # ("sleep", seconds, status)
            _, seconds, answer = answer
            if rec.stop.wait(seconds):
                return
        payload = b'{"ok": true}'
        try:
            self.send_response(answer)
            if 300 <= answer < 400:
                self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (timeout test)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(QuietThreadingHTTPServer):
    daemon_threads = True
    recorder: Recorder

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/secret-token-123?key=abc"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(("127.0.0.1", 0), Handler)
    srv.recorder = Recorder()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.recorder.stop.set()
        if srv.recorder.gate is not None:
            srv.recorder.gate.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def log(lines: list[str]) -> Callable[[str], None]:
    return lines.append


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webhook(url: str, events: list[str] | None = None, **kw: Any) -> NotificationHook:
    return NotificationHook(events=events or ["task_completed"], webhook=url, **kw)


def command(cmd: str, events: list[str] | None = None, **kw: Any) -> NotificationHook:
    return NotificationHook(events=events or ["task_completed"], command=cmd, **kw)


# --------------------------------------------------------------------------- webhooks


def test_webhook_posts_the_json_document(server: Server, log: Callable[[str], None], lines: list[str]) -> None:
    before = time.time()
    results = deliver([webhook(server.url)], "task_completed", TASK, log=log)

    assert results == [DeliveryResult(0, "webhook", True, 1, 200, None, results[0].duration)]
    assert lines == []
    [req] = server.recorder.requests
    assert req["method"] == "POST"
    assert req["path"] == "/hooks/secret-token-123?key=abc"
    headers: Message = req["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(req["body"]))
    assert headers["User-Agent"].startswith("agent-agency-cli/")
    assert headers["X-Agent-Agency-Event"] == "task_completed"
    doc = json.loads(req["body"])
    assert set(doc) == {"event", "task", "sent_at"}
    assert doc["event"] == "task_completed"
    assert doc["task"] == TASK
    assert doc["sent_at"].endswith("Z")
    sent = datetime.fromisoformat(doc["sent_at"].replace("Z", "+00:00")).timestamp()
    assert before - 1 <= sent <= time.time() + 1


def test_task_is_sent_exactly_as_given_the_caller_masks(server: Server, log: Callable[[str], None]) -> None:
    # The contract: notify neither masks nor adds anything; masking is the caller's job.
    task = {"id": "abc", "env": {"API_KEY": "***"}, "note": "ünïcode ✓", "n": 1.5, "none": None}
    deliver([webhook(server.url)], "task_completed", task, log=log)
    assert server.recorder.bodies()[0]["task"] == task


def test_500_twice_then_200_is_three_attempts_and_ok(
    server: Server, log: Callable[[str], None], lines: list[str]
) -> None:
    server.recorder.answers = [500, 503]

    [result] = deliver([webhook(server.url, retries=3)], "task_completed", TASK, log=log, **FAST)

    assert result.ok and result.attempts == 3 and result.code == 200 and result.error is None
    assert len(server.recorder.requests) == 3
    assert len({r["body"] for r in server.recorder.requests}) == 1  # the same document each time
    assert lines == []


def test_4xx_is_not_retried(server: Server, log: Callable[[str], None], lines: list[str]) -> None:
    server.recorder.default = 404

    [result] = deliver([webhook(server.url, retries=5)], "task_completed", TASK, log=log, **FAST)

    assert not result.ok and result.attempts == 1 and result.code == 404
    assert "HTTP 404" in (result.error or "")
    assert len(server.recorder.requests) == 1
    assert len(lines) == 1
    assert "hook #0 webhook" in lines[0] and "HTTP 404" in lines[0] and "after 1 attempt:" in lines[0]


def test_5xx_until_retries_run_out(server: Server, log: Callable[[str], None], lines: list[str]) -> None:
    server.recorder.default = 502

    [result] = deliver([webhook(server.url, retries=2)], "task_completed", TASK, log=log, **FAST)

    assert not result.ok and result.attempts == 3 and result.code == 502
    assert len(server.recorder.requests) == 3
    assert len(lines) == 1 and "after 3 attempts" in lines[0]


def test_redirect_is_reported_not_followed(server: Server, log: Callable[[str], None]) -> None:
    server.recorder.default = 302

    [result] = deliver([webhook(server.url, retries=3)], "task_completed", TASK, log=log, **FAST)

    assert not result.ok and result.code == 302 and result.attempts == 1
    assert "redirects are not followed" in (result.error or "")
    assert [r["path"] for r in server.recorder.requests] == ["/hooks/secret-token-123?key=abc"]


def test_closed_port_exhausts_retries_without_raising(log: Callable[[str], None], lines: list[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook/SECRET-PATH?token=SECRET-QUERY"
    start = time.monotonic()

    [result] = deliver([webhook(url, retries=2, timeout=1)], "task_completed", TASK, log=log, **FAST)

    assert time.monotonic() - start < 5
    assert not result.ok and result.attempts == 3 and result.code is None
    assert "connection failed" in (result.error or "")
    assert len(lines) == 1
    line = lines[0]
    assert "after 3 attempts" in line and "connection failed" in line
    assert f"http://127.0.0.1:{url.split(':')[2].split('/')[0]}/…" in line
    # the URL's path and query may be a secret: they never reach the log or the result
    assert "SECRET" not in line and "SECRET" not in (result.error or "")


def test_slow_server_times_out_then_succeeds_on_retry(server: Server, log: Callable[[str], None]) -> None:
    server.recorder.answers = [("sleep", 2.0, 200), 200]
    start = time.monotonic()

    [result] = deliver([webhook(server.url, retries=1, timeout=0.3)], "task_completed", TASK, log=log, **FAST)

    assert result.ok and result.attempts == 2
    assert time.monotonic() - start < 1.8


def test_backoff_is_exponential_and_capped(log: Callable[[str], None]) -> None:
    waits: list[float] = []
    url = f"http://127.0.0.1:{closed_port()}/"

    [result] = deliver([webhook(url, retries=6)], "task_completed", TASK, log=log, sleep=waits.append)

    assert result.attempts == 7
    assert waits == pytest.approx([0.2, 0.4, 0.8, 1.6, 2.0, 2.0])


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/x", "file:///etc/passwd", "not a url", "http://", "http://127.0.0.1:99999/", "javascript:x"],
)
def test_bad_webhook_url_is_an_error_result_not_an_exception(
    url: str, log: Callable[[str], None], lines: list[str]
) -> None:
    [result] = deliver([webhook(url)], "task_completed", TASK, log=log)

    assert not result.ok and result.attempts == 0
    assert "bad webhook URL" in (result.error or "")
    assert len(lines) == 1 and "bad webhook URL" in lines[0]


# --------------------------------------------------------------------------- commands


def test_command_receives_the_json_on_stdin(tmp_path: Path, log: Callable[[str], None], lines: list[str]) -> None:
    out, env_out = tmp_path / "stdin.json", tmp_path / "env.txt"
    cmd = f'cat > {shlex.quote(str(out))}; printf "%s %s" "$AGENT_AGENCY_EVENT" "$AGENT_AGENCY_TASK_ID" > ' \
          f"{shlex.quote(str(env_out))}"

    [result] = deliver([command(cmd)], "task_completed", TASK, log=log)

    assert result == DeliveryResult(0, "command", True, 1, 0, None, result.duration)
    doc = json.loads(out.read_text())
    assert doc["event"] == "task_completed" and doc["task"] == TASK and doc["sent_at"].endswith("Z")
    assert env_out.read_text() == "task_completed 7f3a2c"
    assert lines == []


def test_failing_command_is_logged_with_its_exit_code_and_stderr(
    log: Callable[[str], None], lines: list[str], capfd: pytest.CaptureFixture[str]
) -> None:
    [result] = deliver([command("echo noise; echo boom >&2; exit 3", retries=5)], "task_completed", TASK, log=log)

    assert not result.ok and result.code == 3 and result.attempts == 1  # commands are never re-run
    assert result.error == "exit 3: boom"
    assert len(lines) == 1
    assert "hook #0 command 'echo' for task_completed failed: exit 3: boom" in lines[0]
    captured = capfd.readouterr()
    assert "noise" not in captured.out and "boom" not in captured.err  # hook output never leaks


def test_command_that_hangs_is_killed_with_its_children(
    tmp_path: Path, log: Callable[[str], None], lines: list[str]
) -> None:
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()

    # `sleep` runs as a child of sh and holds the output pipes: only a group kill ends it
    cmd = f"sleep 30 & echo $! > {shlex.quote(str(pidfile))}; wait; echo late"
    [result] = deliver([command(cmd, timeout=0.3)], "task_completed", TASK, log=log)

    assert time.monotonic() - start < 3
    assert not result.ok and "timed out after 0.3s" in (result.error or "")
    assert len(lines) == 1
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child), "the hook's child process survived the timeout"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_command_that_ignores_a_large_stdin_still_succeeds(log: Callable[[str], None]) -> None:
    big = dict(TASK, blob="x" * 1_000_000)
    [result] = deliver([command("exit 0")], "task_completed", big, log=log)
    assert result.ok


# --------------------------------------------------------------------------- subscription, ordering


def test_hooks_not_subscribed_are_not_called(
    server: Server, tmp_path: Path, log: Callable[[str], None], lines: list[str]
) -> None:
    marker = tmp_path / "called"
    hooks = [
        webhook(server.url, events=["task_failed"]),
        command(f"touch {shlex.quote(str(marker))}", events=["task_failed", "alert"]),
    ]

    assert deliver(hooks, "task_completed", TASK, log=log) == []
    assert deliver_async(hooks, "task_completed", TASK, log=log) is None

    assert server.recorder.requests == [] and not marker.exists() and lines == []


def test_star_subscribes_to_everything_and_results_follow_hook_order(
    server: Server, tmp_path: Path, log: Callable[[str], None]
) -> None:
    marker = tmp_path / "called"
    hooks = [
        webhook(server.url, events=["task_completed"]),
        NotificationHook(events=["*"], command=f"cat > {shlex.quote(str(marker))}", webhook=server.url),
        webhook(server.url, events=["task_failed"]),
    ]

    results = deliver(hooks, "alert", TASK, log=log)

    assert [(r.hook, r.channel, r.ok) for r in results] == [(1, "command", True), (1, "webhook", True)]
    assert json.loads(marker.read_text())["event"] == "alert"
    assert [b["event"] for b in server.recorder.bodies()] == ["alert"]


def test_one_failing_hook_does_not_stop_the_others(server: Server, log: Callable[[str], None],
                                                   lines: list[str]) -> None:
    hooks = [command("exit 1"), webhook("gopher://x"), webhook(server.url)]

    results = deliver(hooks, "task_completed", TASK, log=log)

    assert [r.ok for r in results] == [False, False, True]
    assert len(lines) == 2
    assert len(server.recorder.requests) == 1


def test_a_raising_log_callback_is_contained(log: Callable[[str], None]) -> None:
    def bad_log(line: str) -> None:
        raise RuntimeError("log sink down")

    [result] = deliver([command("exit 2")], "task_completed", TASK, log=bad_log)
    assert not result.ok and result.code == 2


def test_unserialisable_task_is_an_error_result(log: Callable[[str], None], lines: list[str]) -> None:
    task: dict[str, Any] = {"id": "x"}
    task["self"] = task  # circular

    [result] = deliver([command("cat")], "task_completed", task, log=log)

    assert not result.ok and "not JSON-serialisable" in (result.error or "")
    assert len(lines) == 1


# --------------------------------------------------------------------------- async


def test_deliver_async_returns_at_once_and_reports_when_done(
    server: Server, log: Callable[[str], None]
) -> None:
    gate = threading.Event()
    server.recorder.gate = gate
    done: list[list[DeliveryResult]] = []
    task = dict(TASK)

    start = time.monotonic()
    thread = deliver_async([webhook(server.url)], "task_completed", task, log=log, on_done=done.append)
    returned_after = time.monotonic() - start
    task["status"] = "changed after the call"  # the thread sent a snapshot

    assert thread is not None and thread.daemon
    assert returned_after < 0.2
    assert wait_pending(0.2) is False  # still blocked in the server
    gate.set()
    assert wait_pending(5) is True
    assert not thread.is_alive()
    [[result]] = done
    assert result.ok
    assert server.recorder.bodies()[0]["task"]["status"] == "completed"


def test_deliver_async_passes_options_through(log: Callable[[str], None], lines: list[str]) -> None:
    waits: list[float] = []
    url = f"http://127.0.0.1:{closed_port()}/"
    done: list[list[DeliveryResult]] = []

    thread = deliver_async([webhook(url, retries=2)], "task_completed", TASK,
                           log=log, on_done=done.append, sleep=waits.append, backoff_base=0.05)
    assert thread is not None
    thread.join(5)

    assert waits == pytest.approx([0.05, 0.1])
    assert done[0][0].attempts == 3 and len(lines) == 1


def test_event_kinds_match_the_config_documentation() -> None:
    assert set(notify.EVENT_KINDS) == {
        "task_completed", "task_failed", "task_cancelled", "task_escalated",
        "awaiting_approval", "awaiting_review", "alert",
    }
