"""`lagwatch top`: the live ranking."""

from __future__ import annotations

import json
import sys

import click

from lagwatch.cli.errors import CliError
from lagwatch.cli.options import interval_option, limit_option, open_sampler, source_option
from lagwatch.model import Ranking
from lagwatch.ranking import SORT_KEYS
from lagwatch.sources import registry
from lagwatch.sources.base import SourceError
from lagwatch.ticker import Ticker


def emit_json(ranking: Ranking, limit: int | None) -> None:
    sys.stdout.write(json.dumps(ranking.to_json(limit), separators=(",", ":")) + "\n")
    sys.stdout.flush()


@click.command("top")
@interval_option()
@click.option(
    "--count", "-n", type=click.IntRange(min=1), default=None, help="Print N rankings, then exit."
)
@limit_option()
@click.option("--sort", type=click.Choice(sorted(SORT_KEYS)), default="score", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ranking (JSON Lines).")
@source_option()
def command(
    interval: float, count: int | None, limit: int | None, sort: str, as_json: bool,
    source: str | None,
) -> None:  # fmt: skip
    """Live ranking of the processes stressing this machine, worst first."""
    sampler = open_sampler(source)
    try:
        if as_json:
            for n, ranking in enumerate(sampler.rankings(interval, sort), start=1):
                emit_json(ranking, limit)
                if count is not None and n >= count:
                    break
        else:
            _live(sampler, interval, count, limit or 20, sort)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one leaves top: a clean exit
    except SourceError as exc:
        raise CliError(f"sampling stopped: {exc}", exit_code=1) from None
    finally:
        sampler.close()


def _live(sampler: Ticker, interval: float, count: int | None, limit: int, sort: str) -> None:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    from lagwatch.render.table import ranking_header, ranking_table

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 160))  # a file or pipe: don't squeeze
    is_root = registry.is_root()

    def view(ranking: Ranking) -> Group:
        parts = [Text(ranking_header(ranking, is_root), style="dim"), ranking_table(ranking, limit)]
        for warning in sampler.dropped:
            parts.append(Text(f"dropped source {warning}", style="yellow"))
        return Group(*parts)

    if not console.is_terminal:
        for n, ranking in enumerate(sampler.rankings(interval, sort), start=1):
            console.print(view(ranking))
            if count is not None and n >= count:
                return
        return
    console.print(Text(f"lagwatch top: first ranking in {interval:g}s (Ctrl-C quits)", style="dim"))
    with Live(console=console, auto_refresh=False, transient=False) as live:
        for n, ranking in enumerate(sampler.rankings(interval, sort), start=1):
            live.update(view(ranking), refresh=True)
            if count is not None and n >= count:
                return
