"""Benchmark: CPU per refresh of the TUI's ranking, against Textual's DataTable in the same run.

Both tables get the same rows (N processes, all 19 columns, the top 100 shown as the TUI does)
in an 80x24 headless app; a refresh is replacing every row and drawing the screen. The
reference is Textual's DataTable filled the usual way (clear, then add_row of Rich Text cells);
the target is lagwatch's RankingTable.

Run: `.venv/bin/python bench/tui.py [--procs 1000] [--reps 20]`.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from lagwatch.model import ProcessRow, Ranking
from lagwatch.tui import view
from lagwatch.tui.table import RankingTable, TableColumn


def ranking(n: int, k: int) -> Ranking:
    rows = [
        ProcessRow(pid=pid, ppid=1, name=f"proc{pid}", user="alice", state="running",
                   restricted=False, memory_bytes=pid << 20, threads=4,
                   cpu_percent=(pid * k) % 100 / 1.0, disk_read_bytes_per_s=1000.0 * k,
                   disk_write_bytes_per_s=0.0, pageins_per_s=0.0, wakeups_per_s=10.0,
                   ctx_switches_per_s=20.0, score=float((pid * k) % 100), dominant="cpu",
                   start_id=pid)
        for pid in range(1, n + 1)
    ]  # fmt: skip
    return Ranking(time=1e9 + k, interval_s=1.0, platform="linux", sources=["x"], processes=rows)


def cells(r: Ranking) -> list[list[tuple[str, str]]]:
    rows = view.visible_rows(r, "score", "")
    return [[(c.cell(row), "") for c in view.COLUMNS] for row in rows]


class Reference(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in view.COLUMNS:
            table.add_column(col.header, width=col.width, key=col.key)

    def fill(self, rows: list[list[tuple[str, str]]]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for n, row in enumerate(rows):
            table.add_row(*(Text(text) for text, _ in row), key=str(n))


class Target(App[None]):
    def compose(self) -> ComposeResult:
        yield RankingTable([TableColumn(c.header, c.width, c.right) for c in view.COLUMNS])

    def fill(self, rows: list[list[tuple[str, str]]]) -> None:
        self.query_one(RankingTable).set_rows(rows)


async def measure(app_class: type, frames: list, reps: int) -> list[float]:
    app = app_class()
    out = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for i in range(reps):
            t0 = time.process_time()
            app.fill(frames[i % len(frames)])
            await pilot.pause()  # layout and draw
            out.append(time.process_time() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}")  # fmt: skip
    frames = [cells(ranking(args.procs, k)) for k in range(1, 6)]
    results: dict[str, list[float]] = {"reference": [], "target": []}
    for _ in range(3):  # alternate, so a change in machine load hits both
        results["reference"] += asyncio.run(measure(Reference, frames, args.reps))
        results["target"] += asyncio.run(measure(Target, frames, args.reps))
    ref = statistics.median(results["reference"]) * 1000
    tgt = statistics.median(results["target"]) * 1000
    print(f"refresh of {len(frames[0])} rows x {len(view.COLUMNS)} columns (CPU, median):")
    print(f"   reference Textual DataTable   {ref:7.1f} ms  1.00")
    print(f"   lagwatch RankingTable         {tgt:7.1f} ms  {tgt / ref:.2f}")


if __name__ == "__main__":
    main()
