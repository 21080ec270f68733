"""The TUI's screens over the main view: a process's detail, an event's story, go-to-time,
the dialogs that signal or renice a process, and the help. They read the app through
:class:`ScreenHost`, so they need nothing else of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from lagwatch import actions
from lagwatch.model import Identity, ProcessRow, Ranking
from lagwatch.render.story import build_story, render_story
from lagwatch.sanitize import for_terminal, tree_for_terminal
from lagwatch.tui import view
from lagwatch.tui.feed import DataFeed
from lagwatch.units import human_duration

CHART_WINDOW_S = 300.0
CHART_HEIGHT = 3


@runtime_checkable
class ScreenHost(Protocol):
    """What the screens read of the app (lagwatch.tui.app.LagwatchApp)."""

    feed: DataFeed
    clock: Callable[[], float]
    shown: Ranking | None  # the ranking on screen
    cursor: float | None  # None: live; else the time of the replayed tick

    def action_replay_event(self, event_id: int | None = None) -> None: ...


def host(screen: Screen[Any]) -> ScreenHost:
    app = screen.app
    assert isinstance(app, ScreenHost)
    return app


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

    def compose(self) -> ComposeResult:
        yield Static(id="detail-head")
        with VerticalScroll():
            yield Static(id="detail-command")
            yield Static(id="detail-metrics")
            yield Static(id="detail-score")
            yield Static(id="detail-dominant")
            yield Static(id="detail-episodes")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_detail()

    def find_row(self) -> ProcessRow | None:
        ranking = host(self).shown
        if ranking is None:
            return None
        return next((r for r in ranking.processes if r.identity == self.identity), None)

    def refresh_detail(self) -> None:
        app = host(self)
        ranking = app.shown
        row = self.find_row()
        pid, start_id = self.identity
        replaying = app.cursor is not None
        when = "-" if ranking is None else view.day_clock(ranking.time)
        state = f"REPLAY - the past: {when}" if replaying else f"LIVE {when}"
        head = self.query_one("#detail-head", Static)
        head.set_class(replaying, "replay")
        head.update(Text(f"{for_terminal(row.name) if row else '?'} (pid {pid})  {state}"))

        command = Text("Command  ", style="dim")
        if row is None:
            command.append("-", style="dim")
        elif row.cmdline is None:  # another user's process, a kernel thread, a zombie
            command.append("unknown: the OS did not give it", style="dim")
        else:
            command.append(for_terminal(row.cmdline))
        self.query_one("#detail-command", Static).update(command)

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
            ident, _, start, lasted, _ = view.event_cells(event.to_json())
            peak = event.peak_score
            peak_text = "" if peak is None else f", peak {peak:.0f}"
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
        app = host(self)
        self.query_one(ScrollableContainer).focus()
        event = app.feed.event(self.event_id)
        story = self.query_one("#story", Static)
        if event is None:
            story.update(Text(f"Event #{self.event_id} is not recorded."))
            return
        # The feed answers process_rows() like History does, so standalone mode tells the
        # story from its own memory of the last minutes.
        try:
            text = render_story(tree_for_terminal(build_story(event, app.feed)), now=app.clock())
        except Exception as exc:  # a malformed record must not take the TUI down
            text = f"Cannot tell the story of event #{self.event_id}: {exc!r}"
        story.update(Text(text, no_wrap=True))

    def action_replay(self) -> None:
        host(self).action_replay_event(self.event_id)


class SignalScreen(ModalScreen[int | None]):
    """Which signal to send to a process: SIGTERM first (Enter sends it), Esc sends nothing."""

    CSS = """
    SignalScreen { align: center middle; }
    SignalScreen Vertical { width: 70; height: auto; border: round $error; padding: 0 1;
                            background: $surface; }
    SignalScreen OptionList { height: auto; max-height: 11; }
    SignalScreen #signal-note { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, target: actions.Target) -> None:
        super().__init__()
        self.target = target
        self.choices = actions.available_signals()

    def compose(self) -> ComposeResult:
        user = f", user {for_terminal(self.target.user)}" if self.target.user else ""
        with Vertical():
            yield Static(Text(f"Send a signal to {self.target.label}{user}?", style="bold"))
            yield OptionList(
                *(
                    Option(f"{name:<8} {number:>2}  {about}", id=name)
                    for name, number, about in self.choices
                ),
                id="signals",
            )
            yield Static("Enter: send  Esc: cancel", id="signal-note")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0  # SIGTERM
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, message: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[message.option_index][1])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReniceScreen(ModalScreen[int | None]):
    """A new nice value for a process (-20 highest priority, 19 lowest); Esc changes nothing."""

    CSS = """
    ReniceScreen { align: center middle; }
    ReniceScreen Vertical { width: 70; height: auto; border: round $warning; padding: 0 1;
                            background: $surface; }
    ReniceScreen #renice-note { color: $text-muted; }
    ReniceScreen #renice-error { color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, target: actions.Target, current: int | None) -> None:
        super().__init__()
        self.target = target
        self.current = current

    def compose(self) -> ComposeResult:
        now = "unknown" if self.current is None else str(self.current)
        with Vertical():
            yield Static(Text(f"Renice {self.target.label}: nice is {now} now", style="bold"))
            yield Input(
                value="" if self.current is None else str(self.current),
                placeholder=f"{actions.NICE_MIN} to {actions.NICE_MAX}",
            )
            yield Static("", id="renice-error")
            yield Static(
                f"{actions.NICE_MIN} runs first, {actions.NICE_MAX} runs last; only root can "
                "lower it. Enter: set  Esc: cancel",
                id="renice-note",
            )

    @on(Input.Submitted)
    def _done(self, message: Input.Submitted) -> None:
        try:
            value = actions.parse_nice(message.value)
        except ValueError as exc:
            self.query_one("#renice-error", Static).update(Text(str(exc)))
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


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
 s / S     next / previous sort key     /      filter: name, user, pid,
 t         tree: under their parents           command (re:PATTERN: name)
 a         group by app, by user, none  K      show/hide kernel threads
 k         send a signal (SIGTERM...)   n      renice (change priority)
 Esc       clear the filter, or back    e / p  events / processes
 [ / ]     one tick back / forward      { / }  one minute back / forward
 g         go to a time (10m, 14:03)    l      back to live
 r         on an event: replay the first tick that recorded its culprit
 q, Ctrl-C quit (q: back, in a screen)

Replay shows recorded ticks, marked REPLAY in red. Attached to a daemon,
every tick it recorded can be replayed; standalone, the last 10 minutes.
SCORE: stress 0-100. BLAME: the resource it stresses most. TREND: score
over the last ticks. A * after a name: the OS hid part of its data.
Events: LASTED 5m+ = cut short, the daemon stopped watching then.
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
