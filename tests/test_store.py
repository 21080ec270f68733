"""History store: round trips, recording policy, migrations, retention, write conditions."""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from lagwatch.events import Event
from lagwatch.model import PROCESS_KEYS, ProcessRow, Ranking
from lagwatch.store import History, Recorder, RecordPolicy, Retention, StoreError
from lagwatch.store.policy import select_rows, summarize
from lagwatch.store.retention import DAY, plan_thinning, thin
from lagwatch.store.schema import SCHEMA_VERSION, migrate

T0 = 1_800_000_000.0


def row(pid: int, score: float, name: str | None = None, **kw: Any) -> ProcessRow:
    values = dict(
        pid=pid, ppid=1, name=name or f"proc{pid}", user="u", state="running", restricted=False,
        memory_bytes=1000 * pid, threads=2, cpu_percent=score, score=score, dominant="cpu",
        subscores={"cpu": score}, start_id=100 + pid, energy_impact=score / 2, power_watts=None,
    )  # fmt: skip
    values.update(kw)
    return ProcessRow(**values)


def ranking(t: float, rows: list[ProcessRow], interval_s: float = 1.0) -> Ranking:
    return Ranking(t, interval_s, "linux", ["procfs"], rows, {"memory_total_bytes": 8 << 30})


@dataclass(slots=True)
class FutureRanking(Ranking):
    """A ranking whose contract grew a top-level key after the schema was written."""

    future_key: str | None = None

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        out = Ranking.to_json(self, limit)
        out["future_key"] = self.future_key
        return out


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.db"


def test_round_trip_keeps_every_contract_key_and_extras(db: Path) -> None:
    rows = [row(1, 80.0, power_watts=1.25), row(2, 30.0, disk_write_bytes_per_s=5e6), row(3, 5.0)]
    rec = Recorder(db)
    first = FutureRanking(T0, 1.5, "linux", ["procfs", "rapl"], rows, {"cpu_count": 2})
    first.energy_source = "rapl"
    first.future_key = "later"
    assert rec.record(first, sweep_s=0.02)
    assert rec.record(ranking(T0 + 1, [row(1, 70.0)]))
    rec.close()
    with History(db) as history:
        got = list(history.rankings())
    assert [g.time for g in got] == [T0, T0 + 1]
    data = got[0].to_json()
    assert data["interval_s"] == 1.5
    assert data["sources"] == ["procfs", "rapl"]
    assert data["energy_source"] == "rapl"
    assert got[0].energy_source == "rapl"
    assert data["future_key"] == "later"  # a key added later is kept without a schema change
    assert data["process_count"] == 3 and data["recorded_count"] == 3
    assert [p["pid"] for p in data["processes"]] == [1, 2, 3]
    for want, have in zip(rows, data["processes"], strict=True):
        assert list(have) == list(PROCESS_KEYS)
        assert have == want.to_json()
    assert got[0].processes[0].subscores == {"cpu": 80.0}
    assert got[0].processes[0].start_id == 101
    assert got[0].sweep_s == 0.02
    assert got[1].to_json()["energy_source"] is None
    assert "future_key" not in got[1].to_json()


def test_policy_top_k_threshold_energy_and_bound() -> None:
    rows = [row(i, float(i)) for i in range(1, 80)] + [row(500, 0.0, energy_impact=40.0)]
    rows += [row(600, 0.0, energy_impact=0.0)]
    policy = RecordPolicy(top_k=5, threshold=60.0, top_energy=1, max_rows=100)
    kept = select_rows(ranking(T0, rows), policy)
    pids = [r.pid for r in kept]
    # Everything at or above 60 (20 rows), which includes the top 5, and the top energy user.
    assert set(pids) == set(range(60, 80)) | {500}
    assert pids[0] == 79 and pids[-1] == 500  # worst first
    assert len(select_rows(ranking(T0, rows), RecordPolicy(threshold=10.0, max_rows=7))) == 7


def test_policy_idle_tick_keeps_only_its_summary() -> None:
    idle = [row(i, 0.0, energy_impact=0.1, cpu_percent=0.0) for i in range(1, 30)]
    assert select_rows(ranking(T0, idle)) == []
    summary = summarize(ranking(T0, idle))
    assert summary["process_count"] == 29 and summary["top_score"] == 0.0
    assert summary["cpu_percent_total"] == 0.0


def test_summary_unknown_stays_none() -> None:
    rows = [row(1, 10.0, cpu_percent=None, pageins_per_s=None)]
    summary = summarize(ranking(T0, rows))
    assert summary["cpu_percent_total"] is None
    assert summary["pageins_per_s_total"] is None


def test_filters_tick_times_and_ranking_at(db: Path) -> None:
    rec = Recorder(db)
    for k in range(5):
        rec.record(ranking(T0 + k, [row(1, 50.0, name="firefox"), row(2 + k % 2, 40.0)]))
    rec.close()
    with History(db) as h:
        assert h.tick_times() == [T0 + k for k in range(5)]
        assert h.tick_times(T0 + 1, T0 + 3) == [T0 + 1, T0 + 2, T0 + 3]
        assert [r.time for r in h.rankings(pid=3)] == [T0 + 1, T0 + 3]
        assert all([p.pid for p in r.processes] == [3] for r in h.rankings(pid=3))
        assert len(list(h.rankings(name="FIREF"))) == 5  # case-insensitive substring
        assert list(h.rankings(name="fire_%")) == []  # LIKE wildcards are literal
        at = h.ranking_at(T0 + 2.5)
        assert at is not None and at.time == T0 + 2
        assert h.ranking_at(T0 - 1) is None
        assert h.latest().time == T0 + 4
        assert h.span() == (T0, T0 + 4, 5)


def test_a_read_joins_each_tick_to_its_rows_and_each_row_to_its_command(db: Path) -> None:
    # One query reads ticks, rows and command lines: a tick that recorded no process still
    # comes back (empty), rows stay worst first, and a reused pid gets its own command line.
    rec = Recorder(db)
    rec.record(ranking(T0, [row(7, 30.0, cmdline="old job"), row(8, 90.0, cmdline="hog")]))
    rec.record(ranking(T0 + 1, []))  # idle
    rec.record(ranking(T0 + 2, [row(7, 60.0, start_id=999, cmdline="new job")]))
    rec.close()
    with History(db) as h:
        got = list(h.rankings())
        assert [[(p.pid, p.cmdline) for p in r.processes] for r in got] == [
            [(8, "hog"), (7, "old job")], [], [(7, "new job")],
        ]  # fmt: skip
        assert [r.time for r in h.rankings(pid=7)] == [T0, T0 + 2]
        assert [r.processes[0].cmdline for r in h.rankings(pid=7)] == ["old job", "new job"]
        assert h.ranking_at(T0 + 1.5).processes == []  # the idle tick, not its neighbour
        assert [p.cmdline for _, _, p in h.process_rows([7], T0, T0 + 2)] == ["old job", "new job"]


def test_events_round_trip_and_latest(db: Path) -> None:
    rec = Recorder(db)
    pause = Event("pause", T0, T0 + 4.1, 4.1, [{"pid": 7, "name": "x", "score": 80.0,
                  "dominant": "cpu"}], {"slept_s": 0.0}, [{"time": T0, "pid": 7}])  # fmt: skip
    rogue = Event("rogue", T0 + 10, None, 12.0, [], {"peak_score": 70.0})
    rec.save_event(pause)
    rec.save_event(rogue)
    assert rec.with_id(pause).id == 1 and rec.with_id(rogue).id == 2
    rec.save_event(replace(rogue, end=T0 + 40, duration_s=30.0))  # a newer version: updated
    rec.close()
    with History(db) as h:
        events = [e.to_json() for e in h.events()]
        assert [e["id"] for e in events] == [1, 2]
        first = events[0]
        assert {k: first[k] for k in ("id", "kind", "start", "end", "duration_s")} == {
            "id": 1, "kind": "pause", "start": T0, "end": T0 + 4.1, "duration_s": 4.1,
        }  # fmt: skip
        assert first["suspects"] == [{"pid": 7, "name": "x", "score": 80.0, "dominant": "cpu"}]
        assert events[1]["end"] == T0 + 40 and events[1]["ongoing"] is False
        assert h.events(since=T0 + 5)[0].id == 2
        assert h.event(None).id == 2
        assert h.event(1).timeline == [{"time": T0, "pid": 7}]
        assert h.event(99) is None


def _v1_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, path, upto=1)
    conn.execute("INSERT INTO contexts (platform, sources, system) VALUES ('linux', '[]', '{}')")
    conn.execute(
        "INSERT INTO ticks (time, interval_s, context_id, process_count, restricted_count) "
        "VALUES (?, 1.0, 1, 10, 0)",
        (T0,),
    )
    conn.execute(
        "INSERT INTO procs (tick_id, pid, name, score, restricted, cpu_percent) "
        "VALUES (1, 42, 'old', 66.0, 0, 70.0)"
    )
    conn.execute(
        "INSERT INTO events (kind, start, end, duration_s, suspects) "
        "VALUES ('pause', ?, ?, 3.0, '[]')",
        (T0, T0 + 3),
    )
    conn.close()


def test_migration_from_v1_keeps_history(db: Path) -> None:
    _v1_database(db)
    assert SCHEMA_VERSION > 1
    rec = Recorder(db)
    assert rec.record(ranking(T0 + 1, [row(1, 10.0)]))
    rec.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT top_score FROM ticks WHERE id = 1").fetchone()[0] == 66.0
    conn.close()
    with History(db) as h:
        old = h.ranking_at(T0)
        assert old is not None and old.processes[0].name == "old"
        assert old.processes[0].cpu_percent == 70.0
        assert len(h.tick_times()) == 2
        assert h.events()[0].duration_s == 3.0


def test_reader_upgrades_an_old_file_it_can_write(db: Path) -> None:
    _v1_database(db)
    with History(db) as h:
        assert h.ranking_at(T0).processes[0].pid == 42


def test_newer_or_foreign_database_is_refused_untouched(db: Path, tmp_path: Path) -> None:
    Recorder(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this lagwatch"):
        History(db)
    with pytest.raises(StoreError, match="newer"):
        Recorder(db).open()
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not lagwatch history"):
        Recorder(other).open()
    assert sqlite3.connect(other).execute("SELECT count(*) FROM mine").fetchone()[0] == 0
    with pytest.raises(StoreError, match="no history at"):
        History(tmp_path / "missing.db")


def _damaged(db: Path) -> None:
    """History whose pages after the first are garbage: it opens, every read fails."""
    rec = Recorder(db)
    for k in range(3):
        rec.record(ranking(T0 + k, [row(1, 50.0)]))
    rec.save_event(Event("pause", T0, T0 + 3, 3.0))
    rec.close()
    page = sqlite3.connect(db).execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db.read_bytes())
    data[page:] = b"\xa5" * (len(data) - page)
    db.write_bytes(bytes(data))


def test_a_damaged_database_raises_store_error_from_every_read(db: Path) -> None:
    _damaged(db)
    with History(db) as h:
        reads = {
            "span": h.span,
            "tick_times": h.tick_times,
            "latest": h.latest,
            "rankings": lambda: list(h.rankings(T0, T0 + 9)),
            "process_rows": lambda: h.process_rows([1], T0, T0 + 9),
            "events": h.events,
            "event": lambda: h.event(1),
        }
        for read in reads.values():
            # StoreError, never the sqlite3.DatabaseError underneath (it would escape raises()).
            with pytest.raises(StoreError, match=r"cannot read history .*malformed"):
                read()


def test_a_database_locked_by_another_program_raises_store_error(db: Path) -> None:
    Recorder(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")  # even WAL readers are kept out
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match=r"cannot read history .*locked"):
            History(db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with History(db) as h:
        assert h.span() is None  # readable again once the other program let go


def test_plan_thinning_keeps_worst_per_bucket_and_protected() -> None:
    ticks = [(1, 0.0, 10.0), (2, 20.0, 90.0), (3, 40.0, 5.0), (4, 61.0, None), (5, 70.0, 1.0)]
    keep, delete = plan_thinning(ticks, 60.0)
    assert keep == [2, 5] and delete == [1, 3, 4]
    keep, delete = plan_thinning(ticks, 60.0, protected=[(35.0, 45.0)])
    assert keep == [2, 3, 5]


def test_thin_tiers_retention_and_event_windows(db: Path) -> None:
    now = T0 + 40 * DAY
    rec = Recorder(db)
    # Ticks every 10 s: 2 h that are 35 days old, 2 h that are 3 days old, 2 h that are 10 days
    # old, and the last 10 minutes.
    starts = [now - 35 * DAY, now - 10 * DAY, now - 3 * DAY, now - 600]
    for start in starts:
        n = 720 if start < now - 600 else 60
        for k in range(n):
            score = 90.0 if k == 7 else 10.0
            rec.record(ranking(start + k * 10, [row(1, score)], interval_s=10.0))
    event = Event("pause", now - 3 * DAY + 3000, now - 3 * DAY + 3004, 4.0, [])
    rec.save_event(event)
    old_event = Event("pause", now - 400 * DAY, now - 400 * DAY + 3, 3.0, [])
    rec.save_event(old_event)
    rec.close()
    conn = sqlite3.connect(db, isolation_level=None)
    counts = thin(conn, now, Retention(batch_ticks=500))
    counts2 = thin(conn, now, Retention(batch_ticks=500))  # batches: run until settled
    while counts2["thinned"]:
        counts2 = thin(conn, now, Retention(batch_ticks=500))
    assert counts["deleted_old"] == 720 and counts["events_deleted"] == 1

    def n_ticks(lo: float, hi: float) -> int:
        q = "SELECT count(*) FROM ticks WHERE time >= ? AND time < ?"
        return conn.execute(q, (lo, hi)).fetchone()[0]

    assert n_ticks(0, now - 30 * DAY) == 0
    assert n_ticks(now - 10 * DAY, now - 9 * DAY) == 12  # 2 h at one per 10 minutes
    three = now - 3 * DAY
    # 2 h at one per minute, plus the full-resolution window around the event (+-120 s).
    protected = n_ticks(three + 3000 - 120, three + 3004 + 120)
    assert protected == 25
    assert n_ticks(three, three + 7200) == 120 - 5 + protected  # 5 minutes overlap the window
    assert n_ticks(now - 600, now) == 60  # recent: untouched
    # The spike (score 90) survived thinning in every tier.
    spikes = conn.execute("SELECT count(*) FROM ticks WHERE top_score = 90").fetchone()[0]
    assert spikes == 3
    orphans = "SELECT count(*) FROM procs WHERE tick_id NOT IN (SELECT id FROM ticks)"
    assert conn.execute(orphans).fetchone()[0] == 0
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_retention_hands_back_contexts_no_tick_needs(db: Path) -> None:
    # A database from a build that wrote a context per tick (a running counter among the
    # system facts): once their ticks are gone, so are they; a kept tick keeps its own.
    now = T0 + 40 * DAY
    rec = Recorder(db)
    for k in range(5):
        old = Ranking(now - 35 * DAY + k, 1.0, "linux", ["procfs"], [row(1, 10.0)], {})
        rec.record(old)
    rec.close()
    conn = sqlite3.connect(db, isolation_level=None)
    for k in range(5):  # as the old build wrote them: one context per tick
        conn.execute("INSERT INTO contexts (platform, sources, system) VALUES (?, ?, ?)",
                     ("linux", '["procfs"]', f'{{"rapl_energy_uj": {k}}}'))  # fmt: skip
        conn.execute("UPDATE ticks SET context_id = last_insert_rowid() WHERE time = ?",
                     (now - 35 * DAY + k,))  # fmt: skip
    conn.close()
    rec = Recorder(db)
    rec.record(ranking(now - 60, [row(1, 10.0)]))
    rec.close()
    conn = sqlite3.connect(db, isolation_level=None)
    assert conn.execute("SELECT count(*) FROM contexts").fetchone()[0] == 7
    counts = thin(conn, now, Retention(batch_ticks=500))
    assert counts["deleted_old"] == 5 and counts["contexts_deleted"] == 6
    conn.close()
    with History(db) as h:
        (kept,) = list(h.rankings())
        assert kept.system == {"memory_total_bytes": 8 << 30}


def test_locked_database_queues_ticks_logs_once_and_resumes(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder(db, busy_timeout_ms=20)
    assert rec.record(ranking(T0, [row(1, 10.0)]))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    with caplog.at_level(logging.WARNING, logger="lagwatch.store"):
        for k in range(1, 6):
            assert not rec.record(ranking(T0 + k, [row(1, 10.0)]))
        assert rec.condition is not None and rec.condition.name == "locked"
        assert rec.pending == 5
        holder.execute("ROLLBACK")
        holder.close()
        assert rec.record(ranking(T0 + 6, [row(1, 10.0)]))
    messages = [r.getMessage() for r in caplog.records]
    assert sum("locked" in m and "cannot write" in m for m in messages) == 1
    assert any("close it" in m for m in messages)  # says what to do
    assert sum("resumed" in m for m in messages) == 1
    rec.close()
    with History(db) as h:
        assert h.tick_times() == [T0 + k for k in range(7)]


def test_pending_queue_is_bounded_and_drops_are_reported(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder(db, busy_timeout_ms=1, pending_max=3)
    rec.open()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    for k in range(6):
        rec.record(ranking(T0 + k, [row(1, 10.0)]))
    assert rec.pending == 3 and rec.dropped == 3
    holder.execute("ROLLBACK")
    with caplog.at_level(logging.WARNING, logger="lagwatch.store"):
        assert rec.flush()
    assert any("3 ticks were dropped" in r.getMessage() for r in caplog.records)
    rec.close()
    with History(db) as h:
        assert h.tick_times() == [T0 + 3, T0 + 4, T0 + 5]  # the newest were kept


def test_reader_is_consistent_while_writer_writes(db: Path) -> None:
    rec = Recorder(db)
    rec.record(ranking(T0, [row(1, 10.0), row(2, 20.0)]))
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for k in range(1, 200):
                rec.record(ranking(T0 + k, [row(1, 10.0), row(2, 20.0)]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    with History(db) as h:
        while not done.is_set():
            for r in h.rankings():
                assert [p.pid for p in r.processes] == [2, 1]  # never a half-written tick
    thread.join()
    rec.close()
    assert not errors
    with History(db) as h:
        assert len(h.tick_times()) == 200


def test_migration_scripts_split_into_whole_statements() -> None:
    from lagwatch.store.schema import MIGRATIONS, statements

    first = statements(MIGRATIONS[0])
    assert len(first) == 7 and all(s.endswith(";") for s in first)
    assert statements("-- only a comment\n") == []
    with pytest.raises(ValueError, match="incomplete"):
        statements("CREATE TABLE x (a")
