"""A ranking as a Rich table: every metric in human units, unknown values as '-'.

Columns that no process in the ranking can know (e.g. GPU on a machine without a GPU source)
are left out, so the table fits an 80-column terminal.
"""

from __future__ import annotations

from collections.abc import Callable

from rich import box
from rich.table import Table
from rich.text import Text

from lagwatch.model import ProcessRow, Ranking
from lagwatch.units import human_number, short_bytes


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


def _rate(value: float | None) -> str:
    return "-" if value is None else short_bytes(value)


# (header, value getter, formatter); metric columns are dropped when all values are None.
METRIC_COLUMNS: list[tuple[str, Callable[[ProcessRow], float | None], Callable]] = [
    ("CPU%", lambda r: r.cpu_percent, human_number),
    ("MEM", lambda r: r.memory_bytes, short_bytes),
    ("RD/s", lambda r: r.disk_read_bytes_per_s, _rate),
    ("WR/s", lambda r: r.disk_write_bytes_per_s, _rate),
    ("PGIN", lambda r: r.pageins_per_s, human_number),
    ("WAKE", lambda r: r.wakeups_per_s, lambda v: human_number(v, 0)),
    ("GPU%", lambda r: r.gpu_percent, human_number),
    ("NET/s", lambda r: r.net_bytes_per_s, _rate),
    ("EI", lambda r: r.energy_impact, human_number),
    ("WATT", lambda r: r.power_watts, lambda v: "-" if v is None else f"{v:.2f}"),
]


def ranking_table(ranking: Ranking, limit: int | None = 20, title: str | None = None) -> Table:
    rows = ranking.processes if limit is None else ranking.processes[:limit]
    columns = [c for c in METRIC_COLUMNS if any(c[1](r) is not None for r in rows)]
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
    for header, _, _ in columns:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        cells: list[str | Text] = [
            str(row.pid),
            row.name + ("*" if row.restricted else ""),
            Text(f"{row.score:.0f}", style=score_style(row.score)),
            row.dominant or "-",
        ]
        cells.extend(fmt(get(row)) for _, get, fmt in columns)
        table.add_row(*cells)
    return table
