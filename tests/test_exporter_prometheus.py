"""End to end: a real Prometheus scrapes `lagwatch daemon --listen` while a stress-ng CPU hog
runs, and its HTTP API returns the hog's score series, the resource it is blamed on, and what
the shipped rules (contrib/prometheus/lagwatch-rules.yml) record from them. Everything on
127.0.0.1, killed in finally."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest
import yaml

from conftest import need
from exporter_harness import free_port, start_daemon, stop

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = Path(__file__).resolve().parent.parent / "contrib" / "prometheus" / "lagwatch-rules.yml"


def http_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


def query(prom: str, promql: str) -> list[dict]:
    data = http_json(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    if not data or data.get("status") != "success":
        return []
    return data["data"]["result"]


def wait_for(what: str, check, timeout_s: float, procs: dict[str, subprocess.Popen]):
    """Poll ``check`` until it returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode} while waiting for {what}")
        result = check()
        if result:
            return result
        time.sleep(0.25)  # poll interval, not a synchronisation
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")


def hog_worker_pid(hog: subprocess.Popen) -> int:
    """stress-ng forks its workers: the busy process is the child."""
    children = psutil.Process(hog.pid).children()
    return children[0].pid if children else 0


def test_prometheus_scrapes_the_hogs_score(tmp_path: Path) -> None:
    prometheus = need("prometheus")
    stress = need("stress-ng")
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["stress-ng"] = subprocess.Popen(
            [stress, "--cpu", "1", "--timeout", "180s", "--quiet", "--temp-path", str(tmp_path)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        hog = procs["stress-ng"]
        pid = wait_for("the stress-ng worker", lambda: hog_worker_pid(hog), 20, procs)

        lagwatch, url = start_daemon(tmp_path, interval_s=0.5)
        procs["lagwatch daemon"] = lagwatch
        target = url.removeprefix("http://")

        port = free_port()
        # The shipped rules, evaluated every second here instead of every 30 s.
        rules = yaml.safe_load(RULES.read_text())
        for group in rules["groups"]:
            group["interval"] = "1s"
        (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "rule_files: [rules.yml]\n"
            "scrape_configs:\n  - job_name: lagwatch\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        log = (tmp_path / "prometheus.log").open("wb")
        procs["prometheus"] = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
        prom = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{prom}/-/ready", timeout=2) as resp:
                    return resp.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        wait_for("Prometheus to be ready", ready, 60, procs)
        up = wait_for("the lagwatch target to be up", lambda: [
            r for r in query(prom, 'up{job="lagwatch"}') if r["value"][1] == "1"
        ], 60, procs)  # fmt: skip
        assert up

        # Blamed on CPU (the resource is its own info series, joined on the process); how
        # many points it scores depends on how busy the machine is.
        def hog_score() -> list[dict]:
            series = query(
                prom,
                f'lagwatch_process_score{{pid="{pid}"}} * on (instance, job, pid, name) '
                "group_left (resource) lagwatch_process_dominant_info",
            )
            return [r for r in series if r["metric"].get("resource") == "cpu"]

        series = wait_for("the hog's lagwatch_process_score series", hog_score, 60, procs)
        labels = series[0]["metric"]
        assert labels["name"].startswith("stress-ng")
        assert float(series[0]["value"][1]) > 0
        assert labels["job"] == "lagwatch"

        # The counter gives back the CPU the hog burns, whatever share of a core the load leaves
        # it: compare with the kernel's own count over the same 10 s. rate() extrapolates a
        # window that is not yet full of samples, so wait until 10 s of them are stored.
        counter = f'lagwatch_process_cpu_seconds_total{{pid="{pid}"}}'
        wait_for("10 s of the hog's CPU counter", lambda: [
            r for r in query(prom, f"count_over_time({counter}[10s])") if int(r["value"][1]) >= 9
        ], 60, procs)  # fmt: skip
        # The same 10 s for both (the hog's share moves with the load): measure, then ask.
        worker = psutil.Process(pid)
        started, cpu_started = time.monotonic(), sum(worker.cpu_times()[:2])
        wait_for("a 10 s window", lambda: time.monotonic() - started >= 10, 30, procs)
        rate = float(query(prom, f"rate({counter}[10s])")[0]["value"][1])
        burnt = (sum(worker.cpu_times()[:2]) - cpu_started) / (time.monotonic() - started)
        assert rate == pytest.approx(burnt, abs=0.25), (rate, burnt)
        assert 0 < rate < 1.1  # one worker, one thread: never more than a core
        # Cardinality stays bounded: K = 20 in the top, at most K more lingering (alive).
        in_top = query(prom, 'count(lagwatch_process_in_top{job="lagwatch"} == 1)')
        assert in_top and int(in_top[0]["value"][1]) <= 20
        count = query(prom, 'count(lagwatch_process_score{job="lagwatch"})')
        assert count and int(count[0]["value"][1]) <= 40

        # The shipped recording rules evaluate without error on real series (no many-to-many
        # matches, no missing labels) and record the hog's CPU in cores.
        cores = wait_for("the recorded CPU of the hog", lambda: query(
            prom, f'lagwatch_process:cpu_cores:rate1m{{pid="{pid}"}}'
        ), 60, procs)  # fmt: skip
        assert 0 < float(cores[0]["value"][1]) < 1.1
        share = wait_for("the recorded CPU share of the machine", lambda: query(
            prom, "instance:lagwatch_cpu_utilisation:ratio_rate1m"
        ), 60, procs)  # fmt: skip
        assert 0 < float(share[0]["value"][1]) <= 1.05

        def evaluated_rules() -> list[dict]:
            groups = (http_json(f"{prom}/api/v1/rules") or {}).get("data", {}).get("groups", [])
            found = [rule for group in groups for rule in group["rules"]]
            done = all(r.get("lastEvaluation", "").startswith("2") for r in found)
            return found if found and done else []

        evaluated = wait_for("every rule evaluated", evaluated_rules, 60, procs)
        assert {r["name"]: r["health"] for r in evaluated if r["health"] != "ok"} == {}
        assert {r["name"]: r.get("lastError") for r in evaluated if r.get("lastError")} == {}
    finally:
        for proc in procs.values():
            stop(proc)
