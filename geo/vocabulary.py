"""Every closed vocabulary of the service, written once.

Incident categories and sources, statuses, camera classes and kinds, key roles and the
H3 resolutions offered. Layer specs (``geo.layers``), query parsers (``geo.params``),
the tiles, the hotspot snapshot and the map page (``api.map.config`` hands them to the
browser) import them from here; nothing else spells them out.

Examples
--------
>>> CATEGORIES[0], SOURCES[0]
('dispute', '12345')
>>> H3_RESOLUTIONS
(6, 7, 8, 9, 10, 11, 12)
"""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "dispute", "public_order", "hazard", "livelihood", "city_management", "other",
)
SOURCES: tuple[str, ...] = ("12345", "110", "grid", "petition", "other")
INCIDENT_STATUSES: tuple[str, ...] = ("received", "dispatched", "resolved", "closed")
CAMERA_STATUSES: tuple[str, ...] = ("online", "offline", "fault")
CAMERA_CLASSES: tuple[str, ...] = ("A", "B", "C")
CAMERA_KINDS: tuple[str, ...] = ("bullet", "dome", "ptz", "face", "vehicle")
ADMIN_LEVELS: tuple[str, ...] = ("district", "street", "community")
# Units figures are given for, coarsest first (grids are the active plan's).
UNIT_LEVELS: tuple[str, ...] = ("city", "district", "street", "community", "grid")
ROAD_CLASSES: tuple[str, ...] = ("arterial", "secondary", "local")
PLACE_KINDS: tuple[str, ...] = (
    "school", "hospital", "hotel", "station", "police", "market", "government", "other",
)
POST_KINDS: tuple[str, ...] = (
    "police_station", "police_post", "patrol", "fire", "medical", "grid_station", "service_centre",
)
TRAVEL_MODES: tuple[str, ...] = ("drive", "walk")
POST_STATUSES: tuple[str, ...] = ("on_duty", "off_duty")
ONEWAYS: tuple[str, ...] = ("no", "yes", "reverse")
ROLES: tuple[str, ...] = ("admin", "planner", "viewer", "widget")
# H3 resolutions the analyses and tiles offer (incidents are stored at 12).
H3_RESOLUTIONS: tuple[int, ...] = tuple(range(6, 13))


def as_json() -> dict[str, list]:
    """The vocabularies the browser needs, JSON-ready (served inside the page config)."""
    return {"categories": list(CATEGORIES), "sources": list(SOURCES),
            "statuses": list(INCIDENT_STATUSES), "cameraStatuses": list(CAMERA_STATUSES),
            "roles": list(ROLES), "h3Resolutions": list(H3_RESOLUTIONS)}
