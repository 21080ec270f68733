"""The system header above a ranking (`top`, and the TUI): CPU per core as compact bars, memory
and swap (or the macOS compressor), load averages, pressure (PSI) where the kernel gives it,
and how many processes there are and how many are restricted.

It reads only ``Ranking.system`` (lagwatch.sources.system_linux names the keys; `top`'s
parser gives the same load and memory keys for macOS captures) and the ranking's rows; a
figure the sources do not give is left out, never shown as zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text

from lagwatch.model import Ranking
from lagwatch.render.table import RESTRICTED_MARK
from lagwatch.units import format_bytes

BLOCKS = " ▁▂▃▄▅▆▇█"  # one cell per core when the cores are many
EIGHTHS = " ▏▎▍▌▋▊▉█"  # a horizontal bar, in eighths of a cell
_BAR_CELLS = (10, 4)  # a core's horizontal bar: at most, at least (else one block per core)


def level_style(percent: float) -> str:
    if percent >= 90:
        return "red"
    if percent >= 60:
        return "yellow"
    return "green"


def _hbar(percent: float, cells: int) -> str:
    eighths = round(max(0.0, min(100.0, percent)) / 100 * cells * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(cells)


def cpu_lines(system: dict[str, Any], width: int) -> list[Text]:
    """``CPU 45% [core bars]``: a small bar per core where they fit, else one block per core
    (wrapped over as many lines as the cores need)."""
    cores = system.get("cpu_busy_percent_per_core")
    total = system.get("cpu_busy_percent")
    if not isinstance(cores, list) or not cores:
        if total is None:
            return []
        return [Text.assemble("CPU ", (f"{total:.0f}%", level_style(total)))]
    head = f"CPU {total:3.0f}% " if total is not None else "CPU "
    room = max(1, width - len(head))
    per_core = min(_BAR_CELLS[0], room // len(cores) - 1)
    lines: list[Text] = []
    if per_core >= _BAR_CELLS[1]:
        line = Text(head)
        for n, p in enumerate(cores):
            line.append(_hbar(p, per_core), style=level_style(p))
            line.append("▏" if n < len(cores) - 1 else "")
        return [line]
    # Many cores: one block each, as many lines as needed, aligned under the first.
    for start in range(0, len(cores), room):
        line = Text(head if start == 0 else " " * len(head))
        for p in cores[start : start + room]:
            line.append(BLOCKS[min(8, round(max(0.0, p) / 100 * 8))], style=level_style(p))
        lines.append(line)
    return lines


def _memory(system: dict[str, Any]) -> list[Text]:
    parts: list[Text] = []
    total = system.get("memory_total_bytes")
    used = system.get("memory_used_bytes", system.get("physmem_used_bytes"))
    if used is not None:
        text = f"MEM {format_bytes(used)}"
        if total:
            percent = 100.0 * used / total
            parts.append(Text.assemble(text, f"/{format_bytes(total)} ",
                                       (f"{percent:.0f}%", level_style(percent))))  # fmt: skip
        else:
            parts.append(Text(text + " used"))
    compressor = system.get("physmem_compressor_bytes")
    if compressor is not None:  # macOS: compressed pages instead of (before) swapping
        parts.append(Text(f"compressor {format_bytes(compressor)}"))
    swap_total = system.get("swap_total_bytes")
    swap_used = system.get("swap_used_bytes")
    if swap_total is not None and swap_used is not None:
        if swap_total == 0:
            parts.append(Text("SWAP none"))
        else:
            percent = 100.0 * swap_used / swap_total
            text = f"SWAP {format_bytes(swap_used)}/{format_bytes(swap_total)} "
            parts.append(Text.assemble(text, (f"{percent:.0f}%", level_style(percent))))
    return parts


def _load(system: dict[str, Any]) -> list[Text]:
    values = [system.get(f"load_avg_{m}m") for m in (1, 5, 15)]
    loads = [float(v) for v in values if isinstance(v, int | float)]
    if len(loads) != 3:
        return []
    cores = system.get("cpu_count")
    style = level_style(100.0 * loads[0] / cores) if cores else ""
    one, five, fifteen = (_load_text(v) for v in loads)
    return [Text.assemble("LOAD ", (one, style), f" {five} {fifteen}")]


def _load_text(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _pressure(system: dict[str, Any]) -> list[Text]:
    """PSI: the share of the last interval some task was stalled on each resource."""
    pressure = system.get("pressure")
    if not isinstance(pressure, dict) or not pressure:
        return []
    out = Text("PSI")
    shown = False
    for resource, short in (("cpu", "cpu"), ("memory", "mem"), ("io", "io")):
        figures = pressure.get(resource)
        if not isinstance(figures, dict):
            continue
        some = figures.get("some_percent")
        if some is None:
            some = figures.get("some_avg10_percent")
        if not isinstance(some, int | float):
            continue
        out.append(f" {short} ")
        out.append(f"{some:.0f}%", style=level_style(some * 2))  # 50 % stalled is severe
        shown = True
    return [out] if shown else []


def join_parts(parts: Sequence[Text], width: int, sep: str = "  ") -> list[Text]:
    """Parts separated by ``sep``, on as few lines as fit ``width``: a line breaks between
    parts, never inside one."""
    lines: list[Text] = []
    line = Text()
    for part in parts:
        if part.cell_len > width:  # one part wider than the terminal: cut, never wrapped
            part = part.copy()
            part.truncate(width, overflow="ellipsis")
        if line.cell_len and line.cell_len + len(sep) + part.cell_len > width:
            lines.append(line)
            line = Text()
        if line.cell_len:
            line.append(sep)
        line.append_text(part)
    if line.cell_len:
        lines.append(line)
    return lines


def process_parts(ranking: Ranking, hidden_kernel: int = 0, is_root: bool | None = None
                  ) -> list[Text]:  # fmt: skip
    """How many processes, restricted ones and hidden kernel threads; sources, interval."""
    parts = [f"{len(ranking.processes)} processes"]
    restricted = ranking.restricted_count
    if restricted:
        hint = "" if is_root else " (root sees them)"
        parts.append(f"{restricted} restricted {RESTRICTED_MARK}{hint}")
    if hidden_kernel:
        parts.append(f"{hidden_kernel} kernel threads hidden (--kernel)")
    parts.append(f"{', '.join(ranking.sources)} every {ranking.interval_s:.1f}s")
    return [Text(part, style="dim") for part in parts]


def system_header(
    ranking: Ranking, width: int = 80, hidden_kernel: int = 0, is_root: bool | None = None
) -> list[Text]:
    """The header's lines, each at most ``width`` cells."""
    system = ranking.system
    lines = cpu_lines(system, width)
    lines += join_parts([*_memory(system), *_load(system), *_pressure(system)], width)
    lines += join_parts(process_parts(ranking, hidden_kernel, is_root), width)
    return lines


def machine_lines(system: dict[str, Any], width: int = 80) -> list[Text]:
    """The header's lines about the machine only (CPU, memory and swap, load, pressure): the
    TUI shows the process counts in its own status line, recorded-of-seen in replay."""
    facts = [*_memory(system), *_load(system), *_pressure(system)]
    return cpu_lines(system, width) + join_parts(facts, width)
