"""`lagwatch events`: recorded pauses and rogue episodes."""

from __future__ import annotations

import json
import textwrap
import time
from datetime import datetime
from pathlib import Path

import click

from lagwatch.cli.store_args import db_option, open_history, time_param
from lagwatch.events import Event
from lagwatch.render.table import output_width
from lagwatch.sanitize import for_terminal
from lagwatch.units import human_duration

EXAMPLES = """\b
Examples:
  lagwatch events                 every recorded event
  lagwatch events --since 2h      the last two hours
  lagwatch why 12                 the story of event 12
  lagwatch events --json | jq 'select(.kind == "pause")'
"""


def event_lines(events: list[Event], now: float, width: int) -> list[str]:
    """The table: ID, KIND, START (month-day and time), AGO, then WHAT, wrapped under its own
    column so that no line is wider than ``width`` (and no word is cut)."""
    kind_w = max([4, *(len(e.kind) for e in events)])
    id_w = max([2, *(len(str(e.id)) for e in events)])
    lead = f"{'ID':>{id_w}} {'KIND':<{kind_w}} {'START':<14} {'AGO':>6} "
    room = max(20, width - len(lead))
    lines = [lead + "WHAT"]
    for e in events:
        start = datetime.fromtimestamp(e.start).strftime("%m-%d %H:%M:%S")
        ago = human_duration(now - e.start)
        head = f"{e.id:>{id_w}} {e.kind:<{kind_w}} {start:<14} {ago:>6} "
        what = textwrap.wrap(for_terminal(e.describe()), room, break_on_hyphens=False) or [""]
        lines.append(head + what[0])
        lines += [" " * len(lead) + more for more in what[1:]]
    return lines


@click.command("events", epilog=EXAMPLES)
@db_option
@click.option("--since", default=None, metavar="DURATION|TIME", callback=time_param,
              help="Only events from then on (e.g. 1h, 2d, or a date and time).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def command(db: Path | None, since: float | None, as_json: bool) -> None:
    """Pauses, rogue episodes and pressure events recorded by the daemon, oldest first."""
    with open_history(db) as history:
        events = history.events(since)
    if as_json:
        for event in events:
            click.echo(json.dumps(event.to_json(), separators=(",", ":")))
        return
    if not events:
        click.echo("no events recorded" + (" in that period" if since is not None else ""))
        return
    for line in event_lines(events, time.time(), output_width()):
        click.echo(line)
    click.echo("(lagwatch why ID tells the story of one)")
