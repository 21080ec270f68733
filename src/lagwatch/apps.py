"""Which app a process belongs to, so an app's helper processes add up under it.

An app is named by a *key*, decided once per process (pid and start) while the whole process
table is known, and recorded with the process in history:

- ``container:<12 hex>``: a process in a Docker, containerd, CRI-O, Podman or Kubernetes
  container (Linux, from ``/proc/PID/cgroup``).
- ``unit:<unit>``: a process in a systemd service or an app scope (``app-gnome-firefox-1234
  .scope``; Linux, from ``/proc/PID/cgroup``). A unit is not an app when it holds whole login
  sessions (``session-3.scope``, ``user@1000.service``, a terminal's ``vte-spawn-*.scope``),
  nor for a program started in a session of its own inside the unit (a cron job, a CI job's
  command): that one is its own app, as below.
- ``proc:<pid>:<start>:<name>``: the process tree. On macOS the *responsible process* (the app
  macOS charges a helper or XPC service to, as Activity Monitor does) when known. Otherwise,
  walking up from the process, the app is the top-most ancestor that is not a shell, below a
  *boundary*: init and service managers (systemd, also ``systemd --user``; launchd), session
  and login processes (sshd, login, sudo, display-manager sessions), terminal emulators and
  multiplexers, and on Linux any session leader (a login shell, a daemon that called setsid):
  the walk never goes above one. So a command typed in a terminal is its own app, while a
  program's children, even through ``sh -c``, belong to it. Shells are never the app unless
  nothing else is (a busy shell itself). A parent that is not in the data ends the walk.

Pure functions parse and walk; :class:`AppKeys` is the one place that reads the OS for it, and
reads each process's cgroup and session once in its life.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from lagwatch.model import Identity, ProcessRow


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


SHELLS = _words("sh bash dash zsh fish ksh mksh tcsh csh ash busybox nu xonsh elvish -bash -zsh")

BOUNDARIES = (
    # init and service managers
    _words(
        """init systemd launchd runit runsv runsvdir s6-svscan s6-supervise supervisord upstart
        openrc tini dumb-init docker-init catatonit containerd-shim containerd-shim-runc-v2
        conmon cron crond atd"""
    )
    # sessions and logins (Linux cuts comm names at 15 characters)
    | _words(
        """sshd sshd-session login su sudo doas pkexec gdm-session-worker gdm-session-wor
        gnome-session gnome-session-binary gnome-session-b lightdm sddm sddm-helper xinit
        startx xfce4-session lxsession plasma_session ksmserver loginwindow"""
    )
    # terminal emulators and multiplexers
    | _words(
        """tmux screen SCREEN zellij gnome-terminal- gnome-terminal-server konsole xterm uxterm
        urxvt rxvt alacritty kitty wezterm wezterm-gui foot tilix terminator xfce4-terminal
        lxterminal mate-terminal st Terminal iTerm2 ghostty warp"""
    )
    | {"tmux: server"}
)


def is_shell(name: str) -> bool:
    return name in SHELLS


def is_boundary(name: str, pid: int) -> bool:
    return pid <= 1 or name in BOUNDARIES


Procs = Mapping[int, tuple[int | None, str]]  # pid -> (ppid, name), of one moment


def tree_walk(
    pid: int, procs: Procs, is_leader: Callable[[int], bool] | None = None
) -> tuple[int, int | None]:
    """(the app's root pid, the session leader the walk stopped at or None)."""
    chain: list[int] = []
    seen: set[int] = set()
    stop: int | None = None
    cur: int | None = pid
    while cur is not None and cur in procs and cur not in seen:
        seen.add(cur)
        ppid, name = procs[cur]
        if cur != pid and is_boundary(name, cur):
            break
        chain.append(cur)
        if is_leader is not None and cur > 1 and is_leader(cur):
            stop = cur  # a session of its own: what runs in it never belongs above it
            break
        cur = ppid
    for candidate in reversed(chain):  # top-most first
        if not is_shell(procs[candidate][1]):
            return candidate, stop
    return pid, stop


def app_of(pid: int, procs: Procs, responsible: Mapping[int, int] | None = None) -> int:
    """The pid of the app ``pid`` belongs to, by the process tree alone (no sessions), and on
    macOS the responsible pids where known."""
    if responsible is not None:
        owner = responsible.get(pid)
        if owner is not None and owner in procs:
            return owner
    return tree_walk(pid, procs)[0]


# -- keys ------------------------------------------------------------------------------------


def proc_key(pid: int, start_id: int, name: str) -> str:
    return f"proc:{pid}:{start_id}:{name}"


@dataclass(frozen=True, slots=True)
class AppKey:
    """A key taken apart: its kind, the app's display name, and its root process if any."""

    kind: str  # "proc", "unit", "container", "user"
    name: str
    pid: int | None = None
    start_id: int | None = None


def parse_key(key: str) -> AppKey:
    kind, _, rest = key.partition(":")
    if kind == "proc":
        pid, start, name = [*rest.split(":", 2), "", ""][:3]
        try:
            return AppKey("proc", name, int(pid), int(start))
        except ValueError:
            return AppKey("proc", rest)
    if kind == "unit":
        return AppKey("unit", unit_display_name(rest))
    if kind in ("container", "user"):
        return AppKey(kind, key if kind == "container" else rest)
    return AppKey(kind or "unknown", key)


def user_key(user: str | None) -> str:
    return f"user:{user if user is not None else '?'}"


# -- Linux cgroups ---------------------------------------------------------------------------

_HEX64 = re.compile(r"[0-9a-f]{64}")
# systemd scopes of container runtimes: docker-<id>.scope, cri-containerd-<id>.scope (k8s),
# crio-<id>.scope, libpod-<id>.scope (podman). "*-conmon-*" monitors are not in the container.
_RUNTIME_SCOPE = re.compile(r"(?:docker|cri-containerd|crio|libpod)-([0-9a-f]{64})\.scope")
# cgroup v1 / cgroupfs-driver layouts: /docker/<id>, /kubepods/<qos>/pod<uid>/<id>,
# /libpod_parent/libpod-<id>.
_RUNTIME_DIRS = ("docker", "libpod_parent", "kubepods", "kubepods.slice")
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
# Units that hold whole sessions, or a terminal's tabs: not one app.
_NOT_APP_UNIT = re.compile(r"user@\d+\.service|user-runtime-dir@\d+\.service|.*\.slice")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def container_of(path: str) -> str | None:
    """``container:<short id>`` when a cgroup path is a container's, else None."""
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        match = _RUNTIME_SCOPE.fullmatch(part)
        if match:
            return f"container:{match.group(1)[:12]}"
        bare = part.removeprefix("libpod-")
        if _HEX64.fullmatch(bare) and any(
            p in _RUNTIME_DIRS or p.startswith("kubepods") for p in parts[:i]
        ):
            return f"container:{bare[:12]}"
    return None


def unit_of(path: str) -> str | None:
    """The systemd unit that names an app in a cgroup path (the deepest one), else None."""
    for part in reversed([p for p in path.split("/") if p]):
        if _NOT_APP_UNIT.fullmatch(part):
            continue
        if part.endswith(".service") or (part.startswith("app-") and part.endswith(".scope")):
            return part
        if part.endswith(".scope"):
            return None  # a login session, a terminal tab, init.scope: the tree decides
    return None


def unit_display_name(unit: str) -> str:
    """A unit's app name: ``nginx`` for nginx.service, ``firefox`` for
    app-gnome-firefox-1234.scope, ``Terminal`` for app-gnome-org.gnome.Terminal-99.scope.

    XDG app units are ``app[-<launcher>]-<app id>[@<random>].service`` or
    ``app[-<launcher>]-<app id>-<random>.scope``; a dash inside the app id is escaped (\\x2d)."""
    stem, _, suffix = unit.rpartition(".")
    if not stem:
        return _unescape(unit)
    if not stem.startswith("app-"):
        return _unescape(stem)
    body = stem[4:]
    if "@" in body:
        body = body.split("@", 1)[0]
    elif suffix == "scope" and "-" in body:
        body = body.rsplit("-", 1)[0]  # the random part
    app_id = _unescape(body.split("-", 1)[-1])
    if app_id.count(".") >= 2:  # reverse-DNS: org.mozilla.firefox -> firefox
        app_id = app_id.rsplit(".", 1)[-1] or app_id
    return app_id or _unescape(stem)


def cgroup_key(text: str) -> str | None:
    """The app key a ``/proc/PID/cgroup`` names (v1 or v2 format), or None.

    v2 is one line ``0::<path>``; v1 has a line per hierarchy ``N:<controllers>:<path>``, where
    systemd's units are in ``name=systemd`` (containers may show in any controller's path)."""
    systemd: list[str] = []
    others: list[str] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if (hierarchy == "0" and controllers == "") or controllers == "name=systemd":
            systemd.append(path)
        else:
            others.append(path)
    for path in (*systemd, *others):
        container = container_of(path)
        if container is not None:
            return container
    for path in systemd:
        unit = unit_of(path)
        if unit is not None:
            return f"unit:{unit}"
    return None


def session_of_stat(text: str) -> int | None:
    """The session id in a ``/proc/PID/stat`` line (the 6th field; the name may hold spaces
    and parentheses, so fields are counted after its last ')')."""
    fields = text.rpartition(")")[2].split()
    try:
        return int(fields[3])
    except (IndexError, ValueError):
        return None


def read_linux_facts(proc_root: str, pid: int) -> tuple[str | None, bool | None]:
    """(the app key ``/proc/PID/cgroup`` names, whether the process leads its session);
    None for what cannot be read (gone, hidepid). Read once per process: both rarely
    change after a process starts."""
    key: str | None = None
    leader: bool | None = None
    try:
        with open(f"{proc_root}/{pid}/cgroup", encoding="utf-8", errors="replace") as f:
            key = cgroup_key(f.read(8192))
    except OSError:
        pass
    try:
        with open(f"{proc_root}/{pid}/stat", encoding="utf-8", errors="replace") as f:
            sid = session_of_stat(f.read(4096))
        leader = None if sid is None else sid == pid
    except OSError:
        pass
    return key, leader


# -- the live resolver -------------------------------------------------------------------------

LinuxFacts = Callable[[int], tuple[str | None, bool | None]]
Responsible = Callable[[int], int | None]


class AppKeys:
    """Gives every row of a ranking its app key, deciding each process's once.

    ``linux_facts(pid)`` reads a Linux process's cgroup key and session leadership (None: not
    on Linux, or a source that does not read this machine); ``responsible(pid)`` is macOS's
    responsible pid lookup (None elsewhere)."""

    def __init__(
        self, linux_facts: LinuxFacts | None = None, responsible: Responsible | None = None
    ) -> None:
        self.linux_facts = linux_facts
        self.responsible = responsible
        self._keys: dict[Identity, str] = {}
        self._facts: dict[Identity, tuple[str | None, bool | None]] = {}

    def clear(self) -> None:
        self._keys.clear()
        self._facts.clear()

    def annotate(self, rows: Iterable[ProcessRow]) -> None:
        """Set ``row.app`` on every row of one moment (rows shared between rankings keep it)."""
        rows = list(rows)
        todo = [r for r in rows if r.app is None]
        if not todo:
            return
        by_pid = {r.pid: r for r in rows}
        procs = {r.pid: (r.ppid, r.name) for r in rows}
        for row in todo:
            key = self._keys.get(row.identity)
            if key is None:
                key = self._decide(row, by_pid, procs)
                self._keys[row.identity] = key
            row.app = key
        if len(self._keys) > 2 * len(rows) + 256:  # forget processes that are gone
            alive = {r.identity for r in rows}
            self._keys = {k: v for k, v in self._keys.items() if k in alive}
            self._facts = {k: v for k, v in self._facts.items() if k in alive}

    def _fact(self, row: ProcessRow) -> tuple[str | None, bool | None]:
        if self.linux_facts is None:
            return None, None
        facts = self._facts.get(row.identity)
        if facts is None:
            facts = self.linux_facts(row.pid)
            self._facts[row.identity] = facts
        return facts

    def _decide(self, row: ProcessRow, by_pid: dict[int, ProcessRow], procs: Procs) -> str:
        if self.responsible is not None:
            owner = by_pid.get(self.responsible(row.pid) or -1)
            if owner is not None:
                return proc_key(owner.pid, owner.start_id, owner.name)
        unit = self._fact(row)[0]
        if unit is not None and unit.startswith("container:"):
            return unit

        def leads(pid: int) -> bool:
            return bool(self._fact(by_pid[pid])[1])

        root, stop = tree_walk(row.pid, procs, leads if self.linux_facts else None)
        if unit is not None:
            # A session started inside the unit (a cron job, a CI step run with setsid) is
            # its own app; the unit's own processes, daemons included, are the unit's.
            parent = by_pid.get(by_pid[stop].ppid or -1) if stop is not None else None
            if parent is None or self._fact(parent)[0] != unit:
                return unit
        top = by_pid[root]
        return proc_key(top.pid, top.start_id, top.name)


def tree_keys(
    rows: Iterable[ProcessRow], responsible: Mapping[int, int] | None = None
) -> dict[int, str]:
    """pid -> app key from the rows alone (the process tree they hold): for rankings recorded
    before app keys were, and rankings made without a live process table (captures)."""
    rows = list(rows)
    by_pid = {r.pid: r for r in rows}
    procs = {r.pid: (r.ppid, r.name) for r in rows}
    out: dict[int, str] = {}
    for r in rows:
        top = by_pid[app_of(r.pid, procs, responsible)]
        out[r.pid] = proc_key(top.pid, top.start_id, top.name)
    return out


def linux_facts_reader(proc_root: str = "/proc") -> LinuxFacts | None:
    """The Linux facts reader for a procfs root, or None where it is not mounted."""
    if not os.path.isdir(proc_root):
        return None
    return lambda pid: read_linux_facts(proc_root, pid)


def app_keys_for(source: object, platform: str) -> AppKeys:
    """The resolver for rankings read by ``source`` (a sampler's primary) on ``platform``: the
    OS is only asked about processes a source read from this machine."""
    from lagwatch import platform_seam

    if platform == "linux":
        root = getattr(source, "proc_root", None)
        if root is None and getattr(source, "name", None) == "psutil":
            root = "/proc" if platform_seam.sys_platform().startswith("linux") else None
        return AppKeys(linux_facts=linux_facts_reader(root) if isinstance(root, str) else None)
    if platform == "macos" and platform_seam.is_macos():
        from lagwatch.sources.macos_machine import responsible_pid

        return AppKeys(responsible=responsible_pid)
    return AppKeys()
