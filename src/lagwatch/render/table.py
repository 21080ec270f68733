"""A ranking as a Rich table: every metric in human units, unknown values as '-'.

Columns that no process in the ranking can know (e.g. GPU on a machine without a GPU source)
are left out, so the table fits an 80-column terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from lagwatch.catalogue import MetricSpec, table_metrics
from lagwatch.model import Ranking
from lagwatch.sanitize import for_terminal


def score_style(score: float) -> str:
    if score >= 70:
        return "bold red"
    if score >= 40:
        return "yellow"
    return "green"


def ranking_header(ranking: Ranking, is_root: bool | None = None) -> str:
    parts = [
        f"sources: {', '.join(ranking.sources)}",
        f"{len(ranking.processes)} processes",
        f"interval {ranking.interval_s:.1f}s",
    ]
    restricted = ranking.restricted_count
    if restricted:
        hint = "" if is_root else ", root shows them fully"
        parts.append(f"{restricted} restricted (*){hint}")
    return " | ".join(parts)


# The catalogue's metrics a narrow table shows; the ones no shown process knows are dropped.
METRIC_COLUMNS: tuple[MetricSpec, ...] = table_metrics(wide=False)


def ranking_table(
    ranking: Ranking,
    limit: int | None = 20,
    title: str | None = None,
    metrics: Sequence[MetricSpec] = METRIC_COLUMNS,
) -> Table:
    rows = ranking.processes if limit is None else ranking.processes[:limit]
    columns = [m for m in metrics if any(m.get(r) is not None for r in rows)]
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 0, 0, 1),
        header_style="bold",
        expand=False,
    )
    table.add_column("PID", justify="right", min_width=5, no_wrap=True)
    table.add_column("NAME", no_wrap=True, max_width=15, overflow="ellipsis")
    table.add_column("SCORE", justify="right", min_width=5, no_wrap=True)
    table.add_column("BLAME", no_wrap=True, min_width=7)
    for metric in columns:
        table.add_column(metric.header, justify="right", no_wrap=True)
    for row in rows:
        cells: list[str | Text] = [
            str(row.pid),
            Text(for_terminal(row.name) + ("*" if row.restricted else "")),  # never markup
            Text(f"{row.score:.0f}", style=score_style(row.score)),
            row.dominant or "-",
        ]
        cells.extend(m.format(m.get(row)) for m in columns)
        table.add_row(*cells)
    return table
