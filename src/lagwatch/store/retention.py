"""Retention: recent history at full resolution, older history thinned, the oldest removed.

Thinning keeps the *worst* tick of each bucket (highest top score), so a spike survives at any
age, and keeps every tick near an event at full resolution so `why` can still tell its story.
Events themselves are tiny and kept much longer than ticks. Work is done in bounded batches so
a maintenance pass never holds the write lock for long.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from lagwatch.store.schema import CMDLINE_REFRESH_S

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Retention:
    keep_s: float = 30 * DAY  # ticks older than this are removed
    # (age in seconds, bucket in seconds): older than age, keep one tick per bucket.
    tiers: tuple[tuple[float, float], ...] = ((1 * DAY, 60.0), (7 * DAY, 600.0))
    event_margin_s: float = 120.0  # ticks this close to an event keep full resolution
    events_keep_s: float = 365 * DAY
    batch_ticks: int = 5000  # bounds how long one pass holds the write lock


def plan_thinning(
    ticks: Sequence[tuple[int, float, float | None]],
    bucket_s: float,
    protected: Sequence[tuple[float, float]] = (),
) -> tuple[list[int], list[int]]:
    """Split ticks ``(id, time, top_score)`` into (keep, delete): one tick per bucket (the one
    with the highest top score, the earliest on ties) plus every tick inside a protected
    window ``(start, end)``."""
    best: dict[int, tuple[float, float, int]] = {}
    for tick_id, t, top in ticks:
        bucket = int(t // bucket_s)
        key = (top if top is not None else -1.0, -t, tick_id)
        if bucket not in best or key > best[bucket]:
            best[bucket] = key
    winners = {key[2] for key in best.values()}
    keep: list[int] = []
    delete: list[int] = []
    for tick_id, t, _ in ticks:
        if tick_id in winners or any(lo <= t <= hi for lo, hi in protected):
            keep.append(tick_id)
        else:
            delete.append(tick_id)
    return keep, delete


def _chunks(ids: list[int], size: int = 500):
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def delete_ticks(conn: sqlite3.Connection, ids: list[int]) -> None:
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM procs WHERE tick_id IN ({marks})", chunk)
        conn.execute(f"DELETE FROM ticks WHERE id IN ({marks})", chunk)


def _protected(conn: sqlite3.Connection, lo: float, hi: float, margin: float):
    rows = conn.execute(
        "SELECT start, coalesce(end, start) FROM events WHERE start <= ? AND coalesce(end, ?) >= ?",
        (hi + margin, hi + margin, lo - margin),
    ).fetchall()
    return [(s - margin, e + margin) for s, e in rows]


def thin(conn: sqlite3.Connection, now: float, retention: Retention = Retention()) -> dict:
    """One bounded maintenance pass (each step its own short transaction). Returns counts."""
    counts = {"deleted_old": 0, "thinned": 0, "events_deleted": 0, "cmdlines_deleted": 0,
              "contexts_deleted": 0}  # fmt: skip
    cutoff = now - retention.keep_s
    while True:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM ticks WHERE time < ? ORDER BY time LIMIT ?",
                (cutoff, retention.batch_ticks),
            )
        ]
        if not ids:
            break
        conn.execute("BEGIN IMMEDIATE")
        delete_ticks(conn, ids)
        conn.execute("COMMIT")
        counts["deleted_old"] += len(ids)
        if len(ids) < retention.batch_ticks:
            break
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute("DELETE FROM events WHERE start < ?", (now - retention.events_keep_s,))
    counts["events_deleted"] = cur.rowcount
    # Command lines no kept row can need: their process was last recorded (``seen``, refreshed
    # at least every CMDLINE_REFRESH_S) before the oldest tick still kept.
    cur = conn.execute(
        "DELETE FROM cmdlines WHERE seen < (SELECT min(time) FROM ticks) - ?",
        (CMDLINE_REFRESH_S,),
    )
    counts["cmdlines_deleted"] = cur.rowcount
    # Contexts no kept tick refers to. Builds before 2026-12 wrote one per tick where a source
    # gives running counters (RAPL, the header of macOS `top`): this hands those back.
    cur = conn.execute(
        "DELETE FROM contexts WHERE id NOT IN "
        "(SELECT DISTINCT context_id FROM ticks WHERE context_id IS NOT NULL)"
    )
    counts["contexts_deleted"] = cur.rowcount
    conn.execute("COMMIT")
    # Oldest tier first so a tick is thinned straight to the coarsest resolution it qualifies for.
    for level in range(len(retention.tiers), 0, -1):
        age, bucket_s = retention.tiers[level - 1]
        cut = now - age
        rows = conn.execute(
            "SELECT id, time, top_score FROM ticks WHERE time < ? AND level < ? "
            "ORDER BY time LIMIT ?",
            (cut, level, retention.batch_ticks),
        ).fetchall()
        if not rows:
            continue
        if len(rows) == retention.batch_ticks:
            # Only whole buckets: the last one may continue past the batch.
            last_bucket = int(rows[-1][1] // bucket_s)
            rows = [r for r in rows if int(r[1] // bucket_s) != last_bucket] or rows
        protected = _protected(conn, rows[0][1], rows[-1][1], retention.event_margin_s)
        keep, delete = plan_thinning(rows, bucket_s, protected)
        conn.execute("BEGIN IMMEDIATE")
        delete_ticks(conn, delete)
        for chunk in _chunks(keep):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"UPDATE ticks SET level = ? WHERE id IN ({marks})", [level, *chunk])
        conn.execute("COMMIT")
        counts["thinned"] += len(delete)
    # Hand a large free list back to the filesystem; a small one is reused by new ticks.
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    total = conn.execute("PRAGMA page_count").fetchone()[0]
    if free > 256 and free > total // 4:
        conn.execute(f"PRAGMA incremental_vacuum({free - total // 8})")
    return counts
