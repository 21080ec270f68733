"""A fake macOS ``powermetrics``: ``powermetrics [--samplers s,s] [--show-process-*] [-b N]
-f plist -i MS [-n N]``.

Reproduces what lagwatch must cope with (man page and reference sections 6-7, shared captures):
- it refuses to run unless root: "powermetrics must be invoked as the superuser" on stderr,
  exit status 1;
- one XML plist per sample on stdout; documents are separated by a NUL byte, written here
  before each document but the first, so the stream never ends in a NUL (as in the captures);
- stray lines on stderr while it runs (scenario ``stderr_lines``, one per sample, in turn),
  written while the sample's document is half written: a reader that merges stderr into
  stdout gets them inside the XML;
- ``-b 0`` writes without a buffer, ``-b 1`` line by line; without ``-b``, stdio's default:
  line-buffered on a terminal, 4 KiB lumps on a pipe, with no flush per sample.
Only ``-f plist`` is faked. Tasks come from the scenario's processes, in one coalition each.
"""

from __future__ import annotations

import os
import plistlib
import sys
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakestdio


def task(p: dict, elapsed_ns: int, flags: set[str]) -> dict:
    s = elapsed_ns / 1e9
    cpu_ns = int(p.get("cpu_percent", 0.0) / 100.0 * elapsed_ns)
    idle = int(p.get("idlew_per_s", 0) * s)
    t: dict = {
        "pid": p["pid"],
        "name": p["command"],
        "interval_ns": elapsed_ns,
        "cputime_ns": cpu_ns,
        "cputime_ms_per_s": cpu_ns / 1e6 / s,
        "cputime_userland_ratio": 0.9,
        "intr_wakeups": idle,
        "intr_wakeups_per_s": idle / s,
        "idle_wakeups": idle,
        "idle_wakeups_per_s": idle / s,
        "qos_default_ns": cpu_ns,
        "qos_default_ms_per_s": cpu_ns / 1e6 / s,
    }
    if "--show-process-io" in flags or "--show-process-energy" in flags:
        t.update(diskio_bytesread=0, diskio_bytesread_per_s=0.0, diskio_byteswritten=0,
                 diskio_byteswritten_per_s=0.0, pageins=0, pageins_per_s=0.0)  # fmt: skip
    if "--show-process-netstats" in flags or "--show-process-energy" in flags:
        rx, tx = int((p.get("net_in_per_s") or 0) * s), int((p.get("net_out_per_s") or 0) * s)
        t.update(bytes_received=rx, bytes_received_per_s=rx / s, bytes_sent=tx,
                 bytes_sent_per_s=tx / s, packets_received=rx // 1000,
                 packets_received_per_s=rx / 1000 / s, packets_sent=tx // 1000,
                 packets_sent_per_s=tx / 1000 / s)  # fmt: skip
    if "--show-process-energy" in flags and p.get("energy_impact_per_s") is not None:
        t["energy_impact_per_s"] = float(p["energy_impact_per_s"])
        t["energy_impact"] = float(p["energy_impact_per_s"]) * s
    return t


def document(procs: list[dict], samplers: set[str], flags: set[str], elapsed_ns: int) -> bytes:
    d: dict = {
        "is_delta": True,
        "elapsed_ns": elapsed_ns,
        "hw_model": "MacBookPro18,3",
        "kern_osversion": "24D81",
        "timestamp": datetime.now().replace(microsecond=0),
    }
    if "tasks" in samplers:
        d["coalitions"] = [
            {"id": 1000 + i, "name": p["command"], "tasks": [task(p, elapsed_ns, flags)]}
            for i, p in enumerate(procs)
        ]
        d["all_tasks"] = {"pid": -2, "name": "ALL_TASKS", "interval_ns": elapsed_ns}
    if "cpu_power" in samplers:
        d["processor"] = {"cpu_energy": 297, "cpu_power": 2422.19, "gpu_energy": 36,
                          "gpu_power": 293.599, "ane_energy": 0, "ane_power": 0.0,
                          "combined_power": 2715.79}  # fmt: skip
    return plistlib.dumps(d)


def main(argv: list[str]) -> int:
    samplers = {"tasks", "cpu_power"}
    flags: set[str] = set()
    interval_ms, count, fmt, mode = 5000, 0, "text", None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--samplers", "-s", "-i", "--sample-rate", "-n", "--sample-count", "-f",
                   "--format", "-b", "--buffer-size", "-a", "--poweravg"):  # fmt: skip
            if i + 1 >= len(argv):
                os.write(2, f"powermetrics: option requires an argument -- {arg}\n".encode())
                return 1
            value = argv[i + 1]
            if arg in ("--samplers", "-s"):
                samplers = set(value.split(","))
            elif arg in ("-i", "--sample-rate"):
                interval_ms = int(value)
            elif arg in ("-n", "--sample-count"):
                count = int(value)
            elif arg in ("-f", "--format"):
                fmt = value
            elif arg in ("-b", "--buffer-size"):
                mode = {"0": "none", "1": "line"}.get(value, "block")
            i += 2
            continue
        if not arg.startswith("--show-"):
            os.write(2, f"powermetrics: unrecognized option '{arg}'\n".encode())
            return 1
        flags.add(arg)
        i += 1
    fakestdio.log_start("powermetrics")
    spec = fakestdio.tool_spec("powermetrics")
    # "as_user": behave as when run by a user, for tests that run as root.
    if (os.geteuid() != 0 and not spec.get("as_root")) or spec.get("as_user"):
        os.write(2, b"powermetrics must be invoked as the superuser\n")
        return 1
    if fmt != "plist":
        os.write(2, b"fake powermetrics: only -f plist is faked\n")
        return 64
    period = spec.get("period_s") or interval_ms / 1000.0
    stray = list(spec.get("stderr_lines") or [])
    procs = fakestdio.scenario()["processes"]
    out = fakestdio.Stdio(mode or fakestdio.Stdio.default_mode())
    k = 0
    while count <= 0 or k < count:
        fakestdio.pause(period)  # a sample covers the interval before it
        doc = (b"\0" if k else b"") + document(procs, samplers, flags, int(period * 1e9))
        half = len(doc) // 2
        out.write(doc[:half])
        if stray:  # said while the sample is being made: mid-document, if both streams mix
            os.write(2, (stray[k % len(stray)] + "\n").encode())
        out.write(doc[half:])
        fakestdio.log({"tool": "powermetrics", "pid": os.getpid(), "sample": k})
        k += 1
        fakestdio.die_if_due("powermetrics", spec, k, out)
        fakestdio.hang_if_due(spec, k)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
