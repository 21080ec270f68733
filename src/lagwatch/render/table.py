"""Tables of processes that fit the terminal, for `top`, `analyze` and `history`.

At any width the numbers are whole: a column is either shown at the width its widest cell
needs, or left out; the least useful columns (the catalogue's ``priority``) go first, and
columns no shown process can know (GPU without a GPU source) are never shown. Width left over
goes to the names (up to the full name), then the user and the command line. Text (names,
users, command lines) is the only thing ever cut, with an ellipsis, and every such text is
sanitized (lagwatch.sanitize): a name cannot draw on the terminal.

The legend of the columns and units (``--help``) is generated here from the same columns.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from rich import box
from rich.cells import cell_len as rich_cell_len
from rich.cells import set_cell_size
from rich.table import Table
from rich.text import Text

from lagwatch.catalogue import METRICS, MetricSpec, table_metrics
from lagwatch.model import ProcessRow, Ranking
from lagwatch.sanitize import for_terminal
from lagwatch.units import UNITS_LEGEND

T = TypeVar("T")

TREE_NAME_CELLS = 8  # of a name deep in a tree, kept before its indentation
RESTRICTED_MARK = "*"  # after a name, in every table: the OS withholds part of its figures
ELLIPSIS = "…"


def score_style(score: float) -> str:
    if score >= 70:
        return "bold red"
    if score >= 40:
        return "yellow"
    return "green"


def ranking_header(ranking: Ranking, is_root: bool | None = None) -> str:
    parts = [
        f"sources: {', '.join(ranking.sources)}",
        f"{len(ranking.processes)} processes",
        f"interval {ranking.interval_s:.1f}s",
    ]
    restricted = ranking.restricted_count
    if restricted:
        hint = "" if is_root else ", root shows them fully"
        parts.append(f"{restricted} restricted ({RESTRICTED_MARK}){hint}")
    return " | ".join(parts)


# -- columns and how they fit ------------------------------------------------------------------


def cell_len(text: str) -> int:
    """The terminal cells ``text`` takes. Printable ASCII (nearly every cell) is one a
    character: asked first, since Rich's measure costs a cache lookup per distinct text and
    `history` measures millions of them."""
    return len(text) if text.isascii() and text.isprintable() else rich_cell_len(text)


@dataclass(frozen=True, slots=True)
class Column(Generic[T]):
    """One column of a table of items ``T`` (a row, or a row with its tick time)."""

    header: str
    cell: Callable[[T], str]  # the whole text; "-" when unknown
    priority: int = 0  # 0: always shown; otherwise the lowest are kept longest
    right: bool = True
    # Text columns (a minimum width) may be cut with an ellipsis; number columns never are.
    min_width: int | None = None
    mark: Callable[[T], str] | None = None  # a suffix kept when the text is cut ("*")
    branch: bool = False  # the text starts with the item's tree ``prefix`` (NAME)
    style: Callable[[T], str | None] | None = None
    legend: str = ""

    @property
    def is_text(self) -> bool:
        return self.min_width is not None

    def full(self, item: T) -> str:
        return self.cell(item) + (self.mark(item) if self.mark else "")

    def fitted(self, item: T, width: int) -> str:
        """The cell in ``width`` cells: a text cut with an ellipsis (its mark kept). A tree's
        branch gives up its deep indentation before the name gives up its start."""
        text = self.cell(item)
        mark = self.mark(item) if self.mark else ""
        if cell_len(text) + len(mark) <= width:
            return text + mark
        room = max(0, width - len(mark))
        prefix = getattr(item, "prefix", "") if self.branch else ""
        if prefix and text.startswith(prefix):
            name = text[len(prefix) :]
            wanted = min(cell_len(name), TREE_NAME_CELLS)
            indent = room - wanted
            if indent < len(prefix):  # keep the branch, shorten the indentation before it
                prefix = ELLIPSIS + prefix[-max(0, indent - 1) :] if indent > 2 else ""
                text = prefix + name
                if cell_len(text) <= room:
                    return text + mark
        return set_cell_size(text, max(0, room - 1)).rstrip() + ELLIPSIS + mark


class Measure(Generic[T]):
    """The width each column needs to show every item whole (``natural``) and which columns
    any item knows (a cell other than "-": ``known``), gathered batch by batch: `history`
    measures a week of ticks without keeping them. Each cell is formatted once."""

    def __init__(self, columns: Sequence[Column[T]]) -> None:
        self.columns = list(columns)
        self.natural = [cell_len(c.header) for c in self.columns]
        self.known = [False] * len(self.columns)

    def add(self, items: Iterable[T]) -> None:
        natural, known = self.natural, self.known
        cells = [(j, c.cell, c.mark) for j, c in enumerate(self.columns)]
        for item in items:
            for j, cell, mark in cells:
                text = cell(item)
                if not known[j] and text != "-":
                    known[j] = True
                if mark:
                    text += mark(item)
                if (n := cell_len(text)) > natural[j]:
                    natural[j] = n


def natural_widths(columns: Sequence[Column[T]], items: Iterable[T]) -> list[int]:
    """The width each column needs to show every item whole."""
    measure = Measure(columns)
    measure.add(items)
    return measure.natural


def fit_widths(
    columns: Sequence[Column[T]], natural: Sequence[int], width: int | None
) -> list[int | None]:
    """Each column's width, or None where it is left out (one space between columns).

    Without ``width`` every column is shown whole. Otherwise the always-shown columns (priority
    0) come first, text at its minimum; then the others by priority while they fit whole; the
    rest of the width widens the text columns (by priority) up to their longest text."""
    if width is None:
        return list(natural)
    base = [
        n if c.min_width is None else min(n, c.min_width)
        for c, n in zip(columns, natural, strict=True)
    ]
    chosen: list[int | None] = [None] * len(columns)
    used = -1  # no space before the first column
    for j, column in enumerate(columns):
        if column.priority == 0:
            chosen[j] = base[j]
            used += base[j] + 1
    by_priority = sorted(range(len(columns)), key=lambda k: columns[k].priority)
    for j in by_priority:
        if chosen[j] is None and used + 1 + base[j] <= width:
            chosen[j] = base[j]
            used += base[j] + 1
    for j in by_priority:
        w = chosen[j]
        if w is not None and columns[j].is_text and w < natural[j] and used < width:
            grow = min(natural[j] - w, width - used)
            chosen[j] = w + grow
            used += grow
    return chosen


def shown_columns(
    columns: Sequence[Column[T]], items: Sequence[T], width: int | None
) -> list[tuple[Column[T], int]]:
    widths = fit_widths(columns, natural_widths(columns, items), width)
    return [(c, w) for c, w in zip(columns, widths, strict=True) if w]


def plain_line(cells: Sequence[str], layout: Sequence[tuple[Column[T], int]]) -> str:
    """One line of a plain-text table (history): cells padded to the layout's widths."""
    out = []
    for text, (column, width) in zip(cells, layout, strict=True):
        pad = width - cell_len(text)
        out.append(" " * pad + text if column.right else text + " " * pad)
    return " ".join(out).rstrip()


def plain_lines(items: Sequence[T], layout: Sequence[tuple[Column[T], int]]) -> list[str]:
    lines = [plain_line([c.header for c, _ in layout], layout)]
    lines += [plain_line([c.fitted(i, w) for c, w in layout], layout) for i in items]
    return lines


def rich_table(
    items: Sequence[T], layout: Sequence[tuple[Column[T], int]], title: str | None = None
) -> Table:
    """The layout as a Rich table of exactly its widths (cells are text, never markup)."""
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,  # the box's inner divider is the one space between columns
        pad_edge=False,
        padding=0,
        header_style="bold",
        expand=False,
    )
    for column, width in layout:
        table.add_column(
            column.header,
            justify="right" if column.right else "left",
            width=width,
            no_wrap=True,
            overflow="crop",  # never reached: every cell is fitted to its width already
        )
    for item in items:
        cells = []
        for column, width in layout:
            style = column.style(item) if column.style else None
            cells.append(Text(column.fitted(item, width), style=style or ""))
        table.add_row(*cells)
    return table


# -- the columns of a process table ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeItem:
    """A row of `top --tree`: the row and the branch drawn before its name."""

    row: ProcessRow
    prefix: str = ""
    context: bool = False  # shown only as the parent of a listed process


# What a process table lists: a ProcessRow, or an item holding one as ``row`` (a TreeItem, a
# line of `history`), with an optional ``prefix`` drawn before the name.
RowItem = Any


def _row(item: RowItem) -> ProcessRow:
    """The row of an item: a row itself, or a TreeItem or a history line holding one."""
    return item if isinstance(item, ProcessRow) else item.row


def _name(item: RowItem) -> str:
    return getattr(item, "prefix", "") + for_terminal(_row(item).name)


def _mark(item: RowItem) -> str:
    return RESTRICTED_MARK if _row(item).restricted else ""


def _metric_column(m: MetricSpec) -> Column[RowItem]:
    return Column(m.header, lambda i: m.format(m.get(_row(i))), m.priority,
                  legend=m.about or m.label)  # fmt: skip


PID: Column[RowItem] = Column("PID", lambda i: str(_row(i).pid), legend="process id")
NAME: Column[RowItem] = Column(
    "NAME", _name, right=False, min_width=10, mark=_mark, branch=True,
    style=lambda i: "dim" if isinstance(i, TreeItem) and i.context else None,
    legend=f"process name; {RESTRICTED_MARK} = restricted: the OS withholds some figures",
)  # fmt: skip
SCORE: Column[RowItem] = Column(
    "SCORE", lambda i: f"{_row(i).score:.0f}", style=lambda i: score_style(_row(i).score),
    legend="stress score 0-100: 40 is noticeable, 70 hurts (docs/scoring.md)",
)  # fmt: skip
BLAME: Column[RowItem] = Column(
    "BLAME", lambda i: _row(i).dominant or "-", right=False,
    legend="the resource the score blames: cpu, memory, disk, pageins, gpu...",
)  # fmt: skip
USER: Column[RowItem] = Column(
    "USER", lambda i: for_terminal(_row(i).user or "-"), priority=65, right=False, min_width=4,
    legend="the process's user",
)  # fmt: skip
CMDLINE: Column[RowItem] = Column(
    "COMMAND", lambda i: for_terminal(_row(i).cmdline or "-"), priority=1000, right=False,
    min_width=12, legend="the command line; '-' where the OS does not give it",
)  # fmt: skip

# The catalogue's metrics a table may show: the narrow ones when the width is not known, and
# with a known width every tabled one that fits.
METRIC_COLUMNS: tuple[MetricSpec, ...] = table_metrics(wide=False)


def process_columns(metrics: Sequence[MetricSpec], wide: bool = False) -> list[Column[RowItem]]:
    """PID, NAME, (USER), SCORE, BLAME, the metrics in catalogue order, (COMMAND)."""
    if not wide:
        return [PID, NAME, SCORE, BLAME, *(_metric_column(m) for m in metrics), CMDLINE]
    # Asked for: the command line always (what is left of the width), the user early.
    user, cmdline = replace(USER, priority=15), replace(CMDLINE, priority=0)
    return [PID, NAME, user, SCORE, BLAME, *(_metric_column(m) for m in metrics), cmdline]


def known_metrics(metrics: Sequence[MetricSpec], rows: Sequence[ProcessRow]) -> list[MetricSpec]:
    """The metrics at least one of the rows knows (the others have nothing to show)."""
    return [m for m in metrics if any(m.get(r) is not None for r in rows)]


def tree_items(rows: Sequence[ProcessRow], everyone: Sequence[ProcessRow]) -> list[TreeItem]:
    """``rows`` laid out as a process tree: each under its parent, siblings in the order of
    ``rows`` (the ranking's sort). Ancestors not among ``rows`` are taken from ``everyone``
    and marked as context, so each listed process is shown where it lives."""
    by_pid = {r.pid: r for r in everyone}
    listed = {r.pid for r in rows}
    order = {r.pid: n for n, r in enumerate(rows)}
    keep: dict[int, ProcessRow] = {r.pid: r for r in rows}
    for r in rows:  # bring in the ancestors
        parent, hops = r.ppid, 0
        while parent is not None and parent in by_pid and parent not in keep and hops < 256:
            keep[parent] = by_pid[parent]
            parent, hops = by_pid[parent].ppid, hops + 1
    children: dict[int | None, list[ProcessRow]] = {}
    for r in keep.values():
        parent = r.ppid if r.ppid in keep and r.ppid != r.pid else None
        children.setdefault(parent, []).append(r)

    out: list[TreeItem] = []

    def walk(parent: int | None, lead: str, depth: int) -> None:
        kids = sorted(children.get(parent, []), key=lambda r: _best(r, children, order))
        for n, r in enumerate(kids):
            last = n == len(kids) - 1
            branch = "" if depth == 0 else lead + ("└─" if last else "├─")
            out.append(TreeItem(r, branch, context=r.pid not in listed))
            if len(out) < 10_000:
                walk(r.pid, "" if depth == 0 else lead + ("  " if last else "│ "), depth + 1)

    walk(None, "", 0)
    return out


def _best(r: ProcessRow, children: dict[int | None, list[ProcessRow]], order: dict[int, int]
          ) -> tuple[int, int]:  # fmt: skip
    """Where a subtree sorts among its siblings: at its best-ranked listed process."""
    best = order.get(r.pid, len(order))
    stack, seen = list(children.get(r.pid, [])), 0
    while stack and seen < 10_000:
        child = stack.pop()
        seen += 1
        best = min(best, order.get(child.pid, len(order)))
        stack.extend(children.get(child.pid, []))
    return (best, r.pid)


def ranking_table(
    ranking: Ranking,
    limit: int | None = 20,
    title: str | None = None,
    metrics: Sequence[MetricSpec] | None = None,
    *,
    width: int | None = None,
    wide: bool = False,
    tree: bool = False,
) -> Table:
    """The ranking's first ``limit`` processes as a table fitted to ``width`` terminal cells
    (None: every column whole). Without ``width`` and ``wide``, the narrow metric set and no
    command line. ``wide``: the user and the command line too, and every metric that fits.
    ``tree``: laid out under their parents."""
    rows = ranking.processes if limit is None else ranking.processes[:limit]
    if metrics is None:
        if wide:
            metrics = [m for m in METRICS if m.contract]
        elif width is not None:
            metrics = table_metrics(wide=True)
        else:
            metrics = METRIC_COLUMNS
    columns = process_columns(known_metrics(metrics, rows), wide)
    if not wide and width is None:
        columns = columns[:-1]  # the command line only where the width is known to allow it
    # Like a metric no source knows: no user or command line known, no column.
    unknown = {"USER": all(r.user is None for r in rows),
               "COMMAND": all(r.cmdline is None for r in rows)}  # fmt: skip
    columns = [c for c in columns if not unknown.get(c.header, False)]
    items: list[RowItem] = list(tree_items(rows, ranking.processes)) if tree else list(rows)
    if tree:  # names under their branches need room before the least useful metrics do
        columns = [replace(c, min_width=20) if c is NAME else c for c in columns]
    layout = shown_columns(columns, items, width)
    return rich_table(items, layout, title)


def legend(metrics: Sequence[MetricSpec] = ()) -> str:
    """The legend of a process table's columns and units, for ``--help`` (click keeps the
    lines as they are after a \\b line)."""
    metrics = metrics or [m for m in METRICS if m.contract and m.column != "none"]
    columns = [PID, NAME, USER, SCORE, BLAME, *(_metric_column(m) for m in metrics), CMDLINE]
    width = max(len(c.header) for c in columns)
    lines = ["\b", "Columns (a narrow terminal shows the most useful that fit, whole):"]
    lines += [f"  {c.header:<{width}}  {c.legend}" for c in columns]
    return "\n".join(lines) + "\n\n" + UNITS_LEGEND


PIPE_WIDTH = 160  # a file or a pipe without COLUMNS: wide enough for every usual column


def output_width(stream: Any = None) -> int:
    """The width to fit plain-text output to: the terminal's, else COLUMNS when set, else
    PIPE_WIDTH (a file or a pipe)."""
    stream = sys.stdout if stream is None else stream
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns or PIPE_WIDTH
    except (OSError, ValueError, AttributeError):
        pass
    return PIPE_WIDTH
