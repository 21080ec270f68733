"""A light table for the ranking, redrawn every tick.

Textual's DataTable measures and renders each cell through Rich (padding, wrapping, caches
keyed by an update counter that every change invalidates): with some 20 columns, refreshing the
ranking every second cost ~10 % of a core. Here a row is one line of fixed-width cells built
straight into segments, with a header that stays put, a row cursor, and scrolling in both
directions (wide tables scroll sideways in an 80-column terminal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


@dataclass(frozen=True, slots=True)
class TableColumn:
    header: str
    width: int
    right: bool = True


# One cell: its text and a Rich style string ("" for the widget's own style).
Cell = tuple[str, str]


def fit(text: str, width: int, right: bool) -> str:
    """``text`` cut or padded to exactly ``width`` cells (wide characters count double)."""
    if cell_len(text) > width:
        return set_cell_size(text, width)
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


class RankingTable(ScrollView, can_focus=True):
    """Rows of cells with a fixed header and a row cursor. Posts ``Highlighted`` when the
    cursor moves and ``Selected`` on Enter or a click on the highlighted row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "Top", show=False),
        Binding("end", "jump(-1)", "Bottom", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("enter", "select", "Details", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "ranking-table--header",
        "ranking-table--cursor",
    }
    DEFAULT_CSS = """
    RankingTable { height: 1fr; }
    RankingTable > .ranking-table--header { text-style: bold; background: $panel; }
    RankingTable > .ranking-table--cursor { background: $accent 60%; text-style: bold; }
    RankingTable:blur > .ranking-table--cursor { background: $accent 25%; }
    """

    cursor_row: reactive[int] = reactive(0)

    class _RowMessage(Message):
        def __init__(self, table: RankingTable, row: int) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> RankingTable:
            return self.table

    class Highlighted(_RowMessage):
        """The cursor moved to ``row``."""

    class Selected(_RowMessage):
        """Enter on ``row``."""

    def __init__(self, columns: Sequence[TableColumn], **kw) -> None:
        super().__init__(**kw)
        self.columns = list(columns)
        self._rows: list[list[Cell]] = []
        self._width = sum(c.width for c in self.columns) + len(self.columns)
        self._header = [(c.header, "") for c in self.columns]

    # -- data ------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def row_text(self, index: int) -> list[str]:
        """The cells of one row as plain text (for tests and accessibility)."""
        return [text for text, _ in self._rows[index]]

    def set_columns(self, columns: Sequence[TableColumn]) -> None:
        """New column widths or headers (the tree widens NAME); rows follow at set_rows."""
        columns = list(columns)
        if columns == self.columns:
            return
        self.columns = columns
        self._width = sum(c.width for c in self.columns) + len(self.columns)
        self._header = [(c.header, "") for c in self.columns]
        self.virtual_size = Size(self._width, len(self._rows) + 1)
        self.refresh()

    def set_rows(self, rows: list[list[Cell]], cursor: int | None = None) -> None:
        """Replace every row; the cursor goes to ``cursor`` (or stays where it was)."""
        self._rows = rows
        self.virtual_size = Size(self._width, len(rows) + 1)  # + the header line
        target = self.cursor_row if cursor is None else cursor
        self.set_reactive(RankingTable.cursor_row, max(0, min(target, len(rows) - 1)))
        self._scroll_to_cursor()
        self.refresh()

    # -- drawing -----------------------------------------------------------------------------

    def _line(self, cells: list[Cell], base: Style) -> Strip:
        segments = []
        for column, (text, style) in zip(self.columns, cells, strict=False):
            cell_style = base + Style.parse(style) if style else base
            segments.append(Segment(fit(text, column.width, column.right), cell_style))
            segments.append(Segment(" ", base))
        return Strip(segments, self._width)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:
            style = self.get_component_rich_style("ranking-table--header")
            return self._line(self._header, base + style).crop_extend(
                scroll_x, scroll_x + width, base + style
            )
        index = scroll_y + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, base)
        if index == self.cursor_row:
            base = base + self.get_component_rich_style("ranking-table--cursor")
        return self._line(self._rows[index], base).crop_extend(scroll_x, scroll_x + width, base)

    # -- cursor and scrolling --------------------------------------------------------------

    @property
    def _rows_visible(self) -> int:
        """Data rows that fit: the height left by scrollbars, minus the header line."""
        return max(1, self.scrollable_content_region.height - 1)

    @property
    def _page(self) -> int:
        return max(1, self._rows_visible - 1)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, new))

    def _scroll_to_cursor(self) -> None:
        rows_visible = self._rows_visible
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + rows_visible:
            self.scroll_to(y=self.cursor_row - rows_visible + 1, animate=False)

    def _move(self, row: int) -> None:
        if self._rows:
            self.cursor_row = max(0, min(row, len(self._rows) - 1))

    def action_cursor(self, step: int) -> None:
        self._move(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self._move(self.cursor_row + step * self._page)

    def action_jump(self, row: int) -> None:
        self._move(row if row >= 0 else len(self._rows) - 1)

    def action_select(self) -> None:
        if self._rows:
            self.post_message(self.Selected(self, self.cursor_row))

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < len(self._rows):
            if row == self.cursor_row:
                self.action_select()
            else:
                self.cursor_row = row
