"""Rankings of groups of processes: apps (lagwatch.apps) or users.

A group's figures are its members' summed (rates and footprints; unknown only when no member
knows, model.sum_known), and it is scored like one process from those sums
(scoring.score_row), so six workers at 30 % CPU rank as one 180 % CPU app and blame what the
app as a whole stresses. Pure: `top --by`, `history --by`, the exporter's ``/api/now?by=`` and
the TUI call :func:`group_rows` on the rows of a ranking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from lagwatch import scoring
from lagwatch.apps import parse_key, tree_keys, user_key
from lagwatch.catalogue import METRICS
from lagwatch.model import PROCESS_KEYS, ProcessRow, Ranking, sum_known
from lagwatch.ranking import order_key, round_row

By = Literal["process", "app", "user"]
BY_CHOICES: tuple[str, ...] = ("process", "app", "user")

# Figures summed over members: every metric of a row (contract or not, so that scoring sees
# the app's memory growth too).
_SUMMED: tuple[str, ...] = tuple(m.key for m in METRICS)
# Group JSON: who the group is, then the process contract's metric keys in their order.
_IDENTITY_KEYS = ("pid", "ppid", "name", "user", "state", "score", "dominant", "restricted")
_METRIC_KEYS: tuple[str, ...] = tuple(k for k in PROCESS_KEYS if k not in _IDENTITY_KEYS)
# JSON contract of one group, in order. ``members``: the distinct names of its processes.
GROUP_KEYS: tuple[str, ...] = (
    "name", "pid", "key", "members", "member_count", "pids", "user", "score", "dominant",
    *_METRIC_KEYS, "restricted", "restricted_count",
)  # fmt: skip


@dataclass(slots=True)
class Group:
    """An app or a user in a ranking: ``row`` holds the summed figures and their score, with
    the leader's pid and the group's name; ``members`` the processes, worst first."""

    key: str
    name: str
    row: ProcessRow
    members: list[ProcessRow]

    @property
    def pids(self) -> list[int]:
        return sorted(m.pid for m in self.members)

    def to_json(self) -> dict[str, Any]:
        row = self.row
        out: dict[str, Any] = {
            "name": self.name,
            "pid": row.pid,
            "key": self.key,
            "members": sorted({m.name for m in self.members}),
            "member_count": len(self.members),
            "pids": self.pids,
            "user": row.user,
            "score": row.score,
            "dominant": row.dominant,
        }
        for key in _METRIC_KEYS:
            out[key] = getattr(row, key)
        out["restricted"] = row.restricted
        out["restricted_count"] = sum(1 for m in self.members if m.restricted)
        return out


def group_key(row: ProcessRow, by: By, fallback: Mapping[int, str]) -> str:
    if by == "user":
        return user_key(row.user)
    return row.app or fallback.get(row.pid) or f"proc:{row.pid}:{row.start_id}:{row.name}"


def _leader(members: list[ProcessRow], key_pid: int | None) -> ProcessRow:
    """The app's root process when it is a member; else the top-most member (its parent is
    not a member), the lowest pid among those."""
    pids = {m.pid for m in members}
    if key_pid is not None:
        for m in members:
            if m.pid == key_pid:
                return m
    tops = [m for m in members if m.ppid not in pids] or members
    return min(tops, key=lambda m: m.pid)


def summed_row(
    members: list[ProcessRow], name: str, pid: int, system: Mapping[str, Any]
) -> ProcessRow:
    """One row with the members' figures summed, scored as a process would be."""
    leader = next((m for m in members if m.pid == pid), members[0])
    users = {m.user for m in members}
    row = ProcessRow(
        pid=pid,
        ppid=leader.ppid if leader.pid == pid else None,
        name=name,
        user=users.pop() if len(users) == 1 else None,
        state=None,
        restricted=any(m.restricted for m in members),
        memory_bytes=None,
        threads=None,
        start_id=leader.start_id if leader.pid == pid else 0,
    )
    for key in _SUMMED:
        setattr(row, key, sum_known(*(getattr(m, key) for m in members)))
    scoring.score_row(row, dict(system))
    round_row(row)
    return row


def group_rows(
    rows: Iterable[ProcessRow],
    by: By,
    system: Mapping[str, Any] | None = None,
    sort: str = "score",
) -> list[Group]:
    """The rows' groups, worst first (in a ranking's order, ``sort`` as in ranking.SORT_KEYS).
    Rows without an app key (old history, captures) are grouped by the tree they hold."""
    rows = list(rows)
    system = system or {}
    fallback: Mapping[int, str] = {}
    if by == "app" and any(r.app is None for r in rows):
        fallback = tree_keys(rows)
    members: dict[str, list[ProcessRow]] = {}
    for r in rows:
        members.setdefault(group_key(r, by, fallback), []).append(r)
    groups = []
    by_score = order_key("score", system.get("memory_total_bytes"))
    for key, procs in members.items():
        parsed = parse_key(key)
        leader = _leader(procs, parsed.pid)
        pid = parsed.pid if parsed.pid is not None else leader.pid
        row = summed_row(procs, parsed.name, pid, system)
        if len(procs) > 1:
            procs.sort(key=by_score)
        groups.append(Group(key=key, name=parsed.name, row=row, members=procs))
    order = order_key(sort, system.get("memory_total_bytes"))
    groups.sort(key=lambda g: order(g.row))
    return groups


def group_ranking(ranking: Ranking, by: By, sort: str = "score") -> list[Group]:
    """The groups of a ranking's processes (every process it holds)."""
    return group_rows(ranking.processes, by, ranking.system, sort)


def ranking_json(
    ranking: Ranking, by: By = "process", limit: int | None = None, sort: str = "score"
) -> dict[str, Any]:
    """A ranking's JSON (`top --json`), with ``by`` and the ``groups`` list when grouped; the
    ``processes`` list stays (the contract only grows)."""
    out = ranking.to_json(limit)
    out.update(group_json(ranking, by, limit, sort))
    return out


def group_json(
    ranking: Ranking, by: By = "process", limit: int | None = None, sort: str = "score"
) -> dict[str, Any]:
    """The keys ``ranking_json`` adds to a ranking's own (none for ``by="process"``)."""
    if by == "process":
        return {}
    groups = group_ranking(ranking, by, sort)
    return {
        "by": by,
        "group_count": len(groups),
        "groups": [g.to_json() for g in (groups if limit is None else groups[:limit])],
    }


def as_ranking(ranking: Ranking, groups: list[Group]) -> Ranking:
    """A ranking whose rows are the groups' summed rows, named "name (member count)", to print
    with a process table."""
    return Ranking(
        time=ranking.time,
        interval_s=ranking.interval_s,
        platform=ranking.platform,
        sources=list(ranking.sources),
        processes=[replace(g.row, name=f"{g.name} ({len(g.members)})") for g in groups],
        system=dict(ranking.system),
        warnings=list(ranking.warnings),
        energy_source=ranking.energy_source,
    )
