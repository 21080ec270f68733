"""Per-process GPU time: the pure aggregation over every ioreg capture in
../shared/fixtures/macos/ioreg and over our own fixtures in the same format (tests/fixtures/ioreg),
and the `iokit-gpu` source through the real sampler with a registry reader fed from them.

Expected numbers are added up by hand from the files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lagwatch.model import ProcessSample
from lagwatch.parsers.ioreg import parse_ioreg, parse_ioreg_value
from lagwatch.ranking import compute_ranking
from lagwatch.sampler import Sampler
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.gpu_clients import (
    CLIENT_CLASS,
    GpuClient,
    client_from_properties,
    device_stats,
    devices_from_ioreg,
    gpu_clients_from_ioreg,
    gpu_time_by_pid,
    parse_creator,
)
from lagwatch.sources.iokit_gpu import IokitGpuSource

FIXTURES = Path(__file__).parent / "fixtures" / "ioreg"
DART = "ioreg/dart-test_agx-userclients_r-c-AGXDeviceUserClient_PARTIALLY-SYNTHETIC.txt"
EXELBAN = "ioreg/exelban-stats-1094_m1pro-max-t6000_macos12.6_IOAccelerator_r-d1-w0_TRUNCATED.txt"
M2 = "ioreg/rust-test_m2_IOAccelerator_TRIMMED-KEYS.txt"


def test_every_shared_ioreg_capture_is_covered(macos_fixtures: Path) -> None:
    names = {f"ioreg/{p.name}" for p in (macos_fixtures / "ioreg").iterdir()}
    assert names == {DART, EXELBAN, M2}, "a new capture needs its own test below"


def test_dart_user_clients(macos_fixtures: Path) -> None:
    entries, warnings = parse_ioreg((macos_fixtures / DART).read_text())
    assert warnings == []
    assert [e.class_name for e in entries] == [CLIENT_CLASS] * 4
    assert [e.entry_id for e in entries] == [0x100002DBC, 0x100002DBD, 0x100002DBE, 0x100002DBF]
    assert entries[0].flags == ["!registered", "!matched", "active", "busy 0", "retain 5"]
    assert entries[0].properties["AppUsage"] == []
    assert entries[1].properties["CommandQueueCount"] == 1
    clients = gpu_clients_from_ioreg(entries)
    assert clients[0] == GpuClient(pid=444, name="runningboardd", gpu_ns=0, queues=0)
    assert clients[1] == GpuClient(pid=440, name="WindowServer", gpu_ns=38738170958 + 76336458,
                                   queues=2)  # fmt: skip
    assert clients[3].name == "voxel_game_examp"  # cut to 16 bytes by the kernel (p_comm)
    assert clients[3].name_cut is True and clients[1].name_cut is False
    # WindowServer owns two clients: 38738170958 + 76336458 + 1000000000.
    assert gpu_time_by_pid(clients) == {444: 0, 440: 39814507416, 31299: 3992585375}
    assert devices_from_ioreg(entries) == []


def test_exelban_accelerator_m1_pro(macos_fixtures: Path) -> None:
    entries, warnings = parse_ioreg((macos_fixtures / EXELBAN).read_text())
    assert warnings == []
    (acc,) = entries  # the capture is cut before the closing brace: the entry still counts
    assert (acc.class_name, acc.entry_id) == ("AGXAcceleratorG13X", 0x10000087C)
    assert acc.flags == ["registered", "matched", "active", "busy 0 (17 ms)", "retain 24"]
    props = acc.properties
    assert props["IOMatchedAtBoot"] is True
    assert props["vendor-id"] == bytes.fromhex("6b100000")
    assert props["SCMVersionNumber"] == ""
    assert props["IONameMatched"] == "gpu,t6000"  # a comma inside a string
    assert props["AGCInfo"] == {
        "fLastSubmissionPID": 390,
        "fSubmissionsSinceLastCheck": 0,
        "fBusyCount": 0,
    }
    assert props["IOPersonalityPublisher"] == "com.apple.AGXG13X"
    (stats,) = devices_from_ioreg(entries)
    assert stats.device_utilization_percent == 2.0
    assert stats.renderer_utilization_percent == 2.0
    assert stats.in_use_system_memory_bytes == 340983808
    assert stats.alloc_system_memory_bytes == 1214005248
    assert gpu_clients_from_ioreg(entries) == []  # -d 1: no user clients in this capture


def test_m2_in_use_memory_is_not_the_driver_figure(macos_fixtures: Path) -> None:
    """The trap: "In use system memory (driver)"=0 sits before "In use system memory"."""
    entries, warnings = parse_ioreg((macos_fixtures / M2).read_text())
    assert warnings == []
    (stats,) = devices_from_ioreg(entries)
    assert stats.in_use_system_memory_bytes == 855785472
    assert stats.device_utilization_percent == 54.0
    assert stats.tiler_utilization_percent == 54.0
    assert stats.alloc_system_memory_bytes == 2930081792
    assert (stats.model, stats.core_count) == ("Apple M2", 10)
    assert entries[0].properties["PerformanceStatistics"]["In use system memory (driver)"] == 0


def test_own_tree_fixture_with_nested_prefixes_and_odd_clients() -> None:
    entries, warnings = parse_ioreg(
        (FIXTURES / "ioreg-l_tree_accelerator_and_clients.txt").read_text()
    )
    assert warnings == []
    assert len(entries) == 7
    (stats,) = devices_from_ioreg(entries)
    # "(driver)"=7 comes AFTER the real key here: last-match parsing would pick it.
    assert stats.in_use_system_memory_bytes == 855785472
    assert (stats.device_utilization_percent, stats.renderer_utilization_percent) == (37.0, 31.0)
    clients = gpu_clients_from_ioreg(entries)
    # The IOAccelSharedUserClient2 (not an AGXDeviceUserClient) and the "kernel" creator are out.
    assert [(c.pid, c.gpu_ns, c.queues) for c in clients] == [
        (512, 3_000_000_000, 2),
        (512, 1_000_000_000, 1),
        (777, 0, 0),  # no AppUsage key at all
        (777, 250_000_000, 3),  # a record without the key and a negative value count 0
    ]
    assert clients[2].name == "Code Helper (GPU)"
    assert gpu_time_by_pid(clients) == {512: 4_000_000_000, 777: 250_000_000}


def test_a_cut_value_is_skipped_with_a_warning() -> None:
    text = (
        "+-o AGXDeviceUserClient  <class AGXDeviceUserClient, id 0x1, !registered, retain 5>\n"
        "  {\n"
        '    "AppUsage" = ({"API"="Metal","accumulatedGPUTime"=12\n'
        '    "IOUserClientCreator" = "pid 9, cut"\n'
    )
    entries, warnings = parse_ioreg(text)
    assert len(warnings) == 1 and warnings[0].startswith("line 3:")
    assert gpu_time_by_pid(gpu_clients_from_ioreg(entries)) == {9: 0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pid 440, WindowServer", (440, "WindowServer", False)),
        ("pid 4245, python3.12", (4245, "python3.12", False)),
        ("pid 1, ", (1, "", False)),
        ("pid 77, Code Helper (Re", (77, "Code Helper (Re", False)),  # 15 bytes: whole
        ("pid 78, Code Helper (Ren", (78, "Code Helper (Ren", True)),  # 16 bytes: p_comm full
        # 16 bytes but 14 characters: a byte count sees the cut a character count misses.
        ("pid 79, Caf\u00e9 na Pra\u00e7as", (79, "Caf\u00e9 na Pra\u00e7as", True)),
        ("pid 80, Caf\u00e9 Bar", (80, "Caf\u00e9 Bar", False)),
        # Cut inside a character (bytes handed over with surrogateescape): the first byte of
        # the cut character is dropped ...
        (
            "pid 81, " + "\u65e5\u672c\u8a9e\u30a2\u30d7\udce3",
            (81, "\u65e5\u672c\u8a9e\u30a2\u30d7", True),
        ),
        # ... and so is the U+FFFD a "replace" decoder leaves for it.
        (
            "pid 82, \u65e5\u672c\u8a9e\u30a2\u30d7\ufffd",
            (82, "\u65e5\u672c\u8a9e\u30a2\u30d7", True),
        ),
        ("kernel", None),
        ("pid x, nope", None),
        (None, None),
        (440, None),
    ],
)
def test_parse_creator(text, expected) -> None:
    assert parse_creator(text) == expected


def test_creator_names_in_an_ioreg_capture_are_macroman_and_cut_by_utf8_bytes() -> None:
    """ioreg prints CFStrings in MacRoman (ioreg.c cfstringshow). Read from the file's bytes, a
    name is decoded as such, and whether the kernel may have cut it is judged on its length in
    UTF-8 (p_comm's 16 bytes): 14 characters can fill them."""
    text = b"".join(
        b"+-o AGXDeviceUserClient  <class AGXDeviceUserClient, id 0x%d, !registered>\n"
        b"  {\n"
        b'    "IOUserClientCreator" = "pid %d, ' % (pid, pid) + comm + b'"\n'
        b'    "AppUsage" = ({"API"="Metal","accumulatedGPUTime"=5})\n'
        b"  }\n"
        for pid, comm in (
            (31, "Caf\u00e9 na Pra\u00e7as".encode("mac_roman")),
            (32, "Caf\u00e9".encode("mac_roman")),
        )
    )
    assert b"\x8e" in text  # MacRoman's e-acute: not UTF-8
    entries, warnings = parse_ioreg(text)
    assert warnings == []
    cut, whole = gpu_clients_from_ioreg(entries)
    assert (cut.pid, cut.name, cut.name_cut) == (31, "Caf\u00e9 na Pra\u00e7as", True)
    assert (whole.pid, whole.name, whole.name_cut) == (32, "Caf\u00e9", False)
    assert gpu_time_by_pid([cut, whole]) == {31: 5, 32: 5}
    # The live path hands over the dict CoreFoundation decoded: the same rule.
    live = client_from_properties({"IOUserClientCreator": "pid 31, Code Helper (Ren"})
    assert live is not None and live.name_cut is True


def test_value_parser() -> None:
    assert parse_ioreg_value('{"a"=(1,2,{"b"="c,d"}),"e"=No,"f"=0x10,"g"=-3,"h"=1.5}') == {
        "a": [1, 2, {"b": "c,d"}],
        "e": False,
        "f": 16,
        "g": -3,
        "h": 1.5,
    }
    assert parse_ioreg_value("()") == [] and parse_ioreg_value("{}") == {}
    assert parse_ioreg_value('"with \\"quote\\""') == 'with "quote"'
    # CFData that looks like text (ioreg.c cfdatashow): bytes, NUL between strings.
    assert parse_ioreg_value('<"Mac-7BA5B2DFE22DDD8C">') == b"Mac-7BA5B2DFE22DDD8C"
    assert parse_ioreg_value('<"J314sAP","AppleARM">') == b"J314sAP\0AppleARM"
    assert parse_ioreg_value("<4d61632d00>") == b"Mac-\0"
    assert parse_ioreg_value("IOService:/AppleARMPE") == "IOService:/AppleARMPE"


def test_client_from_properties_ignores_junk() -> None:
    assert client_from_properties({}) is None
    client = client_from_properties(
        {"IOUserClientCreator": "pid 5, x", "AppUsage": [{"accumulatedGPUTime": True}, "junk"]}
    )
    assert client == GpuClient(pid=5, name="x", gpu_ns=0, queues=1)
    assert device_stats({"PerformanceStatistics": "not a dict"}) is None


# -- the source through the sampler --------------------------------------------------------------


class RegistryFromIoreg:
    """Stands in for IORegistryReader: the same dicts, from ioreg text that the test edits."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.fail = False

    def read(self):
        if self.fail:
            raise SourceError("IOServiceGetMatchingServices(IOAccelerator) failed")
        entries, _ = parse_ioreg(self.text)
        clients = [e.properties for e in entries if e.class_name == CLIENT_CLASS]
        devices = [e.properties for e in entries if "PerformanceStatistics" in e.properties]
        return clients, devices


class Processes:
    name = "stub"

    def read(self) -> SourceReading:
        return SourceReading(
            processes=[ProcessSample(pid=pid, start_id=1, name=f"p{pid}") for pid in (512, 777, 9)]
        )

    def close(self) -> None:
        pass


def test_gpu_percent_through_the_sampler() -> None:
    text = (FIXTURES / "ioreg-l_tree_accelerator_and_clients.txt").read_text()
    reader = RegistryFromIoreg(text)
    sampler = Sampler([Processes(), IokitGpuSource(reader)], platform="macos")
    first = sampler.read()
    assert first.system["gpu_device_utilization_percent"] == 37.0
    assert first.system["gpu_memory_in_use_bytes"] == 855785472
    # Safari's second client accumulates 0.5 s more; Code Helper's last client goes away.
    last_777 = '"pid 777, Code Helper (GPU)"\n| }\n| \n+-o IOAccel'
    assert last_777 in text
    reader.text = text.replace(
        '"accumulatedGPUTime"=1000000000', '"accumulatedGPUTime"=1500000000'
    ).replace(last_777, '"not a creator"\n| }\n| \n+-o IOAccel')
    second = sampler.read()
    second.monotonic_ns = first.monotonic_ns + 2_000_000_000
    assert [s.gpu_ns for s in second.processes.values() if s.pid == 777] == [0]
    rows = {r.pid: r for r in compute_ranking(first, second).processes}
    assert rows[512].gpu_percent == 25.0  # 0.5 s of GPU in 2 s
    assert rows[777].gpu_percent == 0.0  # its time left with the client: a drop, not unknown
    assert rows[9].gpu_percent is None  # no GPU client: nothing known
    reader.fail = True
    third = sampler.read()
    assert sampler.source_names == ["stub"]
    assert any("iokit-gpu failed and was dropped" in w for w in third.warnings)


def test_the_live_reader_needs_macos() -> None:
    import sys

    if sys.platform == "darwin":
        pytest.skip("the real IORegistry is there")
    with pytest.raises(SourceError, match="macOS"):
        IokitGpuSource()


def test_non_finite_numbers_are_unknown() -> None:
    entries, _ = parse_ioreg(
        "+-o AGXAcceleratorG14G  <class AGXAcceleratorG14G, id 0x1, registered>\n"
        '    {\n      "PerformanceStatistics" = {"In use system memory"=1e999,'
        '"Device Utilization %"=nan}\n    }\n'
    )
    (stats,) = devices_from_ioreg(entries)
    assert stats.in_use_system_memory_bytes is None
    assert stats.device_utilization_percent is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}()<>",=\n .|+-o0123456789xYesNoAGXDeviceUserClient\\', max_size=400))
def test_ioreg_parser_never_raises(text: str) -> None:
    entries, _ = parse_ioreg(FIXTURE_HEAD + text)
    gpu_clients_from_ioreg(entries)
    devices_from_ioreg(entries)


FIXTURE_HEAD = (
    "+-o AGXDeviceUserClient  <class AGXDeviceUserClient, id 0x1, !registered, retain 5>\n  {\n"
)
