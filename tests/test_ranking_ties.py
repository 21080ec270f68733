"""Ties and idle machines: equal scores are ordered by the dominant resource's figure, then CPU,
then footprint; kernel threads never fill the first rows while a user process does anything;
the exporter's top K follows the same order."""

from __future__ import annotations

from lagwatch import scoring
from lagwatch.exporter.series import SeriesTracker, top_by_score
from lagwatch.model import ProcessRow, Ranking
from lagwatch.ranking import sort_rows

GIB = 1 << 30


def _row(pid: int, ppid: int = 1, memory: int = 50 << 20, **figures: float) -> ProcessRow:
    row = ProcessRow(pid, ppid, f"p{pid}", "u", "S", False, memory, 1, **figures)
    scoring.score_row(row, {"memory_total_bytes": 16 * GIB})
    return row


def test_idle_kernel_threads_come_after_any_busy_user_process():
    kworkers = [_row(pid, ppid=2, memory=0, cpu_percent=0.0) for pid in range(3, 40)]
    user = _row(4000, cpu_percent=0.4, wakeups_per_s=12.0)  # busy, but scores 0 like them
    assert user.score == 0.0 and all(k.score == 0.0 for k in kworkers)
    rows = [*kworkers, user]
    sort_rows(rows, "score", 16 * GIB)
    assert rows[0] is user
    assert top_by_score(rows, 1, 16 * GIB) == [user]


def test_equal_scores_order_by_the_dominant_figure_then_cpu_then_footprint():
    # All below every floor (score 0): the one closest to scoring leads.
    near_wakeups = _row(10, wakeups_per_s=180.0)  # 0.9 of the wakeups floor
    near_cpu = _row(11, cpu_percent=2.0)  # 0.4 of the cpu floor
    more_cpu = _row(12, cpu_percent=1.0, wakeups_per_s=20.0)  # dominant wakeups at 0.1
    less_cpu = _row(13, cpu_percent=0.5, wakeups_per_s=20.0)
    bigger = _row(14, memory=60 << 20, cpu_percent=0.5, wakeups_per_s=20.0)
    rows = [less_cpu, bigger, more_cpu, near_cpu, near_wakeups]
    sort_rows(rows, "score", 16 * GIB)
    assert [r.pid for r in rows] == [10, 11, 12, 14, 13]
    tracker = SeriesTracker(top_k=3)
    view = tracker.update(Ranking(1.0, 1.0, "linux", ["procfs"], list(reversed(rows)),
                                  system={"memory_total_bytes": 16 * GIB}))  # fmt: skip
    assert [p.pid for p in view.processes] == [10, 11, 12]


def test_a_higher_score_still_wins_over_any_tie_break():
    kthread = _row(5, ppid=2, memory=0, cpu_percent=80.0)  # kswapd at work: it scores
    user = _row(6000, cpu_percent=1.0)
    rows = [user, kthread]
    sort_rows(rows)
    assert rows[0] is kthread


def test_kernel_threads_come_after_user_processes_even_when_closer_to_scoring():
    kthread = _row(7, ppid=2, memory=0, cpu_percent=4.0)  # 0.8 of the cpu floor: no score yet
    user = _row(7000, cpu_percent=0.1)
    assert kthread.score == user.score == 0.0
    # Without the kernel-thread rule the closer figure would win: the rule decides here.
    assert scoring.closeness(kthread, 16 * GIB) > scoring.closeness(user, 16 * GIB)
    rows = [kthread, user]
    sort_rows(rows, "score", 16 * GIB)
    assert [r.pid for r in rows] == [7000, 7]


def test_identical_rows_fall_back_to_the_pid():
    rows = [_row(pid, cpu_percent=1.0) for pid in (31, 20, 25)]
    sort_rows(rows, "score", 16 * GIB)
    assert [r.pid for r in rows] == [20, 25, 31]


def test_other_sort_keys_break_ties_by_score_then_by_the_same_rule():
    top = _row(43, cpu_percent=4.0)
    scored = _row(41, cpu_percent=3.0, wakeups_per_s=5000.0)  # same CPU, but it scores
    bigger = _row(42, memory=80 << 20, cpu_percent=3.0)  # same CPU and score: footprint decides
    smaller = _row(40, cpu_percent=3.0)
    assert scored.score > bigger.score == smaller.score == top.score == 0.0
    rows = [smaller, bigger, scored, top]
    sort_rows(rows, "cpu", 16 * GIB)
    assert [r.pid for r in rows] == [43, 41, 42, 40]
