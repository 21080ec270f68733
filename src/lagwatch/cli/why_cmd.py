"""`lagwatch why`: the story of one event."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lagwatch.cli.errors import CliError
from lagwatch.cli.options import Count
from lagwatch.cli.store_args import db_option, open_history
from lagwatch.render.story import build_story, render_story
from lagwatch.sanitize import tree_for_terminal

EXAMPLES = """\b
Examples:
  lagwatch why            the latest event
  lagwatch why 12         event 12 (numbers from `lagwatch events`)
  lagwatch why 12 --json  the event and its timeline as JSON

Timeline columns: SCORE (0-100) and BLAME as in `lagwatch top`; CPU% (of one core), MEM,
DISK R/W per second, PGIN/s (page-ins), WAKE/s (wakeups). Sizes are 1024-based: K = KiB,
M = MiB, G = GiB.
"""


@click.command("why", epilog=EXAMPLES)
@click.argument(
    "event_id", type=Count(1, 2**62, "an event number (see `lagwatch events`)"), required=False
)
@db_option
@click.option("--json", "as_json", is_flag=True, help="The event and its timeline as JSON.")
def command(event_id: int | None, db: Path | None, as_json: bool) -> None:
    """Tell the story of an event (the latest if no EVENT_ID): the suspects' metrics before,
    during and after it."""
    with open_history(db) as history:
        event = history.event(event_id)
        if event is None:
            if event_id is None:
                raise CliError(f"no events recorded yet in {history.path}", exit_code=1)
            raise CliError(f"no event #{event_id} in {history.path} (see lagwatch events)", 1)
        story = build_story(event, history)
    if as_json:
        click.echo(json.dumps(story.to_json(), indent=2))
    else:
        click.echo(render_story(tree_for_terminal(story)))  # names as escaped text
