"""GeoJSON bodies → GeoDataFrame: a Feature, a FeatureCollection, or NDJSON (one Feature a line).

A feature's ``id`` becomes ``external_id`` when its properties carry none, so
systems that identify features the GeoJSON way stay idempotent.

Examples
--------
>>> body = b'{"type": "Feature", "id": 7, "properties": {"source": "110"},'
>>> body += b' "geometry": {"type": "Point", "coordinates": [118.05, 36.8]}}'
>>> frame = frame_from_geojson(body)
>>> frame["external_id"].tolist(), frame.geometry.x.tolist()
(['7'], [118.05])
"""

from __future__ import annotations

import geopandas as gpd
import orjson
import pandas as pd
import shapely

from geo.errors import InvalidInput, InvalidRows


def _features_from_json(body: bytes) -> list[dict]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON ({exc})") from None
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "Feature":
        return [doc]
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise InvalidInput("a FeatureCollection needs a 'features' list")
        return features
    raise InvalidInput(f"expected a GeoJSON Feature or FeatureCollection, got {kind!r}")


def _features_from_ndjson(body: bytes) -> list[dict]:
    features = []
    for n, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            features.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"line {n} is not valid JSON ({exc})") from None
    return features


def _geometry(feature: dict, n: int):
    geometry = feature.get("geometry")
    if geometry is None:
        return None
    try:
        return shapely.geometry.shape(geometry)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
        raise InvalidRows(f"feature {n}: geometry is not valid GeoJSON ({exc}); "
                          "nothing written") from None


def frame_from_geojson(body: bytes, *, ndjson: bool = False) -> gpd.GeoDataFrame:
    """Parse a request body into a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    body : bytes
        GeoJSON (Feature or FeatureCollection) or NDJSON.
    ndjson : bool
        Treat the body as one Feature per line.

    Raises
    ------
    InvalidInput
        When the body is not JSON or not features.
    InvalidRows
        When a feature is not a Feature or its geometry cannot be read.
    """
    features = _features_from_ndjson(body) if ndjson else _features_from_json(body)
    if not features:
        raise InvalidInput("no features in the body")
    rows, geoms = [], []
    for n, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            got = feature.get("type") if isinstance(feature, dict) else type(feature).__name__
            raise InvalidRows(f"feature {n}: expected a GeoJSON Feature, got {got!r}; "
                              "nothing written")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise InvalidRows(f"feature {n}: properties must be an object; nothing written")
        props = dict(props)
        if props.get("external_id") in (None, "") and feature.get("id") not in (None, ""):
            props["external_id"] = str(feature["id"])
        rows.append(props)
        geoms.append(_geometry(feature, n))
    # A property called "geometry" would shadow the geometry column. The index is
    # given so that features without properties still make one row each.
    table = pd.DataFrame.from_records(rows, index=pd.RangeIndex(len(rows)))
    table = table.drop(columns=["geometry"], errors="ignore")
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, index=table.index), crs=4326)
