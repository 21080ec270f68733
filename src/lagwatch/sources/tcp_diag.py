"""Linux network source `tcp-diag`: TCP bytes per process, without root, module or capture.

Each tick: one sock_diag dump per address family (lagwatch.sources.inet_diag) gives every TCP
socket's inode and its bytes acked + received; /proc/PID/fd links (``socket:[INODE]``) say
which process holds each socket. A process's ``net_bytes`` is a cumulative counter: the growth
of its sockets' bytes, summed tick by tick, so a closing connection never makes it go down.

What it covers (docs/metrics.md, "Network"): TCP payload over IPv4 and IPv6 in this network
namespace, loopback included. UDP, raw sockets and other protocols are not counted; a socket's
bytes between the last tick and its close are lost; a socket shared by several processes counts
for the one found first.

Who: /proc/PID/fd of another user's process needs root (the same check as /proc/PID/io), so
without root those processes get no figure (null) and are already marked restricted by procfs;
processes in another network namespace get null too (their sockets are not in this dump).

Cost, bounded: descriptors are never all re-read each tick. A process's descriptors are read
when it is first seen (at most ``new_budget`` new processes a tick: on a machine with more
processes than that, the first ticks share the initial reading) and again only when a socket
appears that no known process holds: first the processes whose descriptor count changed
(``st_size`` of /proc/PID/fd, Linux 6.2+), then the rest round-robin, ``scan_budget`` a tick; a
socket no process turned out to hold is not searched for again.
"""

from __future__ import annotations

import os
import socket

from lagwatch import platform_seam
from lagwatch.sources import inet_diag
from lagwatch.sources.base import SourceError, SourceReading

FAMILIES = (socket.AF_INET, socket.AF_INET6) if hasattr(socket, "AF_INET6") else ()
DEFAULT_SCAN_BUDGET = 128  # known processes re-read per tick to find a new socket's owner
# Processes read for the first time per tick. Each is read once in its life, so this only
# spreads a start among 10 000+ processes over a few ticks; below it every process has its
# figure from the first tick (a cap of 1024 left most of a 5000-process machine unknown).
DEFAULT_NEW_BUDGET = 16384


def probe() -> str | None:
    if not platform_seam.sys_platform().startswith("linux"):
        return "sock_diag exists on Linux only"
    try:
        sock = inet_diag.open_socket()
    except OSError as exc:
        return f"no NETLINK_SOCK_DIAG socket: {exc.strerror or exc}"
    try:
        for _ in inet_diag.dump(sock, socket.AF_INET, 1):
            break
    except (OSError, inet_diag.DiagError) as exc:
        return f"the kernel refused a sock_diag dump: {exc}"
    finally:
        sock.close()
    return None


def socket_inodes(fd_dir: str) -> set[int]:
    """The socket inodes among the descriptors under ``fd_dir``. Raises OSError (EACCES for
    another user's process without root, ENOENT when it is gone)."""
    inodes: set[int] = set()
    for name in os.listdir(fd_dir):
        try:
            link = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes


class SocketOwners:
    """Which process holds each socket inode, kept up to date at a bounded cost per tick."""

    def __init__(
        self,
        proc_root: str = "/proc",
        scan_budget: int = DEFAULT_SCAN_BUDGET,
        new_budget: int = DEFAULT_NEW_BUDGET,
    ) -> None:
        self.proc_root = proc_root
        self.scan_budget = scan_budget
        self.new_budget = new_budget
        self.owner: dict[int, int] = {}  # inode -> pid
        self.held: dict[int, set[int]] = {}  # pid -> socket inodes at its last scan
        self.fd_count: dict[int, int] = {}  # pid -> st_size of its fd dir at its last scan
        self.refused: set[int] = set()  # pids whose descriptors we may not read
        self.elsewhere: set[int] = set()  # pids in another network namespace
        self.orphans: set[int] = set()  # live inodes no process turned out to hold
        self._cursor = 0
        self._pending: dict[int, int] = {}  # unknown inode -> processes searched for it
        self.scans = 0  # descriptor scans done (for tests and the benchmark)
        try:
            self._netns: str | None = os.readlink(f"{proc_root}/self/ns/net")
        except OSError:
            self._netns = None

    def _scan(self, pid: int) -> None:
        fd_dir = f"{self.proc_root}/{pid}/fd"
        self.scans += 1
        try:
            count = os.stat(fd_dir).st_size
            inodes = socket_inodes(fd_dir)
            netns = os.readlink(f"{self.proc_root}/{pid}/ns/net") if self._netns else None
        except PermissionError:
            self.refused.add(pid)
            self._drop(pid)
            return
        except OSError:
            self._drop(pid)  # gone
            return
        if netns is not None and netns != self._netns:
            self.elsewhere.add(pid)
        else:
            self.elsewhere.discard(pid)
        for inode in self.held.get(pid, set()) - inodes:
            if self.owner.get(inode) == pid:
                del self.owner[inode]  # let go: another holder may be found
        for inode in inodes:
            self.owner.setdefault(inode, pid)
            self.orphans.discard(inode)
        self.held[pid] = inodes
        self.fd_count[pid] = count

    def _drop(self, pid: int) -> None:
        for inode in self.held.pop(pid, ()):
            if self.owner.get(inode) == pid:
                del self.owner[inode]
        self.fd_count.pop(pid, None)

    def update(self, pids: list[int], live: set[int]) -> None:
        """Bring the map up to date for the processes ``pids`` and the sockets ``live``."""
        alive = set(pids)
        for pid in [p for p in self.held if p not in alive]:
            self._drop(pid)
        self.refused &= alive
        self.elsewhere &= alive
        self.orphans &= live
        self._pending = {i: n for i, n in self._pending.items() if i in live}
        fresh = self.new_budget
        for pid in pids:
            if fresh <= 0:
                break  # the rest next tick: their figures are unknown until then
            if pid not in self.held and pid not in self.refused:
                self._scan(pid)
                fresh -= 1
        budget = self.scan_budget
        unknown = {i for i in live if i not in self.owner and i not in self.orphans}
        if not unknown:
            return
        # A new socket: first the processes whose descriptor count changed...
        for pid in list(self.held):
            if budget <= 0 or not unknown:
                break
            try:
                count = os.stat(f"{self.proc_root}/{pid}/fd").st_size
            except OSError:
                continue
            if count and count != self.fd_count.get(pid):
                self._scan(pid)
                budget -= 1
                unknown = {i for i in unknown if i not in self.owner}
        # ...then every readable process in turn, a budget's worth per tick. A socket still
        # unknown after a whole round of them is held by no process we can read: not searched
        # for again while it lives.
        order = [p for p in pids if p in self.held]
        pending = self._pending
        while unknown and budget > 0 and order:
            if self._cursor >= len(order):
                self._cursor = 0
            self._scan(order[self._cursor])
            self._cursor += 1
            budget -= 1
            for inode in unknown:
                pending[inode] = pending.get(inode, 0) + 1
            unknown = {i for i in unknown if i not in self.owner}
            done = {i for i in unknown if pending[i] >= len(order)}
            self.orphans |= done
            unknown -= done
        self._pending = {i: n for i, n in pending.items() if i in unknown}

    def readable(self, pid: int) -> bool:
        """True when every socket of ``pid`` is known to this map (a null figure otherwise)."""
        return pid in self.held and pid not in self.elsewhere


class TcpDiagSource:
    name = "tcp-diag"

    def __init__(self, proc_root: str = "/proc", scan_budget: int = DEFAULT_SCAN_BUDGET) -> None:
        if reason := probe():
            raise SourceError(reason)
        self.proc_root = proc_root
        self.owners = SocketOwners(proc_root, scan_budget)
        self._sock = inet_diag.open_socket()
        self._seq = 0
        self._bytes: dict[int, int] = {}  # inode -> acked + received at the last dump
        self._totals: dict[int, int] = {}  # pid -> cumulative net_bytes
        self._first = True

    def _dump(self) -> dict[int, int]:
        current: dict[int, int] = {}
        for family in FAMILIES:
            self._seq += 1
            for s in inet_diag.dump(self._sock, family, self._seq):
                if s.inode and s.bytes_acked is not None:
                    current[s.inode] = s.bytes_acked + (s.bytes_received or 0)
        return current

    def read(self) -> SourceReading:
        try:
            current = self._dump()
        except (OSError, inet_diag.DiagError) as exc:
            raise SourceError(f"sock_diag dump failed: {exc}") from exc
        try:
            pids = [int(e) for e in os.listdir(self.proc_root) if e.isdigit()]
        except OSError as exc:
            raise SourceError(f"cannot list {self.proc_root}: {exc.strerror}") from exc
        owners = self.owners
        owners.update(pids, set(current))
        totals = self._totals
        for gone in [p for p in totals if p not in owners.held]:
            del totals[gone]  # exited (or refused): its counter starts afresh if it comes back
        before = self._bytes
        for inode, now in current.items():
            holder = owners.owner.get(inode)
            if holder is None:
                continue  # no known holder this tick: its growth is not counted
            last = before.get(inode)
            # A socket absent from the last dump was opened since: all its bytes are new
            # (except at the first dump, which only sets the baseline).
            grown = (0 if self._first else now) if last is None else max(0, now - last)
            if grown:
                totals[holder] = totals.get(holder, 0) + grown
        self._bytes = current
        self._first = False
        # Most processes have moved no TCP byte: they share one read-only patch.
        zero = {"net_bytes": 0}
        elsewhere = owners.elsewhere
        patches = {
            pid: ({"net_bytes": totals[pid]} if pid in totals else zero)
            for pid in owners.held
            if pid not in elsewhere
        }
        return SourceReading(patches=patches)

    def close(self) -> None:
        self._sock.close()
