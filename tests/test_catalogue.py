"""The catalogue of metrics is complete, consistent, and the one list every view is built from."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields, replace

import pytest
from rich.console import Console

from fake_rankings import ranking, row
from lagwatch import catalogue
from lagwatch.catalogue import METRICS, MetricSpec, sort_getters, table_metrics, totals
from lagwatch.cli import history_cmd
from lagwatch.exporter.series import COUNTERS, GAUGES, accumulate, gauges, series_specs
from lagwatch.model import PROCESS_KEYS, ProcessRow, ProcessSample
from lagwatch.ranking import SORT_KEYS, compute_row
from lagwatch.render.table import plain_line, process_columns, ranking_table, shown_columns
from lagwatch.scoring import BANDS
from lagwatch.store.policy import summarize
from lagwatch.tui import view
from lagwatch.units import compact_number

# Contract keys that are not measured figures: who the process is, and the verdict on it.
NOT_METRICS = {"pid", "ppid", "name", "user", "state", "restricted", "score", "dominant",
               "cmdline"}  # fmt: skip

# A catalogue entry no view knows by name: a narrow twin of the (wide) context switches.
DUMMY = MetricSpec(
    "ctx_switches_per_s", "/s", "Dummy switches", "DUMMY", 6, compact_number,
    sort="dummy", rate=True, total="dummy_total",
    prom_name="dummy_switches", prom_help="Dummy switches for the test",
)  # fmt: skip
WITH_DUMMY = (*METRICS, DUMMY)


def render(table: object) -> str:
    console = Console(width=250, record=True)
    console.print(table)
    return console.export_text()


def test_the_catalogue_is_the_contract_s_metrics_exactly() -> None:
    contract = {m.key for m in METRICS if m.contract}
    assert contract == set(PROCESS_KEYS) - NOT_METRICS
    # Every number of a contract row is a catalogue metric, or the pid, parent or score.
    data = row(1, 50.0, power_watts=1.0, energy_impact=2.0, energy_impact_model=2.0,
               gpu_percent=3.0, net_bytes_per_s=4.0).to_json()  # fmt: skip
    numeric = {k for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    assert numeric - {"pid", "ppid", "score"} <= contract
    assert len({m.key for m in METRICS}) == len(METRICS)


def test_every_rate_and_gauge_of_a_row_is_in_the_catalogue() -> None:
    measured = {
        f.name
        for f in fields(ProcessRow)
        if f.type in ("float | None", "int | None") and f.name not in ("ppid",)
    }
    assert measured == {m.key for m in METRICS}


def test_each_entry_is_consistent_with_the_model_and_its_unit() -> None:
    sample_fields = {f.name for f in fields(ProcessSample)}
    int_keys = {f.name for f in fields(ProcessRow) if f.type == "int | None"}
    suffix_units = (("_bytes_per_s", "B/s"), ("_per_s", "/s"), ("_bytes", "B"),
                    ("_percent", "%"), ("_watts", "W"))  # fmt: skip
    for m in METRICS:
        unit = next((u for suffix, u in suffix_units if m.key.endswith(suffix)), "")
        assert m.unit == unit, m.key
        assert m.counter is None or m.counter in sample_fields, m.key
        assert m.gauge is None or m.gauge in sample_fields, m.key
        assert not (m.counter and m.gauge), m.key
        assert m.prom_name is None or m.prom_help, m.key
        # The compact cell fits the column at any plausible magnitude.
        most = {"B": 1e15, "B/s": 1e15, "/s": 1e6, "%": 9999.0, "W": 999.0, "": 9999.0}
        for value in (None, 0, 0.25, 9.99, 99.95, 123.4, 9999.0, 99999.0, 1e6, 1e9, 1e15):
            if value is None or value <= most[m.unit]:
                shown = int(value) if value is not None and m.key in int_keys else value
                assert len(m.format(shown)) <= m.width, (m.key, value, m.format(shown))
    headers = [m.header for m in METRICS]
    prom = [m.prom_name for m in METRICS if m.prom_name]
    assert len(set(headers)) == len(headers) and len(set(prom)) == len(prom)
    assert catalogue.BY_KEY["disk_read_bytes_per_s"].is_bytes
    assert not catalogue.BY_KEY["cpu_percent"].is_bytes


def test_sort_keys_come_from_the_catalogue_and_cover_what_the_score_blames() -> None:
    assert set(SORT_KEYS) == {"score", *(m.sort for m in METRICS if m.sort)}
    assert set(BANDS) <= set(SORT_KEYS)  # the TUI charts a blamed resource by its sort key
    r = row(1, 0.0, disk_read_bytes_per_s=3.0, disk_write_bytes_per_s=None)
    assert SORT_KEYS["disk"](r) == 3.0  # one unknown part hides nothing
    unknown = row(1, 0.0, disk_read_bytes_per_s=None, disk_write_bytes_per_s=None)
    assert SORT_KEYS["disk"](unknown) is None
    assert tuple(SORT_KEYS) == view.SORT_ORDER
    assert sort_getters(WITH_DUMMY)["dummy"](row(1, 0.0, ctx_switches_per_s=7.0)) == 7.0


def test_rates_derive_from_the_catalogue_s_counters() -> None:
    """Move one counter at a time: exactly its metric changes, by growth / interval / unit."""
    counters = [m for m in METRICS if m.counter]
    zero = {m.counter: 0 for m in counters}
    for m in counters:
        assert m.counter is not None
        prev = ProcessSample(pid=5, start_id=1, name="x", **zero)
        cur = replace(prev, **{m.counter: 2_000_000_000})
        got = compute_row(cur, prev, 2.0)
        assert getattr(got, m.key) == pytest.approx(1e9 / m.counter_per_unit), m.key
        for other in counters:
            if other is not m:
                assert getattr(got, other.key) == 0, (m.key, other.key)
    # A gauge is copied, an unknown counter stays unknown (never a made-up zero).
    sample = ProcessSample(pid=5, start_id=1, name="x", memory_bytes=7, threads=3)
    got = compute_row(sample, sample, 1.0)
    assert (got.memory_bytes, got.threads, got.disk_read_bytes_per_s) == (7, 3, None)


def test_tables_are_built_from_the_catalogue() -> None:
    known = {m.key: 1.0 for m in METRICS if m.key not in ("memory_bytes", "threads")}
    rk = ranking([row(1, 80.0, **{**known, "ctx_switches_per_s": 4321.0})])
    top = render(ranking_table(rk))
    for m in table_metrics(wide=False):
        assert m.header in top
    assert "CSW/s" not in top  # wide only: the TUI's
    assert "DUMMY" in render(ranking_table(rk, metrics=table_metrics(False, WITH_DUMMY)))
    # The TUI: every metric the catalogue puts in a table, in catalogue order.
    keys = [c.key for c in view.COLUMNS]
    assert [k for k in keys if k in catalogue.BY_KEY] == [m.key for m in table_metrics(True)]
    dummy_col = [c for c in view.columns(WITH_DUMMY) if c.header == "DUMMY"]
    assert len(dummy_col) == 1 and dummy_col[0].cell(rk.processes[0]) == "4321"
    # History: the same columns, cells and fitting (render.table), after its TIME column.
    narrow = table_metrics(False, WITH_DUMMY)
    columns = [history_cmd.TIME, *process_columns(narrow)]
    line = history_cmd.Line(rk.processes[0], "14:00:00")
    layout = shown_columns(columns, [line], None)
    assert [c.header for c, _ in layout][-len(narrow) - 1 : -1] == [m.header for m in narrow]
    text = plain_line([c.fitted(line, w) for c, w in layout], layout)
    assert text.startswith("14:00:00") and " 4321 " in text


def test_labels_and_timeline_come_from_the_catalogue() -> None:
    lines = dict(view.metric_lines(row(1, 1.0, power_watts=2.0)))
    for m in METRICS:
        if m.contract:
            assert m.label in lines, m.key
    assert tuple(m.key for m in METRICS if m.timeline) == catalogue.TIMELINE_KEYS
    assert set(catalogue.TIMELINE_KEYS) <= set(PROCESS_KEYS)


def test_exporter_series_and_store_totals_come_from_the_catalogue() -> None:
    assert [s.name for s in COUNTERS] == [m.prom_name for m in METRICS if m.prom_name and m.rate]
    assert [s.name for s in GAUGES] == [m.prom_name for m in METRICS if m.prom_name and not m.rate]
    counters = series_specs(rates=True, metrics=WITH_DUMMY)
    assert counters[-1].name == "dummy_switches" and counters[-1].help
    totals_by_name: dict[str, float] = {}
    accumulate(totals_by_name, row(1, 1.0, ctx_switches_per_s=10.0), 2.0, counters)
    assert totals_by_name["dummy_switches"] == 20.0
    assert gauges(row(1, 1.0, threads=None))["memory_bytes"] == 100 * 2**20
    assert "threads" not in gauges(row(1, 1.0, threads=None))  # unknown: no series
    # The store's tick summary: one column per catalogue total, disk read + write summed.
    assert totals(WITH_DUMMY)["dummy_total"] == ("ctx_switches_per_s",)
    rk = ranking([row(1, 1.0, disk_read_bytes_per_s=1.0, disk_write_bytes_per_s=2.0),
                  row(2, 1.0, disk_read_bytes_per_s=None, disk_write_bytes_per_s=None,
                      pageins_per_s=None)])  # fmt: skip
    summary = summarize(rk)
    assert {k for k in summary if k.endswith("_total")} == set(totals())
    assert summary["disk_bytes_per_s_total"] == 3.0
    assert summary["pageins_per_s_total"] == 0.0  # one process knew it: a real zero


def test_the_sampler_does_not_import_the_ranking() -> None:
    """Layers: sources -> sampler -> ranking; the ranking and the ticker sit above."""
    code = (
        "import sys, lagwatch.sampler, lagwatch.captures.ranking; "
        "print('lagwatch.ranking' in sys.modules, 'lagwatch.ticker' in sys.modules)"
    )
    sampler_only = "import sys, lagwatch.sampler; print('lagwatch.ranking' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", sampler_only], capture_output=True, text=True)
    assert out.stdout.split() == ["False"], out.stderr
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["True", "False"], out.stderr
