"""Apps and users as one thing: which app a process belongs to (cgroups, sessions, the process
tree, macOS's responsible pid), group sums and scores, and grouping recorded history whose
parents were never recorded."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import run_lagwatch
from lagwatch import scoring
from lagwatch.apps import (
    AppKeys,
    cgroup_key,
    parse_key,
    proc_key,
    read_linux_facts,
    session_of_stat,
    tree_walk,
    unit_display_name,
)
from lagwatch.energy.integrate import EnergyIntegrator
from lagwatch.grouping import GROUP_KEYS, as_ranking, group_rows, ranking_json
from lagwatch.model import PROCESS_KEYS, ProcessRow, Ranking

DOCKER_ID = "3f2a1b9c8d7e" + "0" * 52
POD_ID = "a1b2c3d4e5f6" + "f" * 52


# -- cgroups ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # cgroup v2: one line
        ("0::/system.slice/nginx.service\n", "unit:nginx.service"),
        ("0::/system.slice/postgresql@16-main.service\n", "unit:postgresql@16-main.service"),
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
            "app-gnome-firefox-4213.scope\n",
            "unit:app-gnome-firefox-4213.scope",
        ),
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
            "app-flatpak-org.mozilla.firefox-12345.scope\n",
            "unit:app-flatpak-org.mozilla.firefox-12345.scope",
        ),
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
            "app-gnome\\x2dterminal\\x2dserver@1.service\n",
            "unit:app-gnome\\x2dterminal\\x2dserver@1.service",
        ),
        # a user service inside the session manager: the deepest unit names it
        (
            "0::/user.slice/user-1000.slice/user@1000.service/session.slice/pipewire.service\n",
            "unit:pipewire.service",
        ),
        # sessions, terminal tabs, the user manager itself, init: not an app (the tree decides)
        ("0::/user.slice/user-1000.slice/session-3.scope\n", None),
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
            "app-org.gnome.Terminal.slice/vte-spawn-0a1b2c.scope\n",
            None,
        ),
        ("0::/user.slice/user-1000.slice/user@1000.service/init.scope\n", None),
        ("0::/init.scope\n", None),
        ("0::/\n", None),
        # containers: systemd driver (v2) and cgroupfs driver (v1), Kubernetes, Podman, CRI-O
        (f"0::/system.slice/docker-{DOCKER_ID}.scope\n", "container:3f2a1b9c8d7e"),
        (
            f"12:pids:/docker/{DOCKER_ID}\n11:memory:/docker/{DOCKER_ID}\n"
            f"1:name=systemd:/docker/{DOCKER_ID}\n0::/\n",
            "container:3f2a1b9c8d7e",
        ),
        (
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/"
            f"cri-containerd-{POD_ID}.scope\n",
            "container:a1b2c3d4e5f6",
        ),
        (f"5:cpu,cpuacct:/kubepods/besteffort/pod1234-5678/{POD_ID}\n", "container:a1b2c3d4e5f6"),
        (f"0::/machine.slice/libpod-{DOCKER_ID}.scope/container\n", "container:3f2a1b9c8d7e"),
        (f"0::/system.slice/crio-{POD_ID}.scope\n", "container:a1b2c3d4e5f6"),
        # podman's monitor is not in the container
        (f"0::/machine.slice/libpod-conmon-{DOCKER_ID}.scope\n", None),
        # cgroup v1 with systemd: the name=systemd hierarchy names the unit
        (
            "11:memory:/system.slice/cron.service\n4:cpu,cpuacct:/system.slice/cron.service\n"
            "1:name=systemd:/system.slice/cron.service\n",
            "unit:cron.service",
        ),
        # v1 without systemd's hierarchy names no unit; an unknown runtime is no container
        ("4:memory:/process_api/60929e1b6c4661b82a1b6b5904263847\n9:name=systemd:/\n0::/\n", None),
        ("", None),
        ("garbage without colons\n", None),
    ],
)
def test_cgroup_key(text, key):
    assert cgroup_key(text) == key


@pytest.mark.parametrize(
    ("unit", "name"),
    [
        ("nginx.service", "nginx"),
        ("getty@tty1.service", "getty@tty1"),
        ("app-gnome-firefox-4213.scope", "firefox"),
        ("app-flatpak-org.mozilla.firefox-12345.scope", "firefox"),
        ("app-gnome-org.gnome.Terminal-99.scope", "Terminal"),
        ("app-gnome\\x2dterminal\\x2dserver@1.service", "gnome-terminal-server"),
        ("app-code@4f1e.service", "code"),
        ("app-kde-my\\x2dapp-1a2b.scope", "my-app"),
    ],
)
def test_unit_display_name(unit, name):
    assert unit_display_name(unit) == name
    assert parse_key(f"unit:{unit}").name == name


def test_keys_round_trip():
    assert parse_key(proc_key(42, 7, "a:b c")) == parse_key("proc:42:7:a:b c")
    key = parse_key("proc:42:7:a:b c")
    assert (key.kind, key.pid, key.start_id, key.name) == ("proc", 42, 7, "a:b c")
    assert parse_key("container:3f2a1b9c8d7e").name == "container:3f2a1b9c8d7e"
    assert parse_key("user:alice").name == "alice"


def test_session_of_stat_survives_hostile_names():
    assert session_of_stat("123 (a) b) (c) S 1 123 123 0 -1 4194560") == 123
    assert session_of_stat("77 (x) S 1 70 71 0") == 71
    assert session_of_stat("broken") is None


def test_read_linux_facts_of_this_process_and_a_missing_one(tmp_path):
    import os

    key, leader = read_linux_facts("/proc", os.getpid())
    assert leader is (os.getsid(0) == os.getpid())
    assert key == cgroup_key(Path(f"/proc/{os.getpid()}/cgroup").read_text())
    assert read_linux_facts(str(tmp_path), 1) == (None, None)  # nothing there: unknown


# -- the tree, sessions and units ---------------------------------------------------------------


def row(pid, name="p", ppid=1, cpu=None, mem=None, user="u", start_id=None, **kw) -> ProcessRow:
    return ProcessRow(pid=pid, ppid=ppid, name=name, user=user, state="running",
                      restricted=kw.pop("restricted", False), memory_bytes=mem, threads=None,
                      cpu_percent=cpu, start_id=pid * 10 if start_id is None else start_id,
                      **kw)  # fmt: skip


def facts_from(table):
    """A linux_facts reader over {pid: (cgroup key, session leader)}, counting reads."""
    reads: list[int] = []

    def read(pid):
        reads.append(pid)
        return table.get(pid, (None, False))

    return read, reads


#   1 init ── 100 sshd ── 150 bash (leader) ── 300 make ── 400 sh ── 500 cc1
#          ├─ 600 python (leader: a daemon) ── 601..606 workers (sessions of 600)
#          ├─ 700 cron (unit cron.service) ── 710 sh (leader) ── 720 backup
#          ├─ 800 nginx (unit nginx.service, leader) ── 801 nginx
#          ├─ 900 dockerd? no: 910 app (container) ── 920 sh (leader) ── 930 job
#          └─ 2 kthreadd ── 20 kworker
ROWS = [
    row(1, "init", 0), row(2, "kthreadd", 0), row(20, "kworker/0:1", 2),
    row(100, "sshd"), row(150, "bash", 100), row(300, "make", 150), row(400, "sh", 300),
    row(500, "cc1", 400),
    row(600, "python3"), *(row(p, "python3", 600) for p in range(601, 607)),
    row(700, "cron"), row(710, "sh", 700), row(720, "backup", 710),
    row(800, "nginx"), row(801, "nginx", 800),
    row(910, "app"), row(920, "sh", 910), row(930, "job", 920),
]  # fmt: skip
FACTS = {
    150: (None, True), 600: (None, True), 700: ("unit:cron.service", False),
    710: ("unit:cron.service", True), 720: ("unit:cron.service", False),
    800: ("unit:nginx.service", True), 801: ("unit:nginx.service", False),
    910: ("container:3f2a1b9c8d7e", True), 920: ("container:3f2a1b9c8d7e", True),
    930: ("container:3f2a1b9c8d7e", False),
}  # fmt: skip


def annotated(rows=ROWS, facts=FACTS, responsible=None):
    rows = [ProcessRow.from_json({**r.to_json(), "start_id": r.start_id}) for r in rows]
    read, reads = facts_from(facts)
    AppKeys(linux_facts=read, responsible=responsible).annotate(rows)
    return {r.pid: r.app for r in rows}, reads


@pytest.mark.parametrize(
    ("pid", "app"),
    [
        (500, proc_key(300, 3000, "make")),  # cc1 <- sh <- make <- login shell: make's
        (400, proc_key(300, 3000, "make")),
        (300, proc_key(300, 3000, "make")),
        (150, proc_key(150, 1500, "bash")),  # a busy login shell is its own app
        (603, proc_key(600, 6000, "python3")),  # workers of a daemon (session leader)
        (600, proc_key(600, 6000, "python3")),
        (700, "unit:cron.service"),
        (720, proc_key(720, 7200, "backup")),  # a cron job: a session of its own in the unit
        (800, "unit:nginx.service"),  # the unit's daemon leads its session, outside the unit
        (801, "unit:nginx.service"),
        (930, "container:3f2a1b9c8d7e"),  # a container is one app, sessions or not
        (20, proc_key(2, 20, "kthreadd")),  # kernel threads under kthreadd
        (1, proc_key(1, 10, "init")),
    ],
)
def test_app_keys(pid, app):
    assert annotated()[0][pid] == app


def test_facts_are_read_once_per_process():
    rows = [ProcessRow.from_json({**r.to_json(), "start_id": r.start_id}) for r in ROWS]
    read, reads = facts_from(FACTS)
    keys = AppKeys(linux_facts=read)
    keys.annotate(rows)
    assert sorted(reads) == sorted(set(reads))  # never twice
    first = len(reads)
    fresh = [ProcessRow.from_json({**r.to_json(), "start_id": r.start_id}) for r in ROWS]
    keys.annotate(fresh)  # the next tick: new row objects, the same processes
    assert len(reads) == first
    assert {r.pid: r.app for r in fresh} == {r.pid: r.app for r in rows}
    reused = row(603, "python3", 600, start_id=99)  # same pid, another process
    keys.annotate([*fresh[:-1], reused])
    assert reads[-1] == 603


def test_tree_walk_stops_at_boundaries_and_leaders():
    procs = {r.pid: (r.ppid, r.name) for r in ROWS}
    assert tree_walk(500, procs) == (300, None)  # sshd is a boundary; bash a shell
    assert tree_walk(603, procs, lambda pid: pid == 600) == (600, 600)
    # Without sessions a daemon's worker goes up to the top-most ancestor below init.
    assert tree_walk(603, procs) == (600, None)
    assert tree_walk(5, {5: (6, "a"), 6: (5, "b")})[0] in (5, 6)  # a cycle ends


def test_responsible_pid_wins_and_unknown_owner_falls_back():
    rows = [row(1, "launchd", 0), row(80, "Safari"), row(81, "WebContent"),
            row(82, "Networking"), row(90, "lonely")]  # fmt: skip
    owners = {81: 80, 82: 80, 90: 12345}
    apps, _ = annotated(rows, {}, responsible=lambda pid: owners.get(pid, pid))
    assert apps[81] == apps[82] == apps[80] == proc_key(80, 800, "Safari")
    assert apps[90] == proc_key(90, 900, "lonely")  # owner not in the table: the tree


# -- groups ---------------------------------------------------------------------------------------


def test_six_workers_rank_as_one_app_above_a_single_bigger_process():
    system = {"memory_total_bytes": 16 << 30, "cpu_count": 8}
    parent = row(600, "browser", cpu=0.5, mem=200 << 20, start_id=1)
    workers = [row(601 + i, "browser", 600, cpu=30.0, mem=100 << 20) for i in range(6)]
    single = row(900, "hog", cpu=70.0, mem=50 << 20)
    rows = [parent, *workers, single]
    for r in rows:
        r.app = proc_key(600, 1, "browser") if r.ppid == 600 or r.pid == 600 else None
        scoring.score_row(r, system)
    assert all(single.score > w.score for w in workers)  # per process the hog wins
    groups = group_rows(rows, "app", system)
    assert [g.name for g in groups] == ["browser", "hog"]
    app = groups[0]
    assert app.row.pid == 600 and app.pids == list(range(600, 607))
    assert app.row.cpu_percent == pytest.approx(180.5)
    assert app.row.memory_bytes == (200 << 20) + 6 * (100 << 20)
    assert app.row.dominant == "cpu" and app.row.score > groups[1].row.score
    doc = app.to_json()
    assert list(doc) == list(GROUP_KEYS)
    assert doc["members"] == ["browser"] and doc["member_count"] == 7
    assert {k for k in PROCESS_KEYS if k in doc} >= {"cpu_percent", "memory_bytes", "score"}


def test_sums_know_what_any_member_knows():
    a = row(10, "a", cpu=5.0, mem=None, disk_read_bytes_per_s=None, gpu_percent=None)
    b = row(11, "a", 10, cpu=None, mem=100, disk_read_bytes_per_s=None, gpu_percent=None)
    a.app = b.app = proc_key(10, 100, "a")
    (g,) = group_rows([a, b], "app")
    assert g.row.cpu_percent == 5.0  # one unknown part does not hide the rest
    assert g.row.memory_bytes == 100
    assert g.row.gpu_percent is None  # no member knows: unknown, not zero
    assert g.to_json()["disk_read_bytes_per_s"] is None


def test_group_by_user_and_restricted_members_are_kept():
    rows = [row(1, "a", 0, cpu=50.0, user="alice"), row(2, "b", 0, cpu=20.0, user="alice"),
            row(3, "c", 0, cpu=90.0, user="bob", restricted=True),
            row(4, "d", 0, user=None)]  # fmt: skip
    groups = group_rows(rows, "user")
    by_name = {g.name: g for g in groups}
    assert set(by_name) == {"alice", "bob", "?"}
    assert by_name["alice"].row.cpu_percent == 70.0 and by_name["alice"].pids == [1, 2]
    assert by_name["bob"].to_json()["restricted"] is True
    assert by_name["bob"].to_json()["restricted_count"] == 1
    assert groups[0].name == "bob"  # 90 % CPU in one process beats 70 % in two


def test_unit_group_leader_is_the_top_most_member():
    rows = [row(801, "nginx", 800, cpu=40.0), row(800, "nginx", 1, cpu=1.0),
            row(802, "nginx", 800, cpu=40.0)]  # fmt: skip
    for r in rows:
        r.app = "unit:nginx.service"
    (g,) = group_rows(rows, "app")
    assert (g.name, g.row.pid, g.pids) == ("nginx", 800, [800, 801, 802])


def test_rows_without_keys_group_by_the_tree_they_hold():
    # Captures and history written before app keys: the rows' own tree decides.
    rows = [row(1, "init", 0), row(50, "chrome", 1, cpu=20.0), row(51, "chrome", 50, cpu=20.0)]
    groups = {g.name: g for g in group_rows(rows, "app")}
    assert groups["chrome"].pids == [50, 51]


def test_ranking_json_keeps_processes_and_adds_groups():
    rows = [row(10, "a", 1, cpu=50.0), row(11, "a", 10, cpu=50.0)]
    ranking = Ranking(time=1.0, interval_s=1.0, platform="linux", sources=["procfs"],
                      processes=rows)  # fmt: skip
    assert "groups" not in ranking_json(ranking, "process")
    doc = ranking_json(ranking, "app", limit=1)
    assert doc["by"] == "app" and doc["group_count"] == 1 and len(doc["groups"]) == 1
    assert [p["pid"] for p in doc["processes"]] == [10]  # --limit applies to both lists
    assert as_ranking(ranking, group_rows(rows, "app")).processes[0].name == "a (2)"


# -- history: the key recorded at write time ---------------------------------------------------


def write_history(db: Path, rankings: list[Ranking]) -> None:
    from lagwatch.store import Recorder

    recorder = Recorder(db)  # the daemon's default policy: idle processes are not recorded
    try:
        for r in rankings:
            assert recorder.record(r)
    finally:
        recorder.close()


def worker_rankings(now: float) -> list[Ranking]:
    """An idle parent (never recorded) and its busy workers, keys decided as live."""
    out = []
    for i in range(3):
        parent = row(600, "browser", 1, cpu=0.0, start_id=6)
        workers = [row(601 + w, "renderer", 600, cpu=30.0, energy_impact=30.0) for w in range(6)]
        single = row(900, "hog", 1, cpu=70.0, energy_impact=70.0)
        rows = [parent, *workers, single]
        for r in rows:
            scoring.score_row(r, {})
        AppKeys().annotate(rows)  # no OS facts: the tree (the parent is known live)
        out.append(Ranking(time=now - 30 + 2 * i, interval_s=2.0, platform="linux",
                           sources=["procfs"], processes=rows, energy_source="model"))  # fmt: skip
    return out


def test_history_groups_workers_whose_parent_was_never_recorded(tmp_path):
    from lagwatch.store import History

    db = tmp_path / "history.db"
    write_history(db, worker_rankings(time.time()))
    with History(db) as history:
        recorded = list(history.rankings())
    assert recorded and all(600 not in {r.pid for r in t.processes} for t in recorded)
    groups = group_rows(recorded[-1].processes, "app", recorded[-1].system)
    assert groups[0].name == "browser" and groups[0].row.pid == 600
    assert groups[0].pids == list(range(601, 607)) and groups[0].row.dominant == "cpu"
    assert [g.name for g in groups] == ["browser", "hog"]
    # Energy from the same history: the workers add up under their app.
    integrator = EnergyIntegrator("app")
    for ranking in recorded:
        integrator.add(ranking)
    apps = {a["name"]: a for a in integrator.report()["apps"]}
    assert apps["browser"]["pid"] == 600 and apps["browser"]["member_count"] == 6
    assert apps["browser"]["energy_impact_s"] == pytest.approx(3 * 6 * 30.0 * 2.0)
    assert integrator.report()["apps"][0]["name"] == "browser"


def test_energy_groups_units_by_their_top_most_member():
    rows = [row(801, "nginx", 800, energy_impact=10.0), row(802, "nginx", 800, energy_impact=5.0)]
    for r in rows:
        r.app = "unit:nginx.service"
    integrator = EnergyIntegrator("app")
    integrator.add(Ranking(time=2.0, interval_s=1.0, platform="linux", sources=["procfs"],
                           processes=rows, energy_source="model"))  # fmt: skip
    (app,) = integrator.report()["apps"]
    assert (app["name"], app["pid"], app["key"]) == ("nginx", 801, "unit:nginx.service")
    assert app["energy_impact_s"] == 15.0


def test_history_from_before_app_keys_groups_by_its_tree(tmp_path):
    import sqlite3

    from lagwatch.store import History
    from lagwatch.store.schema import migrate

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, db, upto=2)  # written by a lagwatch without procs.app
    conn.execute("INSERT INTO contexts (platform, sources, system) VALUES ('linux', '[]', '{}')")
    conn.execute("INSERT INTO ticks (time, interval_s, context_id) VALUES (100.0, 1.0, 1)")
    for pid, ppid, name, cpu in ((50, 1, "chrome", 10.0), (51, 50, "chrome", 40.0),
                                 (52, 50, "chrome", 40.0), (60, 1, "hog", 70.0)):  # fmt: skip
        conn.execute(
            "INSERT INTO procs (tick_id, pid, ppid, name, score, restricted, cpu_percent) "
            "VALUES (1, ?, ?, ?, 1.0, 0, ?)",
            (pid, ppid, name, cpu),
        )
    conn.close()
    with History(db) as history:  # upgrades the file, keeping every row
        (tick,) = list(history.rankings())
    assert all(r.app is None for r in tick.processes)
    groups = group_rows(tick.processes, "app")
    assert [(g.name, g.pids) for g in groups] == [("chrome", [50, 51, 52]), ("hog", [60])]


@pytest.mark.integration
def test_history_and_energy_commands_by_app(tmp_path):
    db = tmp_path / "history.db"
    write_history(db, worker_rankings(time.time()))
    res = run_lagwatch("history", "--db", str(db), "--since", "5m", "--format", "json",
                       "--by", "app")  # fmt: skip
    assert res.returncode == 0, res.stderr
    ticks = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(ticks) == 3
    for tick in ticks:
        assert tick["by"] == "app" and tick["processes"]
        top = tick["groups"][0]
        assert (top["name"], top["pid"], top["dominant"]) == ("browser", 600, "cpu")
        assert top["pids"] == list(range(601, 607))
    table = run_lagwatch("history", "--db", str(db), "--since", "5m", "--by", "app")
    assert table.returncode == 0, table.stderr
    assert "browser (6)" in table.stdout
    csv_out = run_lagwatch("history", "--db", str(db), "--since", "5m", "--by", "user",
                           "--format", "csv")  # fmt: skip
    assert csv_out.returncode == 0, csv_out.stderr
    header, first, *_ = csv_out.stdout.splitlines()
    assert header.split(",")[2:5] == ["name", "pid", "key"] and ",user:u," in first
    energy = run_lagwatch("energy", "--db", str(db), "--since", "5m", "--by", "app", "--json")
    assert energy.returncode == 0, energy.stderr
    report = json.loads(energy.stdout)
    assert report["apps"][0]["name"] == "browser" and report["apps"][0]["member_count"] == 6


# -- the exporter -------------------------------------------------------------------------------


def test_api_now_by_app_and_a_bad_by(tmp_path):
    import urllib.error
    import urllib.request

    from lagwatch.exporter import start_exporter
    from lagwatch.live import LiveState

    state = LiveState()
    state.publish(worker_rankings(time.time())[-1], 0.01)
    ex = start_exporter(state, "127.0.0.1", 0, None)
    try:
        with urllib.request.urlopen(ex.url + "/api/now?by=app&limit=1", timeout=10) as resp:
            doc = json.loads(resp.read())
        assert doc["by"] == "app" and len(doc["groups"]) == 1 and doc["group_count"] == 2
        assert (doc["groups"][0]["name"], doc["groups"][0]["pid"]) == ("browser", 600)
        with urllib.request.urlopen(ex.url + "/api/now", timeout=10) as resp:
            assert "groups" not in json.loads(resp.read())  # by process: as it always was
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(ex.url + "/api/now?by=bogus", timeout=10)
        assert err.value.code == 400
    finally:
        ex.stop()
