"""The exporter against Prometheus' own tools: promtool lints the real /metrics page, checks and
unit-tests the shipped rules, and every query of the shipped Grafana dashboard and rules names
only metrics the exporter really serves (names taken from its /metrics pages, never a list).

promtool comes with the Debian `prometheus` package (.ci/run installs it); without it these
tests skip with that reason."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import need
from exporter_harness import start_daemon, stop
from fake_rankings import T0, ranking, row
from lagwatch.catalogue import METRICS
from lagwatch.events import Event
from lagwatch.exporter import start_exporter
from lagwatch.live import LiveState

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "contrib" / "prometheus" / "lagwatch-rules.yml"
RULES_TESTS = ROOT / "contrib" / "prometheus" / "lagwatch-rules.test.yml"
DASHBOARD = ROOT / "contrib" / "grafana" / "lagwatch.json"


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def promtool_lint(page: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [need("promtool"), "check", "metrics"],
        input=page, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def sample_names(page: str) -> set[str]:
    """The names PromQL can select on a text-format page: every sample's name."""
    return {
        re.split(r"[{ ]", line, maxsplit=1)[0]
        for line in page.splitlines()
        if line and not line.startswith("#")
    }


# -- the pages -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daemon_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    """/metrics of a real `lagwatch daemon --listen` on this machine, once it ranks processes."""
    workdir = tmp_path_factory.mktemp("daemon")
    proc, url = start_daemon(workdir, interval_s=0.5)
    try:
        deadline = time.monotonic() + 30
        while True:
            page = fetch(f"{url}/metrics")
            if "lagwatch_process_score{" in page and "lagwatch_process_dominant_info{" in page:
                return page
            if time.monotonic() > deadline:
                pytest.fail(f"no ranked process on /metrics after 30 s:\n{page[-2000:]}")
            time.sleep(0.25)  # polling for the second tick, with a deadline
    finally:
        stop(proc)


def complete_ranking() -> Any:
    """A ranking in which every figure any platform can report is known: every catalogue
    metric, macOS's memory pressure level and top header counts, Linux PSI and cgroups."""
    every_metric = {m.key: 1.5 for m in METRICS if m.contract}
    system = {
        "memory_total_bytes": 16 * 2**30,
        "cpu_count": 8,
        "processes_total": 412,  # top's header
        "threads_total": 2000,
        "gpu_active_percent": 12.0,
        "package_power_watts": 4.2,
        "energy_source": "powermetrics",
        "pressure": {
            "memory": {"level": "warning", "some_percent": 3.0, "full_percent": 1.0,
                       "some_total_us": 1000, "full_total_us": 10},
            "cpu": {"some_percent": 20.0, "some_total_us": 5000},
            "io": {"some_percent": 2.0, "full_percent": 1.0, "some_total_us": 300,
                   "full_total_us": 30},
        },
        "pressure_cgroups": {"user.slice": {"cpu": {"some_percent": 5.0}}},
    }  # fmt: skip
    rows = [
        row(10, 80.0, "hog", dominant="cpu", **every_metric),
        row(11, 0.0, "idle", dominant=None),
        row(12, 40.0, "restricted", restricted=True, dominant="memory"),
    ]
    return ranking(rows, platform="macos", sources=["libproc", "powermetrics"], system=system)


@pytest.fixture(scope="module")
def complete_page() -> Iterator[str]:
    """/metrics served over real HTTP by the exporter fed ``complete_ranking`` twice (so every
    counter has grown) and one event of each kind."""
    state = LiveState()
    ex = start_exporter(state, "127.0.0.1", 0, None)
    try:
        first = complete_ranking()
        state.publish(first, 0.01)
        second = complete_ranking()
        second.time = T0 + 1
        state.publish(second, 0.01)
        for n, kind in enumerate(("pause", "rogue", "pressure"), start=1):
            state.add_event(Event(kind, T0, T0 + 1, 1.0, id=n))
        yield fetch(f"{ex.url}/metrics")
    finally:
        ex.stop()


@pytest.fixture(scope="module")
def exported(daemon_page: str, complete_page: str) -> set[str]:
    return sample_names(daemon_page) | sample_names(complete_page)


# -- promtool check metrics ------------------------------------------------------------------


@pytest.mark.integration
def test_the_real_metrics_page_passes_promtool_without_warnings(daemon_page: str) -> None:
    result = promtool_lint(daemon_page)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_a_page_with_every_figure_passes_promtool_without_warnings(complete_page: str) -> None:
    names = sample_names(complete_page)
    # The page really holds the platform-specific families this test is for.
    assert {"lagwatch_system_cpus", "lagwatch_system_processes", "lagwatch_memory_pressure_level",
            "lagwatch_process_energy_joules_total", "lagwatch_process_gpu_seconds_total",
            "lagwatch_cgroup_pressure_some_ratio"} <= names  # fmt: skip
    result = promtool_lint(complete_page)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_promtool_does_catch_what_these_tests_guard_against() -> None:
    # The old name: a gauge ending in "_count" is a promtool warning (so the tests above can
    # fail), as is a counter without "_total".
    bad = (
        "# HELP lagwatch_system_cpu_count x\n# TYPE lagwatch_system_cpu_count gauge\n"
        "lagwatch_system_cpu_count 8\n"
    )
    result = promtool_lint(bad)
    assert result.returncode != 0
    assert "_count" in result.stdout + result.stderr


# -- the rules file --------------------------------------------------------------------------


def test_rules_pass_promtool_check_rules() -> None:
    result = subprocess.run(
        [need("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_behave_as_their_unit_tests_say() -> None:
    # Alerts fire when they should and not before; the blamed resource in the annotation
    # follows the dominant_info series; recording rules compute what their names say.
    result = subprocess.run(
        [need("promtool"), "test", "rules", RULES_TESTS.name],
        cwd=RULES_TESTS.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# -- every query names exported metrics ------------------------------------------------------

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
             "or", "unless", "offset", "atan2", "inf", "nan", "start", "end"}  # fmt: skip
_GRAFANA_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are neither functions
    (followed by a parenthesis), keywords, label names in groupings, strings nor durations."""
    expr = _GRAFANA_VARIABLES.sub("1", expr)
    expr = _STRING.sub('""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers (their strings are already gone)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = _GROUPING.sub("", expr)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        before = expr[m.start() - 1] if m.start() else ""
        if before.isdigit() or before == ".":  # 1e9, 5m, 0.5
            continue
        if re.match(r"\s*\(", expr[m.end() :]) or m.group() in _KEYWORDS:
            continue
        names.add(m.group())
    return names


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'sum without (direction) (label_replace(rate(a_total{x=~"b|c"}[5m]), "d", "r", "", "") '
        "or rate(b_total[$__rate_interval] offset 1h)) / on (pid) group_left (resource) c_info "
        "> 1e9 and topk($topk, d) unless e:f:g"
    )
    assert metric_names(expr) == {"a_total", "b_total", "c_info", "d", "e:f:g"}


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every query in the dashboard: panel targets and variables."""
    board = json.loads(DASHBOARD.read_text())
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            out.append((f"panel {panel['title']!r}", target["expr"]))
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            m = re.fullmatch(r"label_values\((.+),\s*\w+\)", var["query"]["query"])
            assert m, var["query"]
            out.append((f"variable {var['name']}", m.group(1)))
    return out


def rule_queries() -> tuple[list[tuple[str, str]], set[str]]:
    """(where, PromQL) of every rule, and the names the recording rules define."""
    doc = yaml.safe_load(RULES.read_text())
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    queries = [(rule.get("record") or rule["alert"], rule["expr"]) for rule in rules]
    recorded = {rule["record"] for rule in rules if "record" in rule}
    return queries, recorded


@pytest.mark.integration
def test_every_query_names_only_metrics_the_exporter_exports(exported: set[str]) -> None:
    rules, recorded = rule_queries()
    unknown = {
        where: sorted(metric_names(expr) - exported)
        for where, expr in dashboard_queries()  # the dashboard must work without the rules
        if metric_names(expr) - exported
    }
    unknown.update(
        (where, sorted(metric_names(expr) - exported - recorded))
        for where, expr in rules
        if metric_names(expr) - exported - recorded
    )
    assert unknown == {}
    # The rules' unit tests feed series under the exporter's real names too.
    fed = {
        re.split(r"[{ ]", series["series"], maxsplit=1)[0]
        for test in yaml.safe_load(RULES_TESTS.read_text())["tests"]
        for series in test["input_series"]
    }
    assert fed - exported == set()
    # Enough of them to matter: the check is not vacuous.
    named = set().union(*(metric_names(e) for _, e in dashboard_queries()))
    assert len(named) >= 15


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (Grafana's variables replaced by values) as a rule."""
    values = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "30s", "$topk": "10",
              "$instance": ".*"}  # fmt: skip
    rules = []
    for n, (where, expr) in enumerate(dashboard_queries()):
        for var, value in values.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, (where, expr)
        rules.append({"record": f"dashboard_query_{n}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [need("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_is_importable() -> None:
    """What Grafana needs to import it anywhere: a data source chosen by variable (no
    hard-coded uid), unique panel ids, panels that fit the 24-column grid without overlap."""
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "lagwatch" and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}  # fmt: skip
        assert not mine & cells, f"{panel['title']!r} overlaps another panel"
        cells |= mine
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
