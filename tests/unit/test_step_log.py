"""StepLog: line-buffered log writer, and parse_log_line reading it back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_agency_cli.executors.base import StepLog, log_timestamp, parse_log_line

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def log(tmp_path: Path) -> Iterator[StepLog]:
    lg = StepLog(tmp_path / "logs" / "step.log")
    yield lg
    lg.close()  # closing twice is harmless


def entries(path: Path) -> list[tuple[str, str]]:
    """(stream, text) of every line in the file, checking each line's shape."""
    raw = path.read_text(encoding="utf-8") if path.exists() else ""
    assert raw == "" or raw.endswith("\n"), "only complete lines are written"
    out = []
    for line in raw.splitlines(keepends=True):
        ts, stream, text = parse_log_line(line)
        assert TS_RE.match(ts), line
        out.append((stream, text))
    return out


def test_creates_parent_directories_on_first_output(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "s.log"
    lg = StepLog(path)
    lg.feed("out", "x\n")
    lg.close()
    assert path.is_file()


def test_silent_step_closed_without_keep_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "s.log"
    lg = StepLog(path)
    lg.line("sys", "$ true")
    lg.close(keep=False)
    assert not path.exists()


def test_sys_lines_wait_and_are_written_before_the_first_output(tmp_path: Path) -> None:
    path = tmp_path / "s.log"
    lg = StepLog(path)
    lg.line("sys", "$ make")
    assert not path.exists()
    lg.feed("out", "building\n")
    assert entries(path) == [("sys", "$ make"), ("out", "building")]
    lg.close(keep=False)
    assert entries(path) == [("sys", "$ make"), ("out", "building")]


def test_line_is_written_at_once(log: StepLog) -> None:
    log.line("out", "hi")
    assert entries(log.path) == [("out", "hi")]


def test_failed_step_keeps_its_sys_lines(log: StepLog) -> None:
    log.line("sys", "$ false")
    log.close(keep=True)
    assert entries(log.path) == [("sys", "$ false")]


def test_partial_chunks_are_joined_into_complete_lines(log: StepLog) -> None:
    log.feed("out", "hel")
    assert not log.path.exists() or log.path.read_text() == ""  # nothing until the line is complete
    log.feed("out", "lo\nwor")
    assert entries(log.path) == [("out", "hello")]
    log.feed("out", "ld")
    assert entries(log.path) == [("out", "hello")]
    log.feed("out", "\n")
    assert entries(log.path) == [("out", "hello"), ("out", "world")]


def test_many_lines_in_one_chunk(log: StepLog) -> None:
    log.feed("out", "a\nb\nc\nd")
    assert entries(log.path) == [("out", "a"), ("out", "b"), ("out", "c")]
    log.close()
    assert entries(log.path)[-1] == ("out", "d")


def test_close_flushes_the_fragment(log: StepLog) -> None:
    log.feed("err", "no newline at end")
    assert entries(log.path) == []
    log.close()
    assert entries(log.path) == [("err", "no newline at end")]


def test_close_without_fragment_adds_nothing(log: StepLog) -> None:
    log.feed("out", "done\n")
    log.close()
    assert entries(log.path) == [("out", "done")]


def test_streams_buffer_separately(log: StepLog) -> None:
    log.feed("out", "o1-")
    log.feed("err", "e1\n")
    log.feed("out", "o2\n")
    log.feed("err", "e2-")
    log.close()
    assert entries(log.path) == [("err", "e1"), ("out", "o1-o2"), ("err", "e2-")]


def test_crlf_is_stripped(log: StepLog) -> None:
    log.feed("out", "win\r\nline\r")
    log.feed("out", "\nlast\r\n")
    assert entries(log.path) == [("out", "win"), ("out", "line"), ("out", "last")]
    assert "\r" not in log.path.read_text()


def test_empty_lines_are_kept_and_empty_chunks_ignored(log: StepLog) -> None:
    log.feed("out", "")
    log.feed("out", "a\n\nb\n")
    log.feed("out", "")
    log.close()
    assert entries(log.path) == [("out", "a"), ("out", ""), ("out", "b")]


def test_text_with_separator_survives_the_round_trip(log: StepLog) -> None:
    log.feed("out", "a | b| c\n")
    log.line("log", "info: x| y")
    assert entries(log.path) == [("out", "a | b| c"), ("log", "info: x| y")]


def test_unicode_round_trip(log: StepLog) -> None:
    log.feed("out", "héllo ✓ 漢字\n")
    assert entries(log.path) == [("out", "héllo ✓ 漢字")]


def test_reopening_appends(tmp_path: Path) -> None:
    path = tmp_path / "s.log"
    first = StepLog(path)
    first.line("sys", "attempt 1")
    first.close()
    second = StepLog(path)
    second.line("sys", "attempt 2")
    second.close()
    assert entries(path) == [("sys", "attempt 1"), ("sys", "attempt 2")]


def test_parse_log_line_fields() -> None:
    assert parse_log_line("2025-01-02T03:04:05.678Z out| hello world\n") == (
        "2025-01-02T03:04:05.678Z",
        "out",
        "hello world",
    )
    assert parse_log_line("2025-01-02T03:04:05.678Z err| \n") == (
        "2025-01-02T03:04:05.678Z",
        "err",
        "",
    )


@pytest.mark.parametrize("line", ["plain text\n", "no-separator-here", ""])
def test_parse_log_line_tolerates_foreign_lines(line: str) -> None:
    assert parse_log_line(line) == ("", "", line.rstrip("\n"))


def test_log_timestamp_format() -> None:
    assert log_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert log_timestamp(1.5) == "1970-01-01T00:00:01.500Z"
    assert TS_RE.match(log_timestamp())
