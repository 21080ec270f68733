"""A fake macOS ``nettop`` in CSV logging mode: ``nettop -P -L N [-d] [-x] [-n] -s SECONDS
[-J key,key]``.

Reproduces what lagwatch must cope with (reference section 7.4, shared captures):
- stdio buffering: line by line when stdout is a terminal, in 4 KiB lumps otherwise, with no
  flush per sample, so a reader on a pipe sees nothing until 4 KiB have piled up;
- on a terminal, every line is cut at the terminal's width (80 columns when the terminal does
  not say, as a new pseudo-terminal does not): the reason lagwatch sets a large window size;
- each frame starts with its header; the first frame counts bytes since each process started,
  later frames are deltas with ``-d`` and totals without; ``name.pid`` with the name cut to
  15 bytes; every line ends with a comma; with ``-J`` only the chosen columns and no time.
Processes with ``net_in_per_s``/``net_out_per_s`` in the scenario are listed.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakestdio

FULL = ["time", "", "interface", "state", "bytes_in", "bytes_out", "rx_dupe", "rx_ooo", "re-tx",
        "rtt_avg", "rcvsize", "tx_win", "tc_class", "tc_mgt", "cc_algo", "P", "C", "R", "W",
        "arch"]  # fmt: skip
NAME_BYTES = 15
UPTIME_S = 100.0  # how long the processes have been running when nettop starts


def human(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


def frame(columns: list[str], procs: list[dict], k: int, period: float, delta: bool,
          raw: bool) -> list[bytes]:  # fmt: skip
    header = ",".join(columns) + ","
    if "" not in columns:
        header = "," + header  # -J: the process column keeps its empty name, first
    lines = [header.encode()]
    for p in procs:
        if k == 0:
            span = UPTIME_S
        elif delta:
            span = period
        else:
            span = UPTIME_S + k * period
        values = {
            "bytes_in": int(p.get("net_in_per_s") or 0) * span,
            "bytes_out": int(p.get("net_out_per_s") or 0) * span,
        }
        name = fakestdio.cut_utf8(p["command"].encode(), NAME_BYTES) + f".{p['pid']}".encode()
        cells = [] if "" in columns else [name]
        for col in columns:
            if col == "":
                cells.append(name)
            elif col == "time":
                cells.append(time.strftime("%H:%M:%S.000000").encode())
            elif col in values:
                n = int(values[col])
                cells.append((str(n) if raw else human(n)).encode())
            elif col in ("rx_dupe", "rx_ooo", "re-tx"):
                cells.append(b"0")
            else:
                cells.append(b"")
        lines.append(b",".join(cells) + b",")
    return lines


def main(argv: list[str]) -> int:
    samples, seconds, delta, raw, columns = 1, 1.0, False, False, list(FULL)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-L", "-s", "-J", "-l", "-p", "-t") and i + 1 < len(argv):
            value = argv[i + 1]
            if arg == "-L":
                samples = int(value)
            elif arg == "-s":
                seconds = float(value)
            elif arg == "-J":
                columns = value.split(",")
            i += 2
            continue
        if arg == "-d":
            delta = True
        elif arg == "-x":
            raw = True
        elif arg not in ("-P", "-n", "-c"):
            os.write(2, f"nettop: invalid option -- {arg}\n".encode())
            return 1
        i += 1
    fakestdio.log_start("nettop")
    spec = fakestdio.tool_spec("nettop")
    period = spec.get("period_s") or seconds
    procs = [
        p
        for p in fakestdio.scenario()["processes"]
        if p.get("net_in_per_s") is not None or p.get("net_out_per_s") is not None
    ]
    out = fakestdio.Stdio(fakestdio.Stdio.default_mode())
    width = None
    if (size := fakestdio.terminal_size(1)) is not None:
        width = size[1] or 80  # a terminal that does not say is taken as 80 columns wide
    k = 0
    while samples == 0 or k < samples:
        for line in frame(columns, procs, k, period, delta, raw):
            out.write((line[:width] if width else line) + b"\n")
        fakestdio.log({"tool": "nettop", "pid": os.getpid(), "sample": k})
        k += 1
        fakestdio.die_if_due("nettop", spec, k, out)
        fakestdio.hang_if_due(spec, k)
        if samples == 0 or k < samples:
            fakestdio.pause(period)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
