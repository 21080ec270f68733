"""Run the daemon at login: a systemd user unit on Linux, a launchd LaunchAgent on macOS.

Generating the files is pure (tested anywhere, with any home directory); loading them goes
through ``systemctl --user`` / ``launchctl``, and when those are unavailable (a container, no
user session bus) the file is still written and the user is told how to load it.
"""

from __future__ import annotations

import math
import os
import plistlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lagwatch.listen import host_port, parse_listen
from lagwatch.sanitize import refuse_control

UNIT_NAME = "lagwatch.service"
LAUNCHD_LABEL = "io.lagwatch.daemon"


@dataclass(frozen=True, slots=True)
class ServiceResult:
    path: Path
    ok: bool  # everything asked for happened
    message: str


def daemon_command(
    db: Path | None = None,
    python: str | None = None,
    interval_s: float | None = None,
    listen: str | None = None,
    pressure_thresholds: dict[str, float] | None = None,
) -> list[str]:
    """The daemon's command line, with this interpreter so the service runs this install.
    ValueError when a path holds a control character (see ``checked``), the interval is not a
    positive finite number of seconds, or ``listen`` is not an address `--listen` takes.
    ``pressure_thresholds`` ({resource: percent}, as `--pressure-threshold` reads them) are
    passed on one flag each."""
    args = [checked(python or sys.executable, "the Python interpreter's path"), "-m", "lagwatch",
            "daemon"]  # fmt: skip
    if db is not None:
        args += ["--db", checked(str(db), "--db")]
    if interval_s is not None:
        if not math.isfinite(interval_s) or interval_s <= 0:
            raise ValueError(f"--interval {interval_s!r} is not a positive number of seconds")
        args += ["--interval", f"{interval_s:.10g}"]
    if listen is not None:
        checked(listen, "--listen")
        # Normalised: the unit holds what the daemon is sure to read back the same way.
        args += ["--listen", host_port(*parse_listen(listen))]
    for resource, percent in sorted((pressure_thresholds or {}).items()):
        if not math.isfinite(percent) or not 0 < percent <= 100:
            raise ValueError(f"--pressure-threshold {resource}={percent!r} is not a percent")
        args += ["--pressure-threshold", f"{checked(resource, '--pressure-threshold')}={percent:g}"]
    return args


def checked(value: str, what: str) -> str:
    """A value bound for a service file, refused (ValueError) if it holds a control character:
    a newline in --db would otherwise add a line of its own, such as ExecStartPre=."""
    return refuse_control(value, what)


def platform_kind(platform: str | None = None) -> str:
    platform = platform or sys.platform
    if platform == "darwin":
        return "launchd"
    if platform.startswith("linux"):
        return "systemd"
    raise OSError(f"lagwatch service is not supported on {platform}")


# -- systemd -------------------------------------------------------------------------------


def _systemd_quote(arg: str) -> str:
    """Quote one ExecStart word: specifiers (%) and variables ($) are escaped, spaces quoted."""
    text = arg.replace("%", "%%").replace("$", "$$")
    if any(c in text for c in " \t\"'\\;"):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def systemd_unit(command: list[str]) -> str:
    exec_start = " ".join(_systemd_quote(checked(a, "a daemon argument")) for a in command)
    return f"""\
[Unit]
Description=lagwatch: records which processes stress this machine and detects pauses
# Never give up restarting: a recorder that stopped for good records nothing.
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart={exec_start}
# SIGTERM stops the daemon cleanly within a second or two.
KillSignal=SIGTERM
TimeoutStopSec=10
# Any failure is retried, exit status 3 (another daemon records to this database) included:
# once that one stops, this one takes over instead of staying down.
Restart=on-failure
RestartSec=10
# Not niced: a starved recorder would report its own starvation as pauses.

[Install]
WantedBy=default.target
"""


def systemd_unit_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    config = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(config) / "systemd" / "user" / UNIT_NAME


# Where logind marks users whose services keep running after they log out
# (`loginctl enable-linger USER` creates the file, `disable-linger` removes it).
LINGER_DIR = Path("/var/lib/systemd/linger")


def user_name(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    try:
        import pwd  # Unix only: this module imports everywhere

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):  # no passwd entry (some containers)
        return env.get("USER") or env.get("LOGNAME") or "unknown"


def lingering(user: str, linger_dir: Path = LINGER_DIR) -> bool | None:
    """Whether systemd keeps ``user``'s services running after logout; None if unknown."""
    try:
        return (linger_dir / user).exists()
    except OSError:
        return None


def linger_advice(user: str, linger_dir: Path = LINGER_DIR) -> str:
    """What to know about recording after logout, for a systemd user service."""
    state = lingering(user, linger_dir)
    if state:
        return f"lingering is enabled for {user}: the daemon keeps recording after you log out"
    known = "is not enabled" if state is False else "state is unknown"
    return (
        f"lingering {known} for {user}: systemd stops the daemon when you log out; to keep "
        f"recording after logout, run: loginctl enable-linger {user}"
    )


# -- launchd -------------------------------------------------------------------------------


def launchd_plist(command: list[str], home: Path) -> bytes:
    logs = home / "Library" / "Logs" / "lagwatch"
    checked(str(logs), "the home folder")
    data = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": [checked(a, "a daemon argument") for a in command],
        "RunAtLoad": True,
        # Restart after any failure (exit status 3, another daemon on the same database,
        # included), not after a clean stop; ThrottleInterval spaces the attempts.
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 10,
        "ProcessType": "Standard",  # "Background" would throttle it into false pauses
        "StandardOutPath": str(logs / "daemon.log"),
        "StandardErrorPath": str(logs / "daemon.log"),
    }
    return plistlib.dumps(data)


def launchd_plist_path(home: Path) -> Path:
    return home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


# -- loading -------------------------------------------------------------------------------


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[bool, str]:
    if shutil.which(args[0], path=(env or os.environ).get("PATH")) is None:
        return False, f"{args[0]} is not installed"
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    text = (proc.stderr or proc.stdout).strip().splitlines()
    return proc.returncode == 0, (text[0] if text else f"exit status {proc.returncode}")


def _home(env: dict[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home())


def install(db: Path | None = None, platform: str | None = None,
            env: dict[str, str] | None = None, interval_s: float | None = None,
            listen: str | None = None,
            pressure_thresholds: dict[str, float] | None = None) -> ServiceResult:  # fmt: skip
    env = dict(os.environ) if env is None else env
    kind = platform_kind(platform)
    command = daemon_command(db, interval_s=interval_s, listen=listen,
                             pressure_thresholds=pressure_thresholds)  # fmt: skip
    if kind == "systemd":
        path = systemd_unit_path(env)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(systemd_unit(command))
        ok, why = _run(["systemctl", "--user", "daemon-reload"], env)
        if ok:
            ok, why = _run(["systemctl", "--user", "enable", "--now", UNIT_NAME], env)
        if ok:
            return ServiceResult(path, True, f"installed and started {path}")
        return ServiceResult(
            path,
            False,
            f"wrote {path} but could not load it: systemctl --user failed ({why}); from a "
            f"login session run: systemctl --user daemon-reload && systemctl --user enable "
            f"--now {UNIT_NAME} (or run `lagwatch daemon` yourself)",
        )
    home = _home(env)
    path = launchd_plist_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    (home / "Library" / "Logs" / "lagwatch").mkdir(parents=True, exist_ok=True)
    path.write_bytes(launchd_plist(command, home))
    domain = f"gui/{os.getuid()}"
    _run(["launchctl", "bootout", f"{domain}/{LAUNCHD_LABEL}"], env)  # a previous version
    ok, why = _run(["launchctl", "bootstrap", domain, str(path)], env)
    if ok:
        return ServiceResult(path, True, f"installed and started {path}")
    return ServiceResult(
        path,
        False,
        f"wrote {path} but could not load it: launchctl failed ({why}); run: launchctl "
        f"bootstrap {domain} {path}",
    )


def uninstall(platform: str | None = None, env: dict[str, str] | None = None) -> ServiceResult:
    env = dict(os.environ) if env is None else env
    kind = platform_kind(platform)
    if kind == "systemd":
        path = systemd_unit_path(env)
        stopped, why = _run(["systemctl", "--user", "disable", "--now", UNIT_NAME], env)
        existed = path.exists()
        path.unlink(missing_ok=True)
        if existed:
            _run(["systemctl", "--user", "daemon-reload"], env)
    else:
        path = launchd_plist_path(_home(env))
        stopped, why = _run(["launchctl", "bootout", f"gui/{os.getuid()}/{LAUNCHD_LABEL}"], env)
        existed = path.exists()
        path.unlink(missing_ok=True)
    if not existed:
        return ServiceResult(path, True, f"not installed (no {path})")
    note = "" if stopped else f" (could not stop it through the service manager: {why})"
    return ServiceResult(path, True, f"removed {path}{note}")


def status(platform: str | None = None, env: dict[str, str] | None = None,
           linger_dir: Path = LINGER_DIR) -> dict:  # fmt: skip
    env = dict(os.environ) if env is None else env
    kind = platform_kind(platform)
    if kind == "systemd":
        path = systemd_unit_path(env)
        ok, state = _run(["systemctl", "--user", "is-active", UNIT_NAME], env)
        if not ok and state in ("inactive", "failed", "activating"):
            ok = True  # is-active exits non-zero for these, but they are answers
    else:
        path = launchd_plist_path(_home(env))
        ok, state = _run(["launchctl", "print", f"gui/{os.getuid()}/{LAUNCHD_LABEL}"], env)
        state = "loaded" if ok else state
    return {
        "manager": kind,
        "installed": path.exists(),
        "path": str(path),
        "state": state if ok else None,
        "manager_error": None if ok else state,
        # Added key: systemd only (null on launchd, where agents stop at logout by design).
        "linger": lingering(user_name(env), linger_dir) if kind == "systemd" else None,
    }
