"""Parsing of /proc texts: pure functions, tested on the kernel's formats."""

from lagwatch.sources.procfs import parse_io, parse_stat, parse_status

STAT = (
    b"4242 (tricky) name (x)) S 1 4242 4242 0 -1 4194560 120 0 7 0 250 50 30 20 20 0 3 0 "
    b"98765 12345678 900 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
)


def test_stat_name_with_spaces_and_parentheses():
    st = parse_stat(STAT)
    assert st.name == "tricky) name (x)"
    assert (st.state, st.ppid, st.majflt) == ("S", 1, 7)
    assert (st.utime, st.stime, st.cutime, st.cstime) == (250, 50, 30, 20)
    assert (st.threads, st.starttime) == (3, 98765)


def test_status_fields():
    text = (
        b"Name:\tx\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\nRssAnon:\t   2048 kB\n"
        b"VmSwap:\t      16 kB\nvoluntary_ctxt_switches:\t42\nnonvoluntary_ctxt_switches:\t7\n"
    )
    st = parse_status(text)
    assert (st.uid, st.rss_anon_kb, st.swap_kb, st.voluntary, st.involuntary) == (
        1000, 2048, 16, 42, 7,
    )  # fmt: skip


def test_status_of_kernel_thread_has_no_memory_lines():
    st = parse_status(b"Name:\tkthreadd\nUid:\t0\t0\t0\t0\nvoluntary_ctxt_switches:\t3\n")
    assert st.rss_anon_kb is None and st.swap_kb is None and st.voluntary == 3
    assert st.involuntary is None


def test_io_uses_storage_bytes_not_chars():
    text = b"rchar: 999\nwchar: 888\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\n"
    assert parse_io(text) == (4096, 8192)
