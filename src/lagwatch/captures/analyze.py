"""A capture file -> one Ranking per sample, as `lagwatch top` would have ranked it.

Every sample becomes a Snapshot of ProcessSamples carrying the rates the tool measured, and
``ranking.compute_ranking`` scores and sorts it, so captures and live readings share one scorer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lagwatch.captures.powermetrics import task_sample
from lagwatch.captures.ranking import (
    Analysis,
    CaptureRanking,
    decode,
    rank_samples,
    timestamp,
)
from lagwatch.model import Snapshot
from lagwatch.parsers import top as top_parser
from lagwatch.parsers.errors import CaptureError
from lagwatch.parsers.powermetrics_model import PmCapture
from lagwatch.parsers.powermetrics_plist import parse_powermetrics_plist
from lagwatch.parsers.powermetrics_text import parse_powermetrics_text
from lagwatch.parsers.top_convert import TopConverter

FORMATS = ("top", "powermetrics-plist", "powermetrics-text", "nettop")


# --- format detection --------------------------------------------------------------------------

_PLIST_HINT = re.compile(rb"<\?xml|<plist[\s>]|<!DOCTYPE plist")
_PM_TEXT_HINT = re.compile(
    r"^\s*(\*\*\* (Sampled|Summary) system activity|Name\s+ID\s+CPU ms/s|"
    r"(Machine model|OS version|Boot arguments):)",
    re.M,
)
_TOP_HINT = re.compile(r"^\s*Processes:\s*\d+ total", re.M)
_NETTOP_HINT = re.compile(r"^\s*(time,)?,?interface,state,bytes_in,bytes_out", re.M)


def detect_format(data: bytes) -> str | None:
    """The capture format from content, or None. Looks at the first 64 KiB."""
    head = data[:65536]
    if _PLIST_HINT.search(head) and b"<key>" in data[: 1 << 20]:
        return "powermetrics-plist"
    text = decode(head)
    if _PM_TEXT_HINT.search(text):
        return "powermetrics-text"
    if _TOP_HINT.search(text):
        return "top"
    if _NETTOP_HINT.search(text):
        return "nettop"
    if any("PID" in line and top_parser.is_table_header(line) for line in text.split("\n")):
        return "top"
    return None


def _first_content_line(data: bytes) -> int:
    for n, line in enumerate(data[:65536].split(b"\n"), start=1):
        if line.strip(b" \t\r\0"):
            return n
    return 1


# --- ranking -----------------------------------------------------------------------------------


def rank_top(data: bytes, sort: str = "score") -> Analysis:
    # Bytes, not text: top pads its columns by bytes, so rows are sliced before decoding.
    capture = top_parser.parse_top(data)
    warnings = list(capture.warnings)
    converter = TopConverter()
    noted: set[str] = set()
    prev: Snapshot | None = None
    out: list[CaptureRanking] = []
    for n, block in enumerate(capture.blocks, start=1):
        conv = converter.convert(block)
        when = timestamp(block.date)
        ranking, prev = rank_samples(
            conv.samples, conv.system, "top", when, conv.interval_s, prev, sort
        )
        kind = "first-block" if block.first else ("logging" if block.logging else "interactive")
        block_warnings = block.warnings + conv.warnings
        if block.first:
            block_warnings.append("first block of top -l: top measured no rates yet (null)")
        out.append(
            CaptureRanking(
                ranking=ranking, format="top", sample=n, line=block.line, kind=kind,
                time_known=when is not None, interval_known=conv.interval_s is not None,
                time_text=block.date.isoformat(sep=" ") if block.date else block.clock,
                system=conv.system, warnings=block_warnings,
            )
        )  # fmt: skip
        warnings.extend(block.warnings)
        for note in conv.warnings:  # once per capture, at the first block it concerns
            if note not in noted:
                noted.add(note)
                warnings.append(f"line {block.line}: {note}")
    if not any(b.rows for b in capture.blocks):
        last = capture.blocks[-1]
        raise CaptureError(
            "top capture has no whole process row: it ends after the header block (cut, or "
            "top run with -n 0?)",
            line=last.end_line or last.line,
        )
    return Analysis(format="top", rankings=out, warnings=warnings)


def _rank_pm(capture: PmCapture, fmt: str, sort: str) -> Analysis:
    warnings = list(capture.warnings)
    out: list[CaptureRanking] = []
    tables = [s for s in capture.samples if s.has_task_table]
    # --show-initial-usage's Lifetime block covers each task's whole life (0 ms elapsed), not
    # an interval: it is no sample of what the machine was doing.
    lifetime = [s for s in tables if s.kind == "lifetime"]
    with_tables = [s for s in tables if s.kind != "lifetime"]
    for s in lifetime:
        warnings.append(
            f"line {s.line}: '*** Lifetime system activity' (each task's whole life, not an "
            "interval) not ranked"
        )
    if lifetime and not with_tables:
        raise CaptureError(
            "powermetrics capture has only a Lifetime block, no task table of a sampled "
            "interval", line=lifetime[0].line
        )  # fmt: skip
    if not with_tables:
        raise CaptureError(
            "powermetrics capture has no task table (capture with --samplers tasks)",
            line=capture.samples[0].line if capture.samples else 1,
        )
    if not any(s.tasks for s in with_tables):
        raise CaptureError(
            "powermetrics task tables hold no whole task row", line=with_tables[0].line
        )
    for sample in with_tables:
        system = dict(sample.system)
        if sample.all_tasks is not None and sample.all_tasks.cpu_percent is not None:
            system["all_tasks_cpu_percent"] = round(sample.all_tasks.cpu_percent, 3)
        if sample.dead_tasks is not None and sample.dead_tasks.cpu_percent is not None:
            system["dead_tasks_cpu_percent"] = round(sample.dead_tasks.cpu_percent, 3)
        when = timestamp(sample.time)
        samples = [task_sample(t) for t in sample.tasks]
        ranking, _ = rank_samples(samples, system, fmt, when, sample.elapsed_s, None, sort)
        notes = list(sample.warnings)
        if sample.truncated:
            notes.append("sample cut short: only its whole tasks are ranked")
        out.append(
            CaptureRanking(
                ranking=ranking, format=fmt, sample=len(out) + 1, line=sample.line,
                kind=sample.kind, time_known=when is not None,
                interval_known=sample.elapsed_s is not None, time_text=sample.time_text,
                system=system, warnings=notes,
            )
        )  # fmt: skip
        warnings.extend(sample.warnings)
    return Analysis(format=fmt, rankings=out, warnings=warnings)


def rank_powermetrics_plist(data: bytes, sort: str = "score") -> Analysis:
    return _rank_pm(parse_powermetrics_plist(data), "powermetrics-plist", sort)


def rank_powermetrics_text(data: bytes, sort: str = "score") -> Analysis:
    return _rank_pm(parse_powermetrics_text(decode(data)), "powermetrics-text", sort)


def rank_nettop(data: bytes, sort: str = "score") -> Analysis:
    from lagwatch.captures.nettop import rank_nettop as rank

    return rank(data, sort)


RANKERS: dict[str, Callable[[bytes, str], Analysis]] = {
    "top": rank_top,
    "powermetrics-plist": rank_powermetrics_plist,
    "powermetrics-text": rank_powermetrics_text,
    "nettop": rank_nettop,
}


def analyze(data: bytes, fmt: str = "auto", sort: str = "score") -> Analysis:
    """Rank every sample of a capture. Raises CaptureError (with a line) when the data is none
    of the formats or no sample survives; never anything else for bad input."""
    if fmt == "auto":
        detected = detect_format(data)
        if detected is None:
            raise CaptureError(
                "not a capture lagwatch reads (top -l, powermetrics text or -f plist, nettop -L)",
                line=_first_content_line(data),
            )
        fmt = detected
    if fmt not in RANKERS:
        raise CaptureError(f"unknown capture format {fmt!r} (known: {', '.join(FORMATS)})")
    return RANKERS[fmt](data, sort)
