"""`lagwatch events`: recorded pauses and rogue episodes."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import click

from lagwatch.cli.store_args import db_option, open_history, time_param
from lagwatch.sanitize import for_terminal
from lagwatch.units import human_duration


@click.command("events")
@db_option
@click.option("--since", default=None, metavar="DURATION|TIME", callback=time_param,
              help="Only events from then on (e.g. 1h, 2d, or a date and time).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def command(db: Path | None, since: float | None, as_json: bool) -> None:
    """Pauses and rogue episodes recorded by the daemon, oldest first."""
    with open_history(db) as history:
        events = history.events(since)
    if as_json:
        for event in events:
            click.echo(json.dumps(event.to_json(), separators=(",", ":")))
        return
    if not events:
        click.echo("no events recorded" + (" in that period" if since is not None else ""))
        return
    now = time.time()
    click.echo(f"{'ID':>5}  {'KIND':<6} {'START':<19} {'AGO':>6}  WHAT")
    for e in events:
        start = datetime.fromtimestamp(e.start).strftime("%Y-%m-%d %H:%M:%S")
        ago = human_duration(now - e.start)
        click.echo(f"{e.id:>5}  {e.kind:<6} {start:<19} {ago:>6}  {for_terminal(e.describe())}")
    click.echo("(lagwatch why ID tells the story of one)")
