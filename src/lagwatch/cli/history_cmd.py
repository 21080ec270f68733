"""`lagwatch history`: recorded ticks, as a table, JSON (top's contract) or CSV."""

from __future__ import annotations

import csv
import json
import sys
import time
from datetime import datetime
from pathlib import Path

import click

from lagwatch.cli import CliError
from lagwatch.cli.store_args import db_option, open_history, time_param
from lagwatch.model import PROCESS_KEYS, ProcessRow
from lagwatch.units import human_bytes, human_number, human_rate

_TABLE_HEAD = ["TIME", "PID", "NAME", "SCORE", "BLAME", "CPU%", "MEM", "DISK R", "DISK W",
               "PGIN/s", "WAKE/s", "GPU%", "NET", "EI", "W"]  # fmt: skip
_TABLE_WIDTHS = [19, 7, 20, 5, 8, 6, 10, 12, 12, 7, 7, 5, 12, 6, 6]


def row_cells(row: ProcessRow) -> list[str]:
    return [
        str(row.pid),
        row.name + (" *" if row.restricted else ""),
        f"{row.score:.0f}",
        row.dominant or "-",
        human_number(row.cpu_percent),
        human_bytes(row.memory_bytes),
        human_rate(row.disk_read_bytes_per_s),
        human_rate(row.disk_write_bytes_per_s),
        human_number(row.pageins_per_s),
        human_number(row.wakeups_per_s, 0),
        human_number(row.gpu_percent),
        human_rate(row.net_bytes_per_s),
        human_number(row.energy_impact),
        "-" if row.power_watts is None else f"{row.power_watts:.2f}",
    ]


def _table_line(cells: list[str]) -> str:
    out = []
    for n, (cell, width) in enumerate(zip(cells, _TABLE_WIDTHS, strict=True)):
        text = cell[:width]
        out.append(f"{text:<{width}}" if n in (0, 2, 4) else f"{text:>{width}}")
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
                        + ["" if data[k] is None else data[k] for k in PROCESS_KEYS]
                    )
        else:
            limit = top or 5
            click.echo(_table_line(_TABLE_HEAD))
            for ranking in rankings:
                count += 1
                stamp = datetime.fromtimestamp(ranking.time).strftime("%Y-%m-%d %H:%M:%S")
                if not ranking.processes:
                    click.echo(_table_line([stamp, "", "(all idle)", *[""] * 12]))
                for row in ranking.processes[:limit]:
                    click.echo(_table_line([stamp, *row_cells(row)]))
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
