"""The Mac-in-a-box: run the real lagwatch CLI on Linux as if on a Mac (docs/development.md).

:func:`build_libraries` compiles the fake libSystem (tests/fake_libsystem) and the fake IOKit +
CoreFoundation (tests/fake_iokit, with the additions in fake_iokit_box.c that let a subprocess
load a registry from a file and report leaks). :class:`MacBox` writes one machine, described as
:class:`Proc` objects, for all of them at once: the libSystem process table, the IORegistry
(an AGX accelerator with a user client per GPU process), the scenario the fake ``top``,
``nettop`` and ``powermetrics`` (tests/fake_tools) replay, and wrappers that run those fakes
with this interpreter. ``box.env`` is the environment that points lagwatch's one seam
(lagwatch.platform_seam) at all of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fake_libsystem import build as build_libsystem

HERE = Path(__file__).resolve().parent
TOOLS = HERE.parent / "fake_tools"
TOOL_NAMES = ("top", "nettop", "powermetrics")
TICKS_PER_S = 24_000_000  # the fake libSystem's hw.tbfrequency (Apple Silicon)


def build_iokit(directory: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the fake IOKit for the Mac-in-a-box")
    out = directory / "libfakeiokitbox.so"
    src = HERE / "fake_iokit_box.c"
    cmd = [cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"building the fake IOKit (box) failed:\n{proc.stderr}")
    return out


@dataclass(frozen=True)
class Libraries:
    libsystem: Path
    iokit: Path


def build_libraries(directory: Path) -> Libraries:
    return Libraries(build_libsystem(directory), build_iokit(directory))


@dataclass
class Proc:
    """One process of the box, as every fake shows it. Rates are per second (per registry read
    for ``gpu_ns_per_read``: the fake IOKit advances once per read, i.e. once per tick)."""

    pid: int
    command: str  # no spaces: the libSystem table is whitespace-separated
    uid: int = 501
    user: str = "me"
    ppid: int = 1
    cpu_percent: float = 0.0
    power: float = 0.0  # top's POWER
    mem_bytes: int = 50 << 20
    threads: int = 4
    state: str = "sleeping"
    idlew_per_s: float = 0.0
    pageins_per_s: float = 0.0
    csw_per_s: float = 0.0
    net_in_per_s: int | None = None
    net_out_per_s: int | None = None
    energy_impact_per_s: float | None = None  # powermetrics' own figure
    gpu_ns_per_read: int | None = None  # an AGXDeviceUserClient when set
    foreign_arch: bool = False
    path: str | None = None
    responsible: int | None = None  # the pid macOS charges this one to (an app's helper)

    def scenario(self) -> dict[str, Any]:
        skip = ("gpu_ns_per_read", "path", "responsible")  # libSystem's alone
        return {k: v for k, v in self.__dict__.items() if k not in skip}


def _cf(value: Any) -> str:
    """A value in fake_iokit_box.c's registry-file syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if ("." in repr(value) or "e" in repr(value)) else f"{value}.0"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bytes):
        return "data:" + value.hex()
    if isinstance(value, list):
        return "( " + " ".join(_cf(v) for v in value) + " )"
    if isinstance(value, dict):
        return "{ " + " ".join(f"{_cf(k)} {_cf(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


@dataclass
class MacBox:
    """One fake Mac in ``root``. Call :meth:`write` after changing anything."""

    root: Path
    libs: Libraries | None  # None: only the fake tools (tests of the tools themselves)
    procs: list[Proc]
    caller_uid: int = 501
    memory_pressure: int | None = 1  # kern.memorystatus_vm_pressure_level: 1 normal
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-tool behaviour
    board_id: str | None = None
    pmenergy_dir: Path | None = None
    accelerator: bool = True
    # Choose sources as a user would (LAGWATCH_AS_USER) even when the tests run as root: top
    # augments libproc and powermetrics is left out, as on a Mac run without sudo.
    as_user: bool = False

    def __post_init__(self) -> None:
        self.bin = self.root / "bin"
        self.table = self.root / "libsystem.txt"
        self.registry = self.root / "ioregistry.txt"
        self.report = self.root / "iokit-report.json"
        self.scenario_file = self.root / "scenario.json"
        self.log = self.root / "tools.log"
        self.write()

    # -- the files the fakes read -------------------------------------------------------------

    def write(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.bin.mkdir(exist_ok=True)
        self.table.write_text(self._table())
        self.registry.write_text(self._registry())
        self.scenario_file.write_text(
            json.dumps({"processes": [p.scenario() for p in self.procs], **self.tools})
        )
        for name in TOOL_NAMES:
            wrapper = self.bin / name
            wrapper.write_text(
                f'#!/bin/sh\nexec "{sys.executable}" "{TOOLS / (name + ".py")}" "$@"\n'
            )
            wrapper.chmod(0o755)
        pm = self.pmenergy_dir or (self.root / "pmenergy")
        pm.mkdir(exist_ok=True)

    def _table(self) -> str:
        lines = [f"caller_uid {self.caller_uid}"]
        if self.memory_pressure is not None:
            lines.append(f"sysctl kern.memorystatus_vm_pressure_level {self.memory_pressure} 4")
        for p in self.procs:
            comm = p.command.encode()[:15].decode("utf-8", "ignore")  # pbi_comm: 15 bytes
            path = p.path or f"/usr/bin/{p.command}"
            status = 2  # SRUN: XNU's state for every live process
            lines.append(f"proc {p.pid} {p.uid} {p.ppid} {status} {1000 + p.pid} {comm} - {path}")
            lines.append(f"set {p.pid} ri_phys_footprint {p.mem_bytes}")
            lines.append(f"set {p.pid} pti_threadnum {p.threads}")
            lines.append(f"set {p.pid} pti_numrunning {1 if p.state == 'running' else 0}")
            if p.cpu_percent:  # advanced once per tick (per process listing)
                lines.append(f"auto {p.pid} ri_user_time {int(p.cpu_percent / 100 * TICKS_PER_S)}")
            if p.idlew_per_s:
                lines.append(f"auto {p.pid} ri_pkg_idle_wkups {int(p.idlew_per_s)}")
            if p.responsible is not None:
                lines.append(f"responsible {p.pid} {p.responsible}")
        return "\n".join(lines) + "\n"

    def _registry(self) -> str:
        lines: list[str] = []
        if self.board_id is not None:
            lines.append("entry platform IOPlatformExpertDevice,IOService - registered")
            board = _cf(self.board_id.encode() + bytes(1))  # CFData, NUL-terminated
            lines.append(f'prop platform "board-id" {board}')
        if not self.accelerator:
            return "\n".join(lines) + "\n"
        lines.append("entry gpu AGXAcceleratorG13X,IOAccelerator,IOService - registered")
        stats = {"Device Utilization %": 37, "Renderer Utilization %": 31,
                 "In use system memory (driver)": 7, "In use system memory": 855785472}  # fmt: skip
        lines.append(f'prop gpu "PerformanceStatistics" {_cf(stats)}')
        lines.append(f'prop gpu "model" {_cf("Apple M1 Pro")}')
        lines.append(f'prop gpu "gpu-core-count" {_cf(14)}')
        lines.append("entry shared IOAccelSharedUserClient2,IOUserClient gpu unregistered")
        lines.append(f'prop shared "IOUserClientCreator" {_cf("pid 1, launchd")}')
        for p in self.procs:
            if p.gpu_ns_per_read is None:
                continue
            label = f"client{p.pid}"
            creator = f"pid {p.pid}, {p.command.encode()[:16].decode('utf-8', 'ignore')}"
            usage = [{"API": "Metal", "lastSubmittedTime": 3062414094833, "accumulatedGPUTime": 0}]
            lines.append(f"entry {label} AGXDeviceUserClient,IOUserClient gpu unregistered")
            lines.append(f'prop {label} "IOUserClientCreator" {_cf(creator)}')
            lines.append(f'prop {label} "AppUsage" {_cf(usage)}')
            lines.append(f'prop {label} "CommandQueueCount" {_cf(1)}')
            lines.append(f"auto {label} AppUsage/0/accumulatedGPUTime {p.gpu_ns_per_read}")
        return "\n".join(lines) + "\n"

    # -- running lagwatch in it -----------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        libs = {}
        if self.libs is not None:
            libs = {
                "LAGWATCH_LIBSYSTEM": str(self.libs.libsystem),
                "LAGWATCH_IOKIT": str(self.libs.iokit),
                "LAGWATCH_COREFOUNDATION": str(self.libs.iokit),
            }
        return {
            "LAGWATCH_PLATFORM": "macos",
            **libs,
            **({"LAGWATCH_AS_USER": "1"} if self.as_user else {}),
            "LAGWATCH_TOOL_DIR": str(self.bin),
            "LAGWATCH_PMENERGY_DIR": str(self.pmenergy_dir or (self.root / "pmenergy")),
            "FAKE_LIBSYSTEM_TABLE": str(self.table),
            "FAKE_IOKIT_REGISTRY": str(self.registry),
            "FAKE_IOKIT_REPORT": str(self.report),
            "FAKE_TOOLS_SCENARIO": str(self.scenario_file),
            "FAKE_TOOLS_LOG": str(self.log),
        }

    def iokit_report(self) -> dict[str, Any]:
        """What the fake IOKit said when lagwatch last read the registry, or exited."""
        return json.loads(self.report.read_text())

    def tool_log(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def starts(self, tool: str) -> list[dict[str, Any]]:
        return [e for e in self.tool_log() if e.get("tool") == tool and "argv" in e]

    def samples(self, tool: str) -> list[dict[str, Any]]:
        return [e for e in self.tool_log() if e.get("tool") == tool and "sample" in e]

    def tool_env(self) -> dict[str, str]:
        """The environment for running a fake tool directly (tests of the fakes)."""
        return dict(os.environ, **self.env)
