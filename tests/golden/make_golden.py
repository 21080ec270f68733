"""Golden JSON: what lagwatch's JSON contract says for fixed inputs, recorded from a reference
version, so a refactor can prove that keys and values are unchanged (tests/test_golden.py).

Record (re-runnable; overwrites tests/golden/*.json) with the reference code first on the path,
e.g. the commit before the issue 10 refactor in a detached worktree:

    git worktree add --detach ../wt-golden 2c1657c
    PYTHONPATH=../wt-golden/src .venv/bin/python tests/golden/make_golden.py

Without PYTHONPATH it records the current tree, which only makes sense after a change of the
contract that was meant (then say so in the commit). Every input is built here by hand, with a
fixed clock and TZ=UTC, so the outputs depend on nothing but the code:

- ``ranking.json``: ``compute_ranking`` over hand-made snapshot pairs (every metric, restricted
  processes, reaped children, pid reuse, the idle-row cache, every ``--sort`` key, every energy
  source).
- ``analyze.json``: ``lagwatch analyze --json`` over tests/fixtures and small captures written
  below (top, powermetrics text and plist).
- ``store.json``: ``events --json``, ``history --format json|csv``, ``why --json`` and the
  exporter's ``/api/now``, ``/api/events`` and ``lagwatch_*`` metrics, from a SQLite history the
  store's Recorder wrote from fixed rankings.
- ``shared_analyze.json``: sha256 of ``analyze --json`` for the real macOS captures in
  ../shared/fixtures/macos (never copied into the project, so only a hash is kept), taken
  over the keys the reference printed (their shape is kept beside the hash), so keys added
  later do not change it; and a second sha256 with rows of equal score in pid order
  (``json_sha256_ties_by_pid``), unchanged when only their order changed (issue 12 item 5).

Diagnosing a difference: run the same command with both trees on the path and diff, e.g.
``PYTHONPATH=../wt-golden/src python -m lagwatch analyze --json FILE`` against the current code.

Only names that exist in the reference and in the refactored code are imported; where a name
moved, the new place is tried first.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import plistlib
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from lagwatch.model import PROCESS_KEYS, ProcessSample, Snapshot

try:
    from lagwatch.ranking import SORT_KEYS, compute_ranking
except ImportError:  # before issue 10: the pure ranking lived in the sampler
    from lagwatch.sampler import SORT_KEYS, compute_ranking

# The CLI, the store and the exporter are imported where used: one layer that does not import
# must not hide what the others produce.

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHARED = REPO.parent / "shared" / "fixtures" / "macos"

GIB = 1 << 30
MIB = 1 << 20
S = 1_000_000_000  # ns per second
T0 = 1_795_615_200.0  # 2026-11-25 14:00:00 UTC
# The --sort choices of the reference (a removed or renamed key must fail, not be skipped).
SORT_NAMES = ("score", "cpu", "memory", "disk", "wakeups", "pageins", "gpu", "network", "energy")


# --- helpers --------------------------------------------------------------------------------


def snap(
    t_s: float,
    *samples: ProcessSample,
    platform: str = "linux",
    sources: tuple[str, ...] = ("procfs",),
    system: dict[str, Any] | None = None,
    warnings: tuple[str, ...] = (),
) -> Snapshot:
    return Snapshot(
        time=T0 + t_s,
        monotonic_ns=int(t_s * S),
        platform=platform,
        sources=list(sources),
        processes={s.identity: s for s in samples},
        system={"memory_total_bytes": 16 * GIB, "cpu_count": 4} if system is None else system,
        warnings=list(warnings),
    )


def proc(pid: int, start: int | None = None, ppid: int = 1, **kw: Any) -> ProcessSample:
    """A process with every Linux counter at zero unless given (None: the source cannot know)."""
    fields: dict[str, Any] = dict(
        name=f"p{pid}",
        user="alice",
        state="sleeping",
        memory_bytes=10 * MIB,
        threads=1,
        cpu_ns=0,
        child_cpu_ns=0,
        disk_read_bytes=0,
        disk_write_bytes=0,
        pageins=0,
        wakeups=0,
        ctx_switches=0,
    )
    fields.update(kw)
    return ProcessSample(
        pid=pid, start_id=pid * 10 if start is None else start, ppid=ppid, **fields
    )


def ranking_doc(ranking: Any) -> dict[str, Any]:
    """The contract (``to_json``) and what views and the store read beside it."""
    return {
        "json": ranking.to_json(),
        "internal": {
            "warnings": list(ranking.warnings),
            "system": ranking.system,
            "rows": [
                {
                    "pid": r.pid,
                    "start_id": r.start_id,
                    "subscores": r.subscores,
                    "memory_growth_bytes_per_s": r.memory_growth_bytes_per_s,
                }
                for r in ranking.processes
            ],
        },
    }


@contextlib.contextmanager
def builtin_pmenergy_weights() -> Iterator[None]:
    """Activity Monitor's weights are read from this Mac's /usr/share/pmenergy: use lagwatch's
    built-in copy so the macOS cases give the same figures on every machine."""
    try:
        from lagwatch.energy_models import BUILTIN_WEIGHTS
        from lagwatch.sources import pmenergy
    except ImportError:
        yield
        return
    saved = pmenergy.machine_weights
    pmenergy.machine_weights = lambda: (BUILTIN_WEIGHTS, [])  # type: ignore[assignment]
    try:
        yield
    finally:
        pmenergy.machine_weights = saved  # type: ignore[assignment]


@contextlib.contextmanager
def utc() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def run_cli(*args: str, cwd: Path | None = None) -> dict[str, Any]:
    """`lagwatch ARGS` in this process (its console-script entry point): exit status, stdout,
    stderr."""
    from lagwatch.cli import main as cli_main

    runner = CliRunner()
    code = 0
    old = Path.cwd()
    with runner.isolation() as streams:
        try:
            if cwd is not None:
                os.chdir(cwd)
            cli_main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            os.chdir(old)
            sys.stdout.flush()
            sys.stderr.flush()
        out = streams[0].getvalue().decode()
        err = streams[1].getvalue().decode()
    return {"exit": code, "stdout": out, "stderr": err.splitlines()}


def json_lines(result: dict[str, Any]) -> dict[str, Any]:
    """A command's result with its JSON Lines stdout parsed (key order kept)."""
    docs = [json.loads(line) for line in result["stdout"].splitlines() if line.strip()]
    return {"exit": result["exit"], "json": docs, "stderr": result["stderr"]}


# --- compute_ranking --------------------------------------------------------------------------


def every_metric() -> tuple[Snapshot, Snapshot]:
    """Two seconds on Linux: one process per resource and every kind of missing data."""
    prev = snap(
        0,
        proc(10, name="cpu-hog", cpu_ns=1 * S),
        proc(11, name="big", memory_bytes=6 * GIB),
        proc(12, name="grower", memory_bytes=1 * GIB),
        proc(13, name="disk", disk_read_bytes=0, disk_write_bytes=0),
        proc(14, name="pager", pageins=1000),
        proc(15, name="waker", wakeups=0),
        proc(16, name="gpu", gpu_ns=0),
        proc(17, name="net", net_bytes=5_000_000),
        proc(18, name="switcher", ctx_switches=0),
        proc(19, name="idle"),
        proc(
            20,
            name="theirs",
            user="nobody",
            restricted=True,
            disk_read_bytes=None,
            disk_write_bytes=None,
        ),
        proc(21, name="resets", wakeups=9000, gpu_ns=5 * S, net_bytes=900),
        proc(
            22,
            name="unknown",
            memory_bytes=None,
            threads=None,
            cpu_ns=None,
            child_cpu_ns=None,
            disk_read_bytes=None,
            disk_write_bytes=None,
            pageins=None,
            wakeups=None,
            ctx_switches=None,
            user=None,
            state=None,
        ),
        proc(24, name="vanishes", cpu_ns=5 * S),
        proc(25, start=100, name="old", cpu_ns=50 * S),
        proc(26, name="measured", cpu_ns=None),
        proc(27, name="small-cpu", cpu_ns=0, wakeups=0, disk_write_bytes=0),
    )
    cur = snap(
        2,
        proc(10, name="cpu-hog", state="running", threads=8, cpu_ns=4 * S),
        proc(11, name="big", memory_bytes=6 * GIB),
        proc(12, name="grower", memory_bytes=1 * GIB + 600_000_000),
        proc(13, name="disk", disk_read_bytes=30_000_000, disk_write_bytes=170_000_000),
        proc(14, name="pager", pageins=2000),
        proc(15, name="waker", wakeups=10_000, cpu_ns=S // 10),
        proc(16, name="gpu", gpu_ns=S * 4 // 5),
        proc(17, name="net", net_bytes=25_000_000),
        proc(18, name="switcher", ctx_switches=40_000),
        proc(19, name="idle"),
        proc(
            20,
            name="theirs",
            user="nobody",
            restricted=True,
            disk_read_bytes=None,
            disk_write_bytes=None,
            cpu_ns=S // 5,
        ),
        proc(21, name="resets", wakeups=10, gpu_ns=1 * S, net_bytes=100),
        proc(
            22,
            name="unknown",
            memory_bytes=None,
            threads=None,
            cpu_ns=None,
            child_cpu_ns=None,
            disk_read_bytes=None,
            disk_write_bytes=None,
            pageins=None,
            wakeups=None,
            ctx_switches=None,
            user=None,
            state=None,
        ),
        proc(23, name="newborn", cpu_ns=S // 2, memory_bytes=300 * MIB),
        proc(25, start=200, name="new-at-old-pid", cpu_ns=S * 3 // 10),
        proc(
            26,
            name="measured",
            cpu_ns=None,
            rates={"cpu_percent": 12.345, "wakeups_per_s": 321.0, "bogus_key": 1.0},
        ),
        proc(
            27,
            name="small-cpu",
            cpu_ns=S // 20,
            wakeups=700,
            disk_write_bytes=3_000_000,
            pageins=None,
        ),
    )
    return prev, cur


def reaped_children() -> tuple[Snapshot, Snapshot]:
    prev = snap(
        0,
        proc(10, name="forker"),  # children live and die between readings
        proc(30, name="parent"),
        proc(31, ppid=30, name="child", cpu_ns=5 * S),  # ran 5 s before: already shown
        proc(40, name="grandparent"),
        proc(41, ppid=40, name="middle", cpu_ns=1 * S),
        proc(42, ppid=41, name="leaf", cpu_ns=3 * S),
        proc(50, name="orphan-parent", ppid=0, cpu_ns=0),
        proc(51, ppid=50, name="orphan-child", cpu_ns=S),
    )
    cur = snap(
        1,
        proc(10, name="forker", cpu_ns=S // 10, child_cpu_ns=S * 8 // 10),
        proc(30, name="parent", child_cpu_ns=5 * S + S // 2),
        proc(40, name="grandparent", child_cpu_ns=S + S // 10 + 3 * S + S // 5),
        # 50 is gone too: 51's time has no living ancestor.
    )
    return prev, cur


def idle_sequence() -> list[Snapshot]:
    """Four readings: processes that stay idle (the cache reuses their rows), one that wakes up
    and one that goes back to sleep."""
    idle = [proc(pid, name=f"idle{pid}") for pid in (60, 61, 62)]
    return [
        snap(0, *idle, proc(70, name="sleeper"), proc(71, name="worker", cpu_ns=0)),
        snap(1, *idle, proc(70, name="sleeper"), proc(71, name="worker", cpu_ns=S // 2)),
        snap(2, *idle, proc(70, name="sleeper", cpu_ns=S), proc(71, name="worker", cpu_ns=S // 2)),
        snap(
            3, *idle[:2], proc(70, name="sleeper", cpu_ns=S), proc(71, name="worker", cpu_ns=S // 2)
        ),
    ]


def energy_cases() -> dict[str, tuple[Snapshot, Snapshot]]:
    def rapl(uj: int, t_ns: int, epoch: int = 1) -> dict[str, Any]:
        return {
            "memory_total_bytes": 16 * GIB,
            "cpu_count": 4,
            "rapl_energy_uj": uj,
            "rapl_time_ns": t_ns,
            "rapl_epoch": epoch,
        }

    mac = {"platform": "macos", "sources": ("libproc",)}
    qos0 = {"default": 0, "background": 0, "user_interactive": 0}
    qos1 = {"default": S // 4, "background": S // 2, "user_interactive": S // 10}
    return {
        "rapl_share": (
            snap(
                0,
                proc(10, cpu_ns=0),
                proc(11, cpu_ns=0),
                proc(12, cpu_ns=None),
                system=rapl(1_000_000, 0),
            ),
            snap(
                2,
                proc(10, cpu_ns=3 * S),
                proc(11, cpu_ns=S),
                proc(12, cpu_ns=None),
                system=rapl(31_000_000, 2 * S),
            ),
        ),
        "rapl_lost_continuity_falls_back_to_model": (
            snap(0, proc(10, cpu_ns=0), system=rapl(1_000_000, 0, epoch=1)),
            snap(1, proc(10, cpu_ns=S // 2), system=rapl(9_000_000, S, epoch=2)),
        ),
        "ri_energy_nj": (
            snap(0, proc(10, energy_nj=0, cpu_ns=0), proc(11, energy_nj=0, cpu_ns=0), **mac),
            snap(
                1,
                proc(10, energy_nj=2_500_000_000, cpu_ns=S),
                proc(11, energy_nj=125_000_000, cpu_ns=S // 10),
                **mac,
            ),
        ),
        "intel_zero_energy_uses_pmenergy": (
            snap(
                0,
                proc(10, energy_nj=0, cpu_qos_ns=dict(qos0), wakeups=0, gpu_ns=0),
                proc(11, energy_nj=0),
                **mac,
            ),
            snap(
                1,
                proc(
                    10,
                    energy_nj=0,
                    cpu_qos_ns=dict(qos1),
                    cpu_ns=S,
                    child_cpu_ns=S // 10,
                    wakeups=500,
                    gpu_ns=S // 5,
                ),
                proc(11, energy_nj=0, cpu_ns=S // 5),
                proc(12, cpu_qos_ns={"utility": S // 3, "maintenance": S // 3}, cpu_ns=S * 2 // 3),
                **mac,
            ),
        ),
        "powermetrics_energy_impact": (
            snap(
                0,
                proc(10, energy_nj=0),
                proc(11, energy_nj=0),
                platform="macos",
                sources=("libproc", "powermetrics"),
            ),
            snap(
                1,
                proc(10, energy_nj=S, cpu_ns=S // 2, rates={"energy_impact": 77.7}),
                proc(11, energy_nj=S // 10, cpu_ns=S // 10),
                platform="macos",
                sources=("libproc", "powermetrics"),
            ),
        ),
        "top_power": (
            snap(
                0, proc(10, cpu_ns=None), proc(11, cpu_ns=None), platform="macos", sources=("top",)
            ),
            snap(
                1,
                proc(10, cpu_ns=None, rates={"cpu_percent": 80.0, "energy_impact": 90.0}),
                proc(11, cpu_ns=None, rates={"cpu_percent": 0.5, "energy_impact": 0.0}),
                platform="macos",
                sources=("top",),
            ),
        ),
        "source_rates": (
            snap(0, proc(10), sources=("custom",)),
            snap(1, proc(10, cpu_ns=S // 4, rates={"energy_impact": 12.5}), sources=("custom",)),
        ),
        "no_energy_figure": (
            snap(0, proc(10, cpu_ns=None), proc(11, cpu_ns=None)),
            snap(1, proc(10, cpu_ns=None, wakeups=50), proc(11, cpu_ns=None)),
        ),
    }


def ranking_cases() -> dict[str, Any]:
    out: dict[str, Any] = {
        "process_keys": list(PROCESS_KEYS),
        "sort_keys": sorted(SORT_KEYS),
    }
    prev, cur = every_metric()
    out["every_metric"] = ranking_doc(compute_ranking(prev, cur))
    out["every_metric_by_sort"] = {
        key: [r.pid for r in compute_ranking(prev, cur, sort=key).processes] for key in SORT_NAMES
    }
    out["every_metric_limit_3"] = compute_ranking(prev, cur).to_json(limit=3)
    prev, cur = reaped_children()
    out["reaped_children"] = ranking_doc(compute_ranking(prev, cur))
    snaps = idle_sequence()
    cache: dict[Any, Any] = {}
    out["idle_rows_cache"] = [
        ranking_doc(compute_ranking(a, b, "score", cache)) for a, b in itertools.pairwise(snaps)
    ]
    out["idle_rows_no_cache"] = [
        ranking_doc(compute_ranking(a, b)) for a, b in itertools.pairwise(snaps)
    ]
    warned = snap(1, proc(10, cpu_ns=S), warnings=("source gpu failed and was dropped: gone",))
    out["warnings_kept"] = ranking_doc(compute_ranking(snap(0, proc(10)), warned))
    with builtin_pmenergy_weights():
        out["energy"] = {
            name: ranking_doc(compute_ranking(a, b)) for name, (a, b) in energy_cases().items()
        }
    return out


# --- analyze ------------------------------------------------------------------------------------

TOP_CAPTURE = """\
Processes: 3 total, 1 running, 2 sleeping, 40 threads
2026/01/02 03:04:05
Load Avg: 2.10, 1.90, 1.80
CPU usage: 30.0% user, 10.0% sys, 60.0% idle
PhysMem: 15G used (2105M wired, 1578M compressor), 1024M unused.

PID   COMMAND          %CPU TIME     #TH   MEM    PGIN  IDLEW  POWER STATE
10    Google Chrome He 0.0  00:10.00 22/1  100M   10    100    0.0   running
11    idle             0.0  00:01.00 1     1M     0     0      0.0   sleeping
12    kernel_task      0.0  01:00.00 200   50M    0     5000   0.0   running

Processes: 3 total, 1 running, 2 sleeping, 40 threads
2026/01/02 03:04:06
Load Avg: 2.10, 1.90, 1.80
CPU usage: 30.0% user, 10.0% sys, 60.0% idle
PhysMem: 15G used (2105M wired, 1578M compressor), 1024M unused.

PID   COMMAND          %CPU TIME     #TH   MEM    PGIN  IDLEW  POWER STATE
10    Google Chrome He 80.0 00:10.80 22/2  120M+  50    300    90.0  running
11    idle             0.0  00:01.00 1     1M     0     0      0.0   sleeping
12    kernel_task      12.5 01:00.12 200   50M    0     6000   3.1   running
"""

PM_TEXT_CAPTURE = """\
Machine model: MacBookPro18,4
OS version: 22G120

*** Sampled system activity (Wed Nov 29 10:00:00 2023 +0100) (1004.12ms elapsed) ***

*** Running tasks ***

Name                               ID     CPU ms/s  samp ms/s  User%  Deadlines (<2 ms, 2-5 ms)  Wakeups (Intr, Pkg idle)  GPU ms/s
WindowServer                       406    493.74    493.96     64.82  65.95   0.00               656.62  4.21              120.50
kernel_task                        0      120.00    121.00     0.00   0.00    0.00               3338.72 16.82             0.00
mds_stores                         512    5.00      5.10       80.00  0.00    0.00               10.00   1.00              0.00
ALL_TASKS                          -2     618.74    620.06     50.00  65.95   0.00               4005.34 22.03             120.50

**** Processor usage ****

CPU Power: 1200 mW
GPU Power: 300 mW
ANE Power: 0 mW
Combined Power (CPU + GPU + ANE): 1500 mW
"""  # noqa: E501


def pm_plist_capture() -> bytes:
    def task(pid: int, name: str, **kw: Any) -> dict[str, Any]:
        return {
            "pid": pid,
            "name": name,
            "cputime_ms_per_s": 10.0,
            "cputime_ns": 10_000_000,
            "interval_ns": 1_000_000_000,
            **kw,
        }

    def doc(t: str, tasks: list[dict[str, Any]]) -> bytes:
        return plistlib.dumps(
            {
                "is_delta": True,
                "elapsed_ns": 1_000_000_000,
                "hw_model": "MacBookPro18,3",
                "kern_osversion": "24D81",
                "timestamp": t,
                "coalitions": [
                    {"id": 7, "name": "com.example", "tasks": tasks, "gputime_ms_per_s": 3.5}
                ],
                "processor": {"cpu_power": 900.0, "gpu_power": 120.0, "combined_power": 1020.0},
            }
        )

    first = doc(
        "2025-03-24T16:57:20Z",
        [
            task(
                100,
                "Code Helper (Renderer)",
                cputime_ms_per_s=121.2,
                energy_impact=70.4875,
                energy_impact_per_s=68.3027,
                intr_wakeups=13,
                idle_wakeups=2,
                idle_wakeups_per_s=2.0,
                diskio_bytesread=294912,
                diskio_bytesread_per_s=285771.0,
                pageins=6,
                pageins_per_s=5.81402,
                qos_user_interactive=118780416,
            ),
            task(101, "Tom & Jerry", bytes_received=2048, bytes_sent=1024),
        ],
    )
    second = doc(
        "2025-03-24T16:57:21Z", [task(100, "Code Helper (Renderer)", cputime_ms_per_s=5.0)]
    )
    return first + b"\0" + second


def analyze_cases() -> dict[str, Any]:
    out: dict[str, Any] = {}
    fixtures = sorted((REPO / "tests" / "fixtures" / "nettop").glob("*.csv"))
    for path in fixtures:
        rel = str(path.relative_to(REPO))
        out[rel] = json_lines(run_cli("analyze", "--json", rel, cwd=REPO))
        out[f"{rel} --format nettop"] = json_lines(
            run_cli("analyze", "--json", "--format", "nettop", rel, cwd=REPO)
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "top.txt").write_text(TOP_CAPTURE)
        (folder / "pm.txt").write_text(PM_TEXT_CAPTURE)
        (folder / "pm.plist").write_bytes(pm_plist_capture())
        for name in ("top.txt", "pm.txt", "pm.plist"):
            out[name] = json_lines(run_cli("analyze", "--json", name, cwd=folder))
        for key in SORT_NAMES:
            out[f"top.txt --sort {key} --limit 2"] = json_lines(
                run_cli("analyze", "--json", "--sort", key, "--limit", "2", "top.txt", cwd=folder)
            )
        out["pm.txt --format powermetrics-text"] = json_lines(
            run_cli("analyze", "--json", "--format", "powermetrics-text", "pm.txt", cwd=folder)
        )
    return out


def shared_files() -> list[Path]:
    """The real captures `analyze` reads (ioreg, pmenergy and ps are not rankings)."""
    if not SHARED.is_dir():
        return []
    kinds = ("top", "powermetrics", "nettop")
    return sorted(p for kind in kinds for p in (SHARED / kind).iterdir() if p.is_file())


def shape_of(value: Any, path: str = "$", shape: dict[str, list[str]] | None = None) -> Any:
    """The keys of every object in ``value``, in order, by path (list items share a path)."""
    shape = {} if shape is None else shape
    if isinstance(value, dict):
        keys = shape.setdefault(path, [])
        keys += [k for k in value if k not in keys]
        for k, v in value.items():
            shape_of(v, f"{path}.{k}", shape)
    elif isinstance(value, list):
        for v in value:
            shape_of(v, f"{path}[]", shape)
    return shape


def project(value: Any, shape: dict[str, list[str]], path: str = "$") -> Any:
    """``value`` with only the keys ``shape`` knows (the reference's), in their order here."""
    if isinstance(value, dict):
        known = shape.get(path, [])
        return {k: project(v, shape, f"{path}.{k}") for k, v in value.items() if k in known}
    if isinstance(value, list):
        return [project(v, shape, f"{path}[]") for v in value]
    return value


def ties_by_pid(docs: list[Any]) -> list[Any]:
    """``docs`` with every ranking's processes in pid order within each run of equal score, so
    that a hash of them does not depend on how rows of equal score are ordered (issue 12 item 5
    changed that order; tests/test_golden.py accepts it only where this hash is unchanged)."""
    out = []
    for doc in docs:
        rows = doc.get("processes") if isinstance(doc, dict) else None
        if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
            runs = itertools.groupby(rows, key=lambda r: r.get("score"))
            by_pid = [r for _, run in runs for r in sorted(run, key=_pid_key)]
            doc = {**doc, "processes": by_pid}
        out.append(doc)
    return out


def _pid_key(row: dict[str, Any]) -> tuple[bool, int]:
    pid = row.get("pid")
    return (not isinstance(pid, int), pid if isinstance(pid, int) else 0)


def _sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()


def shared_analyze_cases(reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per shared capture, sha256 of `analyze --json` cut down to the keys the reference
    printed (the contract grows by added keys): the captures stay out of the project, and a
    hash of what lagwatch makes of them does not quote them. ``reference``: the recorded
    document, whose shapes say which keys to keep (None: record, keeping every key)."""
    out: dict[str, Any] = {}
    for path in shared_files():
        rel = str(path.relative_to(SHARED))
        res = run_cli("analyze", "--json", rel, cwd=SHARED)
        docs = [json.loads(line) for line in res["stdout"].splitlines() if line.strip()]
        known = (reference or {}).get(rel, {}).get("shape")
        shape = shape_of(docs) if known is None else known
        kept = project(docs, shape)
        here = shape_of(docs)
        missing = sorted(
            f"{where}.{key}"
            for where, keys in shape.items()
            for key in keys
            if key not in here.get(where, [])
        )
        out[rel] = {
            "exit": res["exit"],
            "json_lines": len(docs),
            "keys_missing": missing,
            "json_sha256": _sha256(kept),
            "json_sha256_ties_by_pid": _sha256(ties_by_pid(kept)),
            "shape": shape,
        }
    return out


# --- store, history commands and the exporter ---------------------------------------------------


def recorded_snapshots() -> list[Snapshot]:
    """Seven readings a second apart: a compiler that takes off and calms down, an indexer
    writing, a browser holding memory, idle processes the policy leaves out."""
    cpu = {0: 0, 1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4}  # the compiler's CPU seconds so far
    out = []
    for t in range(7):
        out.append(
            snap(
                t,
                proc(
                    101,
                    name="compiler",
                    state="running",
                    threads=4,
                    cpu_ns=cpu[t] * S,
                    memory_bytes=800 * MIB,
                ),
                proc(
                    102,
                    name="indexer",
                    disk_write_bytes=t * 40_000_000,
                    cpu_ns=t * S // 10,
                    wakeups=t * 300,
                ),
                proc(
                    103,
                    name="browser",
                    memory_bytes=5 * GIB,
                    cpu_ns=t * S // 20,
                    gpu_ns=t * S // 10,
                ),
                proc(104, name="idle-a"),
                proc(
                    105,
                    name="idle-b",
                    restricted=True,
                    disk_read_bytes=None,
                    disk_write_bytes=None,
                    user="nobody",
                ),
            )
        )
    return out


def recorded_events() -> list[Any]:
    from lagwatch.store import Event

    suspect = {"pid": 101, "name": "compiler", "score": 58.5, "dominant": "cpu"}
    timeline = [
        {
            "time": T0 + t,
            "interval_s": 1.0,
            "phase": phase,
            "pid": 101,
            "name": "compiler",
            "score": score,
            "dominant": "cpu",
            "cpu_percent": cpu,
            "memory_bytes": 800 * MIB,
            "disk_read_bytes_per_s": 0.0,
            "disk_write_bytes_per_s": 0.0,
            "pageins_per_s": 0.0,
            "wakeups_per_s": 0.0,
            "gpu_percent": None,
            "net_bytes_per_s": None,
            "energy_impact": cpu,
            "power_watts": None,
        }
        for t, phase, score, cpu in (
            (2, "before", 0.0, 0.0),
            (3, "during", 58.5, 100.0),
            (4, "after", 58.5, 100.0),
        )
    ]
    return [
        Event(
            kind="rogue",
            start=T0 + 2,
            end=T0 + 5,
            duration_s=3.0,
            suspects=[suspect],
            details={
                "peak_score": 58.5,
                "peak_time": T0 + 3,
                "dominant": "cpu",
                "ended": "calmed down",
            },
        ),
        Event(
            kind="pause",
            start=T0 + 3.25,
            end=T0 + 4.5,
            duration_s=1.25,
            suspects=[{**suspect, "score_before": 58.5, "score_after": 58.5}],
            details={"slept_s": 0.01, "ticks_before": 3, "ticks_after": 3},
            timeline=timeline,
        ),
        Event(
            kind="rogue",
            start=T0 + 5.5,
            end=None,
            duration_s=0.5,
            suspects=[{"pid": 102, "name": "indexer", "score": 40.1, "dominant": "disk"}],
            details={"peak_score": 40.1, "peak_time": T0 + 6, "dominant": "disk"},
        ),
    ]


def write_history(db: Path) -> list[Any]:
    from lagwatch.store import Recorder

    rankings = []
    recorder = Recorder(db, clock=lambda: 1000.0)
    try:
        snaps = recorded_snapshots()
        for a, b in itertools.pairwise(snaps):
            ranking = compute_ranking(a, b)
            rankings.append(ranking)
            assert recorder.record(ranking, sweep_s=0.012), "the recorder could not write"
        for event in recorded_events():
            recorder.save_event(event)
    finally:
        recorder.close()
    return rankings


def http_get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = resp.read().decode()
        return {"status": resp.status, "type": resp.headers.get("Content-Type"), "body": body}


def lagwatch_metrics(text: str) -> list[str]:
    """The lagwatch_* lines of a /metrics page, sorted (the order of families is free). The
    exporter's own process_* figures and its start time change from run to run, the version
    from release to release."""
    keep = [
        re.sub(r'version="[^"]*"', 'version="*"', line)
        for line in text.splitlines()
        if "lagwatch_" in line and "lagwatch_start_time_seconds" not in line
    ]
    return sorted(keep)


def exporter_pages(db: Path) -> dict[str, Any]:
    """The exporter's pages after it published the last recorded tick, then after a live
    ranking with every metric."""
    from lagwatch.exporter import start_exporter
    from lagwatch.live import LiveState
    from lagwatch.store import History

    with History(db) as history:
        latest = history.latest()
    state = LiveState()
    state.publish(latest, 0.012)
    ex = start_exporter(state, "127.0.0.1", 0, db)
    pages: dict[str, Any] = {}
    try:
        for page in (
            "/api/now",
            "/api/now?limit=2",
            "/api/events",
            f"/api/events?since={T0 + 4.75}",
            "/api/events?limit=1",
        ):
            got = http_get(ex.url + page)
            got["json"] = [json.loads(line) for line in got.pop("body").splitlines() if line]
            pages[page] = got
        pages["/metrics"] = lagwatch_metrics(http_get(ex.url + "/metrics")["body"])
        state.publish(compute_ranking(*every_metric()), 0.034)
        got = http_get(ex.url + "/api/now?limit=5")
        pages["every metric: /api/now?limit=5"] = {**got, "body": json.loads(got["body"])}
        pages["every metric: /metrics"] = lagwatch_metrics(http_get(ex.url + "/metrics")["body"])
    finally:
        ex.stop()
    return pages


def store_cases() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "history.db"
        write_history(db)
        d = str(db)
        since, until = str(T0 - 10), str(T0 + 100)
        out: dict[str, Any] = {}
        for args in (
            ["events", "--json"],
            ["events", "--json", "--since", str(T0 + 4.75)],
            ["history", "--since", since, "--until", until, "--format", "json"],
            ["history", "--since", since, "--until", until, "--format", "json", "--top", "2"],
            ["history", "--since", since, "--until", until, "--format", "json", "--pid", "102"],
            ["history", "--since", since, "--until", until, "--format", "json", "--name", "dex"],
            ["history", "--since", str(T0 + 3), "--until", str(T0 + 4), "--format", "json"],
        ):
            out[" ".join(args)] = json_lines(run_cli(*args, "--db", d))
        for args in (
            ["history", "--since", since, "--until", until, "--format", "csv"],
            ["history", "--since", since, "--until", until, "--format", "csv", "--top", "1"],
        ):
            res = run_cli(*args, "--db", d)
            out[" ".join(args)] = {**res, "stdout": res["stdout"].splitlines()}
        for event_id in ("1", "2"):
            res = run_cli("why", event_id, "--json", "--db", d)
            out[f"why {event_id} --json"] = {**res, "stdout": json.loads(res["stdout"])}
        out["exporter"] = exporter_pages(db)
        # What the file holds, so a change of the recording policy shows as such.
        conn = sqlite3.connect(db)
        try:
            out["recorded_pids_per_tick"] = [
                [
                    pid
                    for (pid,) in conn.execute(
                        "SELECT pid FROM procs WHERE tick_id = ? ORDER BY score DESC, pid", (tid,)
                    )
                ]
                for (tid,) in conn.execute("SELECT id FROM ticks ORDER BY time")
            ]
        finally:
            conn.close()
    return out


# --- files ---------------------------------------------------------------------------------------

GOLDEN: dict[str, Callable[[], dict[str, Any]]] = {
    "ranking": ranking_cases,
    "analyze": analyze_cases,
    "store": store_cases,
    "shared_analyze": shared_analyze_cases,
}


def compute(name: str, reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """One golden document as the code on the path makes it (TZ=UTC), JSON round-tripped so
    it compares with what a file holds. ``reference``: the recorded document, for the outputs
    kept only as hashes (they are cut down to the keys it recorded first)."""
    with utc():
        doc = shared_analyze_cases(reference) if name == "shared_analyze" else GOLDEN[name]()
    return json.loads(json.dumps(doc))


def source_commit() -> str | None:
    """The git commit of the lagwatch that is recording (None outside a checkout)."""
    import lagwatch

    where = Path(lagwatch.__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def main() -> None:
    import lagwatch

    print(f"recording golden JSON with {Path(lagwatch.__file__).resolve().parent}", flush=True)
    for name in GOLDEN:
        doc = compute(name)
        if name == "shared_analyze" and not doc:
            print(f"  {name}: {SHARED} absent, file left as it is")
            continue
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        print(f"  {path.relative_to(REPO)}: {len(json.dumps(doc))} bytes")
    manifest = {
        "generated_by": "tests/golden/make_golden.py",
        "lagwatch_commit": source_commit(),
        "files": sorted(f"{name}.json" for name in GOLDEN),
    }
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
