"""`lagwatch top`: the live ranking."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from lagwatch.cli.errors import CliError
from lagwatch.cli.options import (
    COUNT,
    filter_options,
    interval_option,
    limit_option,
    open_sampler,
    source_option,
)
from lagwatch.filters import DEFAULT, ProcessFilter
from lagwatch.grouping import BY_CHOICES, By, as_ranking, group_json, group_ranking
from lagwatch.model import Ranking
from lagwatch.ranking import SORT_KEYS
from lagwatch.render.json_lines import RankingEncoder
from lagwatch.render.table import PIPE_WIDTH, legend, output_width
from lagwatch.sanitize import for_terminal
from lagwatch.sources import registry
from lagwatch.sources.base import SourceError
from lagwatch.ticker import Ticker

EXAMPLES = """\b
Examples:
  lagwatch top                         live, every second (Ctrl-C quits)
  lagwatch top --sort memory -k 10     the ten biggest memory users
  lagwatch top --name re:^python -w    python processes, with command lines
  lagwatch top --user alice --tree     alice's processes under their parents
  lagwatch top --json --count 5 | jq   five rankings as JSON Lines
"""


def emit_json(
    ranking: Ranking, limit: int | None, by: By = "process", sort: str = "score",
    flt: ProcessFilter = DEFAULT, encoder: RankingEncoder | None = None,
) -> None:  # fmt: skip
    # What they have always meant: every process seen, whatever the filter shows.
    extra: dict[str, Any] = {
        "process_count": len(ranking.processes),
        "restricted_count": ranking.restricted_count,
    }
    shown = flt.apply(ranking)
    extra.update(group_json(shown, by, limit, sort))
    # The encoder reuses the text of rows that did not change (every process, every second).
    text = (encoder or RankingEncoder()).encode(shown, limit, extra)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@click.command("top", epilog=EXAMPLES + "\n" + legend())
@interval_option()
@click.option("--count", "-n", type=COUNT, default=None, help="Print N rankings, then exit.")
@limit_option()
@click.option(
    "--sort",
    type=click.Choice(sorted(SORT_KEYS)),
    default="score",
    show_default=True,
    help="Order of the rows (score: the stress score; the others: that resource).",
)
@click.option(
    "--by",
    type=click.Choice(BY_CHOICES),
    default="process",
    show_default=True,
    help="Rank processes, apps (an app's processes summed and scored as one) or users.",
)
@click.option("--tree", is_flag=True, help="Table: processes under their parents.")
@click.option("--wide", "-w", is_flag=True,
              help="Table: the user and command line too, and every metric that fits.")  # fmt: skip
@filter_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ranking (JSON Lines).")
@source_option()
def command(
    interval: float, count: int | None, limit: int | None, sort: str, by: By, tree: bool,
    wide: bool, flt: ProcessFilter, as_json: bool, source: str | None,
) -> None:  # fmt: skip
    """Live ranking of the processes stressing this machine, worst first, under a system header
    (CPU per core, memory, swap, load, pressure)."""
    if tree and by != "process":
        raise click.UsageError("--tree shows processes: it does not go with --by " + by)
    sampler = open_sampler(source)
    try:
        if as_json:
            encoder = RankingEncoder()
            for n, ranking in enumerate(sampler.rankings(interval, sort), start=1):
                emit_json(ranking, limit, by, sort, flt, encoder)
                if count is not None and n >= count:
                    break
        else:
            _live(sampler, interval, count, limit, sort, by, flt, tree=tree, wide=wide)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one leaves top: a clean exit
    except SourceError as exc:
        raise CliError(f"sampling stopped: {exc}", exit_code=1) from None
    finally:
        sampler.close()


def _live(
    sampler: Ticker, interval: float, count: int | None, limit: int | None, sort: str,
    by: By = "process", flt: ProcessFilter = DEFAULT, tree: bool = False, wide: bool = False,
) -> None:  # fmt: skip
    from rich.console import Console, Group, RenderableType
    from rich.live import Live
    from rich.text import Text

    from lagwatch.render.header import system_header
    from lagwatch.render.table import ranking_table, tree_items

    console = Console()
    width: int | None = console.width
    if not console.is_terminal:
        # A file or a pipe: COLUMNS if set, else wide; --wide alone there: no limit at all.
        width = None if wide and "COLUMNS" not in os.environ else output_width()
        console = Console(width=width or 100_000)  # never wrap: fitted already
    is_root = registry.is_root()

    def view(ranking: Ranking) -> Group:
        header = system_header(
            ranking, width or PIPE_WIDTH, flt.hidden_kernel_threads(ranking), is_root
        )
        shown = flt.apply(ranking)
        if by != "process":
            groups = group_ranking(shown, by, sort)
            extra = f"  {len(groups)} {by}s"
            if header[-1].cell_len + len(extra) <= (width or PIPE_WIDTH):
                header[-1].append(extra, style="dim")
            else:
                header.append(Text(extra.strip(), style="dim"))
            shown = as_ranking(shown, groups)
        rows = limit
        if rows is None:
            # The terminal's height, less the header, the table's two heading lines, any
            # warnings and the cursor's line; 20 rows into a file or a pipe.
            spare = console.height - len(header) - 3 - len(sampler.dropped)
            rows = max(3, spare) if console.is_terminal else 20
            # A tree adds the parents of the listed processes: list fewer so that it fits.
            while (
                tree
                and rows > 3
                and len(tree_items(shown.processes[:rows], shown.processes)) > spare
            ):
                rows -= 1
        parts: list[RenderableType] = [
            *header,
            ranking_table(shown, rows, width=width, wide=wide, tree=tree),
        ]
        for warning in sampler.dropped:
            parts.append(Text(f"dropped source {for_terminal(warning)}", style="yellow"))
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
