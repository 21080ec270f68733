"""A ranking as a Rich table: every metric in human units, unknown values as '-'."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from lagwatch.model import ProcessRow, Ranking
from lagwatch.units import human_bytes, human_number, human_rate


def _score_style(score: float) -> str:
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
        hint = "" if is_root else " (run as root to see them fully)"
        parts.append(f"{restricted} restricted{hint}")
    return " | ".join(parts)


def ranking_table(ranking: Ranking, limit: int | None = 20, title: str | None = None) -> Table:
    table = Table(title=title, expand=False, pad_edge=False, header_style="bold")
    table.add_column("PID", justify="right")
    table.add_column("NAME", no_wrap=True, max_width=20)
    table.add_column("SCORE", justify="right")
    table.add_column("BLAME")
    table.add_column("CPU%", justify="right")
    table.add_column("MEM", justify="right")
    table.add_column("DISK R", justify="right")
    table.add_column("DISK W", justify="right")
    table.add_column("PGIN/s", justify="right")
    table.add_column("WAKE/s", justify="right")
    table.add_column("GPU%", justify="right")
    table.add_column("NET", justify="right")
    table.add_column("EI", justify="right")
    table.add_column("W", justify="right")
    rows = ranking.processes if limit is None else ranking.processes[:limit]
    for row in rows:
        table.add_row(*row_cells(row))
    return table


def row_cells(row: ProcessRow) -> list[str | Text]:
    name = row.name + (" *" if row.restricted else "")
    return [
        str(row.pid),
        name,
        Text(f"{row.score:.0f}", style=_score_style(row.score)),
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
