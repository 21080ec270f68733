"""The Textual app: ranking, detail, events, `why` story and history replay.

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
from textual.containers import ScrollableContainer, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from lagwatch.model import Identity, ProcessRow, Ranking
from lagwatch.render.story import build_story, render_story
from lagwatch.render.table import score_style
from lagwatch.tui import view
from lagwatch.tui.feed import DataFeed
from lagwatch.tui.table import RankingTable, TableColumn
from lagwatch.units import human_duration

TREND_TICKS = 10
CHART_WINDOW_S = 300.0
CHART_HEIGHT = 3


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
        self._event_ids: list[int] = []
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
        stamp = tuple((e.get("id"), e.get("end"), e.get("duration_s")) for e in events)
        if stamp == self._events_stamp:
            return
        self._events_stamp = stamp
        table = self.query_one("#events-table", DataTable)
        table.clear()
        self._event_ids = []
        for event in reversed(events):  # newest first
            table.add_row(*view.event_cells(event))
            self._event_ids.append(event.get("id"))
        note = self.query_one("#events-note", Static)
        if not events:
            hint = (
                "No pauses or rogue episodes recorded."
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
            self.push_screen(WhyScreen(self._event_ids[message.cursor_row]))

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
        self._replay(event.get("start"))
        if self.cursor is not None:
            self.notify(f"replaying event #{event_id} ({event.get('kind')}); l: back to live",
                        timeout=4)  # fmt: skip

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


class DetailScreen(Screen[None]):
    """One process: all its metrics, charts of its score and blamed resource, its episodes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]
    CSS = """
    DetailScreen #detail-head { height: 1; background: $primary-background; text-style: bold; }
    DetailScreen #detail-head.replay { background: $error; }
    DetailScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self, identity: Identity) -> None:
        super().__init__()
        self.identity = identity

    @property
    def lagwatch(self) -> LagwatchApp:
        app = self.app
        assert isinstance(app, LagwatchApp)
        return app

    def compose(self) -> ComposeResult:
        yield Static(id="detail-head")
        with VerticalScroll():
            yield Static(id="detail-metrics")
            yield Static(id="detail-score")
            yield Static(id="detail-dominant")
            yield Static(id="detail-episodes")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_detail()

    def find_row(self) -> ProcessRow | None:
        ranking = self.lagwatch.shown
        if ranking is None:
            return None
        return next((r for r in ranking.processes if r.identity == self.identity), None)

    def refresh_detail(self) -> None:
        app = self.lagwatch
        ranking = app.shown
        row = self.find_row()
        pid, start_id = self.identity
        replaying = app.cursor is not None
        when = "-" if ranking is None else view.day_clock(ranking.time)
        state = f"REPLAY - the past: {when}" if replaying else f"LIVE {when}"
        head = self.query_one("#detail-head", Static)
        head.set_class(replaying, "replay")
        head.update(Text(f"{row.name if row else '?'} (pid {pid})  {state}"))

        metrics = Text()
        if row is None:
            metrics.append("Not in this tick: it exited, or was not recorded then.\n", style="dim")
        else:
            for line in view.metric_grid(row, 3):
                for label, value in line:
                    metrics.append(f"{label:<13}", style="dim")
                    metrics.append(f"{value:>12} ")
                metrics.append("\n")
        self.query_one("#detail-metrics", Static).update(metrics)

        until = ranking.time if ranking is not None else app.clock()
        bounds = app.feed.bounds()
        since = until - CHART_WINDOW_S
        if bounds is not None and bounds[0] > since:
            since = bounds[0]  # less history than the window: show what there is
        if until - since < 2 * app.feed.interval_s:
            since = until - 2 * app.feed.interval_s
        history = app.feed.process_history(pid, start_id, since, until)
        width = max(20, min(120, self.app.size.width - 4))
        self.query_one("#detail-score", Static).update(
            self._chart(
                "Score",
                [(t, r.score if r else None) for t, r in history],
                since,
                until,
                width,
                top=100.0,
                fmt=lambda v: f"{v:.0f}",
                interval_s=app.feed.interval_s,
            )
        )
        label, figure, key = view.dominant_figure(row.dominant if row else None)
        points = [(t, figure(r) if r else None) for t, r in history]
        self.query_one("#detail-dominant", Static).update(
            self._chart(
                label,
                points,
                since,
                until,
                width,
                None,
                fmt=lambda v: view.format_metric(key, v),
                interval_s=app.feed.interval_s,
            )
        )
        episodes = app.feed.episodes(pid, row.name if row else None)
        text = Text("Rogue episodes: ", style="bold")
        if not episodes:
            text.append("none recorded for this process", style="dim")
        for event in reversed(episodes[-8:]):
            ident, _, start, lasted, _ = view.event_cells(event)
            peak = (event.get("details") or {}).get("peak_score")
            peak_text = f", peak {peak:.0f}" if isinstance(peak, int | float) else ""
            span = "still going on" if lasted == "ongoing" else f"lasted {lasted}"
            text.append(f"\n#{ident} from {start}, {span}{peak_text}")
        self.query_one("#detail-episodes", Static).update(text)

    @staticmethod
    def _chart(
        label: str,
        points: list[tuple[float, float | None]],
        since: float,
        until: float,
        width: int,
        top: float | None,
        fmt: Callable[[float], str],
        interval_s: float,
    ) -> Text:
        values = view.bucket(points, since, until, width, interval_s)
        known = [v for v in values if v is not None]
        text = Text()
        peak = fmt(max(known)) if known else "-"
        text.append(f"{label}, last {human_duration(until - since)}", style="bold")
        text.append(f"  max {peak}\n", style="dim")
        if not known:
            text.append("no recorded values in this window\n", style="dim")
            return text
        for line in view.chart(values, CHART_HEIGHT, top):
            text.append(line + "\n", style="cyan")
        return text


class WhyScreen(Screen[None]):
    """`lagwatch why` for one event: the same story, from the same data, scrollable both ways."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("r", "replay", "Replay then"),
    ]
    CSS = """
    WhyScreen ScrollableContainer { padding: 0 1; }
    WhyScreen #story { width: auto; }
    """

    def __init__(self, event_id: int) -> None:
        super().__init__()
        self.event_id = event_id

    def compose(self) -> ComposeResult:
        with ScrollableContainer():
            yield Static(id="story")
        yield Footer()

    def on_mount(self) -> None:
        app = self.app
        assert isinstance(app, LagwatchApp)
        self.query_one(ScrollableContainer).focus()
        event = app.feed.event(self.event_id)
        story = self.query_one("#story", Static)
        if event is None:
            story.update(Text(f"Event #{self.event_id} is not recorded."))
            return
        # The feed answers process_rows() like History does, so standalone mode tells the
        # story from its own memory of the last minutes.
        try:
            text = render_story(build_story(event, app.feed), now=app.clock())
        except Exception as exc:  # a malformed record must not take the TUI down
            text = f"Cannot tell the story of event #{self.event_id}: {exc!r}"
        story.update(Text(text, no_wrap=True))

    def action_replay(self) -> None:
        app = self.app
        assert isinstance(app, LagwatchApp)
        app.action_replay_event(self.event_id)


class GotoScreen(ModalScreen[str | None]):
    CSS = """
    GotoScreen { align: center middle; }
    GotoScreen Input { width: 60; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="go to: 10m (ago), 14:03, 2026-11-25 14:03 or a unix time")

    @on(Input.Submitted)
    def _done(self, message: Input.Submitted) -> None:
        self.dismiss(message.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP = """lagwatch tui: keys

 Up/Down PgUp/PgDn  move in the list    Enter  details / event story
 s / S     next / previous sort key     /      filter: name, user, pid
 Esc       clear the filter, or back    e / p  events / processes
 [ / ]     one tick back / forward      { / }  one minute back / forward
 g         go to a time (10m, 14:03)    l      back to live
 r         on an event: replay the ranking at its start
 q         quit (or back)

Replay shows recorded ticks, marked REPLAY in red. Attached to a daemon,
every tick it recorded can be replayed; standalone, the last 10 minutes.
SCORE: stress 0-100. BLAME: the resource it stresses most. TREND: score
over the last ticks. A * after a name: the OS hid part of its data.
"""


class HelpScreen(ModalScreen[None]):
    CSS = """
    HelpScreen { align: center middle; }
    HelpScreen Static { width: 78; height: auto; border: round $primary; padding: 0 1;
                        background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("q", "app.pop_screen", "Close", show=False),
        Binding("question_mark", "app.pop_screen", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static(HELP)
