"""GPU time per process from DRM fdinfo, on a fake /proc tree in the kernel's format."""

from __future__ import annotations

import os

from lagwatch.sources.drm_fdinfo import DrmFdinfoSource, gpu_ns_by_pid, parse_fdinfo

I915 = """pos:\t0
flags:\t02100002
mnt_id:\t26
drm-driver:\ti915
drm-client-id:\t{cid}
drm-pdev:\t0000:00:02.0
drm-total-system:\t0
drm-engine-render:\t{render} ns
drm-engine-copy:\t0 ns
drm-engine-video:\t{video} ns
drm-engine-capacity-video:\t2
"""


def test_parse_sums_engines_and_ignores_capacity():
    client = parse_fdinfo(I915.format(cid=7, render=9_000_000, video=1_000_000))
    assert client.key == ("0000:00:02.0", "7") and client.busy_ns == 10_000_000


def test_non_drm_fdinfo_is_none():
    assert parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t3\n") is None


def test_shared_client_counted_once():
    c = parse_fdinfo(I915.format(cid=3, render=5, video=0))
    assert gpu_ns_by_pid({20: [c], 10: [c, c]}) == {10: 5}


def test_source_reads_fake_proc(tmp_path):
    proc, dev = tmp_path / "proc", tmp_path / "dri"
    dev.mkdir()
    for pid, fds in {
        100: {"3": ("/dev/dri/renderD128", 1, 4_000)},
        200: {"4": ("/dev/null", 0, 0)},
    }.items():
        (proc / str(pid) / "fd").mkdir(parents=True)
        (proc / str(pid) / "fdinfo").mkdir()
        for fd, (target, cid, ns) in fds.items():
            os.symlink(target, proc / str(pid) / "fd" / fd)
            (proc / str(pid) / "fdinfo" / fd).write_text(I915.format(cid=cid, render=ns, video=0))
    src = DrmFdinfoSource(str(proc), str(dev))
    patches = src.read().patches
    assert patches == {100: {"gpu_ns": 4_000}, 200: {"gpu_ns": 0}}
    (proc / "100" / "fdinfo" / "3").write_text(I915.format(cid=1, render=9_000, video=1_000))
    assert src.read().patches[100] == {"gpu_ns": 10_000}  # known fd re-read without a rescan
