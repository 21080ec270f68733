"""sock_diag messages: hand-built bytes through the pure parsers, and the real kernel."""

from __future__ import annotations

import os
import socket
import struct
import sys

import pytest

from lagwatch.sources import inet_diag as d


def _tcp_info(acked: int, received: int, size: int = 232) -> bytes:
    info = bytearray(size)
    struct.pack_into("=QQ", info, 120, acked, received)
    return bytes(info)


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((-length) % 4)


def _diag_msg(inode: int, uid: int = 1000, state: int = 1, attrs: bytes = b"") -> bytes:
    sockid = struct.pack("=HH16s16sI8s", 0x5000, 0x6000, b"", b"", 0, b"")
    return (
        struct.pack("=BBBB", socket.AF_INET, state, 0, 0)
        + sockid
        + struct.pack("=IIIII", 0, 0, 0, uid, inode)
        + attrs
    )


def _nlmsg(kind: int, payload: bytes, seq: int = 7) -> bytes:
    length = 16 + len(payload)
    return struct.pack("=IHHII", length, kind, 2, seq, 0) + payload + b"\0" * ((-length) % 4)


def test_request_layout():
    req = d.build_request(socket.AF_INET6, seq=9)
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", req)
    assert (length, kind, seq, pid) == (len(req), 20, 9, 0) and len(req) == 16 + 56
    assert flags == 0x1 | 0x300  # request, dump
    family, proto, ext, pad, states = struct.unpack_from("=BBBBI", req, 16)
    assert (family, proto, ext, pad) == (socket.AF_INET6, 6, 1 << 1, 0)
    assert not states & (1 << 10)  # listening sockets carry no bytes: not asked for
    assert states & (1 << 1)  # established ones are


def test_one_dump_datagram():
    buf = (
        _nlmsg(20, _diag_msg(111, attrs=_attr(5, b"\1\2\3") + _attr(2, _tcp_info(5000, 70))))
        + _nlmsg(20, _diag_msg(222, uid=0))  # no tcp_info attribute
        + _nlmsg(20, _diag_msg(333), seq=6)  # an answer to another request: skipped
        + _nlmsg(3, struct.pack("=i", 0))
    )
    sockets, done = d.parse_messages(buf, seq=7)
    assert done
    assert [(s.inode, s.uid, s.bytes_acked, s.bytes_received) for s in sockets] == [
        (111, 1000, 5000, 70),
        (222, 0, None, None),
    ]


def test_a_datagram_without_done_asks_for_more():
    sockets, done = d.parse_messages(_nlmsg(20, _diag_msg(1, attrs=_attr(2, _tcp_info(1, 2)))))
    assert not done and sockets[0].bytes_acked == 1


def test_an_old_kernels_short_tcp_info_is_unknown_not_zero():
    short = _attr(2, _tcp_info(5, 5)[:104])  # Linux < 4.1: no byte counters
    sockets, _ = d.parse_messages(_nlmsg(20, _diag_msg(9, attrs=short)))
    assert sockets[0].bytes_acked is None and sockets[0].bytes_received is None


def test_kernel_error_is_raised():
    with pytest.raises(d.DiagError, match="errno 22"):
        d.parse_messages(_nlmsg(2, struct.pack("=i", -22) + b"\0" * 16))


@pytest.mark.parametrize(
    "buf",
    [
        struct.pack("=IHHII", 400, 20, 2, 7, 0) + b"\0" * 20,  # message longer than the buffer
        _nlmsg(20, b"\0" * 30),  # inet_diag_msg cut short
        _nlmsg(20, _diag_msg(1) + struct.pack("=HH", 900, 2)),  # attribute overruns
    ],
)
def test_malformed_datagrams_are_errors(buf):
    with pytest.raises(d.DiagError):
        d.parse_messages(buf)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sock_diag is Linux only")
def test_real_kernel_counts_what_was_sent():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    payload = b"x" * 300_000
    client.sendall(payload)
    got = 0
    while got < len(payload):
        got += len(server.recv(1 << 16))
    client.sendall(b"y")  # its ack proves the first 300 kB acked
    server.recv(1)
    sock = d.open_socket()
    try:
        found = {s.inode: s for s in d.dump(sock, socket.AF_INET, 1)}
    finally:
        sock.close()
    sent = found[os.fstat(client.fileno()).st_ino]
    received = found[os.fstat(server.fileno()).st_ino]
    # The kernel's own tcp_info of the same socket agrees with the netlink one, and both with
    # the bytes this test moved (bytes_acked also counts the SYN: one byte).
    own = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    assert d.parse_tcp_info(own)[0] >= len(payload)
    assert len(payload) <= sent.bytes_acked <= len(payload) + 2
    assert received.bytes_received == len(payload) + 1
    assert sent.uid == os.getuid()
    for s in (client, server, listener):
        s.close()
