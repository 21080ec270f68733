"""The ranking table widget: fixed-width cells, cursor, scrolling, selection."""

from __future__ import annotations

import asyncio
import functools

from textual.app import App, ComposeResult

from lagwatch.tui.table import RankingTable, TableColumn, fit

COLUMNS = [TableColumn("PID", 5), TableColumn("NAME", 8, right=False), TableColumn("X", 70)]


def sync(test):
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


class TableApp(App[None]):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows
        self.messages: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        yield RankingTable(COLUMNS, id="t")

    def on_mount(self) -> None:
        table = self.query_one(RankingTable)
        table.set_rows([[(str(i), ""), (f"p{i}", ""), ("x", "")] for i in range(self.rows)])
        table.focus()

    def on_ranking_table_highlighted(self, message: RankingTable.Highlighted) -> None:
        self.messages.append(("highlighted", message.row))

    def on_ranking_table_selected(self, message: RankingTable.Selected) -> None:
        self.messages.append(("selected", message.row))


def test_fit_cuts_and_pads_by_cells() -> None:
    assert fit("abc", 5, right=True) == "  abc"
    assert fit("abc", 5, right=False) == "abc  "
    assert fit("abcdef", 4, right=False) == "abcd"
    assert fit("日本語", 4, right=False) == "日本"  # two cells each
    assert fit("日本語", 5, right=True) == "日本 "  # cut, then padded to the width


@sync
async def test_cursor_keys_scroll_and_select() -> None:
    app = TableApp(100)
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(RankingTable)
        assert table.row_count == 100 and table.row_text(3) == ["3", "p3", "x"]
        await pilot.press("down", "down")
        assert table.cursor_row == 2
        await pilot.press("pagedown")
        assert table.cursor_row > 2 + 5
        assert table.scroll_y > 0  # the cursor stays in view
        await pilot.press("end")
        assert table.cursor_row == 99
        assert table.scroll_y == table.max_scroll_y
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.press("up")  # stays at the top
        assert table.cursor_row == 0
        await pilot.press("right")  # a wide table scrolls sideways
        assert table.scroll_x > 0
        await pilot.press("enter")
        assert ("selected", 0) in app.messages
        assert ("highlighted", 2) in app.messages


@sync
async def test_set_rows_keeps_or_moves_the_cursor_and_clamps() -> None:
    app = TableApp(10)
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(RankingTable)
        await pilot.press("down", "down", "down")
        table.set_rows([[("a", ""), ("b", ""), ("c", "")]] * 10)
        assert table.cursor_row == 3  # kept
        table.set_rows([[("a", ""), ("b", ""), ("c", "")]] * 10, cursor=7)
        assert table.cursor_row == 7
        table.set_rows([[("a", ""), ("b", ""), ("c", "")]] * 2)
        assert table.cursor_row == 1  # clamped
        table.set_rows([])
        await pilot.press("down", "enter")
        assert ("selected", 0) not in app.messages  # nothing to select


@sync
async def test_click_moves_the_cursor_then_selects() -> None:
    app = TableApp(10)
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(RankingTable)
        await pilot.click(RankingTable, offset=(2, 4))  # header is line 0: row 3
        assert table.cursor_row == 3
        await pilot.click(RankingTable, offset=(2, 4))
        assert ("selected", 3) in app.messages
