"""The Textual app: the ranking and the events list, history replay, and the keys that open
the other screens (:mod:`lagwatch.tui.screens`: detail, `why` story, go-to, help).

All data comes from a :class:`~lagwatch.tui.feed.DataFeed`; all wording and layout decisions
that can be made without a terminal live in :mod:`lagwatch.tui.view`. Laid out for 80x24.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from lagwatch.model import Identity, Ranking
from lagwatch.render.table import score_style
from lagwatch.tui import view
from lagwatch.tui.feed import DataFeed
from lagwatch.tui.screens import DetailScreen, GotoScreen, HelpScreen, WhyScreen
from lagwatch.tui.table import RankingTable, TableColumn

TREND_TICKS = 10


class LagwatchApp(App[None]):
    """``lagwatch tui``: the same screens whether the feed samples here or reads a database."""

    TITLE = "lagwatch"
    ENABLE_COMMAND_PALETTE = False  # its footer entry costs room an 80-column terminal needs
    CSS = """
    #mode { height: 1; background: $primary-background; color: $text; text-style: bold; }
    #info { height: 1; color: $text-muted; }
    #mode.replay { background: $error; color: $text; }
    #procs.replay { border-left: thick $error; }
    TabbedContent { height: 1fr; }
    TabPane { padding: 0; }
    DataTable, RankingTable { height: 1fr; }
    #filter { dock: bottom; height: 1; border: none; display: none; padding: 0 1; }
    #filter.shown { display: block; }
    #events-note { height: auto; color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort(1)", "Sort"),
        Binding("S", "sort(-1)", "Sort back", show=False),
        Binding("left_square_bracket", "step(-1)", "Back", key_display="["),
        Binding("right_square_bracket", "step(1)", "Fwd", key_display="]"),
        Binding("left_curly_bracket", "step_time(-60)", "-1m", key_display="{", show=False),
        Binding("right_curly_bracket", "step_time(60)", "+1m", key_display="}", show=False),
        Binding("l", "live", "Live"),
        Binding("g", "goto", "Go to", show=False),
        Binding("e", "show_tab('events')", "Events"),
        Binding("p", "show_tab('processes')", "Procs", show=False),
        Binding("r", "replay_event", "Replay event", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(
        self,
        feed: DataFeed,
        clock: Callable[[], float] = time.time,
        refresh_s: float | None = None,
    ) -> None:
        super().__init__()
        self.feed = feed
        self.clock = clock
        self.refresh_s = refresh_s if refresh_s is not None else min(1.0, feed.interval_s)
        self.cursor: float | None = None  # None: live; else the time of the replayed tick
        self.shown: Ranking | None = None
        self.sort_key = "score"
        self.filter_text = ""
        self.selected: Identity | None = None
        self._row_ids: list[Identity] = []
        self._event_ids: list[int | None] = []  # the events list's rows, newest first
        self._events_stamp: tuple | None = None

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="mode")
        yield Static(id="info")
        with TabbedContent(initial="processes"):
            with TabPane("Processes", id="processes"):
                columns = [TableColumn(c.header, c.width, c.right) for c in view.COLUMNS]
                yield RankingTable(columns, id="procs")
                yield Input(placeholder="filter: name, user or pid; Enter keeps, Esc clears",
                            id="filter")  # fmt: skip
            with TabPane("Events", id="events"):
                yield DataTable(id="events-table", cursor_type="row")
                yield Static(id="events-note")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#procs", RankingTable)
        events = self.query_one("#events-table", DataTable)
        for label, width in (
            ("ID", 4),
            ("KIND", 5),
            ("START", 14),
            ("LASTED", 7),
            ("SUSPECTS", 36),
        ):
            events.add_column(label, width=width)
        self.show(self.feed.poll() or self.feed.latest())
        self.refresh_events()
        table.focus()
        self.set_interval(self.refresh_s, self.tick)

    # -- data --------------------------------------------------------------------------------

    def tick(self) -> None:
        """Timer: take new data from the feed; in replay only the status line moves."""
        fresh = self.feed.poll()
        if self.cursor is None and fresh is not None:
            self.show(fresh)
        else:
            self.update_status()
        self.refresh_events()

    def show(self, ranking: Ranking | None) -> None:
        self.shown = ranking
        replaying = self.cursor is not None
        self.query_one("#mode", Static).set_class(replaying, "replay")
        self.query_one("#procs", RankingTable).set_class(replaying, "replay")
        self.fill_table()
        self.update_status()
        if isinstance(self.screen, DetailScreen):
            self.screen.refresh_detail()

    def fill_table(self) -> None:
        table = self.query_one("#procs", RankingTable)
        ranking = self.shown
        keep = self.selected
        self._row_ids = []
        if ranking is None:
            table.set_rows([])
            return
        rows = view.visible_rows(ranking, self.sort_key, self.filter_text)
        trends = self.feed.trends(ranking.time, TREND_TICKS)
        empty: list[float | None] = [None] * TREND_TICKS
        cells: list[list[tuple[str, str]]] = []
        for row in rows:
            line = []
            for col in view.COLUMNS:
                if col.key == "trend":
                    line.append((view.spark(trends.get(row.identity, empty)), "cyan"))
                elif col.key == "score":
                    line.append((col.cell(row), score_style(row.score)))
                else:
                    line.append((col.cell(row), ""))
            cells.append(line)
            self._row_ids.append(row.identity)
        # The cursor follows the selected process wherever the new order puts it.
        cursor = self._row_ids.index(keep) if keep in self._row_ids else None
        table.set_rows(cells, cursor)
        if self._row_ids:
            self.selected = self._row_ids[table.cursor_row]

    def update_status(self) -> None:
        now = self.clock()
        ranking = self.shown
        replaying = self.cursor is not None
        live_label = "" if replaying else self.feed.describe()
        self.query_one("#mode", Static).update(
            Text(view.mode_line(ranking, replaying, now, live_label=live_label))
        )
        problems = self.feed.problems()
        line = view.info_line(
            ranking, len(self._row_ids), self.sort_key, self.filter_text, self.feed.describe()
        )
        if problems:
            line = f"{problems[0]} | {line}"
        self.query_one("#info", Static).update(Text(line))

    def refresh_events(self) -> None:
        events = self.feed.events()
        stamp = tuple((e.id, e.end, e.duration_s) for e in events)
        if stamp == self._events_stamp:
            return
        self._events_stamp = stamp
        table = self.query_one("#events-table", DataTable)
        table.clear()
        self._event_ids = []
        for event in reversed(events):  # newest first
            table.add_row(*view.event_cells(event.to_json()))
            self._event_ids.append(event.id)
        note = self.query_one("#events-note", Static)
        if not events:
            hint = (
                "No pauses, rogue episodes or pressure events recorded."
                if self.feed.mode == "history"
                else "No rogue episodes yet. Pauses are detected by `lagwatch daemon`."
            )
            note.update(Text(hint))
        else:
            note.update(Text("Enter: the story of the event (why) | r: replay the ranking then"))

    # -- selection ---------------------------------------------------------------------------

    @on(RankingTable.Highlighted, "#procs")
    def _highlighted(self, message: RankingTable.Highlighted) -> None:
        if 0 <= message.row < len(self._row_ids):
            self.selected = self._row_ids[message.row]

    @on(RankingTable.Selected, "#procs")
    def _open_detail(self, message: RankingTable.Selected) -> None:
        if 0 <= message.row < len(self._row_ids):
            self.selected = self._row_ids[message.row]
            self.push_screen(DetailScreen(self.selected))

    @on(DataTable.RowSelected, "#events-table")
    def _open_story(self, message: DataTable.RowSelected) -> None:
        if 0 <= message.cursor_row < len(self._event_ids):
            event_id = self._event_ids[message.cursor_row]
            if event_id is not None:  # not written yet: nothing to tell the story from
                self.push_screen(WhyScreen(event_id))

    def selected_event(self) -> int | None:
        table = self.query_one("#events-table", DataTable)
        if 0 <= table.cursor_row < len(self._event_ids):
            return self._event_ids[table.cursor_row]
        return None

    # -- actions -----------------------------------------------------------------------------

    def action_sort(self, step: int) -> None:
        self.sort_key = view.next_sort(self.sort_key, step)
        self.fill_table()
        self.update_status()

    def action_filter(self) -> None:
        self.action_show_tab("processes")
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, message: Input.Changed) -> None:
        self.filter_text = message.value
        self.fill_table()
        self.update_status()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, message: Input.Submitted) -> None:
        if not message.value:
            self.query_one("#filter", Input).remove_class("shown")
        self.query_one("#procs", RankingTable).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("shown") or self.filter_text:
            box.value = ""  # fires Changed, which refills the table
            box.remove_class("shown")
            self.filter_text = ""
            self.query_one("#procs", RankingTable).focus()

    def action_show_tab(self, tab: str) -> None:
        if isinstance(self.screen, DetailScreen | WhyScreen):
            self.pop_screen()
        self.query_one(TabbedContent).active = tab
        target = "#procs" if tab == "processes" else "#events-table"
        self.query_one(target).focus()

    def _replay(self, t: float | None, why: str = "") -> None:
        if t is None:
            self.bell()
            if why:
                self.notify(why, severity="warning", timeout=3)
            return
        ranking = self.feed.ranking_at(t)
        if ranking is None:
            self.bell()
            self.notify("nothing recorded at or before that time", severity="warning", timeout=3)
            return
        self.cursor = ranking.time
        self.show(ranking)

    def action_step(self, n: int) -> None:
        base = self.cursor if self.cursor is not None else self.shown.time if self.shown else None
        if base is None:
            return
        if self.cursor is None and n > 0:
            return  # live is already the newest
        target = self.feed.step(base, n)
        if target is None or target == base:
            if n > 0:
                self.action_live()
            elif self.cursor is None:
                # Nothing older yet: hold the newest tick, so the key still freezes the view.
                self._replay(base)
                self.notify("no earlier tick recorded yet", timeout=3)
            else:
                self._replay(None, "no earlier tick recorded")
            return
        self._replay(target)

    def action_step_time(self, seconds: float) -> None:
        base = self.cursor if self.cursor is not None else self.shown.time if self.shown else None
        if base is None:
            return
        if seconds < 0:
            target = self.feed.ranking_at(base + seconds)
            if target is None:
                bounds = self.feed.bounds()
                self._replay(bounds[0] if bounds else None, "no earlier tick recorded")
                return
            self._replay(target.time)
        elif self.cursor is not None:
            target_t = self.feed.step(base + seconds - 1e-6, 1)
            if target_t is None or target_t <= base:
                self.action_live()
            else:
                self._replay(target_t)

    def action_live(self) -> None:
        self.cursor = None
        self.show(self.feed.latest())

    def action_goto(self) -> None:
        def done(text: str | None) -> None:
            if not text:
                return
            try:
                t = view.parse_when(text, now=self.clock())
            except ValueError as exc:
                self.notify(str(exc), severity="error", timeout=5)
                return
            self._replay(t)

        self.push_screen(GotoScreen(), done)

    def action_replay_event(self, event_id: int | None = None) -> None:
        event_id = event_id if event_id is not None else self.selected_event()
        event = self.feed.event(event_id) if event_id is not None else None
        if event is None:
            self.bell()
            return
        if isinstance(self.screen, WhyScreen | DetailScreen):
            self.pop_screen()
        self.action_show_tab("processes")
        self._replay(event.start)
        if self.cursor is not None:
            self.notify(f"replaying event #{event_id} ({event.kind}); l: back to live",
                        timeout=4)  # fmt: skip

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
