"""The machine's figures of each tick, recorded: a moment read back from history has the header
it had live (CPU, memory, swap, load, pressure), and nothing it did not know."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from fake_rankings import T0, ranking, row
from lagwatch.render.header import machine_lines
from lagwatch.store import History, Recorder
from lagwatch.store.machine import MACHINE_KEYS, decode_machine, encode_machine

LIVE = {
    "memory_total_bytes": 16 * 2**30, "cpu_count": 4,
    "cpu_busy_percent_per_core": [95.0, 50.4, 5.0, 0.0], "cpu_busy_percent": 37.55,
    "memory_used_bytes": 12 * 2**30, "memory_available_bytes": 4 * 2**30,
    "swap_total_bytes": 2 * 2**30, "swap_used_bytes": 2**29,
    "load_avg_1m": 3.251, "load_avg_5m": 2.0, "load_avg_15m": 1.0,
    "pressure": {"cpu": {"some_percent": 12.44, "full_percent": 0.0},
                 "memory": {"some_percent": 0.0},
                 "io": {"some_percent": None, "some_avg10_percent": 3.0}},
    "pressure_cgroups": {"/user.slice": {"cpu": {"some_percent": 9.0}}},
    "rapl_energy_uj": 123456789,
}  # fmt: skip


def plain(system: dict) -> list[str]:
    return [line.plain for line in machine_lines(system, 100)]


def test_a_recorded_tick_has_the_header_it_had_live(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    rec = Recorder(db)
    rec.record(ranking([row(1, 50.0)], system=LIVE))
    rec.record(ranking([row(1, 50.0)], time=2e9, system={"cpu_count": 4}))  # knew nothing
    rec.close()
    with History(db) as h:
        then, blind = list(h.rankings())
        assert plain(then.system) == plain(LIVE)
        assert then.system["pressure"]["io"] == {"some_percent": 3.0}  # the 10 s figure
        assert then.system["memory_available_bytes"] == 4 * 2**30
        assert "pressure_cgroups" not in then.system  # per cgroup: live only
        assert blind.system == {"cpu_count": 4} and plain(blind.system) == []
        (lean,) = list(h.rankings(until=T0 + 1, machine=False))
        assert lean.system == {"cpu_count": 4, "memory_total_bytes": 16 * 2**30}
    conn = sqlite3.connect(db)
    text = conn.execute("SELECT machine FROM ticks ORDER BY time").fetchone()[0]
    conn.close()
    assert len(text) < 120  # every second, every tick: kept small


def test_figures_are_rounded_to_what_is_shown_and_unknown_ones_stay_unknown() -> None:
    text = encode_machine({"cpu_busy_percent": 37.55, "load_avg_1m": float("nan"),
                           "memory_used_bytes": True, "swap_used_bytes": "12"})  # fmt: skip
    assert text is not None
    values = json.loads(text)
    assert values[0] == 37.5 or values[0] == 37.6  # one decimal
    assert decode_machine(values) == {"cpu_busy_percent": values[0], "swap_used_bytes": 12}
    assert encode_machine({"cpu_count": 4}) is None  # no figure of the moment at all


def test_macos_memory_pressure_level_and_compressor_are_kept() -> None:
    system = {"pressure": {"memory": {"level": "warning", "level_code": 2}},
              "physmem_used_bytes": 30 << 30, "physmem_compressor_bytes": 2 << 30,
              "package_power_watts": 7.123}  # fmt: skip
    got = decode_machine(json.loads(encode_machine(system) or "[]"))
    assert got == {"pressure": {"memory": {"level": "warning"}}, "physmem_used_bytes": 30 << 30,
                   "physmem_compressor_bytes": 2 << 30, "package_power_watts": 7.12}  # fmt: skip


def test_the_stored_order_only_grows() -> None:
    # The column is an array in this order: a key moved or removed would misread old ticks.
    first = ["cpu_busy_percent", "cpu_busy_percent_per_core", "memory_used_bytes",
             "memory_available_bytes", "swap_total_bytes", "swap_used_bytes", "load_avg_1m",
             "load_avg_5m", "load_avg_15m", "pressure.cpu", "pressure.memory", "pressure.io",
             "pressure.memory.level", "physmem_used_bytes", "physmem_compressor_bytes",
             "package_power_watts", "gpu_device_utilization_percent"]  # fmt: skip
    assert [k for k, _ in MACHINE_KEYS][: len(first)] == first


def test_why_says_what_the_machine_was_doing_at_the_event(tmp_path: Path) -> None:
    from lagwatch.events import Event, suspect
    from lagwatch.render.story import build_story, render_story

    db = tmp_path / "h.db"
    rec = Recorder(db)
    for k in range(5):  # each tick read 0.2 s after the daemon woke
        system = LIVE if k == 3 else {**LIVE, "load_avg_1m": 0.5}
        rec.record(ranking([row(1, 50.0)], time=T0 + k + 0.2, system=system))
    hog = row(1, 50.0)
    suspects = [suspect(hog.pid, hog.name, hog.score, hog.dominant)]
    pause = Event("pause", T0 + 1.5, T0 + 3.0, 1.5, suspects, details={"expected_s": 1.0})
    rec.save_event(pause, flush=True)
    rec.close()
    with History(db) as h:
        event = h.event(None)
        assert event is not None
        story = build_story(event, h)
    assert story.machine_time == T0 + 3.2  # the tick read after the wake, not the one before
    assert story.to_json()["machine"]["system"]["load_avg_1m"] == 3.25
    text = render_story(story, now=T0 + 60)
    (line,) = [ln for ln in text.splitlines() if ln.startswith("The machine at")]
    assert "CPU 38%" in line and "MEM 12.0G/16.0G 75%" in line and "LOAD 3.25 2.00 1.00" in line
