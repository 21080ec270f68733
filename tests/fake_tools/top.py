"""A fake macOS ``top`` in logging mode: ``top -l N -s SECONDS [-F] -stats key,key,...``.

Reproduces what lagwatch must cope with (reference section 7.2, shared captures):
- one block per sample (header lines, a blank line, the column header, the rows, a blank line),
  flushed at the end of each sample whatever stdout is;
- columns sized per sample from their content and padded by *bytes* (strlen), so a non-ASCII
  COMMAND shifts the columns after it; COMMAND is p_comm, cut at 16 bytes, possibly inside a
  UTF-8 character;
- a ``*`` after the PID of a process whose CPU type differs from top's own, a space after any
  other PID (pid.c prints every PID with a one-character suffix);
- the first sample's %CPU and POWER are 0.0 (top measured nothing yet); IDLEW, PAGEINS and CSW
  are counters since the process started.
Processes and figures come from the scenario (see fakestdio.py), rows by descending pid.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakestdio

HEADERS = {
    "pid": "PID", "ppid": "PPID", "uid": "UID", "user": "USER", "command": "COMMAND",
    "state": "STATE", "cpu": "%CPU", "power": "POWER", "idlew": "IDLEW", "pageins": "PAGEINS",
    "csw": "CSW", "mem": "MEM", "threads": "#TH", "time": "TIME",
}  # fmt: skip
MAXCOMLEN = 16


def size(n: int) -> str:
    if n < 1024:
        return f"{n}B"
    for unit, shift in (("K", 10), ("M", 20), ("G", 30)):
        value = n >> shift
        if value < 10000:
            return f"{value}{unit}"
    return f"{n >> 40}T"


def cpu_time(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:05.2f}"


def cell(key: str, p: dict, k: int, elapsed_s: float) -> bytes:
    first = k == 0
    if key == "pid":
        # pid.c: "%u%s" with a one-character suffix, "*" for a foreign CPU type, else a space.
        return f"{p['pid']}{'*' if p.get('foreign_arch') else ' '}".encode()
    if key == "command":
        return fakestdio.cut_utf8(p["command"].encode(), MAXCOMLEN)
    if key in ("cpu", "power"):
        value = 0.0 if first else float(p.get("cpu_percent" if key == "cpu" else "power", 0.0))
        return f"{value:.1f}".encode()
    if key in ("idlew", "pageins", "csw"):
        return str(int(p.get(f"{key}_per_s", 0) * elapsed_s) + p.get(f"{key}_base", 0)).encode()
    if key == "mem":
        return size(int(p.get("mem_bytes", 0))).encode()
    if key == "threads":
        running = 1 if p.get("state") == "running" else 0
        n = p.get("threads", 1)
        return (f"{n}/{running}" if running else str(n)).encode()
    if key == "time":
        return cpu_time(p.get("cpu_percent", 0.0) / 100.0 * elapsed_s).encode()
    if key in ("ppid", "uid"):
        return str(p.get(key, 0)).encode()
    return str(p.get(key, "")).encode()


def block(keys: list[str], procs: list[dict], k: int, elapsed_s: float) -> bytes:
    rows = [[cell(key, p, k, elapsed_s) for key in keys] for p in procs]
    heads = [HEADERS[key].encode() for key in keys]
    # From content alone: a 5-digit pid and its suffix make PID 6 wide, as in every capture.
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]

    def line(cells: list[bytes]) -> bytes:
        # Padding by bytes, as top's strlen-based formatting does.
        return b" ".join(c + b" " * (w - len(c)) for c, w in zip(cells, widths, strict=True))

    running = sum(1 for p in procs if p.get("state") == "running")
    threads = sum(p.get("threads", 1) for p in procs)
    head = [
        f"Processes: {len(procs)} total, {running} running, {len(procs) - running} sleeping, "
        f"{threads} threads ",
        time.strftime("%Y/%m/%d %H:%M:%S"),
        "Load Avg: 1.52, 1.41, 1.38 ",
        "CPU usage: 12.34% user, 5.67% sys, 81.99% idle ",
        "SharedLibs: 477M resident, 109M data, 66M linkedit.",
        "MemRegions: 640128 total, 3403M resident, 202M private, 1857M shared.",
        "PhysMem: 15G used (2496M wired, 7064M compressor), 74M unused.",
        "VM: 268T vsize, 5702M framework vsize, 0(0) swapins, 0(0) swapouts.",
        "Networks: packets: 38864232/46G in, 29586958/31G out.",
        "Disks: 6925690/149G read, 5210940/189G written.",
        "",
    ]
    out = [h.encode() for h in head] + [line(heads)] + [line(r) for r in rows]
    return b"\n".join(out) + b"\n\n"


def main(argv: list[str]) -> int:
    samples, seconds, keys = 1, 1.0, ["pid", "command", "cpu", "mem"]
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-l", "-s", "-stats", "-o", "-n", "-c") and i + 1 < len(argv):
            value = argv[i + 1]
            if arg == "-l":
                samples = int(value)
            elif arg == "-s":
                seconds = float(value)
            elif arg == "-stats":
                keys = value.split(",")
            i += 2
            continue
        if arg not in ("-F", "-d"):
            os.write(2, f"invalid option or syntax: {arg}\n".encode())
            return 1
        i += 1
    unknown = [k for k in keys if k not in HEADERS]
    if unknown:
        os.write(2, f"invalid stat: {unknown[0]}\n".encode())
        return 1
    fakestdio.log_start("top")
    spec = fakestdio.tool_spec("top")
    period = spec.get("period_s") or seconds
    procs = sorted(fakestdio.scenario()["processes"], key=lambda p: -p["pid"])
    out = fakestdio.Stdio(fakestdio.Stdio.default_mode())
    k = 0
    while samples == 0 or k < samples:
        out.write(block(keys, procs, k, elapsed_s=10.0 + k * period))
        out.flush()  # logging mode flushes every sample
        fakestdio.log({"tool": "top", "pid": os.getpid(), "sample": k})
        k += 1
        fakestdio.die_if_due("top", spec, k, out)
        fakestdio.hang_if_due(spec, k)
        if samples == 0 or k < samples:
            fakestdio.pause(period)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
