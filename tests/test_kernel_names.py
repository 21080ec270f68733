"""Process names cut by the kernel at a number of bytes (lagwatch.kernel_names), and the libproc
source reading them that way, against the fake libSystem (tests/fake_libsystem), which copies
names into pbi_comm (16 bytes, NUL-terminated: 15 kept) and pbi_name (32: 31 kept) byte by
byte, as XNU's proc_info.c does."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_libsystem import FakeLibSystem, build
from lagwatch import kernel_names
from lagwatch.sources.libproc import LibProc
from lagwatch.sources.macos_libproc import LibprocSource, expand_name

EDITOR = "テキストエディット"  # 9 characters, 27 bytes
ME = 501


@pytest.mark.parametrize(
    ("data", "tail"),
    [(b"abc", 0), ("é".encode(), 0), ("é".encode()[:1], 1), (EDITOR.encode()[:16], 1),
     (EDITOR.encode()[:17], 2), ("😀".encode()[:3], 3), (b"\x80\x80", 0), (b"", 0)],
)  # fmt: skip
def test_partial_tail(data: bytes, tail: int) -> None:
    assert kernel_names.partial_tail(data) == tail


def test_cut_decode_and_compare_on_bytes() -> None:
    raw = EDITOR.encode()[:16]
    assert kernel_names.decode(raw) == "テキストエ"
    assert kernel_names.may_be_cut(raw, 16) and kernel_names.may_be_cut(raw[:14], 16)
    assert not kernel_names.may_be_cut("Übersicht".encode(), 16)
    # 13 characters but 16 bytes: cut, although shorter than 16 *characters*.
    assert kernel_names.may_be_cut("Café Brûlé Sy".encode(), 16)
    assert kernel_names.same_name(EDITOR, "テキストエ", 16)
    assert kernel_names.same_name("Café Brûlé Sync", "Café Brûlé Sy", 16)
    assert not kernel_names.same_name("Café Brûlé Sync", "Café Brûlé", 16)
    assert not kernel_names.same_name("WindowServer", "WindowServe", 16)


@pytest.fixture(scope="module")
def fake_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("fake_libsystem_names"))


@pytest.fixture
def fake(fake_path: Path) -> FakeLibSystem:
    f = FakeLibSystem(fake_path)
    f.reset()
    f.caller_uid(ME)
    return f


def test_pbi_name_cut_inside_a_character_is_completed_from_the_path(fake: FakeLibSystem) -> None:
    long = "Éditeur de texte avancé Pro"  # 29 bytes: whole in pbi_name
    longer = "画像エディタ・プロフェッショナル"  # 48 bytes: pbi_name keeps 31 (10 chars + 1 byte)
    fake.add(700, uid=ME, comm=long, name=long, path=f"/Applications/{long}")
    fake.add(701, uid=ME, comm=longer, name=longer, path=f"/Applications/X.app/{longer}")
    fake.add(702, uid=ME, comm=longer, name=longer, path="/Applications/Other")
    names = {s.pid: s.name for s in LibprocSource(LibProc(str(fake.path))).read().processes}
    assert names[700] == long  # 29 bytes fit: nothing to complete
    assert names[701] == longer  # 31 bytes ending mid-character: completed from the path
    # The path is another name: keep the kernel's, without half a character.
    assert names[702] == "画像エディタ・プロフ"
    assert all("\ufffd" not in n for n in names.values())


def test_restricted_comm_cut_at_15_bytes_is_completed_from_the_path(
    fake: FakeLibSystem,
) -> None:
    # Another user's process: only pbsi_comm (15 bytes) and the path are readable.
    fake.add(800, uid=0, comm=EDITOR, name=EDITOR, path=f"/Applications/{EDITOR}.app/x/{EDITOR}")
    fake.add(801, uid=0, comm="Café Brûlé", name="Café Brûlé", path="/usr/libexec/other")
    fake.add(802, uid=0, comm="日本語エディタ", name="日本語エディタ", path="/bin/x")
    source = LibprocSource(LibProc(str(fake.path)))
    samples = {s.pid: s for s in source.read().processes}
    assert all(s.restricted for s in samples.values())
    # pbsi_comm holds 15 bytes = 5 characters exactly: by characters (5) it looks whole.
    assert samples[800].name == EDITOR
    assert samples[801].name == "Café Brûlé"  # 12 bytes: whole
    # 21 bytes cut at 15 = 5 characters; the path does not continue it: kept as cut.
    assert samples[802].name == "日本語エデ"


def test_proc_name_bytes_and_text(fake: FakeLibSystem) -> None:
    longer = "画像エディタ・プロフェッショナル"
    fake.add(900, uid=ME, comm=longer, name=longer)
    lib = LibProc(str(fake.path))
    raw = lib.name_bytes(900)
    assert len(raw) == 31 and kernel_names.partial_tail(raw) == 1
    assert lib.name(900) == "画像エディタ・プロフ"


def test_expand_name_uses_bytes_by_default() -> None:
    # 5 katakana = 15 bytes: pbi_comm's length, so possibly cut.
    assert expand_name("テキストエ", f"/x/{EDITOR}") == EDITOR
    assert expand_name("short", "/bin/shortened") == "short"
    assert expand_name("テキ", f"/x/{EDITOR}", cut=True) == EDITOR
