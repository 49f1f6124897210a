"""``onemap index [--level community] [--period 2026-10]``: 平安指数 and risk levels (§10)."""

from __future__ import annotations

import orjson
import typer

from api.cli.coverage import _engine


def command(level: str = typer.Option("community", "--level",
                                      help="grid|community|street|district|city"),
            period: str = typer.Option(None, "--period",
                                       help="2026-10 or 2026-W44 (default: newest month)"),
            weights: str = typer.Option(None, "--weights",
                                        help="e.g. incidents:0.5,overdue:0.3"),
            as_json: bool = typer.Option(False, "--json", help="print the full GeoJSON")
            ) -> None:
    """平安指数 per unit (higher is safer), rank, change and 四级预警 level (stored)."""
    from rich.console import Console
    from rich.table import Table

    from geo.cases.answers import CaseService
    from geo.cases.settings import CaseSettings, IndexSettings
    from geo.coverage.settings import CoverageSettings
    from geo.response.settings import ResponseSettings
    from geo.settings import ServiceAreaSettings

    service = CaseService.from_settings(CaseSettings(), IndexSettings(), CoverageSettings(),
                                        ResponseSettings(), ServiceAreaSettings())
    with _engine() as engine:
        out = service.index(engine, level, period, weights)
    if as_json:
        typer.echo(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY).decode())
        return
    table = Table(title=f"平安指数 by {level}, {out['period']} (change since {out['previous']})")
    for col in ("rank", "unit", "name", "index", "change", "level", "received"):
        table.add_column(col)
    for f in sorted(out["features"], key=lambda f: f["properties"]["rank"]):
        p = f["properties"]
        change = "–" if p["change"] is None else f"{p['change']:+.1f}"
        table.add_row(str(p["rank"]), p["code"], p["name"], f"{p['index']:.1f}", change,
                      p["level"], str(p["received"]))
    console = Console()
    console.print(table)
    console.print(f"weights: {out['weights']}; left out: {out['left_out'] or 'nothing'}")
