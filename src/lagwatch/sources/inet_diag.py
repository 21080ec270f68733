"""The kernel's per-socket TCP counters over NETLINK_SOCK_DIAG (what `ss -ti` reads), without
root, a kernel module or packet capture.

One SOCK_DIAG_BY_FAMILY dump per address family asks for every TCP socket with the
INET_DIAG_INFO extension, which carries the socket's ``struct tcp_info``; from it lagwatch takes
``tcpi_bytes_acked`` (payload bytes sent and acknowledged) and ``tcpi_bytes_received`` (payload
bytes received), both since Linux 4.1/4.2. The answer holds every TCP socket of this network
namespace, whoever owns it; each comes with its inode, which /proc/PID/fd links name as
``socket:[INODE]`` (lagwatch.sources.tcp_diag maps them to processes).

Layouts (include/uapi/linux/netlink.h, sock_diag.h, inet_diag.h, tcp.h), native byte order
except the ports and addresses (network order, unused here):

- nlmsghdr: u32 len, u16 type, u16 flags, u32 seq, u32 pid (16 bytes)
- inet_diag_req_v2: u8 family, u8 protocol, u8 ext, u8 pad, u32 states, inet_diag_sockid
- inet_diag_sockid: be16 sport, be16 dport, be32 src[4], be32 dst[4], u32 if, u32 cookie[2]
  (48 bytes)
- inet_diag_msg: u8 family, state, timer, retrans; inet_diag_sockid; u32 expires, rqueue,
  wqueue, uid, inode (72 bytes), then rtattrs (u16 len, u16 type, 4-byte aligned)
- tcp_info: 8 one-byte fields, 24 u32 (rto .. total_retrans), u64 pacing_rate,
  max_pacing_rate, bytes_acked (offset 120), bytes_received (offset 128)

The parsers are pure (bytes in, tuples out) so tests feed them hand-built messages; ``dump``
is the thin socket layer.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
INET_DIAG_INFO = 2
IPPROTO_TCP = 6

# TCP states (include/net/tcp_states.h) whose sockets carry no bytes worth counting and no
# inode: LISTEN (10), TIME_WAIT (6) and the request sockets of SYN_RECV (3).
_SKIP_STATES = (1 << 10) | (1 << 6) | (1 << 3)
ALL_STATES = 0xFFFFFFFF & ~_SKIP_STATES

_NLMSGHDR = struct.Struct("=IHHII")
_SOCKID = "=HH16s16sI8s"  # sport, dport, src, dst, if, cookie (48 bytes)
_REQ_V2 = struct.Struct("=BBBBI" + _SOCKID[1:])
_DIAG_MSG = struct.Struct("=BBBB" + _SOCKID[1:] + "IIIII")
_RTATTR = struct.Struct("=HH")
_TCPI_BYTES = struct.Struct("=QQ")
TCPI_BYTES_ACKED_OFFSET = 120
TCPI_BYTES_END = TCPI_BYTES_ACKED_OFFSET + _TCPI_BYTES.size  # 136: Linux 4.1+
# The kernel builds dump datagrams of at most ~32 KiB (netlink caps them), so one this size
# never truncates; a larger one only costs an allocation per call.
_RECV_SIZE = 1 << 16


class DiagError(Exception):
    """The kernel answered with an error, or the answer is malformed."""


@dataclass(frozen=True, slots=True)
class TcpSocket:
    inode: int
    uid: int
    state: int
    bytes_acked: int | None  # None: the kernel's tcp_info is too old to carry it
    bytes_received: int | None


def build_request(family: int, seq: int = 1, states: int = ALL_STATES) -> bytes:
    """A SOCK_DIAG_BY_FAMILY dump request for every TCP socket of ``family`` with tcp_info."""
    body = _REQ_V2.pack(
        family, IPPROTO_TCP, 1 << (INET_DIAG_INFO - 1), 0, states, 0, 0, b"", b"", 0, b""
    )
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return header + body


def _align(n: int) -> int:
    return (n + 3) & ~3


def parse_tcp_info(data: bytes) -> tuple[int | None, int | None]:
    """(bytes_acked, bytes_received) from a tcp_info; (None, None) when it is too short."""
    if len(data) < TCPI_BYTES_END:
        return None, None
    acked, received = _TCPI_BYTES.unpack_from(data, TCPI_BYTES_ACKED_OFFSET)
    return acked, received


def parse_diag_msg(payload: bytes) -> TcpSocket:
    """One inet_diag_msg and its attributes (the payload after the nlmsghdr)."""
    if len(payload) < _DIAG_MSG.size:
        raise DiagError(f"inet_diag_msg of {len(payload)} bytes, need {_DIAG_MSG.size}")
    fields = _DIAG_MSG.unpack_from(payload)
    state, uid, inode = fields[1], fields[-2], fields[-1]
    acked = received = None
    at = _DIAG_MSG.size
    while at + _RTATTR.size <= len(payload):
        length, kind = _RTATTR.unpack_from(payload, at)
        if length < _RTATTR.size or at + length > len(payload):
            raise DiagError(f"rtattr of length {length} at offset {at} overruns the message")
        if kind == INET_DIAG_INFO:
            acked, received = parse_tcp_info(payload[at + _RTATTR.size : at + length])
        at += _align(length)
    return TcpSocket(inode, uid, state, acked, received)


def parse_messages(buf: bytes, seq: int | None = None) -> tuple[list[TcpSocket], bool]:
    """Every socket in one received buffer, and whether the dump is done (NLMSG_DONE seen).
    Raises DiagError for an NLMSG_ERROR answer or a malformed buffer."""
    sockets: list[TcpSocket] = []
    at = 0
    while at + _NLMSGHDR.size <= len(buf):
        length, kind, _flags, msg_seq, _pid = _NLMSGHDR.unpack_from(buf, at)
        if length < _NLMSGHDR.size or at + length > len(buf):
            raise DiagError(f"netlink message of length {length} at offset {at} overruns")
        payload = buf[at + _NLMSGHDR.size : at + length]
        at += _align(length)
        if seq is not None and msg_seq != seq:
            continue  # an answer to an earlier request: not ours
        if kind == NLMSG_DONE:
            return sockets, True
        if kind == NLMSG_ERROR:
            code = struct.unpack_from("=i", payload)[0] if len(payload) >= 4 else -errno.EIO
            if code == 0:
                continue  # an acknowledgement, not an error
            raise DiagError(f"sock_diag: {os.strerror(-code)} (errno {-code})")
        if kind == SOCK_DIAG_BY_FAMILY:
            sockets.append(parse_diag_msg(payload))
    return sockets, False


def open_socket() -> socket.socket:
    """A NETLINK_SOCK_DIAG socket (raises OSError where netlink is unavailable)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC,
                         NETLINK_SOCK_DIAG)  # fmt: skip
    sock.settimeout(5.0)  # the kernel answers at once; never hang a tick on it
    return sock


def dump(sock: socket.socket, family: int, seq: int) -> Iterator[TcpSocket]:
    """Every TCP socket of ``family`` in this network namespace."""
    sock.send(build_request(family, seq))
    while True:
        sockets, done = parse_messages(sock.recv(_RECV_SIZE), seq)
        yield from sockets
        if done:
            return
