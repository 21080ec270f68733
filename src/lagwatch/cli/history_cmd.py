"""`lagwatch history`: recorded ticks, as a table, JSON (top's contract) or CSV."""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from lagwatch.catalogue import table_metrics
from lagwatch.cli.errors import CliError
from lagwatch.cli.options import LIMIT, filter_options
from lagwatch.cli.store_args import db_option, open_history, time_param
from lagwatch.filters import ProcessFilter
from lagwatch.grouping import BY_CHOICES, GROUP_KEYS, By, as_ranking, group_ranking, ranking_json
from lagwatch.model import PROCESS_KEYS, ProcessRow, Ranking
from lagwatch.render.table import (
    Column,
    Measure,
    fit_widths,
    legend,
    output_width,
    plain_line,
    process_columns,
)
from lagwatch.sanitize import csv_cell

TABLE_ROWS_PER_TICK = 5

EXAMPLES = """\b
Examples:
  lagwatch history                         the last hour, 5 processes per tick
  lagwatch history --since 14:00 --until 14:10 --limit 10
  lagwatch history --pid 4242 --format csv > hog.csv
  lagwatch history --name re:chrom(e|ium) --format json | jq .processes
  lagwatch history --by app --since 2h     per app instead of per process
"""


def csv_value(value: Any) -> Any:
    """A CSV cell: empty for unknown, JSON's true/false, lists space-separated, text made
    safe (lagwatch.sanitize.csv_cell)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return csv_cell(value)


@dataclass(frozen=True, slots=True)
class Line:
    """A line of the table: a recorded row at its tick's time of day."""

    row: ProcessRow
    clock: str


TIME: Column[Line] = Column("TIME", lambda i: i.clock, right=False, legend="time of the tick")


def _shown(ranking: Ranking, by: By, limit: int | None) -> list[ProcessRow]:
    rows = ranking.processes
    if by != "process":
        rows = as_ranking(ranking, group_ranking(ranking, by)).processes
    return rows if limit is None else rows[:limit]


def _print_table(rankings: Any, by: By, limit: int, width: int) -> int:
    """Two passes over the ticks: the first finds the columns any row knows and how wide they
    are, the second prints. Returns the number of ticks."""
    candidates = process_columns(table_metrics(wide=True))
    columns: list[Column[Any]] = [TIME, *candidates]
    measure = Measure(columns)
    count = 0
    for ranking in rankings():
        count += 1
        measure.add(Line(row, "00:00:00") for row in _shown(ranking, by, limit))
    if count == 0:
        return 0
    # Columns no recorded row knows are left out (as `top` does); identity columns stay.
    keep = [j for j, c in enumerate(columns) if c.priority == 0 or measure.known[j]]
    columns = [columns[j] for j in keep]
    widths = fit_widths(columns, [measure.natural[j] for j in keep], width)
    layout = [(c, w) for c, w in zip(columns, widths, strict=True) if w]
    click.echo(plain_line([c.header for c, _ in layout], layout))
    day = None
    for ranking in rankings():
        stamp = datetime.fromtimestamp(ranking.time)
        if stamp.date() != day:
            day = stamp.date()
            click.echo(f"-- {day.isoformat()} --")
        clock = stamp.strftime("%H:%M:%S")
        rows = _shown(ranking, by, limit)
        if not rows:
            click.echo(f"{clock} (all idle)")
        for row in rows:
            line = Line(row, clock)
            click.echo(plain_line([c.fitted(line, w) for c, w in layout], layout))
    return count


@click.command("history", epilog=EXAMPLES + "\n" + legend())
@db_option
@click.option(
    "--since",
    default=None,
    metavar="DURATION|TIME",
    callback=time_param,
    help="From this long ago (30m, 2h, 1d) or this time [default: 1h before --until or now].",
)
@click.option(
    "--until",
    default=None,
    metavar="TIME",
    callback=time_param,
    help="Up to this time (ISO date/time, unix time, or a duration ago).",
)
@filter_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option(
    "--limit",
    "-k",
    type=LIMIT,
    default=None,
    help=f"At most K processes per tick (default: {TABLE_ROWS_PER_TICK} in the table, all "
    "recorded otherwise).",
)
@click.option("--top", "top_alias", type=LIMIT, default=None, hidden=True)  # the old --limit
@click.option(
    "--by",
    type=click.Choice(BY_CHOICES),
    default="process",
    show_default=True,
    help="Rows per process, per app (by the app recorded with each process) or per user; "
    "groups sum the processes recorded at each tick.",
)
def command(
    db: Path | None, since: float | None, until: float | None, flt: ProcessFilter, fmt: str,
    limit: int | None, top_alias: int | None, by: By,
) -> None:  # fmt: skip
    """Recorded ticks: the processes that mattered at each moment, oldest first."""
    if limit is not None and top_alias is not None:
        raise click.UsageError("--top is the old name of --limit: give one")
    limit = limit if limit is not None else top_alias
    if until is None:
        until = time.time()  # fixed, so that the table's two passes read the same ticks
    if since is None:
        since = until - 3600.0
    if until < since:
        raise CliError("--until is before --since")
    count = 0
    out = sys.stdout
    with open_history(db) as history:

        def rankings() -> Iterator[Ranking]:
            for ranking in history.rankings(since, until, only=flt, subscores=False, machine=False):
                # The rows are this read's own (no copy needed, at 100 000 ticks a week).
                ranking.processes = flt.rows(ranking.processes)
                if flt.narrows and not ranking.processes:
                    continue  # only the ticks where a wanted process was recorded
                yield ranking

        if fmt == "json":
            for ranking in rankings():
                doc = ranking_json(ranking, by, limit)
                out.write(json.dumps(doc, separators=(",", ":")) + "\n")
                count += 1
        elif fmt == "csv" and by != "process":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["time", "interval_s", *GROUP_KEYS])
            for ranking in rankings():
                count += 1
                groups = group_ranking(ranking, by)
                for group in groups if limit is None else groups[:limit]:
                    data = group.to_json()
                    writer.writerow(
                        [round(ranking.time, 3), round(ranking.interval_s, 3)]
                        + [csv_value(data[k]) for k in GROUP_KEYS]
                    )
        elif fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["time", "interval_s", *PROCESS_KEYS])
            for ranking in rankings():
                count += 1
                procs = ranking.processes if limit is None else ranking.processes[:limit]
                for row in procs:
                    data = row.to_json()
                    writer.writerow(
                        [round(ranking.time, 3), round(ranking.interval_s, 3)]
                        + [csv_value(data[k]) for k in PROCESS_KEYS]
                    )
        else:
            count = _print_table(rankings, by, limit or TABLE_ROWS_PER_TICK, output_width())
        if count == 0:
            span = history.span()
            if span is None:
                where = "the history is empty"
            else:
                now = time.time()
                first = datetime.fromtimestamp(span[0]).strftime("%Y-%m-%d %H:%M:%S")
                last = datetime.fromtimestamp(span[1]).strftime("%Y-%m-%d %H:%M:%S")
                where = f"history covers {first} to {last} ({int(now - span[1])}s ago)"
            what = " for those processes" if flt.narrows else ""
            click.echo(f"lagwatch: no recorded ticks{what} in that period; {where}", err=True)
