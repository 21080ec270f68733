"""`lagwatch top`: the live ranking."""

from __future__ import annotations

import sys

import click

from lagwatch import sampler as sampler_mod
from lagwatch.cli import CliError
from lagwatch.cli.options import interval_option, limit_option, source_option
from lagwatch.model import Ranking
from lagwatch.render.json_lines import RankingEncoder
from lagwatch.sampler import SORT_KEYS, Sampler
from lagwatch.sources import registry
from lagwatch.sources.base import SourceError


def parse_source_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        try:
            registry.by_name(name)
        except SourceError as exc:
            raise click.BadParameter(str(exc), param_hint="'--source'") from None
    return names


def open_sampler(source: str | None) -> Sampler:
    """The CLI's way to get a Sampler from a --source value: bad names are usage errors."""
    try:
        sampler, problems = sampler_mod.open_sampler(parse_source_list(source))
    except SourceError as exc:
        raise CliError(str(exc), exit_code=1) from None
    for problem in problems:
        if source:  # forced sources that failed are worth saying; auto-selection is quiet
            click.echo(f"lagwatch: source {problem}", err=True)
    return sampler


def emit_json(ranking: Ranking, limit: int | None, encoder: RankingEncoder | None = None) -> None:
    # The encoder reuses the text of rows that did not change (every process, every second).
    text = (encoder or RankingEncoder()).encode(ranking, limit)
    sys.stdout.write(text + "\n")
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
            encoder = RankingEncoder()
            for n, ranking in enumerate(sampler.rankings(interval, sort), start=1):
                emit_json(ranking, limit, encoder)
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


def _live(sampler: Sampler, interval: float, count: int | None, limit: int, sort: str) -> None:
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
