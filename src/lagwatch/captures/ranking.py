"""One ranking per captured sample: the shared shape of `lagwatch analyze`'s output.

``rank_samples`` puts a sample's ProcessSamples in a Snapshot and lets
``ranking.compute_ranking`` score, attribute energy and sort it, exactly as for live readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lagwatch.model import ProcessSample, Ranking, Snapshot
from lagwatch.ranking import compute_ranking

PLATFORM = "macos"  # every supported capture comes from a Mac


def decode(data: bytes) -> str:
    """Capture bytes as text: UTF-8, damaged bytes replaced, a leading BOM dropped."""
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


@dataclass(slots=True)
class CaptureRanking:
    """One sample's ranking and where it came from."""

    ranking: Ranking
    format: str
    sample: int  # 1-based
    line: int  # where the sample starts in the file
    kind: str
    time_known: bool
    interval_known: bool
    time_text: str | None = None
    system: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self, file: str, limit: int | None = None) -> dict[str, Any]:
        """``lagwatch top``'s JSON object plus a ``capture`` key (keys are only ever added);
        time and interval are null where the capture does not say them."""
        out = self.ranking.to_json(limit)
        if not self.time_known:
            out["time"] = None
        if not self.interval_known:
            out["interval_s"] = None
        out["capture"] = {
            "file": file,
            "format": self.format,
            "sample": self.sample,
            "line": self.line,
            "kind": self.kind,
            "time_text": self.time_text,
            "system": self.system,
            "warnings": list(self.warnings),
        }
        return out


@dataclass(slots=True)
class Analysis:
    format: str
    rankings: list[CaptureRanking]
    warnings: list[str]  # damage stepped over, with line numbers


def timestamp(when: datetime | None) -> float | None:
    if when is None:
        return None
    try:
        return when.timestamp()  # naive: the analysing machine's local time zone
    except (OverflowError, OSError, ValueError):
        return None


def rank_samples(
    samples: list[ProcessSample],
    system: dict[str, Any],
    source: str,
    when: float | None,
    interval_s: float | None,
    prev: Snapshot | None,
    sort: str,
) -> tuple[Ranking, Snapshot]:
    """Rank one sample. ``prev`` (the previous sample's snapshot) is used only when the interval
    between the two is known, for figures derived across samples (memory growth)."""
    if interval_s is not None and not (0 < interval_s < 1e9):  # nonsense from a damaged file
        interval_s = None
    step_ns = int(interval_s * 1e9) if interval_s else 0
    base_ns = prev.monotonic_ns if prev is not None and step_ns else 0
    cur = Snapshot(
        time=when if when is not None else 0.0,
        monotonic_ns=base_ns + step_ns,
        platform=PLATFORM,
        sources=[source],
        processes={s.identity: s for s in samples},
        system=system,
    )
    before = prev if prev is not None and step_ns else None
    if before is None:
        before = Snapshot(
            time=cur.time, monotonic_ns=base_ns, platform=PLATFORM, sources=[source],
            processes={}, system=system,
        )  # fmt: skip
    return compute_ranking(before, cur, sort), cur
