"""What only a real Mac can prove: a ten-minute check a maintainer runs, and a report to paste.

    python3 bench/mac_check.py            # as yourself: top augments libproc (most checks)
    sudo python3 bench/mac_check.py       # again as root: powermetrics, GPU time units
    python3 bench/mac_check.py --list     # the checks; --only NAME,NAME runs some; --json

NOT YET RUN ON A MAC. It was written on Linux (issue 11) from the same verified facts as the
code it checks (shared/reference/macos-apis.md, Apple's published sources), and only its pure
parts and its plumbing (against the Mac-in-a-box fakes, tests/test_mac_check.py) have run. A
check that ends in ERROR is a bug in this script: report it with the output.

Every check prints what it saw and one verdict: PASS, FAIL, NEEDS-EYES (a figure or a fact a
person must judge or write into docs/metrics.md), SKIP (cannot run here, and why). Exit status
1 when any check failed or erred. Standard library only, besides lagwatch itself (run it with
the interpreter lagwatch is installed in, e.g. `.venv/bin/python bench/mac_check.py`).

Checks (in order; about a minute in all, the restart check the longest):
- sources: `lagwatch sources --json`: which sources run here and why the others do not.
- libproc-structs: proc_pidinfo returns exactly our struct sizes; which proc_pid_rusage
  flavors this kernel accepts and how many bytes each writes; the flavor the binding settles.
- libproc-vs-ps: libproc's CPU time of a process that burned a known amount vs `ps`, and
  parents, users, names and the restricted set vs `ps -axo`.
- top-parse: `top -l 4 -s 1 -F -stats <lagwatch's columns>` parses, every column, every row.
- top-flush: top writes each sample as it is taken into a pipe (not in 4 KiB lumps).
- top-cost: top's own CPU time per sample (from its rusage), against the 1 s interval.
- restricted-from-top: `lagwatch top --json` as a user: WindowServer and kernel_task carry
  CPU, footprint and Energy Impact from top, stay restricted, disk unknown.
- nettop-pty: nettop as lagwatch runs it (a pty of WINDOW_COLUMNS columns) cuts no row; the
  full column set at 80 columns, for comparison.
- nettop-pipe: whether nettop block-buffers into a pipe (why lagwatch gives it a pty).
- nettop-restart: lagwatch's nettop source restarts a nettop killed with SIGKILL, with backoff.
- powermetrics (root): one plist per sample with `-b 0`, where the NUL separators go, and what
  it writes on stderr.
- iokit-gpu: AGXDeviceUserClient AppUsage/accumulatedGPUTime present and advancing; as root,
  its unit against powermetrics' per-process GPU ms/s; the live read vs `ioreg` text.
- board-id: the board-id lagwatch reads vs `ioreg`, on this architecture, and its pmenergy plist.
- memory-pressure: kern.memorystatus_vm_pressure_level through libproc's sysctl vs `sysctl -n`.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import ctypes
import itertools
import json
import os
import platform
import select
import signal
import statistics
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"
STATUSES = ("pass", "fail", "needs-eyes", "skip", "error")
NOTICE = (
    "NOTE: this script has not been run on a real Mac yet (written on Linux, issue 11). An "
    "ERROR is a bug in the check: please report it with this output."
)
TOP_HEADERS = {  # top -stats key -> column header (top's preferences.c / the man page)
    "pid": "PID", "ppid": "PPID", "uid": "UID", "command": "COMMAND", "state": "STATE",
    "cpu": "%CPU", "power": "POWER", "idlew": "IDLEW", "pageins": "PAGEINS", "csw": "CSW",
    "mem": "MEM", "threads": "#TH", "time": "TIME",
}  # fmt: skip
TOP_SAMPLES = 4
BURN_S = 1.5  # CPU seconds the libproc-vs-ps check burns in a child


# -- results and the report (pure) -----------------------------------------------------------------


@dataclass
class Result:
    name: str
    status: str  # one of STATUSES
    summary: str
    saw: list[str] = field(default_factory=list)
    seconds: float = 0.0


def result(name: str, status: str, summary: str, saw: Iterable[str] = ()) -> Result:
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    return Result(name, status, summary, list(saw))


def format_report(results: list[Result], header: list[str]) -> str:
    """The report: the header, one block per check, a summary line."""
    lines = [*header, ""]
    for r in results:
        lines.append(f"[{r.status.upper()}] {r.name}: {r.summary} ({r.seconds:.1f}s)")
        lines.extend(f"    {line}" for line in r.saw)
    counts = {s: sum(1 for r in results if r.status == s) for s in STATUSES}
    lines.append("")
    lines.append("Summary: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines) + "\n"


def exit_status(results: list[Result]) -> int:
    return 1 if any(r.status in ("fail", "error") for r in results) else 0


def run_check(name: str, check: Callable[[Context], Result], ctx: Context) -> Result:
    """Run one check; an exception is that check's ERROR (a bug here), never the end of all."""
    t0 = time.monotonic()
    try:
        res = check(ctx)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        res = result(
            name,
            "error",
            f"{type(exc).__name__}: {exc}",
            [f"at {Path(where.filename).name}:{where.lineno} ({where.name})"],
        )
    res.seconds = time.monotonic() - t0
    return res


# -- pure helpers (tested on Linux) ------------------------------------------------------------


def parse_ps_time(text: str) -> float:
    """``ps -o time`` -> seconds: macOS "M:SS.ss" (minutes may pass 59), "H:MM:SS[.ss]", and
    Linux's "[D-]HH:MM:SS"."""
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [float(p) for p in text.strip().split(":")]
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return days * 86400 + seconds


def cpu_agrees(ours_s: float, ps_s: float) -> bool:
    """Within ps's 10 ms resolution plus 3 % (the two reads are not at the same instant)."""
    return abs(ours_s - ps_s) <= 0.05 + 0.03 * max(ours_s, ps_s)


def written_length(buf: bytes, fill: int) -> int:
    """How many leading bytes a call wrote into a buffer prefilled with ``fill``: up to the
    last byte that differs from it."""
    n = len(buf)
    while n > 0 and buf[n - 1] == fill:
        n -= 1
    return n


def marker_times(chunks: list[tuple[float, bytes]], marker: bytes) -> list[float]:
    """When each occurrence of ``marker`` had fully arrived, from (time, chunk) pairs."""
    ends: list[int] = []
    total = 0
    for _, chunk in chunks:
        total += len(chunk)
        ends.append(total)
    data = b"".join(c for _, c in chunks)
    times = []
    at = data.find(marker)
    while at >= 0:
        last = at + len(marker) - 1
        times.append(chunks[bisect.bisect_right(ends, last)][0])
        at = data.find(marker, at + 1)
    return times


def flush_verdict(times: list[float], interval_s: float) -> tuple[str, str]:
    """Did samples arrive one by one (flushed per sample) or in one lump?"""
    if len(times) < 2:
        return "fail", f"only {len(times)} sample(s) arrived"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    spread = times[-1] - times[0]
    text = "arrival gaps " + ", ".join(f"{g:.2f}s" for g in gaps)
    if spread >= 0.5 * interval_s * (len(times) - 1):
        return "pass", f"each sample arrived on its own ({text})"
    return "fail", f"the samples arrived together ({text}): buffered, not flushed per sample"


def buffering_verdict(chunks: list[tuple[float, bytes]], seconds: float) -> tuple[str, str]:
    """("block" | "streams", what was seen) for a tool's stdout on a pipe."""
    if not chunks:
        return "block", f"nothing arrived in {seconds:.0f}s: output waits for a full buffer"
    sizes = [len(c) for _, c in chunks]
    shown = ", ".join(str(s) for s in sizes[:8]) + (" ..." if len(sizes) > 8 else "")
    whole = sizes[:-1] if len(sizes) > 1 else sizes
    if all(s % 4096 == 0 for s in whole) and sizes[0] >= 4096:
        return "block", f"{len(sizes)} chunk(s) of {shown} bytes: written in buffer-sized lumps"
    return "streams", f"{len(sizes)} chunk(s) of {shown} bytes: written as produced"


def nul_layout(data: bytes) -> str:
    """Where the NUL bytes of a powermetrics plist stream sit, in words."""
    docs = data.count(b"</plist>")
    nuls = [i for i, b in enumerate(data) if b == 0]
    if not nuls:
        return f"no NUL byte in {docs} document(s)"
    tail = data.rstrip(b" \t\r\n")
    first_doc = data.find(b"<?xml")
    where = []
    if first_doc >= 0 and nuls[0] < first_doc:
        where.append("one before the first document")
    if tail.endswith(b"\0"):
        where.append("the stream ends in a NUL")
    if len(nuls) == docs and tail.endswith(b"\0"):
        shape = "one after every document"
    elif len(nuls) == docs - 1 and not tail.endswith(b"\0"):
        shape = "one between documents, none after the last"
    else:
        shape = f"at offsets {nuls[:6]}"
    return f"{len(nuls)} NUL(s) for {docs} document(s): {shape}" + (
        f" ({'; '.join(where)})" if where else ""
    )


def gpu_unit_verdict(pairs: list[tuple[float, float]]) -> tuple[str, str]:
    """(status, text) from (registry ms/s if accumulatedGPUTime is ns, powermetrics GPU ms/s)
    per process."""
    ratios = [reg / pm for reg, pm in pairs if pm >= 2.0]
    if not ratios:
        return "needs-eyes", "no process used the GPU enough (2 ms/s) to compare units"
    m = statistics.median(ratios)
    text = f"registry / powermetrics = {m:.3g} (median of {len(ratios)} processes)"
    if 0.5 <= m <= 2.0:
        return "pass", text + ": accumulatedGPUTime is in ns"
    for factor, unit in ((1e3, "ps (1000x)"), (1e-3, "us (1/1000)")):
        if 0.5 * factor <= m <= 2.0 * factor:
            return "fail", text + f": accumulatedGPUTime is not ns, rather {unit}"
    return "needs-eyes", text + ": neither ns nor a power of 1000 off"


def column_gaps(rows: list[Any], columns: list[str]) -> dict[str, int]:
    """Per column, how many parsed rows have no value (None) in it."""
    return {c: sum(1 for r in rows if r.get(c) is None) for c in columns}


# -- running tools --------------------------------------------------------------------------------


@dataclass
class Capture:
    argv: list[str]
    chunks: list[tuple[float, bytes]] = field(default_factory=list)  # (s since start, bytes)
    stderr: bytes = b""
    status: int | None = None  # exit code when it ended by itself; None when we stopped it
    cpu_s: float | None = None  # its user + system CPU time (wait4)
    duration_s: float = 0.0

    @property
    def data(self) -> bytes:
        return b"".join(c for _, c in self.chunks)


def set_window(fd: int, rows: int, columns: int) -> None:
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def capture(
    argv: list[str],
    seconds: float,
    *,
    window: tuple[int, int] | None = None,
    until: Callable[[Capture], bool] | None = None,
) -> Capture:
    """Run ``argv`` for at most ``seconds`` (stdout on a pipe, or on a pty of ``window`` =
    (rows, columns); stderr on its own pipe) and record when each chunk arrived."""
    master = slave = None
    if window is not None:
        import pty

        master, slave = pty.openpty()
        set_window(slave, *window)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=slave if slave is not None else subprocess.DEVNULL,
        stdout=slave if slave is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if slave is not None:
        os.close(slave)
    assert proc.stderr is not None
    out_fd = master if master is not None else proc.stdout.fileno()  # type: ignore[union-attr]
    err_fd = proc.stderr.fileno()
    cap = Capture(list(argv))
    open_fds = {out_fd, err_fd}
    deadline = t0 + seconds
    try:
        while open_fds and time.monotonic() < deadline:
            ready, _, _ = select.select(list(open_fds), [], [], 0.1)
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the pty's other side is closed
                    chunk = b""
                if not chunk:
                    open_fds.discard(fd)
                elif fd == out_fd:
                    cap.chunks.append((time.monotonic() - t0, chunk))
                else:
                    cap.stderr += chunk
            if until is not None and until(cap):
                break
    finally:
        cap.status, cap.cpu_s = _reap(proc)
        cap.duration_s = time.monotonic() - t0
        for fd in (master,):
            if fd is not None:
                os.close(fd)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return cap


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int | None, float | None]:
    """(exit code if it ended by itself, CPU seconds) — stopping it first if it still runs."""
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    ended = pid != 0
    if not ended:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while pid == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == 0:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return (proc.returncode if ended else None), usage.ru_utime + usage.ru_stime


def lagwatch_json(ctx: Context, *args: str, timeout: float = 90) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "lagwatch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ctx.env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"lagwatch {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    with contextlib.suppress(json.JSONDecodeError):
        return [json.loads(proc.stdout)]  # one document (`sources --json` is indented)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


# -- the checks -----------------------------------------------------------------------------------


@dataclass
class Context:
    root: bool  # really root: may run powermetrics
    chooses_as_root: bool  # lagwatch's own choice of sources (LAGWATCH_AS_USER can say no)
    real_mac: bool  # sys.platform is darwin: ps, sysctl and ioreg are Apple's
    env: dict[str, str]
    cache: dict[str, Any] = field(default_factory=dict)


def clean(text: str | bytes) -> str:
    from lagwatch.sanitize import for_terminal

    return for_terminal(text)


def check_sources(ctx: Context) -> Result:
    (out,) = lagwatch_json(ctx, "sources", "--json")
    saw = [f"platform {out.get('platform')}, root {out.get('root')}"]
    in_use = []
    for s in out["sources"]:
        why = s.get("reason") or s.get("detail") or ""
        saw.append(f"{s['name']}: {s['status']}" + (f" ({clean(why)})" if why else ""))
        if s["status"] == "in use":
            in_use.append(s["name"])
    if out.get("visibility"):
        saw.append(f"visibility {out['visibility']}")
    if "libproc" not in in_use:
        return result("sources", "fail", "libproc is not in use", saw)
    return result("sources", "pass", "in use: " + ", ".join(in_use), saw)


def check_libproc_structs(ctx: Context) -> Result:
    from lagwatch.sources import libproc_abi as abi
    from lagwatch.sources.libproc import LibProc

    lib = LibProc()
    cdll = lib.load()
    pid = _readable_pid(lib)
    saw, bad = [f"reading pid {pid}" + (" (this one)" if pid == os.getpid() else "")], []
    infos = (
        ("proc_taskallinfo", abi.PROC_PIDTASKALLINFO, abi.ProcTaskAllInfo),
        ("proc_bsdinfo", abi.PROC_PIDTBSDINFO, abi.ProcBsdInfo),
        ("proc_taskinfo", abi.PROC_PIDTASKINFO, abi.ProcTaskInfo),
        ("proc_bsdshortinfo", abi.PROC_PIDT_SHORTBSDINFO, abi.ProcBsdShortInfo),
        ("proc_uniqidentifierinfo", abi.PROC_PIDUNIQIDENTIFIERINFO, abi.ProcUniqIdentifierInfo),
    )
    for name, flavor, struct_type in infos:
        size = ctypes.sizeof(struct_type)
        buf = ctypes.create_string_buffer(size + 64)  # room to see the kernel write more
        got = cdll.proc_pidinfo(pid, flavor, 0, buf, size + 64)
        err = ctypes.get_errno()
        ok = got == size
        saw.append(f"{name}: ours {size} bytes, kernel wrote {got}" + ("" if got else f" ({err})"))
        if not ok:
            bad.append(name)
    accepted = []
    totals = []
    for flavor in range(8):
        raw = (ctypes.c_ubyte * 1024)(*([0xAA] * 1024))  # wider than any flavor: no overrun
        rc = cdll.proc_pid_rusage(pid, flavor, ctypes.addressof(raw))
        err = ctypes.get_errno()
        if rc != 0:
            saw.append(f"rusage v{flavor}: refused (errno {err})")
            continue
        accepted.append(flavor)
        n = written_length(bytes(raw), 0xAA)
        want = abi.RUSAGE_INFO_SIZES.get(flavor)
        cpu = struct.unpack_from("=QQ", bytes(raw), 16)  # ri_user_time, ri_system_time
        totals.append(sum(cpu))
        saw.append(f"rusage v{flavor}: wrote about {n} bytes (ours {want}), CPU ticks {sum(cpu)}")
        if want is not None and not want - 16 <= n <= want:  # trailing zero fields blur it
            bad.append(f"rusage v{flavor} size")
    if any(b < a for a, b in itertools.pairwise(totals)):
        bad.append("rusage CPU went backwards across flavors (fields misaligned?)")
    lib.rusage(pid)
    saw.append(f"the binding settled on rusage v{lib.rusage_flavor}")
    best = max((f for f in accepted if f <= abi.RUSAGE_INFO_CURRENT), default=None)
    if lib.rusage_flavor != best:
        bad.append(f"binding chose v{lib.rusage_flavor}, kernel accepts up to v{best}")
    if any(f > abi.RUSAGE_INFO_CURRENT for f in accepted):
        saw.append("a newer rusage flavor than v6 exists: see whether it adds what we need")
    if bad:
        return result("libproc-structs", "fail", "; ".join(bad), saw)
    fallback = "fallback 6 -> 5 -> 4 not needed here" if best == 6 else f"fell back to v{best}"
    return result("libproc-structs", "pass", f"sizes match; rusage v{best} ({fallback})", saw)


def _readable_pid(lib: Any) -> int:
    """This process, or (in the Mac-in-a-box, whose table lacks it) the first readable one."""
    from lagwatch.sources.libproc import LibprocError

    for pid in [os.getpid(), *lib.list_pids()]:
        with contextlib.suppress(LibprocError):
            lib.task_all_info(pid)
            return pid
    raise RuntimeError("no readable process")


def _ps_table() -> dict[int, dict[str, Any]]:
    out = subprocess.run(
        ["ps", "-axo", "pid=,ppid=,uid=,rss=,time=,ucomm="],
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout.decode("utf-8", "surrogateescape")
    table = {}
    for line in out.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        pid, ppid, uid, rss, cpu = parts[:5]
        table[int(pid)] = {
            "ppid": int(ppid),
            "uid": int(uid),
            "rss_bytes": int(rss) * 1024,
            "cpu_s": parse_ps_time(cpu),
            "comm": parts[5] if len(parts) > 5 else "",
        }
    return table


def check_libproc_vs_ps(ctx: Context) -> Result:
    if not ctx.real_mac:
        return result("libproc-vs-ps", "skip", "needs Apple's ps (not a real Mac)")
    from lagwatch import kernel_names
    from lagwatch.sources.macos_libproc import LibprocSource

    burner = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nt = time.process_time()\n"
         f"while time.process_time() - t < {BURN_S}: pass\n"
         "print('burned', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert burner.stdout is not None
        burner.stdout.readline()
        samples = {s.pid: s for s in LibprocSource().read().processes or []}
        ps = _ps_table()
    finally:
        if burner.stdin is not None:
            burner.stdin.close()
        burner.wait(timeout=10)
    saw, bad, eyes = [], [], []
    b_ours, b_ps = samples.get(burner.pid), ps.get(burner.pid)
    if b_ours is None or b_ps is None or b_ours.cpu_ns is None:
        bad.append("the CPU burner is missing from libproc or ps")
    else:
        ours_s = b_ours.cpu_ns / 1e9
        saw.append(f"burner: libproc {ours_s:.3f}s CPU, ps {b_ps['cpu_s']:.2f}s")
        if not cpu_agrees(ours_s, b_ps["cpu_s"]):
            bad.append("CPU time disagrees with ps (timebase? rusage fields?)")
        if b_ours.memory_bytes:
            ratio = b_ours.memory_bytes / max(1, b_ps["rss_bytes"])
            saw.append(
                f"burner: footprint {b_ours.memory_bytes >> 10} KiB, ps rss "
                f"{b_ps['rss_bytes'] >> 10} KiB (ratio {ratio:.2f}; they differ by design)"
            )
            if not 0.2 <= ratio <= 5:
                eyes.append("footprint far from rss")
    common = set(samples) & set(ps)
    saw.append(f"processes: libproc {len(samples)}, ps {len(ps)}, both {len(common)}")
    parent_or_user = [
        p for p in common if (samples[p].ppid, samples[p].uid) != (ps[p]["ppid"], ps[p]["uid"])
    ]
    if parent_or_user:
        saw.append(f"ppid/uid differ for pids {sorted(parent_or_user)[:8]}")
        if len(parent_or_user) > 2:  # one or two may have been re-parented between the reads
            bad.append(f"{len(parent_or_user)} processes with another parent or user than ps")
    names = [p for p in common if ps[p]["comm"]
             and not kernel_names.same_name(samples[p].name, ps[p]["comm"],
                                            kernel_names.MAXCOMLEN)]  # fmt: skip
    for p in sorted(names)[:5]:
        saw.append(f"name of {p}: lagwatch {clean(samples[p].name)!r}, ps {clean(ps[p]['comm'])!r}")
    if names:
        eyes.append(f"{len(names)} names differ from ps's ucomm")
    restricted = {p for p, s in samples.items() if s.restricted}
    others = {p for p in common if ps[p]["uid"] != os.geteuid()}
    saw.append(f"restricted: {len(restricted)}; other users' processes: {len(others)}")
    if not ctx.root and not restricted <= others | {0}:
        bad.append(f"own processes restricted: {sorted(restricted - others)[:8]}")
    if bad:
        return result("libproc-vs-ps", "fail", "; ".join(bad), saw)
    if eyes:
        return result("libproc-vs-ps", "needs-eyes", "; ".join(eyes), saw)
    return result("libproc-vs-ps", "pass", "CPU, parents, users and names agree with ps", saw)


def _top_run(ctx: Context) -> Capture:
    """One `top -l 4 -s 1 -F -stats <lagwatch's>` into a pipe, shared by the top checks."""
    if "top" not in ctx.cache:
        from lagwatch.sources import top_live

        argv = top_live.command(1.0)
        argv[argv.index("-l") + 1] = str(TOP_SAMPLES)
        ctx.cache["top"] = capture(argv, seconds=TOP_SAMPLES + 30)
    return ctx.cache["top"]


def check_top_parse(ctx: Context) -> Result:
    from lagwatch.parsers.top import TopStreamParser
    from lagwatch.parsers.top_convert import TopConverter
    from lagwatch.sources.top_live import STATS

    cap = _top_run(ctx)
    parser = TopStreamParser()
    blocks = []
    for line in cap.data.split(b"\n"):
        blocks.extend(parser.feed(line))
    if (last := parser.flush()) is not None:
        blocks.append(last)
    wanted = [TOP_HEADERS[k] for k in STATS.split(",")]
    saw = [f"exit {cap.status}, {len(blocks)} blocks, {len(cap.data)} bytes"]
    if cap.stderr.strip():
        saw.append(f"stderr: {clean(cap.stderr[:200])!r}")
    bad = []
    if len(blocks) != TOP_SAMPLES:
        bad.append(f"{len(blocks)} blocks, not {TOP_SAMPLES}")
    converter = TopConverter()
    for block in blocks:
        total = block.system.get("processes_total")
        missing = [c for c in wanted if c not in block.columns]
        gaps = {c: n for c, n in column_gaps(block.rows, wanted[1:]).items() if n}
        conv = converter.convert(block)
        rated = sum(1 for s in conv.samples if (s.rates or {}).get("cpu_percent") is not None)
        saw.append(
            f"block {block.index}: {len(block.rows)} rows of {total}, columns "
            f"{' '.join(block.columns)}; empty cells {gaps or 'none'}; "
            f"{len(block.warnings)} warnings; %CPU rates for {rated} rows"
        )
        saw.extend(f"  {clean(w)}" for w in block.warnings[:3])
        if missing:
            bad.append(f"block {block.index} lacks {missing}")
        if block.warnings or total != len(block.rows):
            bad.append(f"block {block.index}: rows skipped or missing")
        if not block.first and not rated:
            bad.append(f"block {block.index}: no %CPU rate read")
    rows = [r for b in blocks[-1:] for r in b.rows]
    suffixes = {s: sum(1 for r in rows if r.pid_suffix == s) for s in ("*", "-", "+")}
    cut = [r for r in rows if r.command_cut]
    wide = [r for r in rows if r.command and not r.command.isascii()]
    saw.append(f"pid suffixes {suffixes}; names filling 16 bytes {len(cut)}; non-ASCII {len(wide)}")
    saw.extend(f"  non-ASCII: {clean(r.command or '')!r} (pid {r.pid})" for r in wide[:3])
    for r in rows:
        if r.command in ("WindowServer", "kernel_task"):
            saw.append(
                f"top's {r.command}: %CPU {r.cpu_percent}, POWER {r.power}, MEM "
                f"{r.memory_bytes}, #TH {r.threads}, STATE {r.state}"
            )
    if bad:
        return result("top-parse", "fail", "; ".join(bad), saw)
    return result("top-parse", "pass", f"every column of -stats {STATS} read in every row", saw)


def check_top_flush(ctx: Context) -> Result:
    cap = _top_run(ctx)
    times = marker_times(cap.chunks, b"Processes:")
    status, text = flush_verdict(times, 1.0)
    saw = ["samples arrived at " + ", ".join(f"{t:.2f}s" for t in times),
           f"top ran {cap.duration_s:.2f}s"]  # fmt: skip
    return result("top-flush", status, text, saw)


def check_top_cost(ctx: Context) -> Result:
    from lagwatch.parsers.top import parse_top

    cap = _top_run(ctx)
    if cap.cpu_s is None:
        return result("top-cost", "fail", "no rusage for top")
    per_sample_ms = 1000 * cap.cpu_s / TOP_SAMPLES
    system = parse_top(cap.data).blocks[-1].system
    saw = [
        f"top used {cap.cpu_s:.3f}s CPU for {TOP_SAMPLES} samples ({cap.duration_s:.2f}s wall)",
        f"{system.get('processes_total')} processes, {system.get('threads_total')} threads",
    ]
    summary = (
        f"{per_sample_ms:.0f} ms CPU per sample = {per_sample_ms / 10:.1f}% of one core at -s 1: "
        "write it into docs/metrics.md, 'What top costs'"
    )
    return result("top-cost", "needs-eyes", summary, saw)


def check_restricted_from_top(ctx: Context) -> Result:
    if ctx.chooses_as_root:
        return result(
            "restricted-from-top", "skip", "run without sudo: as root libproc reads everything"
        )
    rankings = lagwatch_json(ctx, "top", "--json", "--count", "3", "--interval", "1")
    last = rankings[-1]
    saw = [f"sources {last['sources']}, energy_source {last['energy_source']}, "
           f"restricted {last.get('restricted_count')}"]  # fmt: skip
    bad = []
    if "top" not in last["sources"]:
        bad.append("top is not among the sources")
    if last["energy_source"] != "top-power":
        bad.append(f"energy_source is {last['energy_source']}, not top-power")
    keys = ("restricted", "cpu_percent", "memory_bytes", "energy_impact", "threads", "state",
            "disk_read_bytes_per_s")  # fmt: skip
    found = 0
    for row in last["processes"]:
        if row["name"] != "WindowServer" and row["pid"] != 0:
            continue
        found += 1
        saw.append(f"{clean(row['name'])} ({row['pid']}): " + ", ".join(
            f"{k} {row.get(k)}" for k in keys))  # fmt: skip
        if not row["restricted"]:
            bad.append(f"{row['name']} is not restricted (run as its user?)")
        for k in ("cpu_percent", "memory_bytes", "energy_impact"):
            if row.get(k) is None:
                bad.append(f"{row['name']} has no {k}")
        if row.get("disk_read_bytes_per_s") is not None:
            bad.append(f"{row['name']} has a disk figure: from where?")
    if found < 2:
        bad.append("WindowServer or kernel_task not listed")
    if bad:
        return result("restricted-from-top", "fail", "; ".join(bad), saw)
    return result("restricted-from-top", "pass", "CPU, footprint and Energy Impact from top", saw)


def _nettop_lines(cap: Capture) -> list[str]:
    text = cap.data.decode("utf-8", "replace").replace("\r", "")
    return [line for line in text.split("\n") if line.strip()]


def cut_rows(lines: list[str], columns: int) -> tuple[int, int]:
    """(data rows, rows cut): a row is cut when it has fewer fields than the header before it
    or reaches the terminal's last column (a header cut too would hide the first)."""
    fields = None
    rows = cut = 0
    for line in lines:
        n = line.count(",")
        if "bytes_in" in line:
            fields = n
            continue
        if fields is None:
            continue
        rows += 1
        cut += n < fields or len(line) >= columns
    return rows, cut


def check_nettop_pty(ctx: Context) -> Result:
    from lagwatch.parsers.nettop import NettopFrame, NettopRow, NettopStreamParser
    from lagwatch.sources import nettop
    from lagwatch.sources.child import WINDOW_COLUMNS, WINDOW_ROWS

    argv = nettop.command(1.0)
    cap = capture(argv, 3.5, window=(WINDOW_ROWS, WINDOW_COLUMNS))
    parser = NettopStreamParser()
    frames: list[NettopFrame] = []
    rows = 0
    for lineno, line in enumerate(_nettop_lines(cap), start=1):
        item = parser.feed(line, lineno)
        if isinstance(item, NettopFrame):
            frames.append(item)
        rows += isinstance(item, NettopRow)
    warnings = parser.warnings + [w for f in frames for w in f.warnings]
    total, cut = cut_rows(_nettop_lines(cap), WINDOW_COLUMNS)
    saw = [f"lagwatch's nettop ({WINDOW_ROWS}x{WINDOW_COLUMNS} pty): {len(frames)} frames, "
           f"{rows} rows, {cut} of {total} rows short of the header's fields, "
           f"{len(warnings)} parser warnings"]  # fmt: skip
    saw.extend(f"  {clean(w)}" for w in warnings[:3])
    full = [a for a in argv if a not in ("-J", "bytes_in,bytes_out")]
    for window in ((24, 80), (WINDOW_ROWS, WINDOW_COLUMNS)):
        wide = capture(full, 2.5, window=window)
        lines = _nettop_lines(wide)
        total_w, cut_w = cut_rows(lines, window[1])
        longest = max((len(line) for line in lines), default=0)
        saw.append(f"all columns at {window[1]} columns: {cut_w} of {total_w} rows cut, "
                   f"longest line {longest}")  # fmt: skip
    if len(frames) < 2 or rows == 0 or cut or warnings:
        return result("nettop-pty", "fail", "rows cut, unread, or no frames", saw)
    return result("nettop-pty", "pass", "no row cut on lagwatch's pty", saw)


def check_nettop_pipe(ctx: Context) -> Result:
    from lagwatch.sources import nettop

    cap = capture(nettop.command(1.0), 4.0)
    kind, text = buffering_verdict(cap.chunks, 4.0)
    if kind == "block":
        return result("nettop-pipe", "pass", "block-buffers on a pipe (so: a pty)", [text])
    return result("nettop-pipe", "needs-eyes", "streams on a pipe: the pty is not needed", [text])


def check_nettop_restart(ctx: Context) -> Result:
    from lagwatch.sources.child import Backoff
    from lagwatch.sources.nettop import NettopSource

    source = NettopSource(interval_s=1.0, backoff=Backoff(first_s=1.0))
    saw: list[str] = []
    try:

        def frames() -> int:
            return int(getattr(source, "_frames", 0))  # private: the count of frames read

        def wait(what: Callable[[], bool], seconds: float) -> bool:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                saw.extend(clean(w) for w in source.read().warnings)
                if what():
                    return True
                time.sleep(0.25)
            return False

        if not wait(lambda: frames() >= 1, 15):
            return result("nettop-restart", "fail", "nettop printed no frame in 15s", saw)
        old = source.pid
        os.kill(old, signal.SIGKILL)
        t0 = time.monotonic()
        restarted = wait(lambda: source.restarts >= 1, 15)
        took = time.monotonic() - t0
        before = frames()
        flowing = restarted and wait(lambda: frames() > before, 15)
        saw.append(f"killed pid {old}; restarted: {restarted} after {took:.1f}s, new pid "
                   f"{source.pid}; frames again: {flowing}")  # fmt: skip
    finally:
        source.close()
    if restarted and flowing and source.pid != old:
        return result("nettop-restart", "pass", "restarted with backoff, data flows again", saw)
    return result("nettop-restart", "fail", "not restarted, or no data after", saw)


def check_powermetrics(ctx: Context) -> Result:
    if not ctx.root:
        return result("powermetrics", "skip", "needs root: run again with sudo")
    from lagwatch.parsers.powermetrics_plist import parse_plist_document, split_plist_stream
    from lagwatch.sources import powermetrics

    argv = [*powermetrics.command(1.0), "-n", "3"]
    cap = capture(argv, 30)
    docs, _, warnings = split_plist_stream(cap.data)
    ends = marker_times(cap.chunks, b"</plist>")
    saw = [f"exit {cap.status}; {len(docs)} documents; ends arrived at "
           + ", ".join(f"{t:.2f}s" for t in ends), nul_layout(cap.data)]  # fmt: skip
    saw.extend(f"stdout outside documents: {clean(w)}" for w in warnings if "NUL" not in w)
    lines = [line for line in cap.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    saw.append(f"stderr: {len(lines)} line(s)")
    saw.extend(f"  {clean(line)!r}" for line in lines[:5])
    bad = []
    with_energy = 0
    for k, doc in enumerate(docs):
        sample, problem = parse_plist_document(doc, k)
        if sample is None:
            bad.append(f"document {k}: {problem}")
            continue
        with_energy = max(with_energy, sum(1 for t in sample.tasks if t.energy_impact is not None))
    saw.append(f"tasks with energy_impact in a sample: up to {with_energy}")
    status, text = flush_verdict(ends, 1.0)
    if status != "pass":
        bad.append(text)
    if len(docs) < 3 or not with_energy:
        bad.append("fewer than 3 documents or no Energy Impact")
    if bad:
        return result("powermetrics", "fail", "; ".join(bad), saw)
    summary = "one plist per sample with -b 0" + (", stray stderr lines" if lines else "")
    return result("powermetrics", "pass", summary, saw)


def check_iokit_gpu(ctx: Context) -> Result:
    from lagwatch.parsers.ioreg import parse_ioreg
    from lagwatch.platform_seam import tool_path
    from lagwatch.sources.gpu_clients import (
        client_from_properties,
        gpu_clients_from_ioreg,
        gpu_time_by_pid,
    )
    from lagwatch.sources.iokit_gpu import IORegistryReader

    reader = IORegistryReader()
    clients, devices = reader.read()
    saw = [f"accelerators: {[clean(str(d.get('model') or d.get('class'))) for d in devices]}"]
    if not any(str(d.get("class", "")).startswith("AGX") for d in devices):
        return result("iokit-gpu", "skip", "no AGX accelerator (not Apple Silicon)", saw)
    usage = [c.get("AppUsage") for c in clients]
    records = [r for u in usage if isinstance(u, list) for r in u if isinstance(r, dict)]
    timed = [r for r in records if isinstance(r.get("accumulatedGPUTime"), int)]
    saw.append(f"{len(clients)} AGXDeviceUserClient, {sum(isinstance(u, list) for u in usage)} "
               f"with AppUsage, {len(records)} records, {len(timed)} with "
               f"accumulatedGPUTime")  # fmt: skip
    pm = None
    t0 = time.monotonic()
    before = gpu_time_by_pid(client_from_properties(c) for c in clients)
    if ctx.root:  # powermetrics' own GPU ms/s per process over the same 3 s
        pm = capture([tool_path("powermetrics"), "--samplers", "tasks", "--show-process-gpu",
                      "-f", "plist", "-i", "3000", "-n", "1", "-b", "0"], 30)  # fmt: skip
    else:
        time.sleep(3.0)  # the interval GPU time is measured over (nothing to wait on)
    clients2, _ = reader.read()
    elapsed = time.monotonic() - t0
    parsed = [client_from_properties(c) for c in clients2]
    after = gpu_time_by_pid(parsed)
    names = {c.pid: c.name for c in parsed if c is not None}
    deltas = {p: after[p] - before.get(p, 0) for p in after}
    moving = sorted((p for p in deltas if deltas[p] > 0), key=lambda p: -deltas[p])
    saw.append(f"{len(moving)} of {len(after)} pids advanced over {elapsed:.1f}s")
    for p in moving[:3]:
        saw.append(f"  {clean(names.get(p, '?'))} ({p}): {deltas[p] / elapsed / 1e6:.1f} ms/s "
                   "if ns")  # fmt: skip
    cut = [c for c in parsed if c is not None and c.name_cut]
    saw.append(f"creator names that may be cut (16 bytes): {len(cut)}")
    saw.extend(f"  {clean(c.name)!r} (pid {c.pid})" for c in cut[:3])
    if ctx.real_mac:
        listing = subprocess.run(["ioreg", "-r", "-c", "AGXDeviceUserClient", "-l", "-w", "0"],
                                 capture_output=True, timeout=30).stdout  # fmt: skip
        entries, warnings = parse_ioreg(listing)
        text_names = {c.pid: c.name for c in gpu_clients_from_ioreg(entries)}
        both = len(text_names.keys() & after.keys())
        saw.append(f"ioreg text: {len(text_names)} pids ({len(warnings)} warnings), live read "
                   f"{len(after)} pids, in both {both}")  # fmt: skip
        # ioreg prints strings in MacRoman (ioreg.c): names must read the same both ways.
        for p, name in text_names.items():
            if p in names and names[p] != name:
                saw.append(f"  name of {p}: live {clean(names[p])!r}, ioreg {clean(name)!r}")
        creators = [e.properties.get("IOUserClientCreator") for e in entries]
        for creator in [c for c in creators if isinstance(c, str) and not c.isascii()][:3]:
            saw.append(f"  non-ASCII creator in ioreg text: {clean(creator)!r}")
        saw.extend(f"  {clean(w)}" for w in warnings[:3])
    if not timed:
        return result("iokit-gpu", "fail", "no accumulatedGPUTime in any client", saw)
    if pm is None or pm.status != 0:
        if pm is not None:
            saw.append(f"powermetrics --show-process-gpu: exit {pm.status}, "
                       f"{clean(pm.stderr[:160])!r}")  # fmt: skip
        summary = "present; unit unproven: compare ms/s above with Activity Monitor's GPU %"
        return result("iokit-gpu", "needs-eyes", summary, saw)
    from lagwatch.parsers.powermetrics_plist import parse_powermetrics_plist

    capture_pm = parse_powermetrics_plist(pm.data)
    tasks = {t.pid: t for s in capture_pm.samples for t in s.tasks}
    pairs = [(deltas.get(p, 0) / elapsed / 1e6, t.gpu_ms_per_s)
             for p, t in tasks.items() if t.gpu_ms_per_s is not None]  # fmt: skip
    status, text = gpu_unit_verdict(pairs)
    return result("iokit-gpu", status, text, saw)


def check_board_id(ctx: Context) -> Result:
    from lagwatch.parsers.ioreg import parse_ioreg
    from lagwatch.platform_seam import pmenergy_dir
    from lagwatch.sources import macos_machine as darwin
    from lagwatch.sources.libproc import LibProc, LibprocError
    from lagwatch.sources.pmenergy import load_weights

    try:
        arm64 = LibProc().sysctl_int("hw.optional.arm64") == 1
    except LibprocError:
        arm64 = False  # Intel kernels have no such sysctl
    ours = darwin.board_id()
    saw = [f"{'Apple Silicon' if arm64 else 'Intel'} ({platform.machine()}); lagwatch reads "
           f"board-id {ours!r}"]  # fmt: skip
    theirs: str | None = None
    if ctx.real_mac:
        text = subprocess.run(["ioreg", "-r", "-d", "1", "-c", "IOPlatformExpertDevice"],
                              capture_output=True, timeout=30).stdout  # fmt: skip
        entries, _ = parse_ioreg(text)
        raw = entries[0].properties.get("board-id") if entries else None
        if isinstance(raw, bytes):
            theirs = raw.split(b"\0", 1)[0].decode("ascii", "replace")
        elif isinstance(raw, str):
            theirs = raw
        saw.append(f"ioreg says board-id {theirs!r} ({type(raw).__name__})")
    weights, warnings = load_weights(ours, pmenergy_dir())
    saw.append(f"pmenergy weights from {weights.origin}")
    saw.extend(clean(w) for w in warnings)
    if ctx.real_mac and theirs != ours:
        return result("board-id", "fail", f"lagwatch {ours!r} vs ioreg {theirs!r}", saw)
    presence = "present" if ours else "absent"
    return result("board-id", "pass", f"board-id {presence} on {platform.machine()}", saw)


def check_memory_pressure(ctx: Context) -> Result:
    from lagwatch.sources.libproc import LibProc
    from lagwatch.sources.macos_pressure import SYSCTL, level_name

    ours = LibProc().sysctl_int(SYSCTL)
    who = "root" if ctx.root else "a user"
    saw = [f"as {who}: {SYSCTL} = {ours} ({level_name(ours)})"]
    if ctx.real_mac:
        cli = subprocess.run(["sysctl", "-n", SYSCTL], capture_output=True, text=True, timeout=30)
        saw.append(f"sysctl -n: {cli.stdout.strip()!r} (exit {cli.returncode})")
        if cli.stdout.strip() != str(ours):
            return result("memory-pressure", "fail", "libproc and sysctl disagree", saw)
    if level_name(ours) is None:
        return result("memory-pressure", "fail", f"unexpected level {ours}", saw)
    return result("memory-pressure", "pass", f"readable as {who}: {level_name(ours)}", saw)


CHECKS: dict[str, Callable[[Context], Result]] = {
    "sources": check_sources,
    "libproc-structs": check_libproc_structs,
    "libproc-vs-ps": check_libproc_vs_ps,
    "top-parse": check_top_parse,
    "top-flush": check_top_flush,
    "top-cost": check_top_cost,
    "restricted-from-top": check_restricted_from_top,
    "nettop-pty": check_nettop_pty,
    "nettop-pipe": check_nettop_pipe,
    "nettop-restart": check_nettop_restart,
    "powermetrics": check_powermetrics,
    "iokit-gpu": check_iokit_gpu,
    "board-id": check_board_id,
    "memory-pressure": check_memory_pressure,
}


# -- main -----------------------------------------------------------------------------------------


def _import_lagwatch() -> dict[str, str]:
    """Import lagwatch (installed, or this clone's src/); the environment for `-m lagwatch`."""
    env = dict(os.environ)
    try:
        import lagwatch
    except ImportError:
        sys.path.insert(0, str(SRC))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
        import lagwatch  # noqa: F401
    return env


def header(ctx: Context) -> list[str]:
    import lagwatch

    release, _, machine = platform.mac_ver()
    who = "root" if ctx.root else f"uid {os.geteuid()}"
    return [
        "lagwatch mac_check (bench/mac_check.py)",
        NOTICE,
        f"macOS {release or '?'} {machine or platform.machine()}, {who}, lagwatch "
        f"{lagwatch.__version__}, Python {platform.python_version()}",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--only", help="comma-separated checks to run (see --list)")
    ap.add_argument("--list", action="store_true", help="list the checks and exit")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if args.list:
        for name in CHECKS:
            print(name)
        return 0
    names = list(CHECKS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in CHECKS]
        if unknown:
            print(f"mac_check: --only: unknown check {unknown[0]!r} (see --list)", file=sys.stderr)
            return 2
    try:
        env = _import_lagwatch()
    except ImportError as exc:
        print(f"mac_check: cannot import lagwatch ({exc}): run `make setup` and use "
              ".venv/bin/python", file=sys.stderr)  # fmt: skip
        return 2
    from lagwatch import platform_seam

    if not platform_seam.is_macos():
        print(f"mac_check: not macOS ({sys.platform}): these checks need a real Mac; "
              "nothing was run.")  # fmt: skip
        return 0
    ctx = Context(
        root=os.geteuid() == 0,
        chooses_as_root=platform_seam.chooses_as_root(),
        real_mac=sys.platform == "darwin",
        env=env,
    )
    results = []
    for name in names:
        if not args.json:
            print(f"... {name}", file=sys.stderr, flush=True)
        results.append(run_check(name, CHECKS[name], ctx))
    if args.json:
        print(json.dumps({"header": header(ctx), "results": [asdict(r) for r in results]}))
    else:
        sys.stdout.write(format_report(results, header(ctx)))
    return exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
