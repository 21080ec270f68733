"""The ctypes structs match the kernel ABI: sizes and offsets copied by hand from the tables in
../shared/reference/macos-apis.md (sections 1.3, 2.1-2.3) and XNU's proc_info.h."""

from __future__ import annotations

import ctypes

import pytest

from lagwatch.sources import libproc_abi as abi

# Reference section 1.3: (field, offset). ri_uuid is 16 bytes, every other field 8.
RUSAGE_OFFSETS = [
    ("ri_uuid", 0),
    ("ri_user_time", 16),
    ("ri_system_time", 24),
    ("ri_pkg_idle_wkups", 32),
    ("ri_interrupt_wkups", 40),
    ("ri_pageins", 48),
    ("ri_wired_size", 56),
    ("ri_resident_size", 64),
    ("ri_phys_footprint", 72),
    ("ri_proc_start_abstime", 80),
    ("ri_proc_exit_abstime", 88),
    ("ri_child_user_time", 96),
    ("ri_child_system_time", 104),
    ("ri_child_pkg_idle_wkups", 112),
    ("ri_child_interrupt_wkups", 120),
    ("ri_child_pageins", 128),
    ("ri_child_elapsed_abstime", 136),
    ("ri_diskio_bytesread", 144),
    ("ri_diskio_byteswritten", 152),
    ("ri_cpu_time_qos_default", 160),
    ("ri_cpu_time_qos_maintenance", 168),
    ("ri_cpu_time_qos_background", 176),
    ("ri_cpu_time_qos_utility", 184),
    ("ri_cpu_time_qos_legacy", 192),
    ("ri_cpu_time_qos_user_initiated", 200),
    ("ri_cpu_time_qos_user_interactive", 208),
    ("ri_billed_system_time", 216),
    ("ri_serviced_system_time", 224),
    ("ri_logical_writes", 232),
    ("ri_lifetime_max_phys_footprint", 240),
    ("ri_instructions", 248),
    ("ri_cycles", 256),
    ("ri_billed_energy", 264),
    ("ri_serviced_energy", 272),
    ("ri_interval_max_phys_footprint", 280),
    ("ri_runnable_time", 288),
    ("ri_flags", 296),
    ("ri_user_ptime", 304),
    ("ri_system_ptime", 312),
    ("ri_pinstructions", 320),
    ("ri_pcycles", 328),
    ("ri_energy_nj", 336),
    ("ri_penergy_nj", 344),
    ("ri_secure_time_in_system", 352),
    ("ri_secure_ptime_in_system", 360),
    ("ri_neural_footprint", 368),
    ("ri_lifetime_max_neural_footprint", 376),
    ("ri_interval_max_neural_footprint", 384),
    ("ri_reserved", 392),
]

# Reference: "Sizes in bytes: v0 = 96, v1 = 144, v2 = 160, v3 = 232, v4 = 296, v5 = 304, v6 = 464".
RUSAGE_SIZES = {0: 96, 1: 144, 2: 160, 3: 232, 4: 296, 5: 304, 6: 464}
# The last field of each flavor, from the "first in" column.
LAST_FIELD = {
    0: "ri_proc_exit_abstime",
    1: "ri_child_elapsed_abstime",
    2: "ri_diskio_byteswritten",
    3: "ri_serviced_system_time",
    4: "ri_runnable_time",
    5: "ri_flags",
    6: "ri_reserved",
}

BSDINFO_OFFSETS = [
    ("pbi_flags", 0, 4),
    ("pbi_status", 4, 4),
    ("pbi_xstatus", 8, 4),
    ("pbi_pid", 12, 4),
    ("pbi_ppid", 16, 4),
    ("pbi_uid", 20, 4),
    ("pbi_gid", 24, 4),
    ("pbi_ruid", 28, 4),
    ("pbi_rgid", 32, 4),
    ("pbi_svuid", 36, 4),
    ("pbi_svgid", 40, 4),
    ("rfu_1", 44, 4),
    ("pbi_comm", 48, 16),
    ("pbi_name", 64, 32),
    ("pbi_nfiles", 96, 4),
    ("pbi_pgid", 100, 4),
    ("pbi_pjobc", 104, 4),
    ("e_tdev", 108, 4),
    ("e_tpgid", 112, 4),
    ("pbi_nice", 116, 4),
    ("pbi_start_tvsec", 120, 8),
    ("pbi_start_tvusec", 128, 8),
]

TASKINFO_OFFSETS = [
    ("pti_virtual_size", 0, 8),
    ("pti_resident_size", 8, 8),
    ("pti_total_user", 16, 8),
    ("pti_total_system", 24, 8),
    ("pti_threads_user", 32, 8),
    ("pti_threads_system", 40, 8),
    ("pti_policy", 48, 4),
    ("pti_faults", 52, 4),
    ("pti_pageins", 56, 4),
    ("pti_cow_faults", 60, 4),
    ("pti_messages_sent", 64, 4),
    ("pti_messages_received", 68, 4),
    ("pti_syscalls_mach", 72, 4),
    ("pti_syscalls_unix", 76, 4),
    ("pti_csw", 80, 4),
    ("pti_threadnum", 84, 4),
    ("pti_numrunning", 88, 4),
    ("pti_priority", 92, 4),
]

# XNU bsd/sys/proc_info.h: uint32 x4, char[16], uint32 x9 -> 64 bytes.
SHORTBSD_OFFSETS = [
    ("pbsi_pid", 0, 4),
    ("pbsi_ppid", 4, 4),
    ("pbsi_pgid", 8, 4),
    ("pbsi_status", 12, 4),
    ("pbsi_comm", 16, 16),
    ("pbsi_flags", 32, 4),
    ("pbsi_uid", 36, 4),
    ("pbsi_gid", 40, 4),
    ("pbsi_ruid", 44, 4),
    ("pbsi_rgid", 48, 4),
    ("pbsi_svuid", 52, 4),
    ("pbsi_svgid", 56, 4),
    ("pbsi_rfu", 60, 4),
]

UNIQID_OFFSETS = [
    ("p_uuid", 0, 16),
    ("p_uniqueid", 16, 8),
    ("p_puniqueid", 24, 8),
    ("p_idversion", 32, 4),
]


@pytest.mark.parametrize(("field", "offset"), RUSAGE_OFFSETS)
def test_rusage_v6_field_offsets(field: str, offset: int) -> None:
    assert getattr(abi.RusageInfoV6, field).offset == offset


def test_rusage_v6_field_sizes_and_total() -> None:
    assert ctypes.sizeof(abi.RusageInfoV6) == 464
    assert abi.RusageInfoV6.ri_uuid.size == 16
    assert abi.RusageInfoV6.ri_reserved.size == 9 * 8
    for name, _ in RUSAGE_OFFSETS[1:-1]:
        assert getattr(abi.RusageInfoV6, name).size == 8, name
    # Every field is in the reference table, in order, and nothing else is.
    assert [f[0] for f in abi.RusageInfoV6._fields_] == [f for f, _ in RUSAGE_OFFSETS]


@pytest.mark.parametrize("flavor", range(7))
def test_rusage_flavor_sizes(flavor: int) -> None:
    assert abi.RUSAGE_INFO_SIZES[flavor] == RUSAGE_SIZES[flavor]
    struct = abi.rusage_struct_for(flavor)
    assert ctypes.sizeof(struct) == RUSAGE_SIZES[flavor]
    last = getattr(struct, LAST_FIELD[flavor])
    assert last.offset + last.size == RUSAGE_SIZES[flavor]
    # A per-flavor struct is a prefix of v6: same offsets for the fields it has.
    for name, *_ in struct._fields_:
        assert getattr(struct, name).offset == getattr(abi.RusageInfoV6, name).offset


def test_largest_flavor_is_the_v6_struct() -> None:
    assert abi.RUSAGE_MAX_SIZE == 464 == ctypes.sizeof(abi.RusageInfoV6)
    assert abi.RUSAGE_INFO_CURRENT == abi.RUSAGE_INFO_V6 == 6


@pytest.mark.parametrize(
    ("struct", "table", "size"),
    [
        (abi.ProcBsdInfo, BSDINFO_OFFSETS, 136),
        (abi.ProcTaskInfo, TASKINFO_OFFSETS, 96),
        (abi.ProcBsdShortInfo, SHORTBSD_OFFSETS, 64),
        (abi.ProcUniqIdentifierInfo, UNIQID_OFFSETS, 56),
    ],
    ids=["proc_bsdinfo", "proc_taskinfo", "proc_bsdshortinfo", "proc_uniqidentifierinfo"],
)
def test_proc_info_structs(struct, table, size) -> None:
    assert ctypes.sizeof(struct) == size
    for name, offset, width in table:
        field = getattr(struct, name)
        assert (field.offset, field.size) == (offset, width), name


def test_taskallinfo_is_bsdinfo_then_taskinfo() -> None:
    assert ctypes.sizeof(abi.ProcTaskAllInfo) == 232
    assert abi.ProcTaskAllInfo.pbsd.offset == 0
    assert abi.ProcTaskAllInfo.ptinfo.offset == 136


def test_constants() -> None:
    assert (abi.PROC_PIDTASKALLINFO, abi.PROC_PIDTBSDINFO, abi.PROC_PIDTASKINFO) == (2, 3, 4)
    assert (abi.PROC_PIDPATHINFO, abi.PROC_PIDT_SHORTBSDINFO, abi.PROC_PID_RUSAGE) == (11, 13, 16)
    assert abi.PROC_PIDUNIQIDENTIFIERINFO == 17
    assert (abi.SIDL, abi.SRUN, abi.SSLEEP, abi.SSTOP, abi.SZOMB) == (1, 2, 3, 4, 5)
    assert abi.MAXCOMLEN == 16 and abi.MAXPATHLEN == 1024
    assert abi.PROC_PIDPATHINFO_MAXSIZE == 4096
    assert abi.PROC_NAME_MIN_BUFFER == 32
    assert abi.PROC_ALL_PIDS == 1
    assert abi.STRUCT_SIZES == {
        "rusage_info_v6": 464,
        "proc_bsdinfo": 136,
        "proc_taskinfo": 96,
        "proc_taskallinfo": 232,
        "proc_bsdshortinfo": 64,
        "proc_uniqidentifierinfo": 56,
    }


def test_qos_fields_are_the_seven_v3_qos_counters() -> None:
    qos = ["default", "maintenance", "background", "utility", "legacy", "user_initiated",
           "user_interactive"]  # fmt: skip
    assert sorted(abi.QOS_FIELDS) == sorted(qos)
    for field in abi.QOS_FIELDS.values():
        assert abi.RUSAGE_FIELD_FLAVOR[field] == 3


def test_energy_fields_need_flavor_6() -> None:
    assert abi.RUSAGE_FIELD_FLAVOR["ri_energy_nj"] == 6
    assert abi.RUSAGE_FIELD_FLAVOR["ri_pkg_idle_wkups"] == 0
    assert abi.RUSAGE_FIELD_FLAVOR["ri_phys_footprint"] == 0
    assert abi.RUSAGE_FIELD_FLAVOR["ri_diskio_bytesread"] == 2


@pytest.mark.parametrize(
    ("struct_type", "unpack", "index"),
    [
        (abi.RusageInfoV6, abi.RUSAGE_UNPACK, abi.RUSAGE_INDEX),
        (abi.ProcTaskAllInfo, abi.TASKALLINFO_UNPACK, abi.TASKALLINFO_INDEX),
        (abi.ProcBsdShortInfo, abi.SHORTBSDINFO_UNPACK, abi.SHORTBSDINFO_INDEX),
    ],
    ids=["rusage", "taskallinfo", "shortbsdinfo"],
)
def test_struct_formats_read_the_same_fields_as_ctypes(struct_type, unpack, index) -> None:
    """The one-call readers (struct formats) agree with the ctypes layouts field by field."""
    assert unpack.size == ctypes.sizeof(struct_type)
    value = struct_type()
    # Every byte distinct-ish, so a field read at the wrong offset cannot match by chance.
    ctypes.memmove(ctypes.addressof(value), bytes(range(256)) * 2, ctypes.sizeof(value))
    fields = unpack.unpack_from(value)

    def ctypes_fields(obj):
        for name, *_ in obj._fields_:
            attr = getattr(obj, name)
            if isinstance(attr, ctypes.Structure):
                yield from ctypes_fields(attr)
            else:
                yield name, attr

    checked = set()
    for name, expected in ctypes_fields(value):
        if name in ("ri_uuid", "ri_reserved"):
            continue
        got = fields[index[name]]
        if isinstance(got, bytes):  # char arrays: ctypes stops at the first NUL
            got = got.split(b"\0", 1)[0]
        assert got == expected, name
        checked.add(name)
    assert checked == set(index)
