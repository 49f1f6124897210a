"""FastAPI dependencies for the query parameters every route shares.

One dependency per parameter kind, each a thin wrapper over the pure parser of the
same kind in :mod:`geo.params` (which domain code and the CLI call directly). Bad
values raise ``InvalidInput`` → 400 ``{"detail", "code": "invalid_input"}``. A time
without an offset is local time (``ONEMAP_LOCAL_TIMEZONE``, held by the app state).

Use them as ``Annotated`` types in a route signature::

    from api.params import BboxDep, IncidentFilterDep, ResDep

    @router.get("/things")
    def things(bbox: BboxDep, f: IncidentFilterDep, res: ResDep = None): ...

========================  ============================================  ====================
dependency                query parameters                              value
========================  ============================================  ====================
``BboxDep``               ``bbox``                                      ``Bbox | None``
``WindowDep``             ``from``, ``to`` (naive = local; date ``to``  ``TimeWindow``
                          = end of that day)
``CategoriesDep``         ``category`` (comma-separated)                ``tuple[str, ...]``
``SourcesDep``            ``source`` (comma-separated)                  ``tuple[str, ...]``
``ResDep``                ``res`` (H3 6..12)                            ``int | None``
``IncidentFilterDep``     all of the above but ``res``                  ``IncidentFilter``
``LocalZoneDep``          (none: the local zone name)                   ``str``
========================  ============================================  ====================

Free text (names, notes, codes) goes through :func:`geo.params.check_text`; ids
through :func:`geo.params.parse_id`. Request bodies use the pydantic types ``Text``
(no NUL or control characters, documented as a pattern), ``Id`` (1..2^63-1) and
``Seed`` (0..2^32-1). :func:`query_text` runs for every route (``create_app``): no
query or path parameter holding a NUL reaches a route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import Field

from geo.params import (
    BIGINT_MAX,
    CATEGORIES,
    SOURCES,
    TEXT_PATTERN,
    Bbox,
    TimeWindow,
    check_text,
    parse_bbox,
    parse_choices,
    parse_res,
    parse_window,
)

Text = Annotated[str, Field(pattern=TEXT_PATTERN)]
Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


def query_text(request: Request) -> None:
    """Refuse NUL and control characters in any query or path parameter (400)."""
    for name, value in request.query_params.multi_items():
        check_text(name, "a query parameter name", max_len=200)
        check_text(value, name, max_len=100_000)
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(value, name)


def local_zone(request: Request) -> str:
    """The service's local time zone (``ONEMAP_LOCAL_TIMEZONE``)."""
    return request.app.state.onemap.time.local_timezone


LocalZoneDep = Annotated[str, Depends(local_zone)]


def bbox_param(bbox: Annotated[str | None, Query(
        description="lon_min,lat_min,lon_max,lat_max in degrees (WGS 84)")] = None
) -> Bbox | None:
    """``bbox`` → checked tuple or None."""
    return parse_bbox(bbox)


def window_param(tz: LocalZoneDep,
                 from_: Annotated[str | None, Query(
                     alias="from", description="ISO 8601 start, inclusive; without an offset "
                                               "it is local time")] = None,
                 to: Annotated[str | None, Query(
                     description="ISO 8601 end, exclusive; a date means the end of that "
                                 "day")] = None) -> TimeWindow:
    """``from``/``to`` → :class:`~geo.params.TimeWindow`."""
    return parse_window(from_, to, tz=tz)


def categories_param(category: Annotated[str | None, Query(
        description=f"comma-separated, of: {', '.join(CATEGORIES)}")] = None
) -> tuple[str, ...]:
    """``category`` → sorted tuple (empty = all)."""
    return parse_choices(category, CATEGORIES, "category")


def sources_param(source: Annotated[str | None, Query(
        description=f"comma-separated, of: {', '.join(SOURCES)}")] = None
) -> tuple[str, ...]:
    """``source`` → sorted tuple (empty = all)."""
    return parse_choices(source, SOURCES, "source")


def res_param(res: Annotated[int | None, Query(description="H3 resolution 6..12")] = None
              ) -> int | None:
    """``res`` → an offered H3 resolution or None."""
    return parse_res(res)


BboxDep = Annotated[Bbox | None, Depends(bbox_param)]
WindowDep = Annotated[TimeWindow, Depends(window_param)]
CategoriesDep = Annotated[tuple[str, ...], Depends(categories_param)]
SourcesDep = Annotated[tuple[str, ...], Depends(sources_param)]
ResDep = Annotated[int | None, Depends(res_param)]


@dataclass(frozen=True)
class IncidentFilter:
    """Which incidents a request is about: bbox, window, categories, sources."""

    bbox: Bbox | None
    window: TimeWindow
    categories: tuple[str, ...]
    sources: tuple[str, ...]


def incident_filter(bbox: BboxDep, window: WindowDep, categories: CategoriesDep,
                    sources: SourcesDep) -> IncidentFilter:
    """The four incident filters in one value."""
    return IncidentFilter(bbox, window, categories, sources)


IncidentFilterDep = Annotated[IncidentFilter, Depends(incident_filter)]
