"""Acting on a process from a view (the TUI's `k` and `n`): send it a signal, change its nice
value. Each action first checks that the pid still names the process shown (a pid is reused
once its process exits), and every failure comes back as one readable line, never raised.

Only the standard library and psutil (to read a process's name and start time on any OS);
the OS calls happen when an action is taken, so this module imports everywhere.
"""

from __future__ import annotations

import errno
import os
import signal
from dataclasses import dataclass

from lagwatch.sanitize import for_terminal

# The signals offered, the default first, with what each asks of the process.
SIGNAL_CHOICES: tuple[tuple[str, str], ...] = (
    ("SIGTERM", "ask it to quit (it may clean up first)"),
    ("SIGINT", "interrupt, as Ctrl-C in its terminal"),
    ("SIGHUP", "hang up: many daemons reload their configuration"),
    ("SIGKILL", "kill it now: it cannot clean up or refuse"),
    ("SIGSTOP", "pause it (SIGCONT resumes it)"),
    ("SIGCONT", "resume a paused process"),
    ("SIGQUIT", "quit with a core dump"),
    ("SIGUSR1", "user signal 1 (meaning depends on the program)"),
    ("SIGUSR2", "user signal 2 (meaning depends on the program)"),
)
NICE_MIN, NICE_MAX = -20, 19


def available_signals() -> list[tuple[str, int, str]]:
    """(name, number, what it does) of the offered signals this OS has."""
    out = []
    for name, about in SIGNAL_CHOICES:
        number = getattr(signal, name, None)
        if number is not None:
            out.append((name, int(number), about))
    return out


@dataclass(frozen=True, slots=True)
class Target:
    """The process as the view showed it."""

    pid: int
    name: str
    user: str | None = None
    shown_at: float | None = None  # unix time of the ranking it was shown in

    @property
    def label(self) -> str:
        return f"{for_terminal(self.name)} (pid {self.pid})"


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str


def _same_process(target: Target) -> str | None:
    """None when ``target.pid`` still is the process shown, else why not (one line)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - a dependency; checked anyway
        return None
    try:
        proc = psutil.Process(target.pid)
        created = proc.create_time()
        name = proc.name()
    except psutil.NoSuchProcess:
        return f"{target.label} has exited"
    except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return None  # cannot tell; the OS still decides whether the action is allowed
    # Started after the ranking that showed it: another process got the pid since.
    if target.shown_at is not None and created > target.shown_at + 1.0:
        return f"{target.label} has exited; pid {target.pid} is now {for_terminal(name)}"
    # Linux cuts names at 15 characters, sources complete them: compare the common part.
    common = min(len(name), len(target.name), 15)
    if common and name[:common] != target.name[:common]:
        return f"pid {target.pid} is now {for_terminal(name)}, not {for_terminal(target.name)}"
    return None


def _why(exc: OSError, target: Target, what: str) -> str:
    if isinstance(exc, ProcessLookupError) or exc.errno == errno.ESRCH:
        return f"{target.label} has exited"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EPERM, errno.EACCES):
        owner = f"belongs to {for_terminal(target.user)}" if target.user else "is not yours"
        code = errno.errorcode.get(exc.errno or errno.EPERM, "EPERM")
        hint = "" if _is_root() else "; run lagwatch as root (sudo) to act on it"
        return f"not permitted to {what} {target.label} ({code}): it {owner}{hint}"
    return f"cannot {what} {target.label}: {exc.strerror or exc}"


def _is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def _me() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return "this user"


def send_signal(target: Target, signum: int) -> Outcome:
    """Send ``signum`` to the process, if the pid is still it."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        return Outcome(False, f"unknown signal {signum}")
    if target.pid <= 1 or target.pid == os.getpid():
        return Outcome(False, f"refusing to send {name} to {target.label}")
    changed = _same_process(target)
    if changed is not None:
        return Outcome(False, f"nothing sent: {changed}")
    try:
        os.kill(target.pid, signum)
    except OSError as exc:
        return Outcome(False, _why(exc, target, f"send {name} to"))
    return Outcome(True, f"sent {name} to {target.label}")


def nice_value(pid: int) -> int | None:
    """The process's nice value now; None where it cannot be read."""
    getpriority = getattr(os, "getpriority", None)
    if getpriority is None:
        return None
    try:
        return int(getpriority(os.PRIO_PROCESS, pid))
    except OSError:
        return None


def parse_nice(text: str) -> int:
    """A nice value typed by the user; ValueError with a readable reason."""
    text = text.strip()
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number from {NICE_MIN} to {NICE_MAX}") from None
    if not NICE_MIN <= value <= NICE_MAX:
        raise ValueError(f"{value} is out of range: nice values go from {NICE_MIN} to {NICE_MAX}")
    return value


def renice(target: Target, value: int) -> Outcome:
    """Set the process's nice value, if the pid is still it."""
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None:
        return Outcome(False, "changing a process's priority is not available on this system")
    if not NICE_MIN <= value <= NICE_MAX:
        return Outcome(False, f"{value} is out of range ({NICE_MIN} to {NICE_MAX})")
    changed = _same_process(target)
    if changed is not None:
        return Outcome(False, f"nothing changed: {changed}")
    before = nice_value(target.pid)
    try:
        setpriority(os.PRIO_PROCESS, target.pid, value)
    except OSError as exc:
        denied = isinstance(exc, PermissionError) or exc.errno in (errno.EPERM, errno.EACCES)
        if denied and before is not None and value < before and target.user in (None, _me()):
            return Outcome(False, f"not permitted to renice {target.label} from {before} to "
                           f"{value}: only root can lower a nice value")  # fmt: skip
        return Outcome(False, _why(exc, target, "renice"))
    was = "" if before is None else f" (was {before})"
    return Outcome(True, f"{target.label} now runs at nice {value}{was}")
