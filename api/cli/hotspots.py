"""``onemap hotspots gi|emerging|backtest|heatmap … --out FILE``.

Results go to GeoJSON (``.geojson``/``.json``, with a ``parameters`` member) or
GeoPackage (``.gpkg``); a one-line summary goes to stdout.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import typer

from api.cli.database import open_engine
from api.cli.options import CATEGORY, FROM, RES, SOURCE, TO, K
from geo.errors import InvalidInput

app = typer.Typer(help="Hotspots (Gi* + FDR), emerging hot spots, backtests, heatmaps.",
                  no_args_is_help=True)

BBOX = typer.Option(None, "--bbox", help="lon_min,lat_min,lon_max,lat_max")
OUT = typer.Option(..., "--out", help="output file: .geojson, .json or .gpkg")


@contextmanager
def _service():
    """A hotspot service on the configured database, with a spinner while it works."""
    from rich.console import Console

    from geo.hotspots.runtime import HotspotService
    from geo.hotspots.settings import HotspotSettings
    from geo.settings import ServiceAreaSettings

    with open_engine() as engine, Console(stderr=True).status("reading incidents and computing…"):
        yield HotspotService(engine, HotspotSettings(), ServiceAreaSettings())


def _check_out(out: Path, allowed: tuple[str, ...] = (".geojson", ".json", ".gpkg")) -> str:
    suffix = out.suffix.lower()
    if suffix not in allowed:
        raise InvalidInput(f"--out must end with {', '.join(allowed)}, not {out.name!r}")
    if not out.parent.exists():
        raise InvalidInput(f"folder {out.parent} does not exist")
    return suffix


def _write(out: Path, geojson: dict, gdf_factory) -> None:
    import orjson

    if out.suffix.lower() == ".gpkg":
        gdf_factory().to_file(out, driver="GPKG", layer=out.stem)
    else:
        out.write_bytes(orjson.dumps(geojson))


@app.command("gi")
def gi(out: Path = OUT, res: int = RES, k: int = K, from_: str = FROM, to: str = TO,
       category: str = CATEGORY, source: str = SOURCE, bbox: str = BBOX,
       alpha: float = typer.Option(None, "--alpha", help="FDR level of the 95 % bin (0.05)"),
       significant_only: bool = typer.Option(False, "--significant-only")) -> None:
    """Gi* hot/cold spots with Benjamini–Hochberg bins (±3/±2/±1 = 99/95/90 %)."""
    from geo.hotspots import analyses
    from geo.hotspots.params import hotspot_query
    from geo.hotspots.results import to_geodataframe

    _check_out(out)
    with _service() as svc:
        r = analyses.hotspots(svc, hotspot_query(svc.settings, res, k, alpha, from_, to,
                                                 category, source, bbox))
        frame = r.frame()
        rows = np.flatnonzero(frame["bin"] != 0) if significant_only else np.arange(len(frame))
        _write(out, r.geojson(significant_only),
               lambda: to_geodataframe(r.study, frame.iloc[rows], rows))
    p = r.parameters
    typer.echo(f"{len(rows)} cells at res {p['res']} (k={p['k']}, alpha={p['alpha']}) "
               f"from {p['incidents']} incidents; {r.summary()} → {out}")


@app.command("emerging")
def emerging(out: Path = OUT, res: int = RES, k: int = K, from_: str = FROM, to: str = TO,
             step: str = typer.Option("week", "--step", help="week or month"),
             category: str = CATEGORY, source: str = SOURCE, bbox: str = BBOX,
             time_window: int = typer.Option(None, "--time-window",
                                             help="previous steps in the neighbourhood (1)"),
             pattern_only: bool = typer.Option(False, "--pattern-only")) -> None:
    """Emerging hot spots (ArcGIS categories) over weekly or monthly steps."""
    from geo.hotspots import analyses
    from geo.hotspots.params import emerging_query
    from geo.hotspots.results import to_geodataframe

    _check_out(out)
    with _service() as svc:
        r = analyses.emerging(svc, emerging_query(svc.settings, res, k, step, from_, to,
                                                  category, source, bbox, time_window))
        frame = r.frame()
        rows = (np.flatnonzero(frame["category"] != "none") if pattern_only
                else np.arange(len(frame)))
        _write(out, r.geojson(pattern_only),
               lambda: to_geodataframe(r.study, frame.iloc[rows], rows))
    p = r.parameters
    typer.echo(f"{len(rows)} cells, {p['steps']} {p['step']}s {p['from']} → {p['to']}, "
               f"{p['incidents']} incidents; {r.summary()} → {out}")


@app.command("backtest")
def backtest(out: Path = OUT, train_from: str = typer.Option(..., "--train-from"),
             train_to: str = typer.Option(..., "--train-to"),
             test_from: str = typer.Option(..., "--test-from"),
             test_to: str = typer.Option(..., "--test-to"), res: int = RES, k: int = K,
             top: float = typer.Option(0.05, "--top", help="share of cells taken as hotspots"),
             method: str = typer.Option("gi", "--method", help="gi or count"),
             category: str = CATEGORY, source: str = SOURCE, bbox: str = BBOX) -> None:
    """Score training-window hotspots on a test window: hit rate, PAI, RRI."""
    import orjson

    from geo.hotspots import analyses
    from geo.hotspots.params import backtest_query
    from geo.hotspots.results import feature_collection, to_geodataframe

    suffix = _check_out(out)
    with _service() as svc:
        r = analyses.backtest(svc, backtest_query(svc.settings, res, k, train_from, train_to,
                                                  test_from, test_to, top, method, category,
                                                  source, bbox))
        body = r.to_dict()
        if suffix == ".json":
            out.write_bytes(orjson.dumps(body))
        else:
            cells = r.frame()
            fc = feature_collection(r.study, cells, r.parameters, r.rows, scores=r.scores)
            _write(out, fc, lambda: to_geodataframe(r.study, cells, r.rows))
    typer.echo(f"hit rate {r.scores['hit_rate']:.3f}, PAI {r.scores['pai']:.2f}, "
               f"RRI {r.scores['rri'] if r.scores['rri'] is None else round(r.scores['rri'], 3)}"
               f" on {r.scores['hotspot_cells']} cells → {out}")


@app.command("heatmap")
def heatmap(out: Path = OUT, bandwidth_m: float = typer.Option(None, "--bandwidth-m"),
            res: int = typer.Option(None, "--res", help="output H3 resolution (from bandwidth)"),
            from_: str = FROM, to: str = TO, category: str = CATEGORY, source: str = SOURCE,
            bbox: str = BBOX) -> None:
    """Quartic kernel density; .json = Leaflet.heat points, .geojson/.gpkg = cells."""
    import orjson

    from geo.hotspots import analyses
    from geo.hotspots.params import heatmap_query

    suffix = _check_out(out)
    with _service() as svc:
        r = analyses.heatmap(svc, heatmap_query(svc.settings, bandwidth_m, res, from_, to,
                                                category, source, bbox))
        if suffix == ".json":
            out.write_bytes(orjson.dumps(r.to_dict()))
        else:
            _write(out, r.geojson(), lambda: _heat_gdf(r))
    p = r.parameters
    typer.echo(f"{p['points']} cells at res {p['res']}, bandwidth {p['bandwidth_m']} m, "
               f"{p['incidents']} incidents → {out}")


def _heat_gdf(r):
    import geopandas as gpd
    import shapely

    from geo.hotspots.cells import boundaries

    polys = [shapely.Polygon(ring) for ring in boundaries(r.cells)]
    return gpd.GeoDataFrame(r.frame(), geometry=polys, crs=4326)
