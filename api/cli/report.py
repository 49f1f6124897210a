"""``onemap report --period 2026-10 --out report.html|.pdf``: the periodic 平安 report."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.coverage import _engine


def command(period: str = typer.Option(..., "--period", help="2026-10 or 2026-W44"),
            out: Path = typer.Option(..., "--out", help="report.html or report.pdf")) -> None:
    """Write the printable report of a period (HTML, or PDF by headless Chromium)."""
    from geo.cases.answers import CaseService
    from geo.cases.report import write_report
    from geo.cases.settings import CaseSettings, IndexSettings
    from geo.coverage.settings import CoverageSettings
    from geo.hotspots.runtime import HotspotService
    from geo.hotspots.settings import HotspotSettings
    from geo.response.settings import ResponseSettings
    from geo.settings import ServiceAreaSettings

    area = ServiceAreaSettings()
    cases = CaseService.from_settings(CaseSettings(), IndexSettings(), CoverageSettings(),
                                      ResponseSettings(), area)
    with _engine() as engine:
        hotspots = HotspotService(engine, HotspotSettings(), area)
        path = write_report(engine, period, out, cases, hotspots)
    typer.echo(f"report {period} written to {path}")
