"""Service files: generated, verified, written under a temporary HOME, loaded when possible."""

from __future__ import annotations

import json
import math
import os
import plistlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import need, run_lagwatch
from lagwatch import service


def fake_home(tmp_path: Path) -> dict[str, str]:
    """A temporary HOME and XDG dirs; no user bus there, so systemctl --user cannot connect."""
    home = tmp_path / "home"
    runtime = tmp_path / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_RUNTIME_DIR=str(runtime))  # fmt: skip
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    return env


def test_systemd_unit_quotes_and_escapes() -> None:
    unit = service.systemd_unit(["/opt/my py/python", "-m", "lagwatch", "daemon", "--db",
                                 "/data/100%/$HOME.db"])  # fmt: skip
    exec_line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_line == (
        'ExecStart="/opt/my py/python" -m lagwatch daemon --db /data/100%%/$$HOME.db'
    )
    assert "WantedBy=default.target" in unit and "KillSignal=SIGTERM" in unit
    assert "Restart=on-failure" in unit


@pytest.mark.integration
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = need("systemd-analyze")
    path = tmp_path / service.UNIT_NAME
    command = service.daemon_command(tmp_path / "h b.db", interval_s=2.0, listen="[::1]:9683")
    path.write_text(service.systemd_unit(command))
    runtime = tmp_path / "run"
    runtime.mkdir()
    res = subprocess.run(
        [tool, "verify", "--user", str(path)], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, XDG_RUNTIME_DIR=str(runtime)),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    # verify exits 0 even on unknown keys and bad values: it must also have nothing to say.
    assert res.stderr.strip() == "", res.stderr


def test_launchd_plist_is_valid(tmp_path: Path) -> None:
    data = plistlib.loads(service.launchd_plist(["/usr/bin/python3", "-m", "lagwatch",
                                                 "daemon"], tmp_path))  # fmt: skip
    assert data["Label"] == service.LAUNCHD_LABEL
    assert data["ProgramArguments"] == ["/usr/bin/python3", "-m", "lagwatch", "daemon"]
    assert data["RunAtLoad"] is True
    assert data["KeepAlive"] == {"SuccessfulExit": False}
    assert data["StandardErrorPath"].startswith(str(tmp_path / "Library" / "Logs"))
    assert service.launchd_plist_path(tmp_path) == (
        tmp_path / "Library" / "LaunchAgents" / "io.lagwatch.daemon.plist"
    )


def test_install_on_macos_writes_the_agent_and_explains_a_failed_load(tmp_path: Path) -> None:
    env = fake_home(tmp_path)
    env["PATH"] = str(tmp_path)  # no launchctl on Linux: loading must degrade clearly
    result = service.install(tmp_path / "h.db", platform="darwin", env=env)
    path = Path(env["HOME"]) / "Library" / "LaunchAgents" / "io.lagwatch.daemon.plist"
    assert result.path == path and not result.ok
    assert (
        "launchctl is not installed" in result.message and "launchctl bootstrap" in result.message
    )
    args = plistlib.loads(path.read_bytes())["ProgramArguments"]
    assert args == [sys.executable, "-m", "lagwatch", "daemon", "--db", str(tmp_path / "h.db")]
    assert service.status(platform="darwin", env=env)["installed"] is True
    assert "removed" in service.uninstall(platform="darwin", env=env).message
    assert not path.exists()


@pytest.mark.integration
def test_cli_install_status_uninstall_without_a_user_systemd(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the systemd unit is the Linux service")
    env = fake_home(tmp_path)
    unit = Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / "lagwatch.service"
    res = run_lagwatch("service", "install", env=env)
    assert unit.exists()
    assert "ExecStart=" in unit.read_text()
    if res.returncode == 0:  # pragma: no cover - only with a reachable user manager
        pytest.skip("a user systemd answered; not touching it further")
    assert res.returncode == 1
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1
    assert f"wrote {unit} but could not load it" in err
    assert "systemctl --user daemon-reload" in err
    status = run_lagwatch("service", "status", env=env)
    assert status.returncode == 0 and f"installed at {unit}" in status.stdout
    removed = run_lagwatch("service", "uninstall", env=env)
    assert removed.returncode == 0 and f"removed {unit}" in removed.stdout
    assert not unit.exists()
    again = run_lagwatch("service", "uninstall", env=env)
    assert "not installed" in again.stdout
    printed = run_lagwatch("service", "install", "--print", env=env)
    assert printed.stdout.startswith("[Unit]") and not unit.exists()


def test_the_service_restarts_the_daemon_after_any_failure() -> None:
    unit = service.systemd_unit(["/usr/bin/python3", "-m", "lagwatch", "daemon"])
    lines = unit.splitlines()
    assert "Restart=on-failure" in lines
    # Exit status 3 (another daemon holds the database) is retried too, and systemd never
    # gives up: a stale lock or a transient failure cannot keep the recorder down for good.
    assert not any(line.startswith("RestartPreventExitStatus") for line in lines)
    assert "StartLimitIntervalSec=0" in lines
    plist = plistlib.loads(service.launchd_plist(["/usr/bin/python3"], Path("/Users/u")))
    assert plist["KeepAlive"] == {"SuccessfulExit": False}


HOSTILE_DB = "x\nExecStartPre=/bin/sh -c 'touch /tmp/lagwatch-pwned'\n#"


@pytest.mark.parametrize("value", [HOSTILE_DB, "a\rb", "a\x1b]0;t\x07b", "a\x00b"])
def test_control_characters_never_reach_a_service_file(value: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        service.daemon_command(Path("/data") / value)
    with pytest.raises(ValueError, match="control character"):
        service.systemd_unit(["/usr/bin/python3", "--db", value])
    with pytest.raises(ValueError, match="control character"):
        service.launchd_plist(["/usr/bin/python3", "--db", value], Path("/Users/u"))


@pytest.mark.integration
@pytest.mark.parametrize("extra", [[], ["--print"]])
def test_cli_install_refuses_a_db_path_with_a_newline(tmp_path: Path, extra: list[str]) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the systemd unit is the Linux service")
    env = fake_home(tmp_path)
    unit = Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / "lagwatch.service"
    res = run_lagwatch("service", "install", "--db", str(tmp_path / HOSTILE_DB), *extra, env=env)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "--db" in res.stderr
    assert "ExecStartPre" not in res.stdout
    assert not unit.exists()


# -- --interval and --listen, and lingering ----------------------------------------------------


def test_interval_and_listen_go_into_the_unit_and_the_plist(tmp_path: Path) -> None:
    command = service.daemon_command(tmp_path / "h.db", interval_s=2.5, listen="[::1]:9683")
    assert command[-4:] == ["--interval", "2.5", "--listen", "[::1]:9683"]
    exec_line = next(
        line for line in service.systemd_unit(command).splitlines() if line.startswith("ExecStart=")
    )
    assert exec_line.endswith(" daemon --db " + str(tmp_path / "h.db") + " --interval 2.5 "
                              "--listen [::1]:9683")  # fmt: skip
    args = plistlib.loads(service.launchd_plist(command, tmp_path))["ProgramArguments"]
    assert args[-4:] == ["--interval", "2.5", "--listen", "[::1]:9683"]
    # Every interface, as node_exporter's :9100; and an address normalised as the daemon reads it.
    assert service.daemon_command(listen=":9100")[-2:] == ["--listen", ":9100"]
    assert service.daemon_command(listen=" 127.0.0.1:80 ")[-1] == "127.0.0.1:80"
    assert service.daemon_command(interval_s=1 / 3)[-1] == "0.3333333333"


def test_pressure_thresholds_go_into_the_unit_and_the_plist(tmp_path: Path) -> None:
    command = service.daemon_command(pressure_thresholds={"memory": 12.5, "io": 40.0})
    assert command[-4:] == ["--pressure-threshold", "io=40", "--pressure-threshold", "memory=12.5"]
    assert " daemon --pressure-threshold io=40 --pressure-threshold memory=12.5" in (
        service.systemd_unit(command))  # fmt: skip
    args = plistlib.loads(service.launchd_plist(command, tmp_path))["ProgramArguments"]
    assert args[-2:] == ["--pressure-threshold", "memory=12.5"]
    with pytest.raises(ValueError, match="not a percent"):
        service.daemon_command(pressure_thresholds={"io": math.inf})
    # The command reads them as the daemon does: a bad one is a usage error, nothing written.
    bad = run_lagwatch("service", "install", "--print", "--pressure-threshold", "disk=3")
    assert bad.returncode == 2 and "--pressure-threshold" in bad.stderr


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"interval_s": float("nan")}, "positive number"),
        ({"interval_s": float("inf")}, "positive number"),
        ({"interval_s": 0.0}, "positive number"),
        ({"interval_s": -1.0}, "positive number"),
        ({"listen": "::1:9683"}, "brackets"),
        ({"listen": "9683"}, "not HOST:PORT"),
        ({"listen": "127.0.0.1:99999"}, "port must be"),
        ({"listen": "127.0.0.1:9683\nExecStartPre=/bin/true"}, "control character"),
    ],
)
def test_bad_interval_or_listen_never_reaches_a_service_file(kw: dict, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        service.daemon_command(**kw)


def test_linger_advice_says_whether_recording_survives_logout(tmp_path: Path) -> None:
    linger = tmp_path / "linger"
    linger.mkdir()
    assert service.lingering("alice", linger) is False
    advice = service.linger_advice("alice", linger)
    assert "not enabled for alice" in advice
    assert advice.endswith("run: loginctl enable-linger alice")
    (linger / "alice").touch()  # what `loginctl enable-linger alice` leaves
    assert service.lingering("alice", linger) is True
    assert "enabled for alice: the daemon keeps recording after you log out" in (
        service.linger_advice("alice", linger)
    )
    env = fake_home(tmp_path)
    env["PATH"] = str(tmp_path)  # no systemctl: the state is unknown, lingering is not
    me = service.user_name(env)
    assert service.status(platform="linux", env=env, linger_dir=linger)["linger"] is False
    (linger / me).touch()
    assert service.status(platform="linux", env=env, linger_dir=linger)["linger"] is True
    assert service.status(platform="darwin", env=env, linger_dir=linger)["linger"] is None


@pytest.mark.integration
def test_cli_install_writes_interval_and_listen_and_tells_about_lingering(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the systemd unit is the Linux service")
    env = fake_home(tmp_path)
    unit = Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / "lagwatch.service"
    res = run_lagwatch("service", "install", "--interval", "500ms", "--listen", "[::1]:9683",
                       env=env)  # fmt: skip
    assert unit.exists()
    assert "--interval 0.5 --listen [::1]:9683" in unit.read_text()
    assert "lingering" in res.stdout
    linger_file = Path("/var/lib/systemd/linger") / service.user_name(env)
    if linger_file.exists():
        assert "keeps recording after you log out" in res.stdout
    else:
        assert f"loginctl enable-linger {service.user_name(env)}" in res.stdout
    status = run_lagwatch("service", "status", "--json", env=env)
    assert status.returncode == 0
    assert json.loads(status.stdout)["linger"] is linger_file.exists()
    run_lagwatch("service", "uninstall", env=env)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--interval", "nan"], "--interval"),
        (["--interval", "0"], "--interval"),
        (["--listen", "::1:9683"], "--listen"),
        (["--listen", "127.0.0.1:9683\nExecStartPre=/bin/true"], "--listen"),
    ],
)
def test_cli_install_refuses_bad_interval_and_listen(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    env = fake_home(tmp_path)
    unit = Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / "lagwatch.service"
    res = run_lagwatch("service", "install", "--print", *args, env=env)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and flag in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert not unit.exists()


@pytest.mark.integration
def test_the_units_command_line_starts_a_daemon_serving_where_asked(tmp_path: Path) -> None:
    """The words written into ExecStart are read back by `lagwatch daemon` as meant: run them
    (with a temporary database) and the daemon serves /metrics at --listen."""
    from exporter_harness import answers, free_port, stop

    port = free_port()
    command = service.daemon_command(tmp_path / "h.db", interval_s=0.5,
                                     listen=f"127.0.0.1:{port}")  # fmt: skip
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        deadline = time.monotonic() + 30
        # The exporter answers a moment before the daemon logs its first line (the line names
        # the port it got): wait for both.
        while not (answers(f"http://127.0.0.1:{port}/metrics")
                   and "recording to" in (tmp_path / "daemon.log").read_text()):  # fmt: skip
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
            assert time.monotonic() < deadline, "the daemon never served /metrics"
            time.sleep(0.1)  # polling for readiness, with a deadline
    finally:
        stop(proc)
    text = (tmp_path / "daemon.log").read_text()
    assert "every 0.5s" in text and f"serving http://127.0.0.1:{port}/metrics" in text
