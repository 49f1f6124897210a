"""多网合一: compare another department's grid layer with the base grids.

Every departmental grid is matched to the base grids it overlaps (metric areas):

- ``match``     — one base grid, intersection over union ≥ ``match_iou``;
- ``inside``    — ≥ ``inside_share`` of it lies in one base grid (can be merged into it);
- ``covers``    — it holds several whole base grids (a coarser grid);
- ``conflict``  — it cuts across base-grid boundaries (parts in several, none whole);
- ``outside``   — less than ``inside_share`` of it lies in any base grid.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidInput


class LayerOverlay:
    """Overlay a departmental grid layer on the base grids (both metric).

    Parameters
    ----------
    match_iou : float
    inside_share : float
    min_share : float
        Overlaps below this share of both polygons are ignored (digitising slivers).

    Attributes
    ----------
    features_ : DataFrame
        One row per departmental grid: ``status``, ``best_base``, ``iou``,
        ``share_in_base``, ``base_grids`` (codes touched).
    base_ : DataFrame
        Per base grid: departmental grids overlapping it.
    summary_ : dict
    """

    def __init__(self, match_iou: float = 0.8, inside_share: float = 0.95, min_share: float = 0.02):
        self.match_iou = match_iou
        self.inside_share = inside_share
        self.min_share = min_share

    def fit(
        self,
        other: gpd.GeoDataFrame,
        base: gpd.GeoDataFrame,
        other_key: str = "key",
        base_key: str = "code",
    ) -> LayerOverlay:
        """Compare ``other`` (column ``other_key``) with ``base`` (column ``base_key``)."""
        og, bg = other.geometry.values, base.geometry.values
        oa, ba = shapely.area(og), shapely.area(bg)
        tree = shapely.STRtree(bg)
        oi, bi = tree.query(og, predicate="intersects") if len(og) and len(bg) else ([], [])
        oi, bi = np.asarray(oi, dtype=int), np.asarray(bi, dtype=int)
        inter = shapely.area(shapely.intersection(og[oi], bg[bi])) if len(oi) else np.zeros(0)
        keep = (inter > self.min_share * oa[oi]) | (inter > self.min_share * ba[bi])
        pairs = pd.DataFrame({"o": oi[keep], "b": bi[keep], "inter": inter[keep]})
        rows = [
            self._classify(i, pairs[pairs["o"] == i], oa[i], ba, base[base_key].values)
            for i in range(len(og))
        ]
        self.features_ = pd.DataFrame(rows, index=other.index)
        self.features_.insert(0, "key", other[other_key].values)
        per_base = pairs.groupby("b")["o"].nunique()
        self.base_ = pd.DataFrame(
            {
                "code": base[base_key].values,
                "department_grids": per_base.reindex(range(len(bg))).fillna(0).astype(int).values,
            }
        )
        union = shapely.union_all(bg) if len(bg) else shapely.Polygon()
        covered = shapely.area(shapely.intersection(og, union)).sum() if len(og) else 0.0
        counts = self.features_["status"].value_counts().to_dict() if len(og) else {}
        self.summary_ = {
            "department_grids": int(len(og)),
            "base_grids": int(len(bg)),
            "by_status": {
                k: int(counts.get(k, 0))
                for k in ("match", "inside", "covers", "conflict", "outside")
            },
            "area_share_in_base": float(covered / oa.sum()) if len(og) and oa.sum() > 0 else 0.0,
            "base_grids_untouched": int((self.base_["department_grids"] == 0).sum()),
        }
        return self

    def _classify(self, i, p, area, base_area, codes) -> dict:
        if p.empty or area <= 0:
            return {
                "status": "outside",
                "best_base": None,
                "iou": 0.0,
                "share_in_base": 0.0,
                "base_grids": [],
            }
        share = p["inter"].to_numpy() / area
        base_share = p["inter"].to_numpy() / base_area[p["b"].to_numpy()]
        j = int(np.argmax(share))
        b = int(p["b"].iloc[j])
        iou = float(p["inter"].iloc[j] / (area + base_area[b] - p["inter"].iloc[j]))
        whole = base_share >= self.inside_share
        if iou >= self.match_iou:
            status = "match"
        elif share[j] >= self.inside_share:
            status = "inside"
        elif share.sum() < self.inside_share:
            status = "outside"
        elif whole.sum() >= 2 and share[whole].sum() >= self.inside_share - 1e-9:
            status = "covers"
        else:
            status = "conflict"
        return {
            "status": status,
            "best_base": codes[b],
            "iou": round(iou, 6),
            "share_in_base": round(float(share.sum()), 6),
            "base_grids": [codes[int(x)] for x in p["b"]],
        }


def read_layer(source, key: str | None = None) -> gpd.GeoDataFrame:
    """A departmental layer from a file path or a GeoJSON dict, in EPSG:4326, with ``key``."""
    try:
        if isinstance(source, dict):
            gdf = gpd.GeoDataFrame.from_features(source.get("features", []), crs=4326)
        else:
            gdf = gpd.read_file(source)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise InvalidInput(f"cannot read the departmental layer: {exc}") from exc
    if gdf.empty:
        raise InvalidInput("the departmental layer has no features")
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    gdf = gdf.to_crs(4326)
    gdf = gdf[gdf.geometry.notna() & gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if gdf.empty:
        raise InvalidInput("the departmental layer has no polygons")
    gdf = gdf.copy()
    gdf["geometry"] = shapely.make_valid(gdf.geometry.values)
    col = key or next((c for c in ("code", "name", "id") if c in gdf.columns), None)
    if key and key not in gdf.columns:
        raise InvalidInput(f"the departmental layer has no field {key!r}")
    gdf["key"] = gdf[col].astype(str) if col else [str(i) for i in range(len(gdf))]
    return gdf.reset_index(drop=True)
