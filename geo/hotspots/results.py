"""Results of the hotspot analyses and their output forms.

DataFrame, GeoJSON, GeoDataFrame for GeoPackage files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.codings import compress
from geo.hotspots.cells import boundaries, to_str
from geo.hotspots.encode import coded_pieces, encode_collection, number_pieces, text_pieces
from geo.hotspots.fdr import class_labels
from geo.hotspots.study import Study


class Encoded:
    """Caches the bodies a result was sent as, per variant and content coding.

    Only what was sent is kept (for a browser, the compressed body alone: about a
    ninth of the JSON); another coding of the same variant serialises again.
    """

    def encoded(self, variant: str, make_body, coding: str | None = None) -> bytes:
        """JSON bytes of ``make_body()`` for ``variant``, in ``coding`` when given.

        ``coding`` is a content coding of ``geo.codings`` (zstd, br, gzip).
        """
        import orjson

        cache = self.__dict__.setdefault("_encoded", {})
        key = (variant, coding)
        if key not in cache:
            body = make_body()
            body = body if isinstance(body, bytes) else orjson.dumps(body)
            cache[key] = body if coding is None else compress(body, coding)
        return cache[key]


def _clean(v):
    """Numpy scalars → Python; NaN → None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def cell_features(study: Study, rows: np.ndarray, frame: pd.DataFrame) -> list[dict]:
    """GeoJSON features of study rows with ``frame``'s columns as properties."""
    rings = study.rings()
    columns = list(frame.columns)
    values = [frame[c].tolist() for c in columns]
    out = []
    for j, i in enumerate(rows.tolist()):
        props = {c: _clean(v[j]) for c, v in zip(columns, values, strict=True)}
        out.append({"type": "Feature", "id": props.get("h3"), "properties": props,
                    "geometry": {"type": "Polygon", "coordinates": [rings[i]]}})
    return out


def feature_collection(study: Study, frame: pd.DataFrame, parameters: dict,
                       rows: np.ndarray | None = None, **extra) -> dict:
    """A GeoJSON FeatureCollection with ``parameters`` as a foreign member."""
    if rows is None:
        rows = np.arange(len(frame))
    sub = frame.iloc[rows] if len(rows) != len(frame) else frame
    return {"type": "FeatureCollection", "parameters": parameters, **extra,
            "features": cell_features(study, rows, sub)}


def to_geodataframe(study: Study, frame: pd.DataFrame, rows: np.ndarray | None = None):
    """The frame with cell polygons (EPSG:4326), for writing files.

    ``rows`` gives the study row of each frame row (default: the same order).
    """
    import geopandas as gpd
    import shapely

    rings = study.rings()
    rows = np.arange(len(frame)) if rows is None else np.asarray(rows)
    polys = [shapely.Polygon(rings[i]) for i in rows.tolist()]
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=polys, crs=4326)


@dataclass
class HotspotResult(Encoded):
    """Gi* per study cell."""

    study: Study
    counts: np.ndarray
    z: np.ndarray
    p: np.ndarray
    bins: np.ndarray
    classes: np.ndarray
    parameters: dict
    _frame: pd.DataFrame | None = field(default=None, repr=False)

    def frame(self) -> pd.DataFrame:
        """Columns h3, count, gi_z, p_value, bin, class (one row per study cell)."""
        if self._frame is None:
            self._frame = pd.DataFrame({
                "h3": self.study.ids().tolist(), "count": self.counts.astype(np.int64),
                "gi_z": self.z, "p_value": self.p, "bin": self.bins.astype(np.int64),
                "class": self.classes.astype(str)})
        return self._frame

    def summary(self) -> dict:
        """Cells per class."""
        per_bin = np.bincount(self.bins.astype(np.int64) + 3, minlength=7)
        names = class_labels(np.arange(-3, 4), self.parameters.get("alpha", 0.05))
        return {str(k): int(v) for k, v in sorted(zip(names, per_bin, strict=True)) if v}

    def geojson(self, significant_only: bool = False) -> dict:
        """FeatureCollection of the cells (all, or only those with bin ≠ 0)."""
        rows = np.flatnonzero(self.bins != 0) if significant_only else None
        return feature_collection(self.study, self.frame(), self.parameters, rows,
                                  summary=self.summary())

    def geojson_bytes(self, significant_only: bool = False) -> bytes:
        """The same FeatureCollection serialised directly (fast path of the API)."""
        rows = np.flatnonzero(self.bins != 0) if significant_only else np.arange(len(self.bins))
        names = class_labels(np.arange(-3, 4), self.parameters.get("alpha", 0.05))
        bin_class = [b',"bin":%d,"class":"%s"' % (b, c.encode())
                     for b, c in zip(range(-3, 4), names, strict=True)]
        columns = [number_pieces("count", self.counts[rows]),
                   number_pieces("gi_z", self.z[rows]),
                   number_pieces("p_value", self.p[rows]),
                   coded_pieces(bin_class, self.bins[rows].astype(np.intp) + 3)]
        return encode_collection(self.study.heads(), rows, columns,
                                 parameters=self.parameters, summary=self.summary())


@dataclass
class EmergingResult(Encoded):
    """Emerging hot spot category per study cell."""

    study: Study
    counts: np.ndarray
    category: np.ndarray
    trend_z: np.ndarray
    trend_p: np.ndarray
    hot_steps: np.ndarray
    cold_steps: np.ndarray
    last_z: np.ndarray
    parameters: dict
    _frame: pd.DataFrame | None = field(default=None, repr=False)

    def frame(self) -> pd.DataFrame:
        """Columns h3, category, trend_z, trend_p, count, hot_steps, cold_steps, last_z."""
        if self._frame is None:
            self._frame = pd.DataFrame({
                "h3": self.study.ids().tolist(), "category": self.category.astype(str),
                "trend_z": self.trend_z, "trend_p": self.trend_p,
                "count": self.counts.astype(np.int64), "hot_steps": self.hot_steps,
                "cold_steps": self.cold_steps, "last_z": self.last_z})
        return self._frame

    def summary(self) -> dict:
        """Cells per category."""
        names, counts = np.unique(self.category.astype(str), return_counts=True)
        return dict(zip(names.tolist(), counts.tolist(), strict=True))

    def geojson(self, pattern_only: bool = False) -> dict:
        """FeatureCollection of the cells (all, or only those with a pattern)."""
        rows = np.flatnonzero(self.category != "none") if pattern_only else None
        return feature_collection(self.study, self.frame(), self.parameters, rows,
                                  summary=self.summary())

    def geojson_bytes(self, pattern_only: bool = False) -> bytes:
        """The same FeatureCollection serialised directly (fast path of the API)."""
        n = len(self.category)
        rows = np.flatnonzero(self.category != "none") if pattern_only else np.arange(n)
        columns = [text_pieces("category", self.category[rows])] + [
            number_pieces(name, a[rows]) for name, a in (
                ("trend_z", self.trend_z), ("trend_p", self.trend_p), ("count", self.counts),
                ("hot_steps", self.hot_steps), ("cold_steps", self.cold_steps),
                ("last_z", self.last_z))]
        return encode_collection(self.study.heads(), rows, columns,
                                 parameters=self.parameters, summary=self.summary())


@dataclass
class BacktestResult(Encoded):
    """Hit rate, PAI and RRI of training hotspots on a test window."""

    study: Study
    rows: np.ndarray
    train: np.ndarray
    test: np.ndarray
    z: np.ndarray
    scores: dict
    parameters: dict

    def frame(self) -> pd.DataFrame:
        """The hotspot cells: h3, rank, train_count, test_count, train_gi_z."""
        return pd.DataFrame({
            "h3": self.study.ids()[self.rows].tolist(), "rank": np.arange(1, len(self.rows) + 1),
            "train_count": self.train[self.rows].astype(np.int64),
            "test_count": self.test[self.rows].astype(np.int64), "train_gi_z": self.z[self.rows]})

    def to_dict(self) -> dict:
        """JSON body: scores, the hotspot cells, parameters."""
        cells = [{k: _clean(v) for k, v in row.items()}
                 for row in self.frame().to_dict(orient="records")]
        return {**self.scores, "cells": cells, "parameters": self.parameters}


@dataclass
class HeatmapResult(Encoded):
    """Quartic kernel density on H3 cell centres."""

    cells: np.ndarray
    lonlat: np.ndarray
    density: np.ndarray
    parameters: dict

    def points(self, digits: int = 6) -> list[list[float]]:
        """``[[lat, lon, density], ...]`` for Leaflet.heat."""
        return [[round(lat, digits), round(lon, digits), round(float(d), 4)]
                for (lon, lat), d in zip(self.lonlat.tolist(), self.density, strict=True)]

    def frame(self) -> pd.DataFrame:
        """Columns h3, lon, lat, density (incidents per km²)."""
        return pd.DataFrame({"h3": to_str(self.cells), "lon": self.lonlat[:, 0],
                             "lat": self.lonlat[:, 1], "density": self.density})

    def geojson(self) -> dict:
        """FeatureCollection of the cells with their density."""
        frame = self.frame()
        feats = [{"type": "Feature", "id": h, "properties": {"h3": h, "density": round(d, 4)},
                  "geometry": {"type": "Polygon", "coordinates": [ring]}}
                 for h, d, ring in zip(frame["h3"], frame["density"].tolist(),
                                       boundaries(self.cells), strict=True)]
        return {"type": "FeatureCollection", "parameters": self.parameters, "features": feats}

    def to_dict(self) -> dict:
        """JSON body: points for Leaflet.heat, their maximum, parameters."""
        return {"type": "heatmap", "max": float(self.density.max()) if len(self.density) else 0.0,
                "unit": "incidents/km²", "points": self.points(), "parameters": self.parameters}
