"""The libproc binding, the `libproc` source and the real sampler, run against a fake libSystem
built from tests/fake_libsystem/fake_libsystem.c (which behaves like XNU and libproc).

Expected rates are worked out by hand: at hw.tbfrequency = 24 MHz, 24,000,000 ticks = 1 s.
"""

from __future__ import annotations

import ctypes
import errno
import json
import sys
from pathlib import Path

import pytest

from conftest import run_lagwatch
from fake_libsystem import SIDL, SRUN, SSTOP, FakeLibSystem, build
from lagwatch.model import PROCESS_KEYS, Snapshot
from lagwatch.ranking import compute_ranking
from lagwatch.sampler import Sampler
from lagwatch.sources import libproc_abi as abi
from lagwatch.sources import registry
from lagwatch.sources.base import SourceError, SourceInfo, SourceReading
from lagwatch.sources.libproc import (
    AccessDenied,
    LibProc,
    LibprocUnavailable,
    ProcessGone,
    ticks_to_ns,
)
from lagwatch.sources.macos_libproc import LibprocSource, expand_name, state_name

TB = 24_000_000  # ticks per second on Apple Silicon
ME = 501  # the fake caller's uid (not root)


@pytest.fixture(scope="module")
def fake_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("fake_libsystem"))


@pytest.fixture
def fake(fake_path: Path) -> FakeLibSystem:
    f = FakeLibSystem(fake_path)
    f.reset()
    return f


@pytest.fixture
def lib(fake: FakeLibSystem) -> LibProc:
    return LibProc(str(fake.path))


def snapshots_two_seconds_apart(sampler: Sampler, between) -> tuple[Snapshot, Snapshot]:
    """Two real sampler reads; the interval is pinned to 2 s so rates are exact."""
    first = sampler.read()
    between()
    second = sampler.read()
    second.monotonic_ns = first.monotonic_ns + 2_000_000_000
    return first, second


# -- the fake behaves like the kernel (so the tests below mean something) ------------------------


@pytest.mark.parametrize("flavor", range(7))
def test_fake_rusage_writes_exactly_the_flavor_size(fake: FakeLibSystem, flavor: int) -> None:
    size = abi.RUSAGE_INFO_SIZES[flavor]
    fake.add(100, ri_user_time=0x1111, ri_proc_exit_abstime=7)
    guard = 64
    buf = (ctypes.c_uint8 * (size + guard))(*([0xA5] * (size + guard)))
    assert fake.lib.proc_pid_rusage(100, flavor, buf) == 0
    raw = bytes(buf)
    assert raw[size:] == b"\xa5" * guard, "wrote past the flavor's struct"
    assert int.from_bytes(raw[16:24], "little") == 0x1111
    # The last 8 bytes of the flavor were written too (zero or a value, never the fill).
    assert raw[size - 8 : size] != b"\xa5" * 8
    assert fake.count("last_rusage_bytes") == size


def test_fake_overruns_a_short_struct_like_the_kernel(fake: FakeLibSystem) -> None:
    """The seed bug (reference 1.5): a 160-byte v2 struct passed with flavor 4 gets 296 bytes
    written, 136 past its end. Any binding must size its buffer for the flavor it asks."""
    fake.add(100, ri_runnable_time=0x2222)
    buf = (ctypes.c_uint8 * (160 + 200))(*([0xA5] * 360))
    assert fake.lib.proc_pid_rusage(100, 4, buf) == 0
    raw = bytes(buf)
    assert raw[296:] == b"\xa5" * 64
    assert raw[160:296] != b"\xa5" * 136
    assert int.from_bytes(raw[288:296], "little") == 0x2222


def test_fake_return_conventions(fake: FakeLibSystem) -> None:
    fake.add(100, comm="mine", name="Mine", path="/bin/mine")
    fake.add(0, uid=0, ppid=0, comm="kernel_task", path="/kernel")
    c = ctypes
    ru = abi.RusageInfoV6()
    # proc_pid_rusage: 0, or -1 with errno (ESRCH, EPERM before the flavor check, EINVAL).
    assert fake.lib.proc_pid_rusage(100, 6, c.byref(ru)) == 0
    assert fake.lib.proc_pid_rusage(999, 6, c.byref(ru)) == -1
    assert c.get_errno() == errno.ESRCH
    assert fake.lib.proc_pid_rusage(0, 9, c.byref(ru)) == -1
    assert c.get_errno() == errno.EPERM
    fake.max_flavor(4)
    assert fake.lib.proc_pid_rusage(100, 6, c.byref(ru)) == -1
    assert c.get_errno() == errno.EINVAL
    # proc_pidinfo: bytes copied, or 0 with errno.
    info = abi.ProcTaskAllInfo()
    assert fake.lib.proc_pidinfo(100, 2, 0, c.byref(info), 232) == 232
    assert fake.lib.proc_pidinfo(100, 2, 0, c.byref(info), 231) == 0
    assert c.get_errno() == errno.ENOMEM
    assert fake.lib.proc_pidinfo(0, 2, 0, c.byref(info), 232) == 0
    assert c.get_errno() == errno.EPERM
    short = abi.ProcBsdShortInfo()
    assert fake.lib.proc_pidinfo(0, 13, 0, c.byref(short), 64) == 64  # not same-user checked
    assert short.pbsi_comm == b"kernel_task"
    # proc_listallpids: a count of pids; NULL asks for an estimate (nprocs + 20).
    assert fake.lib.proc_listallpids(None, 0) == 22
    pids = (c.c_int * 8)()
    assert fake.lib.proc_listallpids(pids, c.sizeof(pids)) == 2
    assert sorted(pids[:2]) == [0, 100]
    # proc_name needs 32 bytes; it is same-user checked (it reads TBSDINFO).
    small = c.create_string_buffer(16)
    assert fake.lib.proc_name(100, small, 16) == 0
    assert c.get_errno() == errno.ENOMEM
    name = c.create_string_buffer(32)
    assert fake.lib.proc_name(100, name, 32) == 4 and name.value == b"Mine"
    assert fake.lib.proc_name(0, name, 32) == 0
    assert c.get_errno() == errno.EPERM
    # proc_pidpath: 1024..4096 bytes, strlen on success, not same-user checked.
    path = c.create_string_buffer(8192)
    assert fake.lib.proc_pidpath(0, path, 512) == 0 and c.get_errno() == errno.ENOMEM
    assert fake.lib.proc_pidpath(0, path, 8192) == 0 and c.get_errno() == errno.EOVERFLOW
    assert fake.lib.proc_pidpath(0, path, 4096) == len("/kernel")


# -- the binding -------------------------------------------------------------------------------


def test_binding_buffers_hold_the_largest_flavor(fake: FakeLibSystem, lib: LibProc) -> None:
    fake.add(100, ri_energy_nj=5)
    ru, flavor = lib.rusage(100)
    assert flavor == 6
    assert ctypes.sizeof(ru) >= fake.count("last_rusage_bytes") == 464
    assert ru.ri_energy_nj == 5


def test_binding_maps_errno(fake: FakeLibSystem, lib: LibProc) -> None:
    fake.add(200, uid=0, comm="root_daemon")
    with pytest.raises(AccessDenied):
        lib.rusage(200)
    with pytest.raises(AccessDenied):
        lib.task_all_info(200)
    with pytest.raises(ProcessGone):
        lib.rusage(4242)
    with pytest.raises(ProcessGone):
        lib.task_all_info(4242)
    assert lib.short_bsd_info(200).pbsi_uid == 0
    assert lib.unique_id(200) == fake.unique_id(200)


def test_binding_missing_library_says_why(tmp_path: Path) -> None:
    lib = LibProc(str(tmp_path / "nope.dylib"))
    with pytest.raises(LibprocUnavailable, match=r"nope\.dylib"):
        lib.list_pids()
    source_error = pytest.raises(SourceError, match="cannot load libproc")
    with source_error:
        LibprocSource(lib)


def test_binding_env_override(monkeypatch: pytest.MonkeyPatch, fake: FakeLibSystem) -> None:
    monkeypatch.setenv("LAGWATCH_LIBSYSTEM", str(fake.path))
    assert LibProc().path == str(fake.path)
    monkeypatch.delenv("LAGWATCH_LIBSYSTEM")
    assert LibProc().path == "/usr/lib/libSystem.B.dylib"


@pytest.mark.parametrize(("max_flavor", "einvals"), [(6, 0), (5, 1), (4, 2)])
def test_flavor_fallback_is_decided_once(
    fake: FakeLibSystem, lib: LibProc, max_flavor: int, einvals: int
) -> None:
    fake.max_flavor(max_flavor)
    for pid in range(100, 140):
        fake.add(pid)
    for pid in range(100, 140):
        _, flavor = lib.rusage(pid)
        assert flavor == max_flavor
    assert lib.rusage_flavor == max_flavor
    assert fake.count("rusage_einval") == einvals  # not once per process
    assert fake.count("rusage") == 40 + einvals


def test_flavor_older_than_4_is_an_error(fake: FakeLibSystem, lib: LibProc) -> None:
    fake.max_flavor(3)
    fake.add(100)
    with pytest.raises(OSError, match="proc_pid_rusage"):
        lib.rusage(100)


def test_names_and_paths(fake: FakeLibSystem, lib: LibProc) -> None:
    long_name = "A" * 40
    fake.add(100, comm=long_name, name=long_name, path="/Applications/" + long_name)
    fake.add(101, comm="comm_only", name="")
    assert lib.name(100) == "A" * 31  # the kernel keeps 31 characters of pbi_name
    assert lib.name(101) == "comm_only"
    assert lib.pidpath(100) == "/Applications/" + long_name


def test_list_pids_grows_past_its_first_guess_and_keeps_pid_0(
    fake: FakeLibSystem, lib: LibProc
) -> None:
    fake.add(0, uid=0, ppid=0, comm="kernel_task")
    for pid in range(1, 3001):
        fake.add(pid)
    pids = lib.list_pids()
    assert len(pids) == 3001
    assert pids[0] == 0 and set(pids) == set(range(3001))


def test_timebase_comes_from_hw_tbfrequency(fake: FakeLibSystem, lib: LibProc) -> None:
    assert lib.timebase_hz() == 24_000_000
    fake.sysctl("hw.tbfrequency", 1_000_000_000, 4)  # an int-sized answer is read right too
    assert lib.timebase_hz() == 1_000_000_000
    assert lib.sysctl_int("hw.memsize") == 16 << 30
    with pytest.raises(OSError, match=r"no\.such\.sysctl"):
        lib.sysctl_int("no.such.sysctl")


def test_ticks_to_ns_is_exact() -> None:
    assert ticks_to_ns(24_000_000, TB) == 1_000_000_000
    assert ticks_to_ns(3, TB) == 125  # 3 ticks = 125 ns exactly (125/3 ns per tick)
    assert ticks_to_ns(123_456_789, 1_000_000_000) == 123_456_789  # Intel: ticks are ns


# -- the source and the sampler ----------------------------------------------------------------


def _busy(fake: FakeLibSystem, pid: int) -> None:
    fake.add(
        pid,
        comm="busy",
        name="Busy App",
        path="/Applications/Busy.app/Contents/MacOS/Busy",
        start=5_000,
        ppid=1,
        ri_phys_footprint=123_456_789,
        ri_resident_size=999_999_999,
        pti_threadnum=7,
        pti_numrunning=2,
    )


def _advance_busy(fake: FakeLibSystem, pid: int) -> None:
    fake.inc(pid, "ri_user_time", 36_000_000)  # 1.5 s
    fake.inc(pid, "ri_system_time", 12_000_000)  # 0.5 s
    fake.inc(pid, "ri_pkg_idle_wkups", 400)
    fake.inc(pid, "ri_interrupt_wkups", 1_000)  # a superset: must not be added
    fake.inc(pid, "ri_energy_nj", 3_000_000_000)  # 3 J
    fake.inc(pid, "ri_billed_energy", 9_000_000_000)  # other tasks' energy: ignored
    fake.inc(pid, "ri_diskio_bytesread", 10_000_000)
    fake.inc(pid, "ri_diskio_byteswritten", 4_000_000)
    fake.inc(pid, "ri_pageins", 50)
    fake.inc(pid, "pti_csw", 1_000)


def test_rates_from_the_real_source_and_sampler(fake: FakeLibSystem, lib: LibProc) -> None:
    _busy(fake, 100)
    sampler = Sampler([LibprocSource(lib)], platform="macos")
    prev, cur = snapshots_two_seconds_apart(sampler, lambda: _advance_busy(fake, 100))
    assert cur.sources == ["libproc"]
    assert cur.system["memory_total_bytes"] == 16 << 30
    assert cur.system["cpu_count"] == 8
    ranking = compute_ranking(prev, cur)
    (row,) = ranking.processes
    assert row.pid == 100 and row.name == "Busy App" and row.ppid == 1
    assert row.cpu_percent == 100.0  # 48e6 ticks = 2 s of CPU in 2 s
    assert row.wakeups_per_s == 200.0  # pkg-idle only: 400 / 2 s
    assert row.power_watts == 1.5  # 3 J in 2 s, from ri_energy_nj
    assert row.disk_read_bytes_per_s == 5_000_000.0
    assert row.disk_write_bytes_per_s == 2_000_000.0
    assert row.pageins_per_s == 25.0
    assert row.ctx_switches_per_s == 500.0
    assert row.memory_bytes == 123_456_789  # phys_footprint, not resident size
    assert row.threads == 7
    assert row.state == "running"
    assert row.restricted is False
    assert row.user is not None


def test_cpu_time_conversion_is_rosetta_safe(fake: FakeLibSystem, lib: LibProc) -> None:
    """Ticks are converted with hw.tbfrequency: 24e6 ticks are one second, not 24 ms (what a
    1/1 mach_timebase_info under Rosetta would give) nor 1 s * 41.67."""
    fake.add(100, ri_user_time=24_000_000, ri_child_user_time=12_000_000,
             ri_cpu_time_qos_default=2_400_000, ri_cpu_time_qos_background=48_000_000)  # fmt: skip
    (sample,) = LibprocSource(lib).read().processes
    assert sample.cpu_ns == 1_000_000_000
    assert sample.child_cpu_ns == 500_000_000
    assert sample.cpu_qos_ns is not None
    assert sample.cpu_qos_ns["default"] == 100_000_000
    assert sample.cpu_qos_ns["background"] == 2_000_000_000
    assert sample.cpu_qos_ns["user_interactive"] == 0


def test_intel_timebase_and_no_energy(fake: FakeLibSystem, lib: LibProc) -> None:
    """Intel: 1 GHz timebase, and ri_energy_nj is never maintained, so energy is unknown."""
    fake.sysctl("hw.tbfrequency", 1_000_000_000)
    fake.sysctl("hw.optional.arm64", 0, 0)  # absent on Intel
    fake.add(100, ri_user_time=250_000_000, ri_energy_nj=0)
    source = LibprocSource(lib)
    (sample,) = source.read().processes
    assert sample.cpu_ns == 250_000_000
    assert sample.energy_nj is None
    assert source.measures_energy is False


def test_restricted_processes_are_listed_with_what_is_allowed(
    fake: FakeLibSystem, lib: LibProc
) -> None:
    _busy(fake, 100)
    fake.add(200, uid=0, ppid=1, comm="mds_stores", name="mds_stores",
             path="/System/Library/mds_stores")  # fmt: skip
    # comm cut at 15 characters: the path completes it.
    webkit = "/System/Library/Frameworks/WebKit.framework/com.apple.WebKit.Networking"
    fake.add(201, uid=0, ppid=1, comm="com.apple.WebKit.Networking", name="", path=webkit)
    fake.add(202, uid=88, ppid=1, status=SSTOP, comm="stopped_daemon")
    source = LibprocSource(lib)
    sampler = Sampler([source], platform="macos")
    prev, cur = snapshots_two_seconds_apart(sampler, lambda: _advance_busy(fake, 100))
    ranking = compute_ranking(prev, cur)
    rows = {r.pid: r for r in ranking.processes}
    assert set(rows) == {100, 200, 201, 202}
    assert ranking.restricted_count == 3
    assert source.restricted_count == 3
    assert cur.system["restricted_processes"] == 3
    mds = rows[200]
    assert mds.restricted is True
    assert (mds.name, mds.ppid, mds.user) == ("mds_stores", 1, "root")
    assert mds.state is None  # SRUN alone says nothing about running vs sleeping
    for key in ("cpu_percent", "memory_bytes", "threads", "wakeups_per_s", "power_watts",
                "disk_read_bytes_per_s", "pageins_per_s", "ctx_switches_per_s"):  # fmt: skip
        assert getattr(mds, key) is None, key
    assert rows[201].name == "com.apple.WebKit.Networking"
    assert rows[202].state == "stopped"
    assert rows[100].restricted is False and rows[100].cpu_percent == 100.0
    # Identity of a restricted process: its unique id (start time is not readable).
    assert cur.processes[(200, fake.unique_id(200))].restricted
    as_json = ranking.to_json()
    assert as_json["restricted_count"] == 3
    mds_json = next(p for p in as_json["processes"] if p["pid"] == 200)
    assert mds_json["restricted"] is True and mds_json["cpu_percent"] is None


def test_root_sees_everything(fake: FakeLibSystem, lib: LibProc) -> None:
    fake.caller_uid(0)
    fake.add(200, uid=0, comm="mds_stores", ri_phys_footprint=42)
    (sample,) = LibprocSource(lib).read().processes
    assert sample.restricted is False and sample.memory_bytes == 42


def test_v6_to_v4_fallback_keeps_everything_but_energy(fake: FakeLibSystem, lib: LibProc) -> None:
    fake.max_flavor(4)  # macOS 10.13-10.15
    _busy(fake, 100)
    source = LibprocSource(lib)
    sampler = Sampler([source], platform="macos")
    prev, cur = snapshots_two_seconds_apart(sampler, lambda: _advance_busy(fake, 100))
    (row,) = compute_ranking(prev, cur).processes
    assert lib.rusage_flavor == 4
    assert row.power_watts is None  # no ri_energy_nj before v6
    assert row.cpu_percent == 100.0
    assert row.wakeups_per_s == 200.0
    assert row.disk_read_bytes_per_s == 5_000_000.0
    assert fake.count("rusage_einval") == 2


def test_pid_reuse_is_a_new_process(fake: FakeLibSystem, lib: LibProc) -> None:
    fake.add(300, comm="old", start=1_000, ri_user_time=480_000_000)  # 20 s of CPU
    sampler = Sampler([LibprocSource(lib)], platform="macos")

    def reuse() -> None:
        fake.add(300, comm="new", start=90_000, ri_user_time=24_000_000)  # 1 s

    prev, cur = snapshots_two_seconds_apart(sampler, reuse)
    (row,) = compute_ranking(prev, cur).processes
    assert row.name == "new"
    assert row.start_id == 90_000
    assert row.cpu_percent == 50.0  # its own 1 s since it started, not 1 s - 20 s


def test_zombies_and_vanished_processes(fake: FakeLibSystem, lib: LibProc) -> None:
    fake.add(400, comm="dying", ri_user_time=24_000_000, ri_phys_footprint=1)
    fake.add(401, comm="leaving")
    source = LibprocSource(lib)
    assert {s.pid for s in source.read().processes} == {400, 401}
    fake.zombify(400)
    fake.remove(401)
    reading = source.read()
    (zombie,) = reading.processes
    assert (zombie.pid, zombie.state, zombie.cpu_ns) == (400, "zombie", 1_000_000_000)
    assert reading.warnings == []


def test_another_users_zombie_stays_listed(fake: FakeLibSystem, lib: LibProc) -> None:
    """A root-owned zombie: rusage is EPERM, so only the unchecked calls describe it, and
    PROC_PIDUNIQIDENTIFIERINFO reaches a zombie only with arg != 0 (xnu proc_info.c, the
    "look for zombies" check); asked with 0 it says ESRCH and the process would vanish."""
    fake.add(600, uid=0, comm="deadroot")
    fake.zombify(600)
    reading = LibprocSource(lib).read()
    (sample,) = reading.processes
    assert (sample.pid, sample.state, sample.restricted) == (600, "zombie", True)
    assert sample.start_id == fake.unique_id(600)
    assert reading.warnings == []


def test_states_are_honest() -> None:
    assert state_name(SRUN, 3) == "running"
    assert state_name(SRUN, 0) == "sleeping"  # the kernel counts no runnable thread
    assert state_name(SRUN, None) is None  # restricted: unknown, not "sleeping"
    assert state_name(SSTOP, 0) == "stopped"
    assert state_name(SIDL, None) == "starting"  # SIDL is "being created", not idle
    assert state_name(5, None) == "zombie"


def test_expand_name() -> None:
    assert expand_name("com.apple.WebKi", "/x/com.apple.WebKit.Networking") == (
        "com.apple.WebKit.Networking"
    )
    assert expand_name("short", "/bin/shortened") == "short"  # not cut: keep the kernel's
    assert expand_name("abcdefghijklmno", "/bin/other") == "abcdefghijklmno"
    assert expand_name("", "/usr/libexec/thing") == "thing"


def test_user_change_keeps_identity_without_a_bogus_spike(
    fake: FakeLibSystem, lib: LibProc
) -> None:
    """A root process that drops to the user (setuid) becomes readable: it must not appear
    as a new process whose whole lifetime of CPU lands in one interval."""
    fake.add(500, uid=0, comm="login", start=7_000, ri_user_time=2_400_000_000)  # 100 s
    sampler = Sampler([LibprocSource(lib)], platform="macos")
    first = sampler.read()
    fake.set_uid(500, ME)
    second = sampler.read()
    second.monotonic_ns = first.monotonic_ns + 2_000_000_000
    (row,) = compute_ranking(first, second).processes
    assert row.restricted is False
    assert row.cpu_percent is None  # no earlier reading to diff: unknown, not 5000 %
    fake.inc(500, "ri_user_time", 24_000_000)
    third = sampler.read()
    third.monotonic_ns = second.monotonic_ns + 1_000_000_000
    (row,) = compute_ranking(second, third).processes
    assert row.cpu_percent == 100.0


def test_source_survives_a_failing_list(
    fake: FakeLibSystem, lib: LibProc, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add(100)
    source = LibprocSource(lib)

    def broken() -> list[int]:
        raise OSError(errno.EIO, "boom")

    monkeypatch.setattr(lib, "list_pids", broken)
    with pytest.raises(OSError):
        source.read()


# -- the CLI over the fake -----------------------------------------------------------------------


def _table(tmp_path: Path) -> Path:
    table = tmp_path / "procs.txt"
    table.write_text(
        "# pid uid ppid status start comm name path\n"
        "caller_uid 501\n"
        "proc 0 0 0 2 1 kernel_task - /kernel\n"
        "proc 1 0 0 2 2 launchd - /sbin/launchd\n"
        "proc 640 501 1 2 1000 Safari Safari /Applications/Safari.app/Contents/MacOS/Safari\n"
        "set 640 ri_phys_footprint 734003200\n"
        "set 640 pti_threadnum 23\n"
        "set 640 pti_numrunning 1\n"
        "auto 640 ri_user_time 2400000\n"
        "auto 640 ri_pkg_idle_wkups 30\n"
        "auto 640 ri_energy_nj 50000000\n"
        "auto 640 ri_diskio_byteswritten 65536\n"
        "proc 641 501 640 4 1100 helper - /usr/libexec/helper\n"
        "proc 88 88 1 2 500 WindowServer WindowServer /System/WindowServer\n"
    )
    return table


@pytest.mark.integration
def test_top_json_over_the_fake_matches_the_contract(fake_path: Path, tmp_path: Path) -> None:
    env = {"LAGWATCH_LIBSYSTEM": str(fake_path), "FAKE_LIBSYSTEM_TABLE": str(_table(tmp_path))}
    proc = run_lagwatch(
        "top", "--json", "--count", "1", "--source", "libproc", "--interval", "0.2", env=env
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["sources"] == ["libproc"]
    assert out["process_count"] == 5
    assert out["restricted_count"] == 3  # kernel_task, launchd, WindowServer
    types = {
        "pid": (int,), "ppid": (int, type(None)), "name": (str,), "user": (str, type(None)),
        "state": (str, type(None)), "score": (int, float), "dominant": (str, type(None)),
        "memory_bytes": (int, type(None)), "threads": (int, type(None)), "restricted": (bool,),
    }  # fmt: skip
    for process in out["processes"]:
        assert tuple(process) == PROCESS_KEYS
        for key, value in process.items():
            allowed = types.get(key, (int, float, type(None)))
            assert isinstance(value, allowed), (key, value)
            if key not in types:
                assert not isinstance(value, bool), key
    by_pid = {p["pid"]: p for p in out["processes"]}
    safari = by_pid[640]
    assert safari["name"] == "Safari" and safari["restricted"] is False
    assert safari["memory_bytes"] == 734003200 and safari["threads"] == 23
    assert safari["state"] == "running"
    assert safari["cpu_percent"] > 0 and safari["power_watts"] > 0
    assert safari["wakeups_per_s"] > 0 and safari["disk_write_bytes_per_s"] > 0
    assert by_pid[641]["state"] == "stopped"
    ws = by_pid[88]
    assert ws["restricted"] is True and ws["name"] == "WindowServer"
    assert ws["cpu_percent"] is None and ws["memory_bytes"] is None and ws["state"] is None


@pytest.mark.integration
def test_sources_lists_libproc_over_the_fake(fake_path: Path, tmp_path: Path) -> None:
    env = {"LAGWATCH_LIBSYSTEM": str(fake_path), "FAKE_LIBSYSTEM_TABLE": str(_table(tmp_path))}
    proc = run_lagwatch("sources", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    report = {s["name"]: s for s in json.loads(proc.stdout)["sources"]}
    libproc = report["libproc"]
    assert libproc["available"] is True
    assert "rusage v6" in libproc["detail"] and "24 MHz" in libproc["detail"]
    for name in ("iokit-gpu", "nettop"):
        assert report[name]["available"] is False
        assert report[name]["reason"]


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS libproc is the real thing")
def test_libproc_is_not_offered_on_linux_without_the_override() -> None:
    proc = run_lagwatch("sources", "--json", env={"LAGWATCH_LIBSYSTEM": ""})
    assert proc.returncode == 0, proc.stderr
    report = {s["name"]: s for s in json.loads(proc.stdout)["sources"]}
    assert report["libproc"]["available"] is False
    assert "not for this platform" in report["libproc"]["reason"]


# -- selection and what `lagwatch sources` says -------------------------------------------------


class _Stub:
    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind

    def read(self) -> SourceReading:
        if self.kind == "processes":
            return SourceReading(processes=[])
        return SourceReading()

    def close(self) -> None:
        pass


def _info(name: str, kind: str, priority: int, works: bool, started: list[str]) -> SourceInfo:
    def factory() -> _Stub:
        started.append(name)
        if not works:
            raise SourceError(f"{name} cannot start here")
        return _Stub(name, kind)

    return SourceInfo(name=name, kind=kind, platforms=("",), metrics=(), needs_root=False,
                      description=name, probe=lambda: None, factory=factory,
                      priority=priority)  # fmt: skip


@pytest.mark.parametrize(
    ("libproc_works", "top_works", "expected", "tried_processes"),
    [
        (True, True, ["libproc", "iokit-gpu", "nettop"], ["libproc"]),
        (False, True, ["iokit-gpu", "nettop", "top"], ["libproc", "top"]),
        (False, False, ["iokit-gpu", "nettop", "psutil"], ["libproc", "top", "psutil"]),
    ],
)
def test_macos_selection_order_libproc_then_top_then_psutil(
    monkeypatch: pytest.MonkeyPatch,
    libproc_works: bool,
    top_works: bool,
    expected: list[str],
    tried_processes: list[str],
) -> None:
    tried: list[str] = []
    monkeypatch.setattr(registry, "SOURCES", [
        _info("psutil", "processes", 90, True, tried),
        _info("top", "processes", 50, top_works, tried),
        _info("libproc", "processes", 10, libproc_works, tried),
        _info("iokit-gpu", "augment", 20, True, tried),
        _info("nettop", "augment", 30, True, tried),
    ])  # fmt: skip
    started, problems = registry.select()
    assert [s.name for s in started] == expected
    # One process source runs: those after the first that starts are never even created.
    assert [n for n in tried if n in ("libproc", "top", "psutil")] == tried_processes
    if not libproc_works:
        assert "libproc: libproc cannot start here" in problems


def test_forced_sources_run_as_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[str] = []
    monkeypatch.setattr(registry, "SOURCES", [
        _info("libproc", "processes", 10, True, tried),
        _info("psutil", "processes", 90, True, tried),
    ])  # fmt: skip
    started, _ = registry.select(["psutil", "libproc"])
    assert [s.name for s in started] == ["libproc", "psutil"]


def test_sources_counts_restricted_processes(
    fake: FakeLibSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lagwatch.cli.sources_cmd import visibility, visibility_line

    fake.add(100, comm="mine")
    fake.add(200, uid=0, comm="root_daemon")
    fake.add(201, uid=0, comm="other_daemon")
    info = SourceInfo(name="libproc", kind="processes", platforms=("",), metrics=(),
                      needs_root=False, description="", probe=lambda: None,
                      factory=lambda: LibprocSource(LibProc(str(fake.path))))  # fmt: skip
    monkeypatch.setattr(registry, "SOURCES", [info])
    vis = visibility()
    assert vis == {"source": "libproc", "processes": 3, "restricted": 2, "sweep": None}
    line = visibility_line(vis, is_root=False)
    assert line is not None
    assert "libproc sees 3 processes; 2 are restricted" in line
    assert "Root sees them fully" in line
    assert "Root sees" not in (visibility_line(vis, is_root=True) or "")
    assert visibility_line({"source": "libproc", "processes": 3, "restricted": 0}, False) == (
        "libproc sees 3 processes, all of them fully."
    )


def test_a_name_follows_exec_and_names_are_looked_up_once(
    fake: FakeLibSystem, lib: LibProc
) -> None:
    long_name = "com.apple.WebKit.WebContent.Extra"  # pbi_name keeps 31 characters
    fake.add(700, comm="bash", name="bash", start=5)
    fake.add(701, comm="com.apple.WebKi", name=long_name, path=f"/System/{long_name}")
    source = LibprocSource(lib)
    names = {s.pid: s.name for s in source.read().processes}
    assert names == {700: "bash", 701: long_name}
    paths_looked_up = fake.count("path")
    source.read()
    assert fake.count("path") == paths_looked_up  # cached per process identity
    fake.add(700, comm="python3", name="python3", start=5)  # exec: same pid, same start
    names = {s.pid: s.name for s in source.read().processes}
    assert names[700] == "python3"


def test_a_short_proc_pidinfo_copy_is_an_error_not_garbage(
    fake: FakeLibSystem, lib: LibProc
) -> None:
    fake.add(100, comm="mine", pti_threadnum=3)
    fake.short_read(200)  # fewer bytes than the 232 of proc_taskallinfo
    with pytest.raises(OSError, match="short read"):
        lib.task_all_info(100)
    reading = LibprocSource(lib).read()
    assert reading.processes == []  # no half-read process with made-up zeros
    assert reading.warnings == ["libproc: pid 100: proc_pidinfo[TASKALLINFO](pid 100): "
                                "short read (200 of 232 bytes)"]  # fmt: skip


def test_registered_macos_process_sources_are_tried_libproc_top_psutil() -> None:
    priority = {s.name: s.priority for s in registry.SOURCES if s.kind == "processes"}
    assert priority["libproc"] < priority["psutil"]
    if "top" in priority:  # the `top` source (sources/top_live.py)
        assert priority["libproc"] < priority["top"] < priority["psutil"]
    kinds = {s.name: s.kind for s in registry.SOURCES}
    assert kinds["iokit-gpu"] == kinds["nettop"] == "augment"
