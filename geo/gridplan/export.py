"""Export a plan: grid polygons to GeoPackage / GeoJSON / Shapefile, building → grid to CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
from sqlalchemy import Engine, text

from geo.errors import InvalidInput
from geo.gridplan import store
from geo.gridplan.settings import GridPlanSettings, band

FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile"}
# Shapefile field names are limited to 10 characters.
SHP_NAMES = {
    "community_code": "community",
    "households": "households",
    "population": "population",
    "deviation": "deviation",
    "within_band": "in_band",
}


def export_grids(
    engine: Engine, plan_id: int, path: Path, settings: GridPlanSettings
) -> int:
    """Write the plan's grids (EPSG:4326) with households and band figures; returns the count."""
    path = Path(path)
    driver = FORMATS.get(path.suffix.lower())
    if driver is None:
        raise InvalidInput(
            f"unknown export format {path.suffix!r}; use one of {', '.join(FORMATS)} or .csv"
        )
    s = settings
    lo, hi = band(s.grid_target, s.grid_tolerance)
    with engine.connect() as conn:
        store.plan_row(conn, plan_id)
        grids = store.grids_frame(conn, plan_id, None)
    gdf = gpd.GeoDataFrame(
        grids.drop(columns="geometry").reset_index(drop=True),
        geometry=list(grids.geometry.values),
        crs=4326,
    )
    gdf["deviation"] = (gdf["households"] - s.grid_target) / s.grid_target
    gdf["within_band"] = ((gdf["households"] >= lo) & (gdf["households"] <= hi)).astype(int)
    gdf["locked"] = gdf["locked"].astype(int)
    if driver == "ESRI Shapefile":
        gdf = gdf.rename(columns=SHP_NAMES)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    gdf.to_file(
        path,
        driver=driver,
        layer="grids" if driver == "GPKG" else None,
        **({"encoding": "UTF-8"} if driver == "ESRI Shapefile" else {}),
    )
    return len(gdf)


def export_members(engine: Engine, plan_id: int, path: Path) -> int:
    """Write ``building_id, building_code, households, community_code, grid_code`` rows."""
    path = Path(path)
    with engine.connect() as conn:
        store.plan_row(conn, plan_id)
        rows = conn.execute(
            text("""
            SELECT b.id, b.code, b.households, b.community_code, g.code AS grid_code
              FROM buildings b
              LEFT JOIN grid_members m ON m.building_id = b.id AND m.plan_id = :p
              LEFT JOIN grids g ON g.id = m.grid_id
             ORDER BY b.id
        """),
            {"p": plan_id},
        ).all()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["building_id", "building_code", "households", "community_code", "grid_code"])
        w.writerows(rows)
    return len(rows)
