"""LineView: the base of the log and events panes — a scrollable list of lines that is
cheap to append to.

Textual's Log/RichLog re-layout the whole screen whenever their content grows (their
virtual size is a layout-triggering reactive); with a busy log that is many layouts a
second. Here growing only refreshes the pane (a layout happens only when a scrollbar
appears or goes), each line is styled once when it is first drawn and cached, and
at most `max_lines` are kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget


class LineView(ScrollView, can_focus=True):
    """Lines (str or Text) in a scrollable pane; subclasses style them in `to_text`.

    It follows (stays at the newest line) until the user scrolls up — wheel, ↑, PgUp,
    Home — and follows again at End or when scrolled back down to the bottom.
    """

    class FollowChanged(Message):
        def __init__(self, view: LineView, following: bool):
            super().__init__()
            self.view = view
            self.following = following

    def __init__(self, max_lines: int = 1000, **kwargs: Any):
        super().__init__(**kwargs)
        self.following = True
        self.max_lines = max_lines
        self._lines: list[str | Text] = []
        self._base = 0  # lines dropped from the top so far: cache keys stay valid
        self._width = 0
        self._cache: dict[int, Strip] = {}
        self._style: Any = None

    @property
    def base_style(self) -> Any:
        """`rich_style` walks the ancestors; computed once until the styles change."""
        if self._style is None:
            self._style = self.rich_style
        return self._style

    # -- content ------------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        return [ln.plain if isinstance(ln, Text) else ln for ln in self._lines]

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def dropped(self) -> int:
        """Lines dropped from the top (beyond `max_lines`) since the last `clear()`."""
        return self._base

    def to_text(self, line: str | Text) -> Text:
        return line if isinstance(line, Text) else Text(line)

    def clear(self) -> None:
        self._lines.clear()
        self._cache.clear()
        self._base = 0
        self._width = 0
        self._resize_content()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def append(self, lines: Iterable[str | Text], scroll_end: bool = True) -> None:
        new = list(lines)
        if not new:
            return
        self._lines.extend(new)
        widest = max(cell_len(ln.plain if isinstance(ln, Text) else ln) for ln in new)
        self._width = max(self._width, widest)
        drop = len(self._lines) - self.max_lines
        if drop > 0:
            del self._lines[:drop]
            self._base += drop
            if len(self._cache) > 4 * self.max_lines:
                self._cache = {k: v for k, v in self._cache.items() if k >= self._base}
        self._resize_content()
        if scroll_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()

    def _resize_content(self) -> None:
        size = Size(self._width + 1, len(self._lines))
        if size == self.virtual_size:
            return
        before = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        try:
            # Set it without the layout the reactive would ask for; update the scrollbars.
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)
        except AttributeError:  # a Textual without these internals: the plain way
            self.virtual_size = size
            return
        if (self.show_vertical_scrollbar, self.show_horizontal_scrollbar) != before:
            self.refresh(layout=True)

    # -- following ----------------------------------------------------------

    def on_resize(self) -> None:
        if self.following:  # a new size moves the bottom: stay on the newest line
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def set_following(self, on: bool) -> None:
        if on == self.following:
            return
        self.following = on
        if on:
            # Whoever shows the mode (the key's own answer) repaints first; reading what
            # was missed and redrawing the pane come after that repaint.
            self.call_after_refresh(self._resume_following)
        self.post_message(self.FollowChanged(self, on))

    def _resume_following(self) -> None:
        if not self.following:  # held again meanwhile
            return
        self.catch_up()
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def catch_up(self) -> None:
        """Called when following starts again (before jumping to the end)."""

    def toggle_follow(self) -> bool:
        self.set_following(not self.following)
        return self.following

    def _on_mouse_scroll_up(self, event: Any) -> None:
        self.set_following(False)
        super()._on_mouse_scroll_up(event)

    def _on_mouse_scroll_down(self, event: Any) -> None:
        super()._on_mouse_scroll_down(event)
        self._follow_if_at_end()

    def action_scroll_up(self) -> None:
        self.set_following(False)
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.set_following(False)
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.set_following(False)
        super().action_scroll_home()

    def action_scroll_down(self) -> None:
        super().action_scroll_down()
        self._follow_if_at_end()

    def action_page_down(self) -> None:
        super().action_page_down()
        self._follow_if_at_end()

    def action_scroll_end(self) -> None:
        super().action_scroll_end()
        self.set_following(True)

    def _follow_if_at_end(self) -> None:
        if not self.following and self.scroll_target_y >= self.max_scroll_y:
            self.set_following(True)

    # -- rendering ----------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._style = None

    def restyle(self) -> None:
        self._cache.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        index = scroll_y + y
        style = self.base_style
        if index >= len(self._lines):
            return Strip.blank(width, style)
        key = self._base + index
        strip = self._cache.get(key)
        if strip is None:
            text = self.to_text(self._lines[index]).copy()
            text.no_wrap = True
            text.stylize_before(style)
            segments = [s for s in text.render(self.app.console) if s.text != "\n"]
            strip = Strip(segments)
            self._cache[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style)
