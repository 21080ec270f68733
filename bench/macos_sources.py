"""Benchmark: the macOS sources' own cost, measurable on Linux.

1. `libproc` source, one full read of N processes (a quarter of them other users'), against the
   fake libSystem (tests/fake_libsystem). Reference, same run: the bare ctypes calls the source
   makes (rusage + TASKALLINFO per readable pid, rusage + SHORTBSDINFO + UNIQID per restricted
   one) into preallocated buffers, with no Python objects built: the floor for any ctypes
   binding. Ratio = source / floor.
2. nettop CSV parser on F frames of N process rows (full column set). Reference: the standard
   library's C `csv.reader` splitting the same text. Ratio = parser / csv.reader.
3. ioreg parser on N GPU user clients. Reference: `json.loads` (C) of the same data as JSON.

Run: `.venv/bin/python bench/macos_sources.py [--procs 1000] [--reps 30]`.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import io
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from lagwatch.parsers.ioreg import parse_ioreg  # noqa: E402
from lagwatch.parsers.nettop import parse_nettop  # noqa: E402
from lagwatch.sources import libproc_abi as abi  # noqa: E402
from lagwatch.sources.gpu_clients import gpu_clients_from_ioreg  # noqa: E402
from lagwatch.sources.libproc import LibProc  # noqa: E402
from lagwatch.sources.macos_libproc import LibprocSource  # noqa: E402

FAKE_C = HERE.parent / "tests" / "fake_libsystem" / "fake_libsystem.c"


def paired_ms(fn, ref, reps: int) -> tuple[float, float]:
    """Medians of ``fn`` and ``ref``, run alternately so that load from other jobs on this
    shared machine hits both alike."""
    fn(), ref()
    a, b = [], []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        fn()
        t1 = time.perf_counter_ns()
        ref()
        t2 = time.perf_counter_ns()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return statistics.median(a) / 1e6, statistics.median(b) / 1e6


def build_fake(directory: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("no C compiler: cannot build the fake libSystem")
    out = directory / "libfakesystem.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(FAKE_C)], check=True)
    return out


def bench_libproc(path: Path, procs: int, reps: int) -> tuple[float, float]:
    lib = ctypes.CDLL(str(path), use_errno=True)
    c = ctypes
    lib.fake_add.argtypes = [c.c_int, c.c_uint32, c.c_uint32, c.c_uint32, c.c_char_p,
                             c.c_char_p, c.c_char_p, c.c_uint64]  # fmt: skip
    lib.fake_set.argtypes = [c.c_int, c.c_char_p, c.c_uint64]
    lib.fake_reset()
    for pid in range(100, 100 + procs):
        uid = 0 if pid % 4 == 0 else 501
        name = f"process-{pid}".encode()
        lib.fake_add(pid, uid, 1, 2, name, name, b"/usr/bin/" + name, pid * 1000)
        lib.fake_set(pid, b"ri_user_time", pid * 1234)
        lib.fake_set(pid, b"pti_threadnum", 4)
    source = LibprocSource(LibProc(str(path)))

    pidinfo = lib.proc_pidinfo
    pidinfo.argtypes = [c.c_int, c.c_int, c.c_uint64, c.c_void_p, c.c_int]
    rusage = lib.proc_pid_rusage
    rusage.argtypes = [c.c_int, c.c_int, c.c_void_p]
    listall = lib.proc_listallpids
    listall.argtypes = [c.c_void_p, c.c_int]
    ru, allinfo = abi.RusageInfoV6(), abi.ProcTaskAllInfo()
    short, uniq = abi.ProcBsdShortInfo(), abi.ProcUniqIdentifierInfo()
    pids = (c.c_int * (procs * 2))()
    ref_ru, ref_all = c.byref(ru), c.byref(allinfo)
    ref_short, ref_uniq = c.byref(short), c.byref(uniq)

    def floor() -> None:
        n = listall(pids, c.sizeof(pids))
        for pid in pids[:n]:
            if rusage(pid, 6, ref_ru) == 0:
                pidinfo(pid, 2, 0, ref_all, 232)
            else:
                pidinfo(pid, 13, 1, ref_short, 64)
                pidinfo(pid, 17, 0, ref_uniq, 56)

    return paired_ms(source.read, floor, reps)


def nettop_text(procs: int, frames: int) -> str:
    header = ("time,,interface,state,bytes_in,bytes_out,rx_dupe,rx_ooo,re-tx,rtt_avg,rcvsize,"
              "tx_win,tc_class,tc_mgt,cc_algo,P,C,R,W,arch,\n")  # fmt: skip
    out = io.StringIO()
    for f in range(frames):
        out.write(header)
        for p in range(procs):
            out.write(f"12:00:{f:02d}.000000,Process {p % 97}.{1000 + p},,,{p * 31},{p * 7},"
                      "0,0,0,,,,,,,,,,,,\n")  # fmt: skip
    return out.getvalue()


def ioreg_text(clients: int) -> tuple[str, str]:
    lines = []
    data = []
    for i in range(clients):
        usage = [{"API": "Metal", "lastSubmittedTime": 10 * i + q, "accumulatedGPUTime": i * q}
                 for q in range(1, 3)]  # fmt: skip
        creator = f"pid {500 + i % 150}, app{i % 150}"
        inner = ",".join(
            f'{{"API"="Metal","lastSubmittedTime"={u["lastSubmittedTime"]},'
            f'"accumulatedGPUTime"={u["accumulatedGPUTime"]}}}'
            for u in usage
        )
        lines += [
            f"+-o AGXDeviceUserClient  <class AGXDeviceUserClient, id 0x{0x100002000 + i:x}, "
            "!registered, !matched, active, busy 0, retain 5>",
            "    {",
            f'      "AppUsage" = ({inner})',
            f'      "IOUserClientCreator" = "{creator}"',
            "    }",
            "    ",
        ]
        data.append({"AppUsage": usage, "IOUserClientCreator": creator})
    return "\n".join(lines) + "\n", json.dumps(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    system = f"{platform.system()} {platform.release()}"
    print(f"machine: {platform.machine()}, {system}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = build_fake(Path(tmp))
        full, floor = bench_libproc(path, args.procs, args.reps)
    print(f"libproc source read, {args.procs} processes: {full:.2f} ms; "
          f"ctypes-call floor {floor:.2f} ms; ratio {full / floor:.2f}")  # fmt: skip

    text = nettop_text(args.procs, args.frames)
    ours, ref = paired_ms(
        lambda: parse_nettop(text), lambda: list(csv.reader(io.StringIO(text))), args.reps // 3
    )
    rows = args.procs * args.frames
    print(f"nettop parse, {rows} rows: {ours:.2f} ms ({ours * 1e3 / rows:.2f} us/row); "
          f"csv.reader {ref:.2f} ms; ratio {ours / ref:.2f}")  # fmt: skip

    ioreg, as_json = ioreg_text(args.procs // 2)
    ours, ref = paired_ms(
        lambda: gpu_clients_from_ioreg(parse_ioreg(ioreg)[0]),
        lambda: json.loads(as_json),
        args.reps,
    )
    print(f"ioreg parse + aggregate, {args.procs // 2} clients: {ours:.2f} ms; "
          f"json.loads {ref:.2f} ms; ratio {ours / ref:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
