"""powermetrics samples -> ProcessSamples carrying the rates powermetrics measured.

Which figure becomes which contract key (docs/metrics.md, "Captures (analyze)"):
- cpu_percent = CPU ms/s / 10 (cputime_ms_per_s); wakeups_per_s = package-idle wakeups per
  second ("Pkg idle", idle_wakeups_per_s), as the libproc source's ri_pkg_idle_wkups and top's
  IDLEW (interrupt wakeups include them: adding the two would count them twice);
- disk_{read,write}_bytes_per_s = diskio_bytes{read,written}_per_s; pageins_per_s = pageins_per_s;
  net_bytes_per_s = bytes_received_per_s + bytes_sent_per_s; gpu_percent = GPU ms/s / 10;
- energy_impact = powermetrics' own energy_impact_per_s (the "Energy Impact" column in text);
  where the capture has none, the ranking's energy attribution models it (energy_source says
  which).
"""

from __future__ import annotations

from lagwatch.model import ProcessSample
from lagwatch.parsers.powermetrics_model import PmTask
from lagwatch.parsers.top_convert import name_id


def task_rates(task: PmTask) -> dict[str, float]:
    rates: dict[str, float | None] = {
        "cpu_percent": task.cpu_percent,
        "wakeups_per_s": task.idle_wakeups_per_s,
        "disk_read_bytes_per_s": task.disk_read_bytes_per_s,
        "disk_write_bytes_per_s": task.disk_write_bytes_per_s,
        "pageins_per_s": task.pageins_per_s,
        "gpu_percent": None if task.gpu_ms_per_s is None else task.gpu_ms_per_s / 10.0,
        "energy_impact": task.energy_impact_rate,
    }
    if task.net_rx_bytes_per_s is not None or task.net_tx_bytes_per_s is not None:
        rx, tx = task.net_rx_bytes_per_s or 0.0, task.net_tx_bytes_per_s or 0.0
        rates["net_bytes_per_s"] = rx + tx
    return {k: v for k, v in rates.items() if v is not None}


def task_sample(task: PmTask) -> ProcessSample:
    # started_abstime_ns jitters by ~0.1 ms between samples of the same task (GMT capture), so
    # identity is pid + name as for top.
    return ProcessSample(
        pid=task.pid,
        start_id=name_id(task.name),
        name=task.name,
        ppid=task.parent_pid,
        rates=dict(task_rates(task)) or None,
    )
