"""The Textual app: the ranking and the events list, history replay, and the keys that open
the other screens (:mod:`lagwatch.tui.screens`: detail, `why` story, go-to, help).

All data comes from a :class:`~lagwatch.tui.feed.DataFeed`; all wording and layout decisions
that can be made without a terminal live in :mod:`lagwatch.tui.view`. Laid out for 80x24: the
system header (lagwatch.render.header, as `top` draws it) above the list.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from lagwatch import actions
from lagwatch.model import Identity, Ranking
from lagwatch.render.header import join_parts, machine_lines
from lagwatch.render.table import score_style
from lagwatch.tui import view
from lagwatch.tui.feed import DataFeed
from lagwatch.tui.screens import (
    DetailScreen,
    GotoScreen,
    HelpScreen,
    ReniceScreen,
    SignalScreen,
    WhyScreen,
)
from lagwatch.tui.table import RankingTable, TableColumn

TREND_TICKS = 10
NAME_WIDTH = 15  # the NAME column; a tree widens it up to TREE_NAME_WIDTH for its branches
TREE_NAME_WIDTH = 32


class LagwatchApp(App[None]):
    """``lagwatch tui``: the same screens whether the feed samples here or reads a database."""

    TITLE = "lagwatch"
    ENABLE_COMMAND_PALETTE = False  # its footer entry costs room an 80-column terminal needs
    CSS = """
    #mode { height: 1; background: $primary-background; color: $text; text-style: bold; }
    #sysheader { height: auto; max-height: 4; }
    #info { height: auto; max-height: 2; color: $text-muted; }
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
        # Ctrl-C quits as in any terminal program (Textual would copy text), even from the
        # filter box and the dialogs.
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort(1)", "Sort"),
        Binding("S", "sort(-1)", "Sort back", show=False),
        Binding("t", "tree", "Tree"),
        Binding("a", "group", "Apps"),
        Binding("K", "kernel", "Kernel threads", show=False),
        Binding("k", "signal", "Kill"),
        Binding("n", "renice", "Nice", show=False),
        Binding("left_square_bracket", "step(-1)", "Back", key_display="["),
        Binding("right_square_bracket", "step(1)", "Fwd", key_display="]", show=False),
        Binding("left_curly_bracket", "step_time(-60)", "-1m", key_display="{", show=False),
        Binding("right_curly_bracket", "step_time(60)", "+1m", key_display="}", show=False),
        Binding("l", "live", "Live", show=False),
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
        self.options = view.ListOptions()  # sort, filter, tree, grouping, kernel threads
        self.selected: Identity | None = None
        self._row_ids: list[Identity] = []
        self._items: list[view.ListItem] = []
        self._hidden_kernel = 0
        self._trends: tuple[float, dict[Identity, list[float | None]]] | None = None
        self._event_ids: list[int | None] = []  # the events list's rows, newest first
        self._events_stamp: tuple | None = None

    # -- layout ----------------------------------------------------------------------------

    # The sort key and the `/` filter, as before ListOptions held them.
    @property
    def sort_key(self) -> str:
        return self.options.sort

    @property
    def filter_text(self) -> str:
        return self.options.text

    def _set(self, **changes: object) -> None:
        self.options = dataclasses.replace(self.options, **changes)  # type: ignore[arg-type]
        self.fill_table()
        self.update_status()

    def compose(self) -> ComposeResult:
        yield Static(id="mode")
        yield Static(id="sysheader")
        yield Static(id="info")
        with TabbedContent(initial="processes"):
            with TabPane("Processes", id="processes"):
                columns = [TableColumn(c.header, c.width, c.right) for c in view.COLUMNS]
                yield RankingTable(columns, id="procs")
                yield Input(placeholder="filter: name, user, pid or command; Enter keeps, Esc "
                            "clears", id="filter")  # fmt: skip
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
        self._items = []
        if ranking is None:
            table.set_rows([])
            return
        listed = view.process_list(ranking, self.options)
        self._items = listed.items
        self._hidden_kernel = listed.hidden_kernel
        grouped = any(item.group is not None for item in listed.items)
        # Groups have no trend of their own (the leader's would mislead). Trends change only
        # with the tick: typing a filter must not read them again at each key.
        if grouped:
            trends = {}
        elif self._trends is not None and self._trends[0] == ranking.time:
            trends = self._trends[1]
        else:
            trends = self.feed.trends(ranking.time, TREND_TICKS)
            self._trends = (ranking.time, trends)
        empty: list[float | None] = [None] * TREND_TICKS
        names = [item.name for item in listed.items]
        name_width = NAME_WIDTH
        if self.options.tree or grouped:
            longest = max((len(n) for n in names), default=0)
            name_width = max(NAME_WIDTH, min(TREE_NAME_WIDTH, longest))
        table.set_columns(
            [
                TableColumn(c.header, name_width if c.key == "name" else c.width, c.right)
                for c in view.COLUMNS
            ]
        )
        cells: list[list[tuple[str, str]]] = []
        for item, name in zip(listed.items, names, strict=True):
            row = item.row
            dim = "dim" if item.context else ""
            line = []
            for col in view.COLUMNS:
                if col.key == "trend":
                    line.append((view.spark(trends.get(row.identity, empty)), "cyan"))
                elif col.key == "score":
                    line.append((col.cell(row), dim or score_style(row.score)))
                elif col.key == "name":
                    line.append((name, dim))
                else:
                    line.append((col.cell(row), dim))
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
        header = self.query_one("#sysheader", Static)
        lines = [] if ranking is None else machine_lines(ranking.system, max(40, self.size.width))
        header.display = bool(lines)  # a recorded tick without machine figures: no blank lines
        header.update(Text("\n").join(lines))
        problems = self.feed.problems()
        parts = view.info_parts(
            ranking, len(self._row_ids), self.sort_key, self.filter_text, self.feed.describe()
        )
        parts += view.list_label(self.options, self._hidden_kernel)
        if problems:
            parts.insert(0, problems[0])
        # Wrapped between parts, so that no part ("filter: 'x' (1)") is split over two lines.
        lines = join_parts([Text(p) for p in parts], max(40, self.size.width), sep=" | ")
        self.query_one("#info", Static).update(Text("\n").join(lines))

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
        if not 0 <= message.row < len(self._row_ids):
            return
        group = self._items[message.row].group
        if group is not None:  # an app or a user: list its processes
            members = frozenset(m.identity for m in group.members)
            self._set(focus=(group.name, members))
            return
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
        self._set(sort=view.next_sort(self.options.sort, step))

    def action_tree(self) -> None:
        self._set(tree=not self.options.tree)
        self.notify("tree: processes under their parents" if self.options.tree else "flat list",
                    timeout=2)  # fmt: skip

    def action_group(self) -> None:
        """Processes, then one line per app, then per user."""
        order = view.GROUPINGS
        by = order[(order.index(self.options.by) + 1) % len(order)]
        self._set(by=by, focus=None)

    def action_kernel(self) -> None:
        self._set(kernel=not self.options.kernel)

    # -- acting on the selected process --------------------------------------------------------

    def signal_target(self) -> actions.Target | None:
        """The selected process to act on, or None (and the user told why)."""
        if self.cursor is not None:
            self.notify("replay shows the past: press l to go live before acting on a process",
                        severity="warning", timeout=4)  # fmt: skip
            return None
        if self.query_one(TabbedContent).active != "processes":
            self.notify("select a process in the list first (p)", severity="warning", timeout=3)
            return None
        table = self.query_one("#procs", RankingTable)
        row_index = table.cursor_row
        if self.shown is None or not 0 <= row_index < len(self._items):
            self.bell()
            return None
        item = self._items[row_index]
        if item.group is not None:
            self.notify("select a process: Enter lists the processes of this group",
                        severity="warning", timeout=4)  # fmt: skip
            return None
        row = item.row
        return actions.Target(row.pid, row.name, row.user, shown_at=self.shown.time)

    def action_signal(self) -> None:
        target = self.signal_target()
        if target is None:
            return

        def done(signum: int | None) -> None:
            if signum is not None:
                self._report(actions.send_signal(target, signum))

        self.push_screen(SignalScreen(target), done)

    def action_renice(self) -> None:
        target = self.signal_target()
        if target is None:
            return

        def done(value: int | None) -> None:
            if value is not None:
                self._report(actions.renice(target, value))

        self.push_screen(ReniceScreen(target, actions.nice_value(target.pid)), done)

    def _report(self, outcome: actions.Outcome) -> None:
        if outcome.ok:
            self.notify(outcome.message, timeout=4)
        else:
            self.notify(outcome.message, severity="error", timeout=8)

    def action_filter(self) -> None:
        self.action_show_tab("processes")
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, message: Input.Changed) -> None:
        self._set(text=message.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, message: Input.Submitted) -> None:
        if not message.value:
            self.query_one("#filter", Input).remove_class("shown")
        self.query_one("#procs", RankingTable).focus()

    def action_clear_filter(self) -> None:
        """Esc: close the filter box and clear it; else leave a group's processes."""
        box = self.query_one("#filter", Input)
        if box.has_class("shown") or self.options.text:
            box.value = ""  # fires Changed, which refills the table
            box.remove_class("shown")
            self._set(text="")
            self.query_one("#procs", RankingTable).focus()
        elif self.options.focus is not None:
            self._set(focus=None)

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
        # The first tick that recorded the culprit, not the tick before the event.
        self._replay(self.feed.replay_time(event), "nothing recorded around this event")
        if self.cursor is not None:
            self.notify(f"replaying event #{event_id} ({event.kind}); l: back to live",
                        timeout=4)  # fmt: skip

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
