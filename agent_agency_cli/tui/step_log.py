"""StepLogView: the selected step's log, tailed live.

It follows new output (stays at the end) until the user scrolls up — mouse
wheel, ↑, PgUp or Home — and then holds still (no more reading, so nothing
shifts under the reader); `l` (or End) follows again, jumping to the tail.
A log growing faster than a screen can show is read in bounded chunks (at most
`READ_LIMIT` bytes a poll, about 480 lines, and `FLOOD_READ` while it floods: more
than any pane shows): when it is further behind, it jumps to the end and says how much it skipped, inline and in
`note()` (with the older lines the bounded buffer dropped) for the status line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text

from agent_agency_cli.security.terminal import strip_controls
from agent_agency_cli.tui.feed import LogTail
from agent_agency_cli.tui.format import Palette, local_hms, size_text
from agent_agency_cli.tui.lines import LineView

MARKS = {"err": "! ", "sys": "# ", "log": "» "}
READ_LIMIT = 48 * 1024  # bytes per poll; parsing what nobody can see cost the key presses their slice
FLOOD_READ = 16 * 1024  # bytes per poll while the log floods (more lines a poll than two screens)


class StepLogView(LineView):
    """A Log that tails one step's log file. The screen calls `poll()` ~10 times a second."""

    def __init__(self, max_lines: int = 2000, **kwargs: Any):
        super().__init__(max_lines=max_lines, **kwargs)
        self.palette = Palette()
        self.tail: LogTail | None = None
        self.step: str | None = None
        self.placeholder = True
        self.lines_seen = 0
        self.skipped_bytes = 0

    def on_mount(self) -> None:
        self.palette = Palette.of(self.app)

    def restyle(self) -> None:
        self.palette = Palette.of(self.app)
        super().restyle()

    def to_text(self, line: str | Text) -> Text:
        """Dim timestamps; error lines in the theme's error colour; engine lines dim."""
        if isinstance(line, Text):
            return line
        text = Text(strip_controls(line))  # step output must not drive the terminal
        text.stylize("dim", 0, 8)
        mark = line[9:11]
        if mark == "! ":
            text.stylize(self.palette.error, 9)
        elif mark == "# ":
            text.stylize("dim italic", 9)
        elif mark == "» ":
            text.stylize(self.palette.secondary, 9, 11)
        elif line.startswith("…"):
            text.stylize("dim italic")
        return text

    # -- which step ---------------------------------------------------------

    def show(self, step: str | None, path: Path | None) -> None:
        if step == self.step and self.tail is not None:
            return
        self.step = step
        self.tail = LogTail(path) if path is not None else None
        self.lines_seen = 0
        self.skipped_bytes = 0
        self.clear()
        self.placeholder = True
        self.append(["… no output yet" if step else "… no step selected"])
        if not self.following:  # another step: follow its log
            self.following = True
            self.post_message(self.FollowChanged(self, True))
        self.poll()

    # -- following ----------------------------------------------------------

    def catch_up(self) -> None:
        self.poll(max_bytes=32 * 1024)  # catch up with the tail, not all that was missed

    def note(self) -> tuple[str, ...]:
        """What the pane does not show, longest wording first (the status line takes the first
        that fits): `1,200 older lines dropped · 3.1 MiB skipped`, …, `3.1 MiB skipped`."""
        dropped = f"{self.dropped:,} older line{'s' if self.dropped != 1 else ''} dropped" if self.dropped else ""
        skipped = f"{size_text(self.skipped_bytes)} skipped" if self.skipped_bytes else ""
        if not (dropped or skipped):
            return ()
        short = f"{self.dropped:,} dropped" if self.dropped else ""
        return tuple(dict.fromkeys(n for n in (" · ".join(filter(None, (dropped, skipped))),
                                               " · ".join(filter(None, (short, skipped))),
                                               skipped or short) if n))

    # -- reading ------------------------------------------------------------

    def poll(self, max_bytes: int | None = None) -> int:
        """Read what was appended (only while following); returns the number of lines added."""
        if self.tail is None or not self.following:
            return 0
        chunk = self.tail.read(max_bytes or READ_LIMIT)
        if chunk is None:
            return 0
        out: list[str] = []
        if chunk.reset:
            out.append("… the log was truncated; reading from the start")
        if chunk.skipped and (self.lines_seen or chunk.skipped > 0):
            self.skipped_bytes += chunk.skipped
            out.append(f"… {size_text(chunk.skipped)} skipped (task logs --step {self.step} shows all)")
        for ts, stream, text in chunk.lines:
            out.append(f"{local_hms(ts)} {MARKS.get(stream, '')}{text}")
        if not out:
            return 0
        if self.placeholder:
            self.clear()
            self.placeholder = False
        self.lines_seen += len(chunk.lines)
        self.append(out, scroll_end=True)
        return len(chunk.lines)
