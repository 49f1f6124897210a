"""``onemap response areas|summary|nearest|siting|refresh`` — response circles (ARCHITECTURE.md §9).

Tables go to stdout; ``--json`` prints the full answer, ``--out FILE`` writes GeoJSON.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import typer

from api.cli.coverage import _engine, _write_geojson

app = typer.Typer(help="Response circles (应急处置圈): areas, figures, dispatch, siting.",
                  no_args_is_help=True)

MODE = typer.Option("drive", "--mode", help="drive | walk")
MINUTES = typer.Option(None, "--minutes", help="breaks, e.g. 1,3,5 (default 1,3,5; walk 10)")
OUT = typer.Option(None, "--out", help="write GeoJSON here")


def _dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str)


@contextmanager
def _working(label: str):
    """A spinner on stderr while the network and reach are computed."""
    from rich.console import Console

    with Console(stderr=True).status(label):
        yield


def _context(engine, mode: str):
    from geo.response.context import check_mode, reach_context
    from geo.response.settings import ResponseSettings
    from geo.settings import ServiceAreaSettings

    with _working(f"response: routing every {check_mode(mode)} post"):
        return reach_context(engine, mode, settings=ResponseSettings(),
                             area=ServiceAreaSettings())


def _minutes(value: str | None, mode: str):
    from geo.errors import InvalidInput
    from geo.response.context import check_minutes, default_minutes
    from geo.response.settings import ResponseSettings

    items = [v for v in (value or "").split(",") if v.strip()]
    if value is not None and not items:
        raise InvalidInput("--minutes must be a comma-separated list of numbers, e.g. 1,3,5")
    return check_minutes(items or default_minutes(mode), ResponseSettings())


@app.command()
def areas(minutes: str = MINUTES, mode: str = MODE,
          overlap: str = typer.Option("dissolve", "--overlap", help="dissolve | split | overlap"),
          kind: str = typer.Option(None, "--kind", help="post kinds, comma-separated"),
          posts: str = typer.Option(None, "--posts", help="post codes, comma-separated"),
          out: Path = OUT) -> None:
    """Areas reached within each break, with households and population."""
    from rich.console import Console
    from rich.table import Table

    from geo.response.areas import check_overlap, response_areas
    from geo.response.context import check_mode, filter_posts

    check_mode(mode)
    check_overlap(overlap)
    mins = _minutes(minutes, mode)
    with _engine() as engine:
        ctx = filter_posts(_context(engine, mode),
                           kinds=[k for k in (kind or "").split(",") if k],
                           codes=[c for c in (posts or "").split(",") if c])
        fc = response_areas(ctx, mins, overlap)
    if out is not None:
        _write_geojson(out, fc)
    table = Table(title=f"response areas ({mode}, {overlap}, {len(ctx.posts)} posts)")
    for col in ("post", "minutes", "households", "population", "area m²"):
        table.add_column(col, justify="right")
    for f in fc["features"]:
        p = f["properties"]
        table.add_row(str(p["post"] or "all"), f"{p['minutes']:g}", f"{p['households']:,}",
                      f"{p['population']:,}", f"{p['area_m2']:,.0f}")
    Console().print(table)


@app.command()
def summary(level: str = typer.Option("city", "--level",
                                      help="city|district|street|community|grid"),
            minutes: str = MINUTES, mode: str = MODE,
            as_json: bool = typer.Option(False, "--json", help="print the full JSON")) -> None:
    """Households, population, key places and incidents reached per unit; the unreached."""
    from rich.console import Console
    from rich.table import Table

    from geo.response.context import check_mode
    from geo.response.summary import response_summary

    check_mode(mode)
    mins = _minutes(minutes, mode)
    with _engine() as engine:
        ctx = _context(engine, mode)
        with engine.connect() as conn:
            out = response_summary(ctx, conn, level, mins)
    if as_json:
        typer.echo(_dump(out))
        return
    table = Table(title=f"households reached by {level} ({mode})")
    table.add_column("unit")
    table.add_column("name")
    table.add_column("households", justify="right")
    for m in mins:
        table.add_column(f"≤ {m:g} min", justify="right")
    for u in out["units"]:
        shares = [u["reached"][f"{m:g}"]["household_share"] for m in mins]
        table.add_row(u["code"], u["name"], f"{u['households']:,}",
                      *["–" if s is None else f"{100 * s:.1f}%" for s in shares])
    console = Console()
    console.print(table)
    units = [f["properties"] for f in out["unreached"]["features"]
             if f["properties"]["kind"] == "unit"]
    for p in units[:10]:
        console.print(f"unreached within {p['minutes']:g} min: {p['code']} {p['name']} — "
                      f"{p['households_unreached']:,} households "
                      f"({100 * p['share_unreached']:.0f}%)")


@app.command()
def nearest(lon: float = typer.Option(..., "--lon"), lat: float = typer.Option(..., "--lat"),
            k: int = typer.Option(3, "--k", min=1, max=100), mode: str = MODE,
            out: Path = OUT) -> None:
    """The k fastest posts to a point, with seconds, metres and the route."""
    from geo.response.nearest import nearest_posts

    with _engine() as engine:
        fc = nearest_posts(_context(engine, mode), lon, lat, k)
    if out is not None:
        _write_geojson(out, fc)
    for f in fc["features"]:
        p = f["properties"]
        typer.echo(f"{p['rank']}. {p['code']} {p['post']} ({p['kind']}): "
                   f"{p['seconds']:.0f} s, {p['metres']:.0f} m")


@app.command()
def siting(k: int = typer.Option(..., "--k", min=1, max=200),
           minutes: float = typer.Option(5.0, "--minutes"),
           weight: str = typer.Option("households", "--weight",
                                      help="households | incidents | key_places"),
           mode: str = MODE,
           method: str = typer.Option("auto", "--method", help="auto | greedy | exact"),
           out: Path = OUT) -> None:
    """Where k new posts reach the most within a break (existing posts fixed)."""
    from geo.response.context import check_minutes, check_mode, reach_context
    from geo.response.settings import ResponseSettings
    from geo.response.siting import site_posts
    from geo.settings import ServiceAreaSettings

    check_mode(mode)
    settings = ResponseSettings()
    (m,) = check_minutes([minutes], settings)
    with _engine() as engine:
        with _working("response: siting"):
            ctx = reach_context(engine, mode, settings=settings, area=ServiceAreaSettings(),
                                require_posts=False)
            fc = site_posts(ctx, k, m, weight, method)
    if out is not None:
        _write_geojson(out, fc)
    for c in fc["curve"]:
        share = "–" if c["share"] is None else f"{100 * c['share']:.1f}%"
        typer.echo(f"{c['posts']} new posts: {c['reached']:,.0f} {weight} ({share})")


@app.command()
def refresh() -> None:
    """Rebuild the network if roads or its speeds changed; recompute the stored response areas."""
    from geo.response.settings import ResponseSettings
    from geo.response.store import refresh_areas
    from geo.settings import ServiceAreaSettings

    with _engine() as engine, _working("response: areas"):
        n = refresh_areas(engine, ResponseSettings(), ServiceAreaSettings())
    typer.echo(f"{n} response areas stored")
