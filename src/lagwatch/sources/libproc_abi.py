"""The kernel ABI that libproc speaks: ctypes structs, flavors and constants, and nothing else.

Every layout here is taken from XNU's ``bsd/sys/resource.h`` and ``bsd/sys/proc_info.h`` as
recorded in ../shared/reference/macos-apis.md (sections 1-2); tests/test_libproc_abi.py checks
each size and offset against those tables. Pure data: importing this module loads nothing.

The layouts are identical on arm64 and x86_64 (fixed-width fields, natural alignment, no
pointers), so the same structs serve Apple Silicon, Intel and a Python running under Rosetta.
"""

from __future__ import annotations

import ctypes
import struct
from ctypes import c_char, c_int32, c_uint8, c_uint32, c_uint64

# --- limits (bsd/sys/param.h, syslimits.h) ---------------------------------------------------
MAXCOMLEN = 16
MAXPATHLEN = 1024
PROC_PIDPATHINFO_SIZE = MAXPATHLEN
PROC_PIDPATHINFO_MAXSIZE = 4 * MAXPATHLEN
# proc_name() refuses (ENOMEM) any buffer smaller than pbi_name.
PROC_NAME_MIN_BUFFER = 2 * MAXCOMLEN

# --- proc_pid_rusage flavors (bsd/sys/resource.h) ---------------------------------------------
RUSAGE_INFO_V0 = 0
RUSAGE_INFO_V1 = 1
RUSAGE_INFO_V2 = 2
RUSAGE_INFO_V3 = 3
RUSAGE_INFO_V4 = 4
RUSAGE_INFO_V5 = 5
RUSAGE_INFO_V6 = 6
RUSAGE_INFO_CURRENT = RUSAGE_INFO_V6
RU_PROC_RUNS_RESLIDE = 0x00000001  # ri_flags bit (v5)

# --- proc_pidinfo flavors (bsd/sys/proc_info.h) -----------------------------------------------
PROC_PIDLISTFDS = 1
PROC_PIDTASKALLINFO = 2
PROC_PIDTBSDINFO = 3
PROC_PIDTASKINFO = 4
PROC_PIDTHREADINFO = 5
PROC_PIDLISTTHREADS = 6
PROC_PIDPATHINFO = 11
PROC_PIDT_SHORTBSDINFO = 13
PROC_PID_RUSAGE = 16
PROC_PIDUNIQIDENTIFIERINFO = 17

# proc_listpids types.
PROC_ALL_PIDS = 1
PROC_PGRP_ONLY = 2
PROC_TTY_ONLY = 3
PROC_UID_ONLY = 4
PROC_RUID_ONLY = 5
PROC_PPID_ONLY = 6
PROC_KDBG_ONLY = 7

# --- pbi_status (bsd/sys/proc.h). XNU never assigns SSLEEP: a live process reports SRUN
# whether its threads run or wait (reference section 2.5). -------------------------------------
SIDL = 1  # being created by fork
SRUN = 2
SSLEEP = 3
SSTOP = 4
SZOMB = 5

# pbi_flags bits used here.
PROC_FLAG_SYSTEM = 0x1
PROC_FLAG_INEXIT = 0x4

# Thread run states (PROC_PIDTHREADINFO pth_run_state), for reference.
TH_STATE_RUNNING = 1
TH_STATE_STOPPED = 2
TH_STATE_WAITING = 3
TH_STATE_UNINTERRUPTIBLE = 4
TH_STATE_HALTED = 5


# --- struct rusage_info_v6 -----------------------------------------------------------------------
# Every field is uint64_t except ri_uuid. Each older flavor is a prefix of v6, so one v6 struct
# (plus RUSAGE_INFO_SIZES) reads any flavor: fields past the flavor's size are simply not valid.
_RUSAGE_FIELDS: list[tuple[str, int]] = [  # (name, first flavor that has it)
    ("ri_user_time", 0),
    ("ri_system_time", 0),
    ("ri_pkg_idle_wkups", 0),
    ("ri_interrupt_wkups", 0),
    ("ri_pageins", 0),
    ("ri_wired_size", 0),
    ("ri_resident_size", 0),
    ("ri_phys_footprint", 0),
    ("ri_proc_start_abstime", 0),
    ("ri_proc_exit_abstime", 0),
    ("ri_child_user_time", 1),
    ("ri_child_system_time", 1),
    ("ri_child_pkg_idle_wkups", 1),
    ("ri_child_interrupt_wkups", 1),
    ("ri_child_pageins", 1),
    ("ri_child_elapsed_abstime", 1),
    ("ri_diskio_bytesread", 2),
    ("ri_diskio_byteswritten", 2),
    ("ri_cpu_time_qos_default", 3),
    ("ri_cpu_time_qos_maintenance", 3),
    ("ri_cpu_time_qos_background", 3),
    ("ri_cpu_time_qos_utility", 3),
    ("ri_cpu_time_qos_legacy", 3),
    ("ri_cpu_time_qos_user_initiated", 3),
    ("ri_cpu_time_qos_user_interactive", 3),
    ("ri_billed_system_time", 3),
    ("ri_serviced_system_time", 3),
    ("ri_logical_writes", 4),
    ("ri_lifetime_max_phys_footprint", 4),
    ("ri_instructions", 4),
    ("ri_cycles", 4),
    ("ri_billed_energy", 4),
    ("ri_serviced_energy", 4),
    ("ri_interval_max_phys_footprint", 4),  # ri_unused[0] on 10.13
    ("ri_runnable_time", 4),  # unused before 10.15
    ("ri_flags", 5),
    ("ri_user_ptime", 6),
    ("ri_system_ptime", 6),
    ("ri_pinstructions", 6),
    ("ri_pcycles", 6),
    ("ri_energy_nj", 6),
    ("ri_penergy_nj", 6),
    ("ri_secure_time_in_system", 6),  # reserved before macOS 14.4
    ("ri_secure_ptime_in_system", 6),
    ("ri_neural_footprint", 6),  # reserved before macOS 15
    ("ri_lifetime_max_neural_footprint", 6),
    ("ri_interval_max_neural_footprint", 6),
]

RUSAGE_FIELD_FLAVOR: dict[str, int] = dict(_RUSAGE_FIELDS)


class RusageInfoV6(ctypes.Structure):
    """struct rusage_info_v6 (464 bytes in every macOS release that has it)."""

    _fields_ = [
        ("ri_uuid", c_uint8 * 16),
        *[(name, c_uint64) for name, _ in _RUSAGE_FIELDS],
        ("ri_reserved", c_uint64 * 9),  # [14] on 13.x, [12] on 14.4: same total size
    ]


# Bytes the kernel copies out for each flavor (it never sees the caller's buffer size).
RUSAGE_INFO_SIZES: dict[int, int] = {0: 96, 1: 144, 2: 160, 3: 232, 4: 296, 5: 304, 6: 464}
RUSAGE_MAX_SIZE = max(RUSAGE_INFO_SIZES.values())


def rusage_struct_for(flavor: int) -> type[ctypes.Structure]:
    """A ctypes struct with exactly the fields of ``flavor`` (rusage_info_vN), for callers that
    want the precise per-flavor layout rather than the v6 superset."""
    fields: list[tuple[str, type]] = [("ri_uuid", c_uint8 * 16)]
    fields += [(name, c_uint64) for name, first in _RUSAGE_FIELDS if first <= flavor]
    if flavor >= 6:
        fields.append(("ri_reserved", c_uint64 * 9))
    return type(f"RusageInfoV{flavor}", (ctypes.Structure,), {"_fields_": fields})


# QoS class name (as in model.ProcessSample.cpu_qos_ns) -> rusage field, in Mach ticks.
QOS_FIELDS: dict[str, str] = {
    "default": "ri_cpu_time_qos_default",
    "maintenance": "ri_cpu_time_qos_maintenance",
    "background": "ri_cpu_time_qos_background",
    "utility": "ri_cpu_time_qos_utility",
    "legacy": "ri_cpu_time_qos_legacy",
    "user_initiated": "ri_cpu_time_qos_user_initiated",
    "user_interactive": "ri_cpu_time_qos_user_interactive",
}


# --- struct proc_bsdinfo (136 bytes) ------------------------------------------------------------
class ProcBsdInfo(ctypes.Structure):
    _fields_ = [
        ("pbi_flags", c_uint32),
        ("pbi_status", c_uint32),
        ("pbi_xstatus", c_uint32),
        ("pbi_pid", c_uint32),
        ("pbi_ppid", c_uint32),
        ("pbi_uid", c_uint32),
        ("pbi_gid", c_uint32),
        ("pbi_ruid", c_uint32),
        ("pbi_rgid", c_uint32),
        ("pbi_svuid", c_uint32),
        ("pbi_svgid", c_uint32),
        ("rfu_1", c_uint32),
        ("pbi_comm", c_char * MAXCOMLEN),
        ("pbi_name", c_char * (2 * MAXCOMLEN)),
        ("pbi_nfiles", c_uint32),
        ("pbi_pgid", c_uint32),
        ("pbi_pjobc", c_uint32),
        ("e_tdev", c_uint32),
        ("e_tpgid", c_uint32),
        ("pbi_nice", c_int32),
        ("pbi_start_tvsec", c_uint64),
        ("pbi_start_tvusec", c_uint64),
    ]


# --- struct proc_taskinfo (96 bytes); times in Mach ticks, int32 counters saturate --------------
class ProcTaskInfo(ctypes.Structure):
    _fields_ = [
        ("pti_virtual_size", c_uint64),
        ("pti_resident_size", c_uint64),
        ("pti_total_user", c_uint64),
        ("pti_total_system", c_uint64),
        ("pti_threads_user", c_uint64),
        ("pti_threads_system", c_uint64),
        ("pti_policy", c_int32),
        ("pti_faults", c_int32),
        ("pti_pageins", c_int32),
        ("pti_cow_faults", c_int32),
        ("pti_messages_sent", c_int32),
        ("pti_messages_received", c_int32),
        ("pti_syscalls_mach", c_int32),
        ("pti_syscalls_unix", c_int32),
        ("pti_csw", c_int32),
        ("pti_threadnum", c_int32),
        ("pti_numrunning", c_int32),
        ("pti_priority", c_int32),
    ]


# --- struct proc_taskallinfo (232 bytes) ---------------------------------------------------------
class ProcTaskAllInfo(ctypes.Structure):
    _fields_ = [("pbsd", ProcBsdInfo), ("ptinfo", ProcTaskInfo)]


# --- struct proc_bsdshortinfo (64 bytes) ----------------------------------------------------------
# Not in the reference tables; layout from XNU bsd/sys/proc_info.h (all uint32 plus a 16-byte
# comm). PROC_PIDT_SHORTBSDINFO is not same-user checked, so it works on other users' processes.
class ProcBsdShortInfo(ctypes.Structure):
    _fields_ = [
        ("pbsi_pid", c_uint32),
        ("pbsi_ppid", c_uint32),
        ("pbsi_pgid", c_uint32),
        ("pbsi_status", c_uint32),
        ("pbsi_comm", c_char * MAXCOMLEN),
        ("pbsi_flags", c_uint32),
        ("pbsi_uid", c_uint32),
        ("pbsi_gid", c_uint32),
        ("pbsi_ruid", c_uint32),
        ("pbsi_rgid", c_uint32),
        ("pbsi_svuid", c_uint32),
        ("pbsi_svgid", c_uint32),
        ("pbsi_rfu", c_uint32),
    ]


# --- struct proc_uniqidentifierinfo (56 bytes) ----------------------------------------------------
# Not same-user checked either: p_uniqueid is never reused within a boot, so it identifies other
# users' processes, whose ri_proc_start_abstime we may not read.
class ProcUniqIdentifierInfo(ctypes.Structure):
    _fields_ = [
        ("p_uuid", c_uint8 * 16),
        ("p_uniqueid", c_uint64),
        ("p_puniqueid", c_uint64),
        ("p_idversion", c_int32),
        ("p_orig_ppidversion", c_int32),
        ("p_reserve2", c_uint64),
        ("p_reserve3", c_uint64),
    ]


# Sizes the tests pin down (and the binding uses for short-read checks).
STRUCT_SIZES: dict[str, int] = {
    "rusage_info_v6": 464,
    "proc_bsdinfo": 136,
    "proc_taskinfo": 96,
    "proc_taskallinfo": 232,
    "proc_bsdshortinfo": 64,
    "proc_uniqidentifierinfo": 56,
}


# --- the same layouts as struct formats, for reading a whole buffer in one C call -----------------
# (``RUSAGE_UNPACK.unpack_from(buffer)``: one tuple instead of dozens of ctypes attribute reads;
# tests/test_libproc_abi.py checks they agree with the ctypes structs field by field.)
RUSAGE_UNPACK = struct.Struct("=16s" + "Q" * len(_RUSAGE_FIELDS) + "9Q")
RUSAGE_INDEX: dict[str, int] = {name: i + 1 for i, (name, _) in enumerate(_RUSAGE_FIELDS)}

TASKALLINFO_UNPACK = struct.Struct("=12I16s32s5Ii2Q" + "6Q12i")
TASKALLINFO_INDEX: dict[str, int] = {
    name: i
    for i, name in enumerate(
        [f[0] for f in ProcBsdInfo._fields_] + [f[0] for f in ProcTaskInfo._fields_]
    )
}

SHORTBSDINFO_UNPACK = struct.Struct("=4I16s8I")
SHORTBSDINFO_INDEX: dict[str, int] = {f[0]: i for i, f in enumerate(ProcBsdShortInfo._fields_)}
