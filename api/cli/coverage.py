"""``onemap coverage refresh|summary|gaps|siting``.

Tables go to stdout; ``--json`` prints the full answer instead, ``--out FILE``
writes GeoJSON (gaps, siting).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import typer

from api.cli.database import open_engine
from geo.errors import InvalidInput

app = typer.Typer(help="Camera coverage: views, figures, gaps, siting.", no_args_is_help=True)

LEVELS = "city|district|street|community|grid"
OUT = typer.Option(None, "--out", help="write GeoJSON here")
CANDIDATES = typer.Option(None, "--candidates", help="GeoJSON of candidate points (optional)")


@contextmanager
def _engine():
    """An engine on the configured database; unreachable databases are one clear line."""
    with open_engine() as engine:
        yield engine


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str)


def _write_geojson(out: Path, fc: dict) -> None:
    if out.suffix.lower() not in (".geojson", ".json"):
        raise InvalidInput(f"--out must end with .geojson or .json, not {out.name!r}")
    if not out.parent.exists():
        raise InvalidInput(f"folder {out.parent} does not exist")
    out.write_text(_dump(fc), encoding="utf-8")


@app.command()
def refresh(gaps: bool = typer.Option(True, "--gaps/--no-gaps",
                                      help="also recompute the stored gaps"),
            workers: int = typer.Option(None, "--workers", min=1, help="worker processes")) -> None:
    """Recompute every camera view (progress bar), then the gaps."""
    from geo.coverage.gapstore import refresh_gaps
    from geo.coverage.settings import CoverageSettings
    from geo.coverage.views import refresh_all
    from geo.settings import ServiceAreaSettings

    settings, area = CoverageSettings(), ServiceAreaSettings()
    if workers:
        settings = settings.model_copy(update={"workers": workers})
    with _engine() as engine:
        report = refresh_all(engine, settings, area, progress=True)
        typer.echo(report.summary())
        if gaps:
            typer.echo(f"{refresh_gaps(engine, settings, area)} gaps stored")


@app.command()
def summary(level: str = typer.Option("city", "--level", help=LEVELS),
            days: int = typer.Option(None, "--days", min=1, help="incident window (days)"),
            as_json: bool = typer.Option(False, "--json", help="print the full JSON")) -> None:
    """Coverage per unit: public area, roads, key places, H3 cells, incidents."""
    from rich.console import Console
    from rich.table import Table

    from geo.coverage.settings import CoverageSettings
    from geo.coverage.summary import summary as compute
    from geo.settings import ServiceAreaSettings

    with _engine() as engine:
        out = compute(engine, level, days=days, settings=CoverageSettings(),
                      area=ServiceAreaSettings())
    if as_json:
        typer.echo(_dump(out))
        return
    table = Table(title=f"coverage by {level} — incidents {out['window']['from']} → "
                        f"{out['window']['to']}")
    for col in ("unit", "name", "public area", "roads", "key places", "cells", "incidents"):
        table.add_column(col)
    for u in out["units"]:
        table.add_row(u["code"], u["name"], _pct(u["area_share"]), _pct(u["road_share"]),
                      f"{u['key_places_covered']}/{u['key_places']}", _pct(u["cell_share"]),
                      _pct(u["incident_share"]))
    console = Console()
    console.print(table)
    cams = out["cameras"]
    console.print(f"cameras: {cams['by_status']}; online by class {cams['online_by_class']}; "
                  f"{len(out['blocked'])} see nothing"
                  + (f": {', '.join(str(b['id']) for b in out['blocked'][:20])}"
                     if out["blocked"] else ""))


@app.command()
def gaps(limit: int = typer.Option(20, "--limit", min=1),
         min_area: float = typer.Option(None, "--min-area", min=0, help="m²"),
         bbox: str = typer.Option(None, "--bbox", help="lon_min,lat_min,lon_max,lat_max"),
         days: int = typer.Option(None, "--days", min=1, help="incident window (days)"),
         out: Path = OUT) -> None:
    """The uncovered public ground, best first."""
    from rich.console import Console
    from rich.table import Table

    from geo.coverage.gapstore import gap_features
    from geo.coverage.settings import CoverageSettings
    from geo.params import parse_bbox
    from geo.settings import ServiceAreaSettings

    with _engine() as engine:
        fc = gap_features(engine, bbox=parse_bbox(bbox), min_area=min_area, limit=limit,
                          days=days, settings=CoverageSettings(), area=ServiceAreaSettings())
    if out is not None:
        _write_geojson(out, fc)
    table = Table(title=f"top {len(fc['features'])} gaps (≥ {fc['min_area_m2']:.0f} m²)")
    for col in ("rank", "priority", "incidents", "area m²", "community", "nearest camera"):
        table.add_column(col, justify="right")
    for f in fc["features"]:
        p = f["properties"]
        near = "–" if p["nearest_camera_id"] is None else \
            f"{p['nearest_camera_id']} ({p['nearest_camera_m']:.0f} m)"
        table.add_row(str(p["rank"]), f"{p['priority']:.2f}", str(p["incidents"]),
                      f"{p['area_m2']:.0f}", str(p["community_code"] or "–"), near)
    Console().print(table)


@app.command()
def siting(k: int = typer.Option(10, "--k", min=1, max=500, help="cameras to add"),
           weight: str = typer.Option("incidents", "--weight", help="incidents|area|roads"),
           method: str = typer.Option("greedy", "--method", help="greedy|exact|auto"),
           candidates: Path = CANDIDATES,
           out: Path = OUT,
           as_json: bool = typer.Option(False, "--json", help="print the full JSON")) -> None:
    """Propose k new cameras (existing ones fixed) and the coverage curve."""
    from rich.console import Console
    from rich.table import Table

    from geo.coverage.placement import site_cameras
    from geo.coverage.settings import CoverageSettings
    from geo.settings import ServiceAreaSettings

    posted = _read_candidates(candidates) if candidates else None
    with _engine() as engine, Console(stderr=True).status("building candidates and solving…"):
        res = site_cameras(engine, k, weight, candidates=posted, method=method,
                           settings=CoverageSettings(), area=ServiceAreaSettings())
    if out is not None:
        _write_geojson(out, res["sites"])
    if as_json:
        typer.echo(_dump(res))
        return
    table = Table(title=f"{len(res['sites']['features'])} new cameras by {weight} "
                        f"({res['method']}, {res['candidates']} candidates)")
    for col in ("rank", "lon", "lat", "azimuth", "gain", "share after"):
        table.add_column(col, justify="right")
    for f in res["sites"]["features"]:
        p, (lon, lat) = f["properties"], f["geometry"]["coordinates"]
        table.add_row(str(p["rank"]), f"{lon:.6f}", f"{lat:.6f}", f"{p['azimuth']:.0f}",
                      f"{p['gain']:.1f}", _pct(p["share_after"]))
    console = Console()
    console.print(table)
    console.print(f"coverage {_pct(res['baseline']['share'])} → "
                  f"{_pct(res['curve'][-1]['share'])}"
                  + (f"; MIP gap {res['gap']:.4f} ({res['status']})" if "gap" in res else ""))


def _read_candidates(path: Path) -> list[dict]:
    """Candidate points from a GeoJSON file (properties may carry azimuth and optics)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read candidates from {path}: {exc}") from None
    feats = data.get("features", []) if isinstance(data, dict) else []
    rows = []
    for i, f in enumerate(feats):
        geom = (f or {}).get("geometry") or {}
        if geom.get("type") != "Point":
            raise InvalidInput(f"candidate {i}: geometry must be a Point")
        lon, lat = geom["coordinates"][:2]
        rows.append({"lon": lon, "lat": lat, **(f.get("properties") or {})})
    return rows
