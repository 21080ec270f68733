"""nettop frames -> ProcessSamples with the network rate nettop measured.

nettop counts bytes per process since each socket opened. Frame 0 of a capture is that
cumulative count, so it has no rate (null, like top's first block). Later frames are deltas
when nettop ran with ``-d`` and restated totals otherwise; a total never falls for the same
process, so a fall is proof of delta mode. The interval comes from the rows' time column.

net_bytes_per_s = (bytes_in + bytes_out) per second; nothing else is known from nettop.
"""

from __future__ import annotations

from itertools import pairwise
from statistics import median

from lagwatch.captures.ranking import Analysis, CaptureRanking, decode, rank_samples
from lagwatch.model import ProcessSample
from lagwatch.parsers import numbers
from lagwatch.parsers.nettop import NettopFrame, parse_nettop
from lagwatch.parsers.top_convert import name_id

DAY_S = 86400.0


def seconds_of_day(text: str | None) -> float | None:
    """``'20:48:16.223325'`` -> 74896.223325."""
    if not text:
        return None
    try:
        h, m, s = text.split(":")
        # Bounded readers: not "nan" or a 400-digit hour (an OverflowError later).
        return numbers.parse_int(h) * 3600 + numbers.parse_int(m) * 60 + numbers.parse_decimal(s)
    except ValueError:
        return None


def frame_time(frame: NettopFrame) -> float | None:
    times = [t for row in frame.rows if (t := seconds_of_day(row.time)) is not None]
    return median(times) if times else None


def frames_are_deltas(prev: NettopFrame, cur: NettopFrame) -> bool:
    before = {(r.pid, r.name): r.bytes_total for r in prev.rows}
    for row in cur.rows:
        old = before.get((row.pid, row.name))
        if old is not None and row.bytes_total is not None and row.bytes_total < old:
            return True
    return False


def frame_interval_s(prev: NettopFrame, cur: NettopFrame) -> float | None:
    a, b = frame_time(prev), frame_time(cur)
    if a is None or b is None:
        return None
    gap = b - a
    if gap < 0:
        gap += DAY_S  # the capture ran over midnight
    return gap if gap > 0 else None


def frame_samples(
    frame: NettopFrame, prev: NettopFrame | None, interval_s: float | None, deltas: bool
) -> list[ProcessSample]:
    before = {(r.pid, r.name): r.bytes_total for r in prev.rows} if prev is not None else {}
    samples = []
    for row in frame.rows:
        rate = None
        total = row.bytes_total
        if prev is not None and interval_s and total is not None:
            if deltas:
                rate = total / interval_s
            elif (old := before.get((row.pid, row.name))) is not None and total >= old:
                rate = (total - old) / interval_s
        samples.append(
            ProcessSample(
                pid=row.pid,
                start_id=name_id(row.name),
                name=row.name,
                rates=None if rate is None else {"net_bytes_per_s": rate},
            )
        )
    return samples


def rank_nettop(data: bytes, sort: str = "score") -> Analysis:
    frames = parse_nettop(decode(data))
    out: list[CaptureRanking] = []
    warnings: list[str] = []
    prev: NettopFrame | None = None
    deltas = any(frames_are_deltas(a, b) for a, b in pairwise(frames))
    for frame in frames:
        interval = frame_interval_s(prev, frame) if prev is not None else None
        samples = frame_samples(frame, prev, interval, deltas)
        ranking, _ = rank_samples(samples, {}, "nettop", None, interval, None, sort)
        notes = list(frame.warnings)
        if prev is None:
            notes.append("first frame counts since each socket opened: no rates (null)")
        first_time = next((r.time for r in frame.rows if r.time), None)
        out.append(
            CaptureRanking(
                ranking=ranking, format="nettop", sample=frame.index + 1,
                line=frame.header_line, kind="cumulative" if prev is None else
                ("delta" if deltas else "totals"), time_known=False,
                interval_known=interval is not None, time_text=first_time, system={},
                warnings=notes,
            )
        )  # fmt: skip
        warnings.extend(frame.warnings)
        prev = frame
    return Analysis(format="nettop", rankings=out, warnings=warnings)
