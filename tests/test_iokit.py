"""The shared IOKit/CoreFoundation binding, the GPU reader and the board-id lookup, run against a
fake IOKit + CoreFoundation built from tests/fake_iokit/fake_iokit.c.

The fake counts the references it hands out, so every test also checks ownership: each property
read is released, consumed matching dictionaries are not, every io_object_t goes back, and the
only CF objects left are the binding's cached key strings."""

from __future__ import annotations

import ctypes.util
from pathlib import Path

import pytest

from fake_iokit import FakeIOKit, build
from lagwatch.parsers.ioreg import parse_ioreg
from lagwatch.sources import macos_machine as darwin
from lagwatch.sources.base import SourceError
from lagwatch.sources.gpu_clients import CLIENT_CLASS, gpu_clients_from_ioreg, gpu_time_by_pid
from lagwatch.sources.iokit import IOKit
from lagwatch.sources.iokit_gpu import IokitGpuSource, IORegistryReader

TREE = Path(__file__).parent / "fixtures" / "ioreg" / "ioreg-l_tree_accelerator_and_clients.txt"


@pytest.fixture(scope="module")
def fake_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("fake_iokit"))


@pytest.fixture
def fake(fake_path: Path) -> FakeIOKit:
    fake = FakeIOKit(fake_path)
    fake.reset()
    return fake


@pytest.fixture
def kit(fake: FakeIOKit) -> IOKit:
    return IOKit(str(fake.path), str(fake.path))


def assert_clean(fake: FakeIOKit, keys: int) -> None:
    assert fake.errors == (0, "")
    assert fake.io_outstanding == 0
    assert fake.cf_outstanding == keys  # the cached key strings, nothing else


def nest(levels: int) -> object:
    value: object = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_every_cf_type_reads_as_python(fake: FakeIOKit, kit: IOKit) -> None:
    values = {
        "text": "Caf\u00e9 \u2615 \U0001d11e",  # 2- and 3-byte UTF-8 and a surrogate pair
        "empty": "",
        "negative": -5,
        "big": 2**40,
        "ratio": 1.5,
        "yes": True,
        "no": False,
        "blob": b"\x00\x01\xff",
        "list": [],
        "dict": {"a": [1, {"b": "c"}], "n": 2.0},
        "deep": nest(8),  # the leaf sits at the deepest level read
    }
    fake.add("Thing", {**values, "odd keys": {7: "number key", "k": "v"}, "too deep": nest(9)})
    with kit.matching_service("Thing") as entry:
        assert entry is not None
        for key, expected in values.items():
            got = kit.property(entry, key)
            assert got == expected and type(got) is type(expected), key
        assert kit.property(entry, "odd keys") == {"k": "v"}  # a non-string key is left out
        deep = kit.property(entry, "too deep")
        for _ in range(8):
            (deep,) = deep
        assert deep == [None]  # the leaf below the depth limit reads as unknown
        assert kit.property(entry, "absent") is None
        assert kit.class_name(entry) == "Thing"
    assert_clean(fake, keys=len(values) + 3)


def gpu_registry(fake: FakeIOKit) -> list:
    """The ioreg capture as a live registry: the accelerator (a registered IOAccelerator
    subclass) with the capture's other entries as its unregistered children, plus a client
    under an unrelated service, which the reader must not find."""
    entries, warnings = parse_ioreg(TREE.read_text())
    assert warnings == []
    accelerator = entries[0]
    root = fake.add(f"{accelerator.class_name},IOAccelerator", accelerator.properties)
    for entry in entries[1:]:
        fake.add(entry.class_name, entry.properties, parent=root, registered=False)
    other = fake.add("AppleARMIODevice", {"model": "not a GPU"})
    fake.add(CLIENT_CLASS, {"IOUserClientCreator": "pid 999, stray",
                            "AppUsage": [{"accumulatedGPUTime": 5}]},
             parent=other, registered=False)  # fmt: skip
    return entries


def test_gpu_reader_reads_what_the_capture_holds(fake: FakeIOKit, kit: IOKit) -> None:
    entries = gpu_registry(fake)
    reader = IORegistryReader(kit)
    clients, devices = reader.read()
    props = entries[0].properties
    assert devices == [
        {
            "class": "AGXAcceleratorG14G",
            "PerformanceStatistics": props["PerformanceStatistics"],
            "model": "Apple M2",
            "gpu-core-count": 10,
        }
    ]
    # The AGXDeviceUserClients in registry order; the IOAccelSharedUserClient2 is not one.
    assert clients == [
        {"IOUserClientCreator": e.properties.get("IOUserClientCreator"),
         "AppUsage": e.properties.get("AppUsage")}
        for e in entries[1:] if e.class_name == CLIENT_CLASS
    ]  # fmt: skip
    assert len(clients) == 5 and clients[2]["AppUsage"] is None  # a client without the key
    reading = IokitGpuSource(reader).read()
    assert reading.patches == {512: {"gpu_ns": 4_000_000_000}, 777: {"gpu_ns": 250_000_000}}
    assert reading.patches == {
        pid: {"gpu_ns": ns} for pid, ns in gpu_time_by_pid(gpu_clients_from_ioreg(entries)).items()
    }  # the live path and the capture path agree
    assert reading.system == {
        "gpu_device_utilization_percent": 37.0,
        "gpu_memory_in_use_bytes": 855785472,
    }
    reader.read()
    assert_clean(fake, keys=5)  # 5 property names, created once for every read


def test_a_failed_lookup_is_a_source_error_and_leaks_nothing(fake: FakeIOKit, kit: IOKit) -> None:
    gpu_registry(fake)
    fake.fail_matching()
    with pytest.raises(SourceError, match=r"IOServiceGetMatchingServices\(IOAccelerator\) failed"):
        IORegistryReader(kit).read()
    assert_clean(fake, keys=0)  # the matching dictionary was consumed, not released


def test_an_abandoned_iteration_releases_everything(fake: FakeIOKit, kit: IOKit) -> None:
    for n in range(3):
        fake.add("Service", {"n": n})
    services = kit.matching_services("Service")
    first = next(services)
    assert kit.property(first, "n") == 0
    services.close()
    for service in kit.matching_services("Service"):
        if kit.property(service, "n") == 1:
            break
    assert [kit.property(s, "n") for s in kit.matching_services("Service")] == [0, 1, 2]
    assert list(kit.matching_services("Nothing")) == []
    assert_clean(fake, keys=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"Mac-7BA5B2DFE22DDD8C\0", "Mac-7BA5B2DFE22DDD8C"),
        ("Mac-7BA5B2DFE22DDD8C", None),  # a string, not the CFData the property is
        (b"Mac-" + b"A" * 300, None),  # longer than any board-id
        (b"", None),
    ],
)
def test_board_id(fake: FakeIOKit, kit: IOKit, value: object, expected: str | None) -> None:
    fake.add("IOPlatformExpertDevice", {"board-id": value, "model": "MacBookPro16,1"})
    assert darwin.board_id(kit) == expected
    assert_clean(fake, keys=1)


def test_board_id_without_the_platform_device(fake: FakeIOKit, kit: IOKit) -> None:
    fake.add("IOResources", {"board-id": b"Mac-7BA5B2DFE22DDD8C\0"})
    assert darwin.board_id(kit) is None
    assert_clean(fake, keys=0)


def test_unusable_libraries_say_why(fake: FakeIOKit) -> None:
    with pytest.raises(SourceError, match="cannot load IOKit"):
        IOKit(str(fake.path), "/nonexistent/CoreFoundation")
    libc = ctypes.util.find_library("c")
    if libc is None:
        pytest.skip("no C library found to stand in for a framework without IOKit")
    with pytest.raises(SourceError, match="lacks a function"):
        IOKit(libc, str(fake.path))
