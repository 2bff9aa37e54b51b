"""A step's log file: one line per output line, `<UTC time> <stream>| <text>`, with a size
cap that keeps the head and the tail, and linear-time handling of output without newlines."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_agency_cli.paths import open_private

# A line longer than this is written in pieces of this size: output without newlines
# (100 MB of it) costs linear time and never more than one piece of memory.
MAX_LINE_CHARS = 64 * 1024
# Write errors that mean the storage is full or failing (not a bug of ours): the log
# drops lines (counted) and tells its owner, who pauses or fails the task.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EIO, errno.EDQUOT})


def log_timestamp(ts: float | None = None) -> str:
    dt = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class StepLog:
    """A step's log file: one line per output line, `<UTC time> <stream>| <text>`.

    Streams: out (stdout), err (stderr), log (the step context logger), sys
    (the engine: command, exit, signals). Both pipes go to one file so the order
    a reader sees is the order lines arrived. The file is created lazily: the
    engine's own `sys` lines wait in memory until the step prints something or
    is closed with `keep=True` (it failed), so a silent successful step costs no
    file at all — its start, end and exit code are in the events anyway.

    With `max_bytes`, the file (all attempts of the step together) holds at most about
    that much: the first half is written as it comes; past it, only the latest half is
    kept (in memory, bounded) and written at close after one `sys` line saying how many
    lines and bytes were dropped from the middle.
    """

    def __init__(self, path: Path, mask: Callable[[str], str] | None = None, max_bytes: int | None = None):
        self.path = path
        # Applied to every output line: the task's masking (security.vault), as a per-stream
        # line masker where it has one (a private key printed over several lines).
        self.mask = mask
        self._masks: dict[str, Callable[[str], str]] = {}
        self.max_bytes = max_bytes or None
        self._fh: Any = None
        self._pending: list[tuple[float, str]] = []
        self._partial: dict[str, list[str]] = {}
        self._partial_len: dict[str, int] = {}
        self._written = 0  # characters in the file (all attempts)
        self._tail: deque[str] | None = None  # once the head is full: the latest lines
        self.write_error: OSError | None = None  # the storage error of the last write, until one succeeds
        self.on_write_error: Callable[[OSError], None] | None = None  # told once per failing spell
        self._lost = 0  # lines dropped because the storage failed
        self._tail_chars = 0
        self._dropped_lines = 0
        self._dropped_chars = 0

    def _open(self) -> Any:
        if self._fh is None:
            try:
                self._fh = open_private(self.path, "a")  # 0600, never through a symlink
            except FileNotFoundError:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open_private(self.path, "a")
            self._written = os.fstat(self._fh.fileno()).st_size
            if self._lost:
                lost = self._lost
                # the failed write may have left half a line: the note starts on its own
                cut = "\n" if self._written and not self._ends_with_newline() else ""
                if not self._put(f"{cut}{log_timestamp()} sys| … {lost} line(s) lost: writing this log failed "
                                 f"({self._reason()})\n", count=0):
                    return None
                self._lost -= lost
            if self._pending:
                pending, self._pending = self._pending, []
                self._write([f"{log_timestamp(ts)} sys| {text}\n" for ts, text in pending])
        return self._fh

    def _ends_with_newline(self) -> bool:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                return fh.read(1) == b"\n"
        except OSError:
            return True

    def _reason(self) -> str:
        exc = self.write_error
        return exc.strerror or str(exc) if exc is not None else "unknown error"

    def _put(self, text: str, count: int = 1) -> bool:
        """Write and flush; a storage error drops the text (counted as `count` lines),
        closes the file (reopened by the next write) and tells on_write_error once."""
        if self._fh is None:
            try:
                self._open()
            except OSError as exc:
                return self._failed(exc, count)
            if self._fh is None:
                return False
        try:
            self._fh.write(text)
            self._fh.flush()
        except OSError as exc:
            return self._failed(exc, count)
        self.write_error = None
        return True

    def _failed(self, exc: OSError, count: int) -> bool:
        if exc.errno not in STORAGE_ERRNOS:
            raise exc
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()  # closes the descriptor even when its flush fails again
            self._fh = None
        self._lost += count
        first = self.write_error is None
        self.write_error = exc
        if first and self.on_write_error is not None:
            self.on_write_error(exc)
        return False

    def probe(self) -> bool:
        """Whether the log can be written again (writes the note of lost lines, if any)."""
        if self._fh is not None and self.write_error is None:
            return True
        return self._put("", count=0) and self.write_error is None

    def _write(self, lines: list[str]) -> None:
        """Append formatted lines, within the cap (head as it comes, then a bounded tail)."""
        if self.max_bytes is None:
            self._put("".join(lines), count=len(lines))
            return
        head = self.max_bytes // 2
        i = 0
        if self._fh is None and self._tail is None:
            # Open first: opening counts what the file already holds (an earlier attempt's
            # lines, the pending `sys` lines) in _written, which the head budget below reads.
            with contextlib.suppress(OSError):  # _put reports a storage error
                self._open()
        if self._tail is None:
            out = []
            while i < len(lines) and self._written + len(lines[i]) <= head:
                out.append(lines[i])
                self._written += len(lines[i])
                i += 1
            if out:
                self._put("".join(out), count=len(out))
            if i == len(lines):
                return
            self._tail = deque()
        tail = self._tail
        for ln in lines[i:]:
            tail.append(ln)
            self._tail_chars += len(ln)
        while self._tail_chars > head and len(tail) > 1:
            gone = tail.popleft()
            self._tail_chars -= len(gone)
            self._dropped_lines += 1
            self._dropped_chars += len(gone)

    def line(self, stream: str, text: str) -> None:
        if self.mask is not None:
            text = self._mask_for(stream)(text)
        if stream == "sys" and self._fh is None:
            self._pending.append((time.time(), text))  # formatted only if ever written
            return
        self._write([f"{log_timestamp()} {stream}| {text}\n"])

    def _mask_for(self, stream: str) -> Callable[[str], str]:
        mask = self._masks.get(stream)
        if mask is None:
            stream_mask = getattr(self.mask, "stream", None)
            mask = self._masks[stream] = stream_mask() if stream_mask is not None else self.mask  # type: ignore[assignment]
        return mask

    def feed(self, stream: str, chunk: str) -> None:
        """Append raw text; complete lines are written, a trailing fragment waits (up to
        MAX_LINE_CHARS: a longer line is written in pieces)."""
        parts = self._partial.setdefault(stream, [])
        if "\n" not in chunk:
            parts.append(chunk)
            self._partial_len[stream] = self._partial_len.get(stream, 0) + len(chunk)
            if self._partial_len[stream] >= MAX_LINE_CHARS:
                self._flush_partial(stream)
            return
        pieces = chunk.split("\n")
        first = "".join([*parts, pieces[0]])
        parts.clear()
        lines = [first, *pieces[1:-1]]
        rest = pieces[-1]
        ts = log_timestamp()
        if self.mask is not None:
            mask = self._mask_for(stream)
            lines = [mask(ln) for ln in lines]
        self._write([f"{ts} {stream}| {ln.rstrip(chr(13))}\n" for ln in lines])
        self._partial_len[stream] = len(rest)
        if rest:
            parts.append(rest)
            if len(rest) >= MAX_LINE_CHARS:
                self._flush_partial(stream)

    def _flush_partial(self, stream: str) -> None:
        text = "".join(self._partial.pop(stream, []))
        self._partial_len[stream] = 0
        if text:
            self.line(stream, text.rstrip("\r"))

    def close(self, keep: bool = True) -> None:
        """Flush fragments and the kept tail; with keep=False a step that printed nothing
        leaves no file."""
        for stream in list(self._partial):
            self._flush_partial(stream)
        self._partial.clear()
        if self._fh is None and keep and (self._pending or self._lost):
            with contextlib.suppress(OSError):
                self._open()
        if self._fh is not None or self._tail is not None:
            if self._tail is not None:
                if self._dropped_lines:
                    self._put(
                        f"{log_timestamp()} sys| … {self._dropped_lines} line(s), "
                        f"{self._dropped_chars / 1048576:.1f} MiB dropped from the middle: the step log "
                        f"is capped at {self.max_bytes / 1048576:.1f} MiB "
                        "(task_execution.monitoring.step_log_max); the first and the last half follow …\n")
                self._put("".join(self._tail), count=len(self._tail))
                self._written += self._tail_chars
                self._tail = None
                self._tail_chars = self._dropped_lines = self._dropped_chars = 0
            if self._fh is not None:
                with contextlib.suppress(OSError):  # a storage error was reported by the last write
                    self._fh.close()
                self._fh = None
        self._pending.clear()
