"""The last minutes of rankings in memory, so a pause can be explained by what came before it.

Only the processes that could matter are kept per tick (the top by score and any above a
threshold), so the buffer stays a few MB however many processes run. The recording daemon's
own processes (itself and the tools it runs) are never kept: a pause is the daemon failing to
run, so it cannot be the daemon's doing, and its sweep shows up as its own CPU every tick.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from lagwatch.model import Identity, ProcessRow, Ranking


def process_tree(rows: Iterable[ProcessRow], root_pid: int) -> set[Identity]:
    """The process ``root_pid`` and all its descendants among ``rows`` (by parent pid)."""
    children: dict[int, list[ProcessRow]] = {}
    found: set[Identity] = set()
    for row in rows:
        if row.pid == root_pid:
            found.add(row.identity)
        elif row.ppid is not None:
            children.setdefault(row.ppid, []).append(row)
    todo = [root_pid]
    seen = {root_pid}
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child.identity)
            if child.pid not in seen:  # a damaged table (a ppid cycle) must not loop
                seen.add(child.pid)
                todo.append(child.pid)
    return found


@dataclass(frozen=True, slots=True)
class RingEntry:
    time: float  # end of the tick's interval (unix seconds)
    interval_s: float
    rows: tuple[ProcessRow, ...]


class RingBuffer:
    def __init__(
        self, seconds: float = 300.0, interval_s: float = 1.0, top_k: int = 20,
        threshold: float = 25.0, max_rows: int = 40, max_entries: int = 1200,
        exclude_tree_of: int | None = None,
    ) -> None:  # fmt: skip
        self.seconds = seconds
        # A pid whose process tree is left out (the daemon's own pid).
        self.exclude_tree_of = exclude_tree_of
        self.top_k = top_k
        self.threshold = threshold
        self.max_rows = max_rows
        # Bounded in entries too, so a very short interval cannot grow it past a few MB.
        entries = min(max_entries, max(2, int(seconds / interval_s) + 2))
        self._entries: deque[RingEntry] = deque(maxlen=entries)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, ranking: Ranking) -> RingEntry:
        processes: Iterable[ProcessRow] = ranking.processes
        if self.exclude_tree_of is not None:
            own = process_tree(ranking.processes, self.exclude_tree_of)
            if own:
                processes = [r for r in ranking.processes if r.identity not in own]
        # nlargest, not a full sort: a tick holds every process, the buffer only the worst.
        rows = heapq.nlargest(self.max_rows, processes, key=lambda r: (r.score, -r.pid))
        kept = [r for n, r in enumerate(rows) if n < self.top_k or r.score >= self.threshold]
        entry = RingEntry(ranking.time, ranking.interval_s, tuple(kept[: self.max_rows]))
        self._entries.append(entry)
        while self._entries and self._entries[0].time < entry.time - self.seconds:
            self._entries.popleft()
        return entry

    def window(self, start: float, end: float) -> list[RingEntry]:
        """Entries whose time falls in [start, end]."""
        return [e for e in self._entries if start <= e.time <= end]
