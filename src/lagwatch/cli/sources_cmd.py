"""`lagwatch sources`: which data sources this machine has, what each gives, and why not."""

from __future__ import annotations

import json
import sys

import click

from lagwatch.sources import registry


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
            }
        )
    return report


@click.command("sources")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(as_json: bool) -> None:
    """List the data sources available on this machine and the metrics each gives."""
    report = source_report()
    if as_json:
        out = {"platform": sys.platform, "root": registry.is_root(), "sources": report}
        click.echo(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold")
    for col in ("SOURCE", "STATUS", "ROOT", "METRICS", "NOTES"):
        table.add_column(col)
    for s in report:
        status = "[green]available[/]" if s["available"] else "[red]unavailable[/]"
        notes = s["description"] if s["available"] else f"{s['reason']}"
        table.add_row(
            s["name"], status, "yes" if s["needs_root"] else "no", ", ".join(s["metrics"]), notes
        )
    console = Console()
    console.print(table)
    if not registry.is_root():
        console.print("Not running as root: other users' processes are shown as restricted.")
