"""top blocks -> ProcessSamples carrying the rates top measured.

top gives rates itself (%CPU, POWER) over the interval between its samples, and cumulative
counters (IDLEW, PAGEINS, CSW) whose differences between blocks are rates too. Samples carry
only rates and gauges, no cumulative counters, so a consumer that reads the same block twice
(the live source polled faster than top prints) never sees a bogus zero delta.

Which figure becomes which contract key (docs/metrics.md, "Captures (analyze)"):
- cpu_percent = %CPU; energy_impact = POWER (top's own CPU + 500 us per idle wakeup score);
- wakeups_per_s = IDLEW (package-idle wakeups) per second; pageins_per_s = PAGEINS per second;
  ctx_switches_per_s = CSW per second;
- memory_bytes = MEM (physical footprint), threads = #TH total.
The first block of a ``top -l`` run has no rates: they are None there. Neither has a process
top samples for the first time (top's cpu.c and power.c print 0.0 when ``p_seq == 0``): a row
absent from a complete previous block gets no %CPU or POWER.

Delta mode (``top -d``, as in sysdiagnose's top.txt ``top -l9 -d -r``): from the second sample
on, top prints every counter and size as the difference from its previous sample (uinteger.c
``top_uinteger_calc_result``), so MEM, #TH, #PORTS... are not gauges any more: memory_bytes and
threads are None there, never a footprint. Counter columns divided by the interval are rates;
%CPU and POWER are per-interval figures in every mode. A process new in a delta block shows its
whole lifetime count (top's previous value for it is 0): its counter rates are None.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from lagwatch.model import ProcessSample
from lagwatch.parsers.top import (
    COUNTER_COLUMNS,
    SIZE_COLUMNS,
    TopBlock,
    TopRow,
    memory_total_bytes,
)

# top's POWER charges each package-idle wakeup 500 us of CPU time (top-144 power.c), so
# POWER - %CPU = IDLEW per second * 0.05.
POWER_PERCENT_PER_WAKEUP_PER_S = 500e-6 * 100
# top's default delay between samples (-s), the interval of an interactive screen.
DEFAULT_INTERVAL_S = 1.0

# Counter column -> contract rate key.
COUNTER_RATES = (
    ("IDLEW", "wakeups_per_s"),
    ("PAGEINS", "pageins_per_s"),
    ("CSW", "ctx_switches_per_s"),
)


def name_id(name: str | None) -> int:
    """A stand-in for a start time top does not print: a reused pid with another command is
    another process. Stable across runs (unlike hash())."""
    return zlib.crc32((name or "").encode("utf-8", "replace"))


def row_key(row: TopRow) -> tuple[int, str | None]:
    return (row.pid, row.command)


# Columns top prints as differences in delta mode (counters, sizes, counts).
DELTA_COLUMNS = frozenset(
    {c for c, _ in COUNTER_RATES} | COUNTER_COLUMNS | SIZE_COLUMNS
    | {"#TH", "#WQ", "#PORTS", "#MREGS", "#MREG"}
)  # fmt: skip


def _numbers(value: Any) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,)
    if isinstance(value, tuple):  # "#TH" (total, running)
        return tuple(v for v in value if isinstance(v, int))
    return ()


def counters_are_deltas(prev: TopBlock, cur: TopBlock) -> bool:
    """True when top ran in delta mode (-c d). Proof, any of: a negative count or size (only
    differences can be: uinteger.c prints them with a minus); a cumulative counter that fell
    for the same process, or that top marks '-'. (The first delta block shows lifetime counts
    and the next one differences, so the second block of a ``-d`` run always has falls.)"""
    columns = [c for c in cur.columns if c in DELTA_COLUMNS]
    if not columns:
        return False
    counters = [c for c in columns if c in COUNTER_COLUMNS]
    for row in cur.rows:
        if any(n < 0 for c in columns for n in _numbers(row.get(c))):
            return True
        if any(row.marks.get(c) == "-" for c in counters):
            return True
    before = {row_key(r): r for r in prev.rows}
    for row in cur.rows:
        old = before.get(row_key(row))
        if old is None:
            continue
        for col in counters:
            a, b = old.get(col), row.get(col)
            if isinstance(a, int) and isinstance(b, int) and b < a:
                return True
    return False


def is_complete(block: TopBlock) -> bool:
    """The block lists every process top sampled (no -n limit, not cut)."""
    total = block.system.get("processes_total")
    return isinstance(total, int) and total > 0 and len(block.rows) >= total


def single_block_is_delta(block: TopBlock) -> bool:
    """An interactive screen has no previous block to compare with; with -d, POWER equals
    %CPU + IDLEW * 0.05 at top's default 1 s (the Firefox docs capture), which cumulative
    IDLEW counts would not fit."""
    if not {"%CPU", "POWER", "IDLEW"} <= set(block.columns):
        return False
    checked = fits = 0
    for row in block.rows:
        cpu, power, idlew = row.cpu_percent, row.power, row.get("IDLEW")
        if cpu is None or power is None or not isinstance(idlew, int) or idlew == 0:
            continue
        checked += 1
        predicted = cpu + idlew * POWER_PERCENT_PER_WAKEUP_PER_S
        if abs(predicted - power) <= 0.15 + 0.03 * power:
            fits += 1
    return checked > 0 and fits * 5 >= checked * 4


def cpu_time_interval_s(prev: TopBlock, cur: TopBlock) -> float | None:
    """The interval as top measured it: CPU time gained over %CPU shown, summed over every
    process (TIME and %CPU come from the same two readings). Better than the date lines, which
    have one-second resolution. None when too little ran to tell."""
    if not {"TIME", "%CPU"} <= set(cur.columns) or "TIME" not in prev.columns:
        return None
    before = {row_key(r): r for r in prev.rows}
    gained_ns = 0
    percent = 0.0
    for row in cur.rows:
        old = before.get(row_key(row))
        if old is None or old.time_ns is None or row.time_ns is None or row.cpu_percent is None:
            continue
        if row.time_ns < old.time_ns:
            return None
        gained_ns += row.time_ns - old.time_ns
        percent += row.cpu_percent
    if percent < 10.0 or gained_ns < 100_000_000:
        return None
    return gained_ns / 1e9 / (percent / 100.0)


def block_interval_s(prev: TopBlock, cur: TopBlock) -> float | None:
    by_dates = None
    if prev.date is not None and cur.date is not None:
        seconds = (cur.date - prev.date).total_seconds()
        by_dates = seconds if seconds > 0 else None
    by_cpu = cpu_time_interval_s(prev, cur)
    if by_cpu is not None and (by_dates is None or abs(by_cpu - by_dates) <= 1.5):
        return by_cpu
    return by_dates


@dataclass(slots=True)
class TopConversion:
    samples: list[ProcessSample]
    system: dict[str, Any]
    interval_s: float | None  # over which the rates were measured; None for a first block
    rates_known: bool
    delta_mode: bool
    warnings: list[str] = field(default_factory=list)


class TopConverter:
    """Feed blocks in order; each conversion uses the previous block for counter rates."""

    def __init__(self) -> None:
        self.prev: TopBlock | None = None
        self.delta_mode = False  # once seen, for good: top keeps its mode for a whole run

    def convert(self, block: TopBlock, interval_s: float | None = None) -> TopConversion:
        """``interval_s``: the time since the previous block as the caller measured it (the
        live source does); None estimates it from the blocks."""
        prev, self.prev = self.prev, block
        warnings: list[str] = []
        rates_known = not block.first
        gauges_are_deltas = False
        if prev is not None:
            if interval_s is None:
                interval_s = block_interval_s(prev, block)
            if not self.delta_mode and counters_are_deltas(prev, block):
                self.delta_mode = True
            gauges_are_deltas = self.delta_mode
            if gauges_are_deltas:
                warnings.append(
                    "top -d (delta mode): MEM, #TH and the other counts are differences from "
                    "the previous sample here: memory and threads are null"
                )
        elif rates_known and single_block_is_delta(block):
            self.delta_mode = True
            interval_s = DEFAULT_INTERVAL_S
            warnings.append("IDLEW read as per-second deltas (top -d at its default 1 s)")
        if not rates_known:
            interval_s = None
        before = {row_key(r): r for r in prev.rows} if prev is not None else {}
        # A row missing from a complete previous block is a process top samples for the first
        # time: top printed 0.0 %CPU and POWER for it, which measure nothing.
        new_known = prev is not None and is_complete(prev)
        samples = []
        for row in block.rows:
            old = before.get(row_key(row))
            sample = self._sample(row, old, block, interval_s, self.delta_mode,
                                  first_seen=new_known and old is None,
                                  no_previous=prev is None)  # fmt: skip
            if gauges_are_deltas:
                sample.memory_bytes = sample.threads = None
            samples.append(sample)
        system = dict(block.system)
        if (total := memory_total_bytes(block.system)) is not None:
            system["memory_total_bytes"] = total
        return TopConversion(samples, system, interval_s, rates_known, self.delta_mode, warnings)

    @staticmethod
    def _sample(
        row: TopRow,
        old: TopRow | None,
        block: TopBlock,
        interval_s: float | None,
        delta_mode: bool,
        first_seen: bool = False,
        no_previous: bool = False,
    ) -> ProcessSample:
        rates: dict[str, float | None] = {}
        if not block.first:
            if "%CPU" in block.columns and not first_seen:
                rates["cpu_percent"] = row.cpu_percent
            if "POWER" in block.columns and row.power is not None and not first_seen:
                rates["energy_impact"] = row.power
            for column, key in COUNTER_RATES:
                if column not in block.columns:
                    continue
                value = row.get(column)
                rate = None
                if isinstance(value, int) and interval_s:
                    if delta_mode:
                        # A process new since top's last sample shows its lifetime count.
                        if old is not None or no_previous:
                            rate = value / interval_s if value >= 0 else None
                    elif old is not None and isinstance(prev := old.get(column), int):
                        rate = (value - prev) / interval_s if value >= prev else None
                rates[key] = rate
        user = row.get("USER")
        uid = row.get("UID")
        ppid = row.get("PPID")
        return ProcessSample(
            pid=row.pid,
            start_id=name_id(row.command),
            name=row.command or "?",
            ppid=ppid if isinstance(ppid, int) else None,
            uid=uid if isinstance(uid, int) else None,
            user=user if isinstance(user, str) else None,
            state=row.state.strip() if isinstance(row.state, str) else None,
            memory_bytes=row.memory_bytes,
            threads=row.threads,
            rates={k: v for k, v in rates.items() if v is not None} or None,
        )
