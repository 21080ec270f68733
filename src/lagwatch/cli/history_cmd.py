"""`lagwatch history`: recorded ticks, as a table, JSON (top's contract) or CSV."""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from lagwatch.catalogue import MetricSpec, table_metrics
from lagwatch.cli.errors import CliError
from lagwatch.cli.store_args import db_option, open_history, time_param
from lagwatch.model import PROCESS_KEYS, ProcessRow
from lagwatch.sanitize import csv_cell, for_terminal

# The table's columns: (header, width, left-aligned); the catalogue's narrow metrics follow.
_HEAD = [("TIME", 19, True), ("PID", 7, False), ("NAME", 20, True), ("SCORE", 5, False),
         ("BLAME", 8, True)]  # fmt: skip
METRIC_COLUMNS: tuple[MetricSpec, ...] = table_metrics(wide=False)


def table_columns(metrics: Sequence[MetricSpec] = METRIC_COLUMNS) -> list[tuple[str, int, bool]]:
    return [*_HEAD, *((m.header, m.width, False) for m in metrics)]


def row_cells(row: ProcessRow, metrics: Sequence[MetricSpec] = METRIC_COLUMNS) -> list[str]:
    """A row's cells after the TIME column."""
    return [
        str(row.pid),
        for_terminal(row.name) + (" *" if row.restricted else ""),
        f"{row.score:.0f}",
        row.dominant or "-",
        *(m.format(m.get(row)) for m in metrics),
    ]


def table_line(cells: list[str], columns: list[tuple[str, int, bool]]) -> str:
    out = []
    for cell, (_, width, left) in zip(cells, columns, strict=True):
        text = cell[:width]
        out.append(f"{text:<{width}}" if left else f"{text:>{width}}")
    return " ".join(out).rstrip()


@click.command("history")
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
@click.option("--pid", type=int, default=None, help="Only this process.")
@click.option("--name", default=None, help="Only processes whose name contains this text.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option(
    "--top",
    "top",
    type=click.IntRange(min=1),
    default=None,
    help="At most N processes per tick (default: 5 in the table, all recorded otherwise).",
)
def command(
    db: Path | None, since: float | None, until: float | None, pid: int | None,
    name: str | None, fmt: str, top: int | None,
) -> None:  # fmt: skip
    """Recorded ticks: the processes that mattered at each moment, oldest first."""
    if since is None:
        since = (time.time() if until is None else until) - 3600.0
    if pid is not None and name is not None:
        raise CliError("give --pid or --name, not both")
    if since is not None and until is not None and until < since:
        raise CliError("--until is before --since")
    count = 0
    out = sys.stdout
    with open_history(db) as history:
        rankings = history.rankings(since, until, pid=pid, name=name)
        if fmt == "json":
            for ranking in rankings:
                out.write(json.dumps(ranking.to_json(top), separators=(",", ":")) + "\n")
                count += 1
        elif fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["time", "interval_s", *PROCESS_KEYS])
            for ranking in rankings:
                count += 1
                procs = ranking.processes if top is None else ranking.processes[:top]
                for row in procs:
                    data = row.to_json()
                    writer.writerow(
                        [round(ranking.time, 3), round(ranking.interval_s, 3)]
                        + ["" if data[k] is None else csv_cell(data[k]) for k in PROCESS_KEYS]
                    )
        else:
            limit = top or 5
            columns = table_columns()
            click.echo(table_line([header for header, _, _ in columns], columns))
            for ranking in rankings:
                count += 1
                stamp = datetime.fromtimestamp(ranking.time).strftime("%Y-%m-%d %H:%M:%S")
                if not ranking.processes:
                    idle = [stamp, "", "(all idle)", *[""] * (len(columns) - 3)]
                    click.echo(table_line(idle, columns))
                for row in ranking.processes[:limit]:
                    click.echo(table_line([stamp, *row_cells(row)], columns))
        if count == 0:
            span = history.span()
            if span is None:
                where = "the history is empty"
            else:
                now = time.time()
                first = datetime.fromtimestamp(span[0]).strftime("%Y-%m-%d %H:%M:%S")
                last = datetime.fromtimestamp(span[1]).strftime("%Y-%m-%d %H:%M:%S")
                where = f"history covers {first} to {last} ({int(now - span[1])}s ago)"
            what = " for that process" if pid is not None or name is not None else ""
            click.echo(f"lagwatch: no recorded ticks{what} in that period; {where}", err=True)
