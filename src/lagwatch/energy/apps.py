"""Which app a process belongs to, so an app's helper processes add up under it.

- macOS: the *responsible pid* (the app macOS charges a helper or XPC service to, as Activity
  Monitor does) when it is known, i.e. when lagwatch samples live (lagwatch.energy.darwin).
- Everywhere else, and for recorded history: the process tree. Walking up from the process,
  the app is the top-most ancestor below a *boundary* that is not a shell. Boundaries are init
  and service managers (systemd, also ``systemd --user``; launchd), session and login
  processes (sshd, login, sudo, display-manager sessions) and terminal emulators and
  multiplexers, so that a command typed in a terminal is its own app, while a program's
  children, even through ``sh -c``, belong to it. Shells are never the app unless nothing else
  is (a busy shell itself).

A parent that is not in the data (history keeps only the processes that mattered) ends the
walk: the top-most known ancestor is the app.
"""

from __future__ import annotations

from collections.abc import Mapping


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


def app_of(
    pid: int,
    procs: Mapping[int, tuple[int | None, str]],
    responsible: Mapping[int, int] | None = None,
) -> int:
    """The pid of the app ``pid`` belongs to, given ``procs`` = {pid: (ppid, name)} of one
    moment, and on macOS the responsible pids where known."""
    if responsible is not None:
        owner = responsible.get(pid)
        if owner is not None and owner in procs:
            return owner
    chain: list[int] = []
    seen: set[int] = set()
    cur: int | None = pid
    while cur is not None and cur in procs and cur not in seen:
        seen.add(cur)
        ppid, name = procs[cur]
        if cur != pid and is_boundary(name, cur):
            break
        chain.append(cur)
        cur = ppid
    for candidate in reversed(chain):  # top-most first
        if not is_shell(procs[candidate][1]):
            return candidate
    return pid
