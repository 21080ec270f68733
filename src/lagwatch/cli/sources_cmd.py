"""`lagwatch sources`: which data sources this machine has, what each gives, and why not."""

from __future__ import annotations

import json

import click

from lagwatch import platform_seam
from lagwatch.sources import registry
from lagwatch.sources.base import SourceError
from lagwatch.sources.procfs import describe_sweep


def source_report() -> list[dict]:
    report = []
    for info in sorted(registry.SOURCES, key=lambda s: s.priority):
        reason = registry.unavailable_reason(info)
        report.append(
            {
                "name": info.name,
                "kind": info.kind,
                "available": reason is None,
                "reason": reason,
                "needs_root": info.needs_root,
                "metrics": list(info.metrics),
                "description": info.description,
                "detail": _detail(info) if reason is None else None,
            }
        )
    return report


def _detail(info) -> str | None:
    """What an available source found here (library, flavor, device), never an exception."""
    if info.detail is None:
        return None
    try:
        return info.detail()
    except Exception as exc:  # a detail must never take the command down
        return f"detail unavailable: {exc}"


def visibility() -> dict | None:
    """One reading by the process source `lagwatch top` would use: how many processes it
    sees and how many of them the OS restricts (other users' processes without root)."""
    for info in sorted(registry.SOURCES, key=lambda s: s.priority):
        if info.kind != "processes" or registry.unavailable_reason(info) is not None:
            continue
        try:
            source = info.factory()
        except (SourceError, OSError):
            continue
        try:
            processes = source.read().processes or []
            sweep = source.sweep_info() if hasattr(source, "sweep_info") else None
        except (SourceError, OSError):
            continue
        finally:
            source.close()
        restricted = sum(1 for p in processes if p.restricted)
        return {
            "source": info.name,
            "processes": len(processes),
            "restricted": restricted,
            "sweep": sweep,
        }
    return None


def visibility_line(vis: dict | None, is_root: bool) -> str | None:
    if vis is None:
        return None
    seen = f"{vis['source']} sees {vis['processes']} processes"
    if vis["restricted"] == 0:
        return f"{seen}, all of them fully" + (" (running as root)." if is_root else ".")
    n = vis["restricted"]
    line = (
        f"{seen}; {n} {'is' if n == 1 else 'are'} restricted: the OS withholds part of "
        f"{'its' if n == 1 else 'their'} figures (other users' processes; marked * in "
        "`lagwatch top`)."
    )
    if not is_root:
        line += " Root sees them fully (sudo lagwatch ...)."
    return line


def filled_by(report: list[dict], vis: dict | None) -> list[str]:
    """The augmenting sources in use that fill in restricted processes' figures (`top`)."""
    if vis is None or not vis["restricted"]:
        return []
    return [e["name"] for e in report if e["name"] == "top" and e.get("status") == "in use"]


def filled_line(fillers: list[str]) -> str | None:
    if "top" not in fillers:
        return None
    return (
        "top fills in their CPU, footprint, threads, state, wakeups, pageins and context "
        "switches, and gives every process its POWER as Energy Impact; their disk I/O stays "
        "unknown without root. It costs one `top` child re-reading every process each second."
    )


EXAMPLES = """\b
Examples:
  lagwatch sources                what this machine can measure, and why
  sudo lagwatch sources           what root adds
  lagwatch top --source psutil    force a source, e.g. to compare two
"""


@click.command("sources", epilog=EXAMPLES)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(as_json: bool) -> None:
    """List the data sources available on this machine and the metrics each gives."""
    report = source_report()
    vis = visibility()
    # What `lagwatch top` would run: the first process source that works, and every usable
    # augmenting source; other usable process sources stand by as fallbacks.
    for entry in report:
        if not entry["available"]:
            entry["status"] = "unavailable"
        elif (why := registry.not_by_default(registry.by_name(entry["name"]))) is not None:
            entry["status"] = "standby"  # usable, but not started unless --source asks
            entry["detail"] = why
        elif entry["kind"] == "augment" or (vis is not None and vis["source"] == entry["name"]):
            entry["status"] = "in use"
        else:
            entry["status"] = "standby"
    fillers = filled_by(report, vis)
    if as_json:
        out = {
            "platform": platform_seam.sys_platform(),
            "root": registry.is_root(),
            "sources": report,
            "visibility": vis,
            # Added key: which augmenting sources fill in what the OS withholds.
            "restricted_filled_by": fillers,
        }
        click.echo(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold")
    for col in ("SOURCE", "STATUS", "ROOT", "METRICS", "NOTES"):
        table.add_column(col)
    styles = {"in use": "green", "standby": "cyan", "unavailable": "red"}
    for s in report:
        status = f"[{styles[s['status']]}]{s['status']}[/]"
        notes = s["description"] if s["available"] else f"{s['reason']}"
        if s["available"] and s["detail"]:
            notes += f" [dim]({s['detail']})[/]"
        table.add_row(
            s["name"], status, "yes" if s["needs_root"] else "no", ", ".join(s["metrics"]), notes
        )
    console = Console()
    console.print(table)
    line = visibility_line(vis, registry.is_root())
    if line is not None:
        console.print(line)
        filled = filled_line(fillers)
        if filled is not None:
            console.print(filled)
    elif not registry.is_root():
        console.print("Not running as root: other users' processes are shown as restricted.")
    if vis is not None and vis.get("sweep"):
        console.print(describe_sweep(vis["source"], vis["sweep"]), highlight=False)
