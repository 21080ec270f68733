"""`lagwatch energy`: what drained the battery: energy per process (or app) over a period.

From the daemon's history when there is one covering the period; otherwise lagwatch samples
for the period itself (one Sampler, every interval integrated). See lagwatch.energy.integrate
for the arithmetic and docs/metrics.md ("Energy") for where each figure comes from.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, cast

import click

from lagwatch.cli.errors import CliError
from lagwatch.cli.options import (
    LIMIT,
    filter_options,
    interval_option,
    open_sampler,
    source_option,
)
from lagwatch.cli.store_args import db_option
from lagwatch.energy.integrate import By, EnergyIntegrator
from lagwatch.filters import NO_FILTER, ProcessFilter
from lagwatch.sanitize import for_terminal
from lagwatch.sources.base import SourceError
from lagwatch.ticker import Ticker
from lagwatch.units import format_number, format_watts, human_duration, parse_time

DEFAULT_HISTORY_SINCE = "1h"
DEFAULT_SAMPLE_SINCE = "10s"


# Longer ago than this is not a period anyone means (and not one history keeps).
MAX_PERIOD_S = 366 * 86400.0


def _period(text: str, now: float | None = None) -> float:
    """--since as a period back from now: a duration (2h) or, as `history --since` takes it,
    a time (14:03, 2026-11-25T14:03, unix seconds)."""
    now = time.time() if now is None else now
    try:
        seconds = now - parse_time(text, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--since'") from None
    if seconds <= 0:
        raise click.BadParameter(f"{text!r} is not in the past", param_hint="'--since'")
    if seconds > MAX_PERIOD_S:
        raise click.BadParameter(f"{text!r} is more than a year ago", param_hint="'--since'")
    return seconds


def _open_sampler(source: str | None) -> Ticker:
    return open_sampler(source)  # the same --source handling as `lagwatch top`


def integrate_history(
    db_path: Path, integrator: EnergyIntegrator, flt: ProcessFilter = NO_FILTER
) -> None:
    """Add the recorded rankings of the period (their processes ``flt`` shows). Raises
    CliError when the history cannot be read."""
    from lagwatch.store import History, StoreError

    try:
        with History(db_path) as history:
            for ranking in history.rankings(
                integrator.since, integrator.until, subscores=False, machine=False
            ):
                integrator.add(flt.apply(ranking))
    except StoreError as exc:
        raise CliError(str(exc), exit_code=1) from None


def sample_period(
    sampler: Ticker, period_s: float, interval_s: float, integrator: EnergyIntegrator,
    flt: ProcessFilter = NO_FILTER,
) -> tuple[bool, list[str]]:  # fmt: skip
    """Sample until the rankings cover ``period_s``; returns (interrupted, warnings)."""
    warnings: list[str] = []
    interval_s = min(interval_s, period_s)
    try:
        for ranking in sampler.rankings(interval_s):
            integrator.add(flt.apply(ranking))
            for warning in ranking.warnings:
                if warning not in warnings:
                    warnings.append(warning)
            if integrator.covered_s >= period_s - interval_s / 2:
                break
    except KeyboardInterrupt:
        return True, warnings
    except SourceError as exc:
        raise CliError(f"sampling stopped: {exc}", exit_code=1) from None
    return False, warnings


def _fmt(value: float | None, watts: bool = False) -> str:
    """The one number form of every table (lagwatch.units); watts with their own."""
    return format_watts(value) if watts else format_number(value)


def _print_table(report: dict[str, Any], limit: int) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    by = report["by"]
    rows = report["processes" if by == "process" else "apps"][:limit]
    measured = report["power_measured"]
    sources = ", ".join(report["energy_sources"]) or "none"
    period = human_duration(report["covered_s"])
    mode = {"history": "from history", "sampled": "sampled now"}[report["mode"]]
    console.print(
        f"Energy over {period} ({mode}, {report['rankings']} intervals; energy source: {sources})",
        style="dim",
    )
    if "ri_energy_nj" in report["energy_sources"]:
        console.print(
            "Energy Impact here is an estimate from measured power (100 EI per watt), "
            "not Activity Monitor's figure.",
            style="dim",
        )
    if not measured:
        console.print(
            "No power is measured here: figures are energy-impact-seconds "
            "(100 EI for 1 s = one core busy for 1 s).",
            style="dim",
        )
    table = Table(header_style="bold")
    table.add_column("APP" if by == "app" else "PROCESS")
    table.add_column("PID", justify="right")
    if measured:
        table.add_column("ENERGY J", justify="right")
        table.add_column("AVG W", justify="right")
    table.add_column("EI·s", justify="right")
    table.add_column("AVG EI", justify="right")
    table.add_column("CPU s", justify="right")
    if by == "app":
        table.add_column("PROCS", justify="right")
    for row in rows:
        cells = [escape(for_terminal(row["name"])), str(row["pid"])]  # text, never markup
        if measured:
            cells += [_fmt(row["energy_j"]), _fmt(row["avg_watts"], watts=True)]
        cells += [
            _fmt(row["energy_impact_s"]),
            _fmt(row["avg_energy_impact"]),
            _fmt(row["cpu_s"]),
        ]
        if by == "app":
            cells.append(str(row["member_count"]))
        table.add_row(*cells)
    total = report["total"]
    cells = ["total", ""]
    if measured:
        cells += [_fmt(total["energy_j"]), _fmt(total["avg_watts"], watts=True)]
    cells += [
        _fmt(total["energy_impact_s"]),
        _fmt(total["avg_energy_impact"]),
        _fmt(total["cpu_s"]),
    ]
    if by == "app":
        cells.append("")
    table.add_section()
    table.add_row(*cells, style="bold")
    console.print(table)


EXAMPLES = """\b
Examples:
  lagwatch energy                      the last hour from the daemon's history
  lagwatch energy --since 09:00 --by app
  lagwatch energy --sample --since 30s  measure now, for 30 seconds
  lagwatch energy --name re:^chrom --json

Columns: ENERGY J (joules) and AVG W (watts) where power is measured; EI·s,
energy-impact-seconds (100 EI for 1 s ~ one core busy for 1 s); AVG EI, the average
Energy Impact; CPU s, CPU time in seconds. Numbers: k = thousand, M = million.
"""


@click.command("energy", epilog=EXAMPLES)
@click.option(
    "--since",
    "since_text",
    default=None,
    metavar="DURATION|TIME",
    help=f"Period to add up: this long back from now (30m, 2h) or since this time (14:03, "
    f"an ISO time); default {DEFAULT_HISTORY_SINCE} from history, {DEFAULT_SAMPLE_SINCE} when "
    "sampling.",
)
@click.option(
    "--by",
    type=click.Choice(["process", "app"]),
    default="process",
    show_default=True,
    help="Group helper processes under their app.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@db_option
@click.option(
    "--sample", is_flag=True, help="Ignore history: sample for the period now (one Sampler)."
)
@interval_option("Seconds between readings when sampling.")
@click.option("--limit", "-k", type=LIMIT, default=None, help="Show the K biggest users.")
@filter_options
@click.option(
    "--intervals",
    "show_intervals",
    is_flag=True,
    help="With --json: also every interval's contribution per process (to audit the totals).",
)
@source_option("Force sources when sampling (see `lagwatch sources`).")
def command(
    since_text: str | None, by: str, as_json: bool, db: Path | None, sample: bool,
    interval: float, limit: int | None, flt: ProcessFilter, show_intervals: bool,
    source: str | None,
) -> None:  # fmt: skip
    """Energy used per process over a period: joules and average watts where power is
    measured, energy-impact-seconds everywhere."""
    if show_intervals and not as_json:
        raise CliError("--intervals needs --json")
    if db is not None and sample:
        raise CliError("--db and --sample contradict each other: use one")
    group = cast(By, by)
    period_s = _period(since_text or DEFAULT_HISTORY_SINCE)
    notes: list[str] = []
    mode = "sampled"
    report: dict[str, Any] | None = None

    if not sample:
        db_path = db
        if db_path is None:
            try:
                from lagwatch.store import default_db_path

                db_path = default_db_path()
            except ImportError:
                db_path = None
        if db is not None and not db.exists():
            raise CliError(f"--db: no such history database: {db}")
        if db_path is not None and db_path.exists():
            now = time.time()
            integrator = EnergyIntegrator(
                group, since=now - period_s, until=now, keep_intervals=show_intervals
            )
            integrate_history(db_path, integrator, flt)
            if integrator.rankings or db is not None:
                mode = "history"
                report = integrator.report(limit)
                if not integrator.rankings:
                    notes.append(
                        f"no history recorded in the last {since_text or DEFAULT_HISTORY_SINCE} "
                        f"in {db_path} (is the daemon running?)"
                    )
                elif integrator.covered_s < period_s * 0.9:
                    notes.append(
                        f"history covers {human_duration(integrator.covered_s)} of the "
                        f"{human_duration(period_s)} asked for (the daemon was not running "
                        "all along)"
                    )
            else:
                notes.append(f"no history in the period in {db_path}; sampling now instead")

    if report is None:
        if since_text is None:
            period_s = _period(DEFAULT_SAMPLE_SINCE)
        sampler = _open_sampler(source)
        # Live rankings carry each process's app (lagwatch.apps, macOS's responsible pid
        # included), decided by the Ticker.
        integrator = EnergyIntegrator(group, keep_intervals=show_intervals)
        try:
            if not as_json:
                click.echo(
                    f"lagwatch energy: sampling for {human_duration(period_s)} "
                    "(Ctrl-C reports early)",
                    err=True,
                )
            interrupted, warnings = sample_period(sampler, period_s, interval, integrator, flt)
        except KeyboardInterrupt:  # between the line above and the loop
            interrupted, warnings = True, []
        finally:
            sampler.close()
        notes += warnings
        if interrupted:
            notes.append(f"interrupted after {human_duration(integrator.covered_s)}")
        report = integrator.report(limit)

    report = {"mode": mode, "period_s": period_s, **report, "notes": notes}
    if as_json:
        sys.stdout.write(json.dumps(report, separators=(",", ":")) + "\n")
        return
    for note in notes:
        click.echo(f"lagwatch energy: {note}", err=True)
    _print_table(report, limit or 20)
