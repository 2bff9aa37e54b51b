"""print() inside a Python step goes to its log; once no step runs, the process's streams
are the ones it had (a router left behind kept writing to a stream swapped out since)."""

from __future__ import annotations

import io
import sys

from agent_agency_cli.executors.output_capture import capture_into


class _Log:
    def __init__(self) -> None:
        self.fed: list[tuple[str, str]] = []

    def feed(self, stream: str, chunk: str) -> None:
        self.fed.append((stream, chunk))


def test_prints_go_to_the_step_log_and_the_streams_come_back(monkeypatch) -> None:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    log = _Log()
    with capture_into(log):  # type: ignore[arg-type]
        print("to the log")
        print("also", file=sys.stderr)
        with capture_into(_Log()):  # type: ignore[arg-type]  # a second step at the same time
            pass
        assert sys.stdout is not out  # still routed: the first step runs on
    assert sys.stdout is out and sys.stderr is err
    print("after")
    assert "".join(c for s, c in log.fed if s == "out") == "to the log\n"
    assert "".join(c for s, c in log.fed if s == "err") == "also\n"
    assert out.getvalue() == "after\n" and err.getvalue() == ""


def test_a_stream_replaced_during_a_step_is_left_alone(monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    replaced = io.StringIO()
    with capture_into(_Log()):  # type: ignore[arg-type]
        sys.stdout = replaced  # e.g. a test runner restoring its own stream meanwhile
    assert sys.stdout is replaced
