"""What the 平安指数 needs besides the cases: households, outlines, optional components.

Optional components per unit of a level: camera coverage, response-circle reach.

Optional components are *providers*: a function ``(engine, level) → {code: share}`` or
None when the figures do not exist (no cameras, no response circles yet). A provider
that is missing or fails leaves its component out of the index (weight 0), and the
answer says so. Each provider's figures are kept per level until a layer it reads
changes (:data:`DEPENDS_ON`: the camera coverage reads cameras, views and the ground;
the response reach reads roads, posts and buildings), so a new or changed case never
recomputes them and a moved post or camera always does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from geo.versions import layer_versions

Provider = Callable[[Engine, str], "dict[str, float] | None"]

_HOUSEHOLDS = text("""
    SELECT 'grid' AS level, g.code, g.households::bigint AS households
    FROM grids AS g JOIN grid_plans AS p ON p.id = g.plan_id WHERE p.status = 'active'
    UNION ALL
    SELECT 'community', community_code, sum(households)::bigint FROM buildings
    WHERE community_code IS NOT NULL GROUP BY community_code
""")
_PARENTS = text("SELECT code, parent_code FROM admin_areas WHERE level IN ('community', 'street')")
_OUTLINES = text("""
    SELECT 'grid' AS level, g.code, ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, 0.00002), 6)
    FROM grids AS g JOIN grid_plans AS p ON p.id = g.plan_id WHERE p.status = 'active'
    UNION ALL
    SELECT level, code, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.00002), 6)
    FROM admin_areas
""")
_UNIT_LAYERS = ("admin_areas", "buildings", "grids")  # what households and outlines read


def camera_coverage(engine: Engine, level: str, *, settings, area) -> dict[str, float] | None:
    """Share of public ground seen by cameras per unit (geo.coverage), or None.

    ``settings`` (``CoverageSettings``) and ``area`` (``ServiceAreaSettings``) are those of
    :func:`geo.coverage.summary.summary`.
    """
    from geo.coverage.summary import summary

    try:
        out = summary(engine, level, settings=settings, area=area)
    except Exception:  # no cameras / views yet: the component is left out
        return None
    shares = {u["code"]: u.get("area_share") for u in out["units"]}
    shares = {k: float(v) for k, v in shares.items() if v is not None}
    return shares or None


def response_reach(engine: Engine, level: str, *, settings, area,
                   cache=None) -> dict[str, float] | None:
    """Share of households a post reaches within 5 minutes' drive (ARCHITECTURE.md §9), or None.

    None when no on-duty driving post exists (the component then weighs 0). ``cache``,
    ``settings`` and ``area`` are those of :func:`geo.response.context.reach_context`:
    given the app's response cache (kept warm by ``geo.response.warm``), the graph and
    the buildings' reach are not computed again.
    """
    from geo.errors import OnemapError
    from geo.response.context import reach_context
    from geo.response.summary import response_summary

    try:
        ctx = reach_context(engine, "drive", settings=settings, area=area, cache=cache)
        with engine.connect() as conn:
            out = response_summary(ctx, conn, level, (5.0,))
    except OnemapError:
        return None
    return {u["code"]: float(u["reached"]["5"]["household_share"]) for u in out["units"]
            if u["reached"]["5"].get("household_share") is not None} or None


#: The optional components of the index, by name.
COMPONENTS = ("cameras", "response")


def providers(coverage, response, area, cache=None) -> dict[str, Provider]:
    """The index's optional components, bound to their settings.

    ``coverage`` (``CoverageSettings``), ``response`` (``ResponseSettings``) and ``area``
    (``ServiceAreaSettings``); ``cache``: the app's response cache, kept warm by
    ``geo.response.warm``, so the graph and the buildings' reach are not computed again.
    """
    return {"cameras": partial(camera_coverage, settings=coverage, area=area),
            "response": partial(response_reach, settings=response, area=area, cache=cache)}

#: Layers each provider's figures depend on (besides the units: grids and admin areas).
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "cameras": ("camera_views", "cameras", "buildings", "waterways", "roads", "places"),
    "response": ("roads", "posts", "buildings"),
}


class UnitContext:
    """Households, outlines and provider figures per level, kept until the data change."""

    def __init__(self, providers: dict[str, Provider]):
        self.providers = providers
        self._lock = threading.Lock()
        self._key = None
        self._base: tuple | None = None
        self._extra: dict = {}

    @property
    def key(self) -> tuple | None:
        """The data versions of what is held."""
        return self._key

    def _load(self, engine: Engine) -> tuple:
        with engine.connect() as conn:
            key = tuple(layer_versions(conn, _UNIT_LAYERS).items())
            if self._base is not None and key == self._key:
                return self._base
            hh = pd.DataFrame(conn.execute(_HOUSEHOLDS).all(),
                              columns=["level", "code", "households"])
            parents = dict(conn.execute(_PARENTS).all())
            outlines = {(lv, c): g for lv, c, g in conn.execute(_OUTLINES).all()}
        households = {lv: dict(zip(g.code, g.households.astype(np.int64), strict=True))
                      for lv, g in hh.groupby("level")}
        comm = households.get("community", {})
        for level, below in (("street", comm), ("district", None)):
            src = below if below is not None else households.get("street", {})
            agg: dict[str, int] = {}
            for code, n in src.items():
                parent = parents.get(code)
                if parent is not None:
                    agg[parent] = agg.get(parent, 0) + int(n)
            households[level] = agg
        households["city"] = {"city": int(sum(comm.values()))}
        with self._lock:
            self._key, self._base, self._extra = key, (households, outlines), {}
        return self._base

    def households(self, engine: Engine, level: str) -> dict[str, int]:
        """Households per unit code of ``level``."""
        return self._load(engine)[0].get(level, {})

    def outline(self, engine: Engine, level: str, code: str) -> str | None:
        """GeoJSON geometry text of a unit (None: unknown)."""
        return self._load(engine)[1].get((level, code))

    def component(self, engine: Engine, name: str, level: str) -> dict[str, float] | None:
        """Figures of an optional component per unit (None: not available)."""
        self._load(engine)
        layers = DEPENDS_ON.get(name, ())
        with engine.connect() as conn:
            versions = tuple(layer_versions(conn, sorted(layers)).items())
        key = (name, level, versions)
        with self._lock:
            if key in self._extra:
                return self._extra[key]
        provider = self.providers.get(name)
        value = provider(engine, level) if provider is not None else None
        with self._lock:
            self._extra = {k: v for k, v in self._extra.items() if k[:2] != (name, level)}
            self._extra[key] = value
        return value

    def component_key(self, engine: Engine, names) -> tuple:
        """The versions of what the components ``names`` read (part of an answer's key)."""
        layers = sorted({layer for n in names for layer in DEPENDS_ON.get(n, ())})
        with engine.connect() as conn:
            return tuple(layer_versions(conn, layers).items())
