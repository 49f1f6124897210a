"""Check and canonicalise a frame before it is written: one reason per bad row.

Shared by the file loader and the HTTP ingest. Everything is vectorised over the
whole frame; the first problem found for a row is the reason it is rejected.

Checks, in order: required columns (file-level error), geometry present and of
an allowed type, invalid polygons (repaired with ``make_valid`` when that keeps
an area, else rejected), lat/lon swapped, coordinates out of range, far outside
the service area, field types and enumerations, GB/T 28181 camera codes,
incident times, duplicates inside the frame.

Examples
--------
>>> import geopandas as gpd, shapely
>>> frame = gpd.GeoDataFrame({"class": ["一类", "D"]},
...                          geometry=[shapely.Point(118.05, 36.8)] * 2, crs=4326)
>>> from geo.io.settings import IngestSettings
>>> clean, rejects = validate_frame("cameras", frame, settings=IngestSettings(_env_file=None))
>>> list(clean["class"]), rejects["reason"].tolist()
(['A'], ["row 2: class 'D' is not one of A, B, C"])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidRows
from geo.io.settings import IngestSettings
from geo.layers import FieldSpec, LayerSpec, get_layer, parse_bool
from geo.options import option

CHINA_BBOX = (73.0, 18.0, 135.0, 54.0)
# First two digits of GB/T 2260 administrative codes (provinces).
_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45,
              46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
_OFFSET_RE = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_POLYGONAL = {"Polygon", "MultiPolygon"}


class _Reasons:
    """First reason per row, by position."""

    def __init__(self, n: int, label: str):
        self.text = np.full(n, None, dtype=object)
        self.label = label

    @property
    def bad(self) -> np.ndarray:
        return self.text != None  # noqa: E711  (element-wise)

    def flag(self, mask, message) -> None:
        """Give ``message`` (a string, or one string per flagged row) to rows in ``mask``."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        pos = np.flatnonzero(mask)
        msgs = [message] * len(pos) if isinstance(message, str) else list(message)
        fresh = self.text[pos] == None  # noqa: E711
        for p, m, f in zip(pos, msgs, fresh, strict=True):
            if f:
                self.text[p] = f"{self.label} {p + 1}: {m}"


@dataclass
class _Parsed:
    columns: dict[str, pd.Series]
    messages: list[str]
    repaired: int = 0


def validate_frame(
    layer: str,
    frame: gpd.GeoDataFrame,
    *,
    area_bbox: tuple[float, float, float, float] | None = None,
    allow_outside: bool = False,
    label: str = "row",
    settings: IngestSettings,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Validate and canonicalise ``frame`` for ``layer``.

    Parameters
    ----------
    layer : str
        Layer name (``geo.layers.LAYERS``).
    frame : geopandas.GeoDataFrame
        Rows in EPSG:4326 with canonical column names (other columns are ignored).
    area_bbox : tuple, optional
        Service area ``(lon_min, lat_min, lon_max, lat_max)``; mainland China when None.
    allow_outside : bool
        Load points far outside the service area instead of rejecting them.
    label : str
        What a row is called in messages (``row``, ``feature``).
    settings : IngestSettings
        Time zone for naive times and similar.

    Returns
    -------
    clean : geopandas.GeoDataFrame
        Good rows with typed canonical columns; ``attrs["repaired"]`` counts
        repaired geometries and ``attrs["messages"]`` holds notes.
    rejects : pandas.DataFrame
        Bad rows as given, plus a ``reason`` column ("row 3: …").

    Raises
    ------
    InvalidRows
        When a required column is missing altogether.
    """
    spec = get_layer(layer)
    _require_columns(spec, frame)
    reasons = _Reasons(len(frame), label)
    geoms, parsed = _check_geometry(spec, frame, reasons)
    _check_location(geoms, area_bbox or CHINA_BBOX, allow_outside, reasons)
    parsed.columns.update(_parse_fields(spec, frame, reasons, settings))
    if "plan_id" in frame.columns and spec.hooks.per_plan:
        parsed.columns["plan_id"] = _parse_number(frame["plan_id"], FieldSpec("plan_id", "int"),
                                                  reasons)
    if "camera_code" in spec.hooks.row_checks and "code" in parsed.columns:
        _check_camera_codes(parsed.columns["code"], reasons)
    if "incident" in spec.hooks.row_checks:
        _check_incident(parsed.columns, geoms, reasons, settings)
    _check_duplicates(spec, parsed.columns, geoms, reasons)
    return _split(frame, geoms, parsed, reasons)


def _require_columns(spec: LayerSpec, frame: gpd.GeoDataFrame) -> None:
    missing = [f for f in spec.required if f not in frame.columns]
    if missing:
        have = ", ".join(str(c) for c in frame.columns if c != frame.geometry.name) or "none"
        names = ", ".join(repr(m) for m in missing)
        raise InvalidRows(
            f"missing required field {names} for {spec.name} (the file has: {have}); "
            f"rename a column with {option('mapping')} SRC={missing[0]}"
        )


def _check_geometry(spec: LayerSpec, frame: gpd.GeoDataFrame,
                    reasons: _Reasons) -> tuple[np.ndarray, _Parsed]:
    geoms = np.asarray(frame.geometry.values, dtype=object).copy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    reasons.flag(missing, "no geometry (missing, empty or unparsable coordinates)")
    kinds = np.asarray(shapely.get_type_id(geoms))
    names = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                      "MultiLineString", "MultiPolygon", "GeometryCollection"], dtype=object)
    type_names = np.where(kinds >= 0, names[np.clip(kinds, 0, 7)], None)
    allowed = spec.allowed_types()
    wrong = ~missing & ~np.isin(type_names, list(allowed))
    want = " or ".join(spec.geometry)
    reasons.flag(wrong, [f"geometry is {t}; {spec.name} takes {want}" for t in type_names[wrong]])
    parsed = _Parsed({}, [])
    ok = ~missing & ~wrong
    invalid = ok & ~shapely.is_valid(geoms)
    if invalid.any():
        _repair(spec, geoms, invalid, type_names, reasons, parsed)
    return geoms, parsed


def _repair(spec, geoms, invalid, type_names, reasons: _Reasons, parsed: _Parsed) -> None:
    """Repair invalid polygons with make_valid; reject what cannot keep an area."""
    pos = np.flatnonzero(invalid)
    why = shapely.is_valid_reason(geoms[pos])
    polygonal = np.isin(type_names[pos], list(_POLYGONAL))
    fixed = shapely.make_valid(geoms[pos])
    for i, p in enumerate(pos):
        if not polygonal[i]:
            reasons.flag(_at(len(geoms), p), f"invalid {type_names[p]} ({why[i]})")
            continue
        parts = [g for g in shapely.get_parts(fixed[i]) if g.geom_type in _POLYGONAL and g.area > 0]
        if not parts:
            reasons.flag(_at(len(geoms), p),
                         f"invalid polygon that cannot be repaired ({why[i]}; no area left)")
            continue
        polys = [q for g in parts for q in shapely.get_parts(g)]
        geoms[p] = polys[0] if len(polys) == 1 else shapely.multipolygons(polys)
        parsed.repaired += 1
        parsed.messages.append(f"{reasons.label} {p + 1}: repaired invalid polygon ({why[i]})")


def _at(n: int, p: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[p] = True
    return mask


def _check_location(geoms: np.ndarray, bbox, allow_outside: bool, reasons: _Reasons) -> None:
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    b = shapely.bounds(geoms)
    x = (b[:, 0] + b[:, 2]) / 2
    y = (b[:, 1] + b[:, 3]) / 2
    x0, y0, x1, y1 = bbox

    def inside(u, v):
        return (u >= x0) & (u <= x1) & (v >= y0) & (v <= y1)

    with np.errstate(invalid="ignore"):
        outside = present & ~inside(x, y)
        swapped = outside & inside(y, x)
        reasons.flag(swapped, [
            f"lat/lon swapped? ({_c(a)}, {_c(o)}) is not in the service area but "
            f"({_c(o)}, {_c(a)}) is; fix the columns (lon first) and reload"
            for a, o in zip(x[swapped], y[swapped], strict=True)
        ])
        bad_range = present & ((np.abs(x) > 180) | (np.abs(y) > 90))
        reasons.flag(bad_range, f"coordinates out of range for lon/lat (wrong {option('crs')}?)")
        if allow_outside:
            return
        far = outside & ~swapped
        area = f"{_c(x0)},{_c(y0)} – {_c(x1)},{_c(y1)}"
        reasons.flag(far, [
            f"({_c(a)}, {_c(o)}) is far outside the service area ({area}); "
            f"wrong {option('crs')}, or {option('allow_outside')} to load it"
            for a, o in zip(x[far], y[far], strict=True)
        ])


def _c(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".")


def _parse_fields(spec: LayerSpec, frame, reasons: _Reasons,
                  settings: IngestSettings) -> dict[str, pd.Series]:
    out: dict[str, pd.Series] = {}
    for name, fs in spec.fields.items():
        if name not in frame.columns:
            continue
        raw = frame[name]
        if fs.kind in ("int", "float"):
            values = _parse_number(raw, fs, reasons)
        elif fs.kind == "time":
            values = _parse_time(raw, fs, reasons, settings)
        elif fs.kind == "bool":
            values = _parse_bool(raw, fs, reasons)
        else:
            values = as_text(raw)
            if fs.kind == "enum":
                values = _parse_enum(values, fs, reasons)
        empty = values.isna().to_numpy()
        if fs.required:
            reasons.flag(empty, f"{name} is empty")
        elif fs.default is not None and empty.any():
            values = values.fillna(fs.default)
        out[name] = values
    return out


def as_text(raw: pd.Series) -> pd.Series:
    """Values as stripped text (None for empty); integral floats lose their ``.0``."""
    s = raw.reset_index(drop=True)
    if pd.api.types.is_float_dtype(s):
        integral = s.notna() & (s == np.floor(s))
        out = pd.Series(None, index=s.index, dtype=object)
        out[integral] = s[integral].astype("int64").astype(str)
        rest = s.notna() & ~integral
        out[rest] = s[rest].astype(str)
        return out
    t = s.astype("string").str.strip()
    t = t.where(t != "")
    return t.astype(object).where(t.notna(), None)


def _parse_enum(values: pd.Series, fs: FieldSpec, reasons: _Reasons) -> pd.Series:
    uniques = values.dropna().unique()
    lookup = {u: fs.normalise(u) for u in uniques}
    mapped = values.map(lookup)
    bad = (values.notna() & mapped.isna()).to_numpy()
    reasons.flag(bad, [f"{fs.name} {v!r} is not one of {', '.join(fs.choices)}"
                       for v in values[bad]])
    return mapped.astype(object).where(mapped.notna(), None)


def _parse_bool(raw: pd.Series, fs: FieldSpec, reasons: _Reasons) -> pd.Series:
    values = as_text(raw) if raw.dtype != bool else raw.reset_index(drop=True).astype(object)
    lookup = {u: parse_bool(u) for u in values.dropna().unique()}
    mapped = values.map(lookup)
    bad = (values.notna() & mapped.isna()).to_numpy()
    reasons.flag(bad, [f"{fs.name} {v!r} is not true/false" for v in values[bad]])
    return mapped.astype("boolean")


def _parse_number(raw: pd.Series, fs: FieldSpec, reasons: _Reasons) -> pd.Series:
    s = raw.reset_index(drop=True)
    text = as_text(s) if not pd.api.types.is_numeric_dtype(s) else s
    num = pd.to_numeric(text, errors="coerce").astype("float64")
    given = text.notna().to_numpy()
    bad = given & num.isna().to_numpy()
    reasons.flag(bad, [f"{fs.name} {v!r} is not a number" for v in text[bad]])
    if fs.kind == "int":
        frac = (given & ~bad) & (num != np.floor(num)).to_numpy()
        reasons.flag(frac, [f"{fs.name} {v!r} is not a whole number" for v in num[frac]])
    _check_range(num, fs, reasons)
    if fs.kind == "int":
        return num.where(np.isfinite(num)).round().astype("Int64")
    return num


def _check_range(num: pd.Series, fs: FieldSpec, reasons: _Reasons) -> None:
    if fs.low is None and fs.high is None:
        return
    v = num.to_numpy()
    with np.errstate(invalid="ignore"):
        out = np.zeros(len(v), dtype=bool)
        if fs.low is not None:
            out |= (v <= fs.low) if fs.low_open else (v < fs.low)
        if fs.high is not None:
            out |= (v >= fs.high) if fs.high_open else (v > fs.high)
    out &= ~np.isnan(v)
    reasons.flag(out, [f"{fs.name} {_c(x)} is outside {fs.range_text()}" for x in v[out]])


def _parse_time(raw: pd.Series, fs: FieldSpec, reasons: _Reasons,
                settings: IngestSettings) -> pd.Series:
    """ISO 8601 of any precision → UTC timestamps in µs; times without an offset are local.

    Finer precisions (pandas writes nanoseconds) are rounded to the microsecond,
    as PostgreSQL rounds them when it reads the same text.
    """
    s = raw.reset_index(drop=True)
    tz = settings.local_timezone
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is None:
            s = s.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        return to_utc_us(s)
    text = as_text(s)
    given = text.notna()
    aware = given & text.astype("string").str.contains(_OFFSET_RE, regex=True).fillna(False)
    out = pd.Series(pd.NaT, index=s.index, dtype=UTC_US)
    if aware.any():
        out[aware] = to_utc_us(pd.to_datetime(text[aware], format="ISO8601", utc=True,
                                              errors="coerce"))
    naive = given & ~aware
    if naive.any():
        local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        if getattr(local.dt, "tz", None) is None:
            local = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        out[naive] = to_utc_us(local)
    bad = (given & out.isna()).to_numpy()
    reasons.flag(bad, [f"{fs.name} {v!r} is not an ISO 8601 time (e.g. 2024-05-01T08:30:00+08:00)"
                       for v in text[bad]])
    return out


UTC_US = "datetime64[us, UTC]"


def to_utc_us(times: pd.Series) -> pd.Series:
    """Aware timestamps of any unit (s, ms, µs, ns) → ``datetime64[us, UTC]``, rounded.

    Examples
    --------
    >>> t = pd.Series(pd.to_datetime(["2026-02-19T07:01:03.631217872+08:00"], utc=True))
    >>> str(to_utc_us(t).iloc[0])
    '2026-02-18 23:01:03.631218+00:00'
    """
    times = times.dt.tz_convert("UTC")
    if times.dt.unit == "ns":
        times = times.dt.round("us")
    return times.astype(UTC_US)


def gbt28181_problem(code: str) -> str | None:
    """Why ``code`` is not a GB/T 28181 device code, or None when it is one.

    Examples
    --------
    >>> gbt28181_problem("37030300001320000001") is None
    True
    >>> gbt28181_problem("3703030000132")
    'has 13 digits, not 20'
    """
    if not code.isdigit():
        return "has characters other than digits" if len(code) == 20 else \
            f"has {len(code)} characters, not 20 digits"
    if len(code) != 20:
        return f"has {len(code)} digits, not 20"
    if int(code[:2]) not in _PROVINCES:
        return f"starts with {code[:2]}, which is no province code (GB/T 2260)"
    return None


def _check_camera_codes(codes: pd.Series, reasons: _Reasons) -> None:
    uniques = codes.dropna().unique()
    problems = {c: gbt28181_problem(c) for c in uniques}
    why = codes.map(problems)
    bad = why.notna().to_numpy()
    reasons.flag(bad, [f"camera code {c!r} is not a GB/T 28181 code: {w}"
                       for c, w in zip(codes[bad], why[bad], strict=True)])


def _check_incident(cols: dict[str, pd.Series], geoms: np.ndarray, reasons: _Reasons,
                    settings: IngestSettings) -> None:
    occurred = cols["occurred_at"]
    limit = pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=settings.future_tolerance_s)
    future = (occurred > limit).fillna(False).to_numpy()
    reasons.flag(future, [f"occurred_at {t.isoformat()} is in the future"
                          for t in occurred[future]])
    if "resolved_at" in cols:
        before = (cols["resolved_at"] < occurred).fillna(False).to_numpy()
        reasons.flag(before, "resolved_at is before occurred_at")
    for name in ("dispatched_at", "closed_at"):  # case flow (ARCHITECTURE.md §10)
        if name in cols:
            before = (cols[name] < occurred).fillna(False).to_numpy()
            reasons.flag(before, f"{name} is before occurred_at")
    ext = cols.get("external_id")
    if ext is None:
        ext = pd.Series(None, index=occurred.index, dtype=object)
    missing = ext.isna().to_numpy() & ~reasons.bad
    if missing.any():
        ext = ext.copy()
        ext[missing] = derive_external_ids(cols["source"][missing], occurred[missing],
                                           geoms[missing], cols["category"][missing])
    cols["external_id"] = ext


def derive_external_ids(source, occurred, geoms, category) -> list[str]:
    """Deterministic ids for incidents that carry none: a hash of what identifies them."""
    x = shapely.get_x(geoms)
    y = shapely.get_y(geoms)
    keys = [f"{s}|{t.isoformat()}|{a:.7f}|{b:.7f}|{c}" for s, t, a, b, c in
            zip(source, occurred, x, y, category, strict=True)]
    return ["h" + hashlib.sha1(k.encode()).hexdigest()[:24] for k in keys]


def _check_duplicates(spec: LayerSpec, cols: dict[str, pd.Series], geoms: np.ndarray,
                      reasons: _Reasons) -> None:
    key = list(spec.key) + (["plan_id"] if "plan_id" in cols else [])
    if spec.key and all(k in cols for k in spec.key):
        keys = pd.DataFrame({k: cols[k] for k in key})
        usable = keys[list(spec.key)].notna().all(axis=1).to_numpy() & ~reasons.bad
        what = ", ".join(spec.key)
    else:
        keys = pd.DataFrame({k: v.astype(object) for k, v in cols.items()})
        keys["_geom"] = shapely.to_wkb(geoms)
        usable = ~reasons.bad
        what = "all fields and geometry"
    sub = keys[usable]
    dup = sub.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    positions = np.flatnonzero(usable)
    group = sub.groupby(list(sub.columns), dropna=False, sort=False).ngroup().to_numpy()
    first_pos = pd.Series(positions).groupby(group).transform("first").to_numpy()
    mask = np.zeros(len(geoms), dtype=bool)
    mask[positions[dup]] = True
    reasons.flag(mask, [f"duplicate of {reasons.label} {f + 1} (same {what})"
                        for f in first_pos[dup]])


def _split(frame: gpd.GeoDataFrame, geoms: np.ndarray, parsed: _Parsed,
           reasons: _Reasons) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    bad = reasons.bad
    data = {k: v.to_numpy() if not isinstance(v.dtype, pd.api.extensions.ExtensionDtype)
            else v.array for k, v in parsed.columns.items()}
    clean = gpd.GeoDataFrame(pd.DataFrame(data, index=frame.index),
                             geometry=gpd.GeoSeries(geoms, index=frame.index, crs=4326))
    clean = clean[~bad]
    clean.attrs["repaired"] = parsed.repaired
    clean.attrs["messages"] = parsed.messages
    rejects = pd.DataFrame(frame[bad]).copy()
    rejects["reason"] = reasons.text[bad]
    return clean, rejects
