"""The sampler: reads every source into one Snapshot (merging what each source knows), and
falls back to another process source when its own fails.

Only I/O lives here; turning two Snapshots into a Ranking is ``lagwatch.ranking``'s, and
``lagwatch.ticker`` pairs the two for live use.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from lagwatch import platform_seam
from lagwatch.model import Snapshot, copy_sample, merge_patch
from lagwatch.sources.base import Source, SourceError, SourceReading


def platform_name() -> str:
    """The snapshot's platform label, as lagwatch.platform_seam decides it."""
    return platform_seam.platform_name()


class Sampler:
    """Runs the selected sources together. The first process source is the primary; the others
    patch in what it lacks. A source that fails is reported and dropped; the others go on."""

    def __init__(
        self,
        sources: list[Source],
        platform: str | None = None,
        fallback: Callable[[set[str]], Source | None] | None = None,
    ) -> None:
        if not sources:
            raise SourceError("no sources to sample")
        self.sources = list(sources)
        self.platform = platform or platform_name()
        self.dropped: list[str] = []  # "name: why" of sources dropped at run time
        # Bumped whenever the set of sources changes: readings of different epochs must not be
        # diffed (a new primary counts in other units).
        self.epoch = 0
        # Starts the next best process source (excluding the names given) when the primary
        # fails at run time; see registry.start_fallback.
        self.fallback = fallback

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self.sources]

    def read(self) -> Snapshot:
        warnings: list[str] = []
        for _attempt in range(4):
            snapshot = self._read_once(warnings)
            if snapshot is not None:
                return snapshot
            replacement = None
            if self.fallback is not None:
                failed = {entry.split(":", 1)[0] for entry in self.dropped}
                replacement = self.fallback(failed)
            if replacement is None:
                break
            warnings.append(f"now reading processes with {replacement.name}")
            self.sources.insert(0, replacement)
            self.epoch += 1
        raise SourceError("; ".join(self.dropped) or "no process source produced data")

    def _read_once(self, warnings: list[str]) -> Snapshot | None:
        """One reading of every source; None when no process source produced data."""
        readings: list[tuple[Source, SourceReading]] = []
        # Processes are read one after another during the sweep: the middle of the sweep is
        # the best single time for all of them (off by at most half a sweep either way).
        started_ns, started_wall = time.monotonic_ns(), time.time()
        for source in list(self.sources):
            try:
                readings.append((source, source.read()))
            except (SourceError, OSError) as exc:
                self._drop(source, str(exc))
                warnings.append(f"source {source.name} failed and was dropped: {exc}")
        primary = next(((s, r) for s, r in readings if r.processes is not None), None)
        if primary is None:
            return None
        processes = {p.identity: p for p in primary[1].processes or []}
        by_pid = {p.pid: p for p in processes.values()}
        system: dict = {}
        used = [primary[0].name]
        # The primary first, then the others best first: the first to know a metric owns it.
        for source, reading in [primary, *(x for x in readings if x is not primary)]:
            warnings.extend(reading.warnings)
            for key, value in reading.system.items():
                system.setdefault(key, value)
            if source is primary[0] or reading.processes is not None:
                continue  # a second process source only stands by as a fallback
            for pid, patch in reading.patches.items():
                if (sample := by_pid.get(pid)) is not None:
                    # Patched on a copy: the source may return this sample object again.
                    patched = copy_sample(sample)
                    if merge_patch(patched, patch):
                        by_pid[pid] = processes[sample.identity] = patched
            used.append(source.name)
        ended_ns, ended_wall = time.monotonic_ns(), time.time()
        return Snapshot(
            time=(started_wall + ended_wall) / 2,
            monotonic_ns=(started_ns + ended_ns) // 2,
            platform=self.platform,
            sources=used,
            processes=processes,
            system=system,
            warnings=warnings,
        )

    def _drop(self, source: Source, why: str) -> None:
        self.sources.remove(source)
        self.dropped.append(f"{source.name}: {why}")
        with contextlib.suppress(Exception):
            source.close()
        self.epoch += 1

    def close(self) -> None:
        for source in self.sources:
            source.close()


def open_sampler(names: list[str] | None = None) -> tuple[Sampler, list[str]]:
    """A Sampler over the given sources (forced) or the best usable ones here, which falls back
    to the next process source if its own fails at run time. Returns it and the reasons any
    source could not start. Raises SourceError when no process source starts."""
    from lagwatch.sources import registry  # here: registry imports every source module

    sources, problems = registry.select(names)
    fallback = None if names else registry.start_fallback
    return Sampler(sources, fallback=fallback), problems
