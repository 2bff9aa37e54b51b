"""The per-step log cap (head and tail kept, the drop said) and linear handling of output
without newlines (issue 12, item 14)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from agent_agency_cli.executors.base import StepLog, parse_log_line
from agent_agency_cli.executors.step_log import MAX_LINE_CHARS


def _texts(path: Path) -> list[tuple[str, str]]:
    return [parse_log_line(ln)[1:] for ln in path.read_text().splitlines(keepends=True)]


def test_a_capped_log_keeps_the_head_and_the_tail_and_says_what_was_dropped(tmp_path: Path):
    path = tmp_path / "s.log"
    log = StepLog(path, max_bytes=64 * 1024)
    for i in range(20_000):
        log.feed("out", f"line {i:05d}\n")
    log.close()
    size = path.stat().st_size
    assert size <= 64 * 1024 + 1024, size  # the cap, plus the one line that says what was dropped
    texts = [t for _, t in _texts(path)]
    assert texts[0] == "line 00000"  # the head
    assert texts[-1] == "line 19999"  # the tail
    said = [t for s, t in _texts(path) if s == "sys" and "dropped from the middle" in t]
    assert len(said) == 1
    kept = sum(1 for t in texts if t.startswith("line "))
    assert f"{20_000 - kept} line(s)" in said[0]


def test_a_later_attempt_counts_what_earlier_attempts_wrote(tmp_path: Path):
    path = tmp_path / "s.log"
    for _ in range(3):
        log = StepLog(path, max_bytes=16 * 1024)
        for i in range(2000):
            log.feed("out", f"attempt output {i}\n")
        log.close()
    assert path.stat().st_size <= 3 * (8 * 1024 + 512) + 16 * 1024


def test_output_without_newlines_is_written_in_pieces_with_bounded_memory(tmp_path: Path):
    path = tmp_path / "s.log"
    log = StepLog(path)
    chunk = "x" * 65536
    total = 40 * 1024 * 1024  # 40 MiB without a single newline
    tracemalloc.start()
    try:
        for _ in range(total // len(chunk)):
            log.feed("out", chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    log.close()
    assert peak < 8 * 1024 * 1024, f"held {peak / 1048576:.0f} MiB: the whole line stays in memory"
    texts = [t for _, t in _texts(path)]
    assert sum(len(t) for t in texts) == total  # nothing lost
    assert max(len(t) for t in texts) <= MAX_LINE_CHARS + len(chunk)


def test_a_line_split_across_chunks_is_one_line(tmp_path: Path):
    path = tmp_path / "s.log"
    log = StepLog(path)
    for piece in ("hel", "lo wo", "rld\nsecond", " line\r\n", "tail"):
        log.feed("out", piece)
    log.close()
    assert [t for _, t in _texts(path)] == ["hello world", "second line", "tail"]
