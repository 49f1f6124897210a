"""What one rendering of the page needs to know.

Layers the caller may see, the initial view, the base map, the time anchor and
the text in the caller's language.

The result is plain JSON handed to ``static/map/onemap.js``; the browser decides
nothing about roles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from api.map.i18n import strings
from api.settings import ApiSettings
from geo import vocabulary
from geo.errors import InvalidInput
from geo.gridplan.settings import GridPlanSettings
from geo.widget import WIDGET

# Every overlay the page knows, in the order of the layer control.
LAYERS: tuple[str, ...] = (
    "admin_areas", "grids", "buildings", "roads", "places", "cameras", "camera_views",
    "coverage_gaps", "heatmap", "incidents", "hotspots", "emerging",
    # The topic layers of ARCHITECTURE.md §9–§10 (a widget never gets case_warnings: geo.widget).
    "posts", "response_areas", "case_warnings", "safety_index",
)
# What the full page shows when it opens (the embed shows what ``layers=`` asks for).
DEFAULT_VISIBLE: tuple[str, ...] = ("admin_areas", "grids", "cameras", "heatmap")
PLANNER_ROLES: frozenset[str] = frozenset({"admin", "planner"})
DEFAULT_WINDOW_DAYS = 30


@dataclass(frozen=True)
class EmbedRequest:
    """The query of ``/map/embed``: which layers, where, how close."""

    layers: tuple[str, ...] = DEFAULT_VISIBLE
    center: tuple[float, float] | None = None  # lon, lat
    zoom: int | None = None

    @classmethod
    def parse(cls, layers: str | None, center: str | None, zoom: int | None) -> EmbedRequest:
        """Validate ``layers=a,b``, ``center=lon,lat`` and ``zoom``."""
        names = tuple(n.strip() for n in layers.split(",") if n.strip()) if layers else ()
        unknown = [n for n in names if n not in LAYERS]
        if unknown:
            raise InvalidInput(
                f"unknown layer(s) {', '.join(unknown)}; known: {', '.join(LAYERS)}"
            )
        return cls(names or DEFAULT_VISIBLE, _parse_center(center), _check_zoom(zoom))


def _parse_center(value: str | None) -> tuple[float, float] | None:
    if not value:
        return None
    try:
        lon, lat = (float(v) for v in value.split(","))
    except ValueError:
        raise InvalidInput(f"center must be lon,lat in degrees, got {value!r}") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"center {value!r} is not a lon,lat position")
    return lon, lat


def _check_zoom(zoom: int | None) -> int | None:
    if zoom is not None and not 0 <= zoom <= 22:
        raise InvalidInput(f"zoom must be between 0 and 22, got {zoom}")
    return zoom


def allowed_layers(role: str, settings: ApiSettings) -> tuple[str, ...]:
    """The overlays ``role`` may see, in control order (a widget's per ``geo.widget``)."""
    if role != WIDGET:
        return LAYERS
    rules = settings.widget_rules()
    return tuple(n for n in LAYERS if rules.refuses("page", n) is None)


@dataclass
class PageConfig:
    """Everything the page script needs, as JSON (see :meth:`as_json`)."""

    settings: ApiSettings
    role: str
    bounds: tuple[float, float, float, float]
    anchor: datetime
    embed: EmbedRequest | None = None
    grid: GridPlanSettings = field(default_factory=GridPlanSettings)
    root_path: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def layers(self) -> tuple[str, ...]:
        """Overlays in the layer control (the embed shows only what it asked for)."""
        allowed = allowed_layers(self.role, self.settings)
        if self.embed is None:
            return allowed
        return tuple(n for n in self.embed.layers if n in allowed)

    @property
    def visible(self) -> tuple[str, ...]:
        """Overlays switched on when the page opens."""
        if self.embed is not None:
            return self.layers
        return tuple(n for n in DEFAULT_VISIBLE if n in self.layers)

    @property
    def planner(self) -> bool:
        """Whether planner controls are offered."""
        return self.embed is None and self.role in PLANNER_ROLES

    def as_json(self) -> dict:
        """The ``window.ONEMAP`` object of the page."""
        x0, y0, x1, y1 = self.bounds
        s = self.settings
        view = None
        if self.embed is not None and self.embed.center is not None:
            view = {"center": [self.embed.center[1], self.embed.center[0]],
                    "zoom": self.embed.zoom if self.embed.zoom is not None else 14}
        elif self.embed is not None and self.embed.zoom is not None:
            view = {"center": [(y0 + y1) / 2, (x0 + x1) / 2], "zoom": self.embed.zoom}
        return {
            "lang": s.language,
            "t": strings(s.language),
            "embed": self.embed is not None,
            "role": self.role,
            "planner": self.planner,
            # The summary and the analysis APIs are for readers; a widget gets tiles only.
            "summary": self.role != "widget",
            "hotspotSource": "tiles" if self.role == "widget" else "api",
            "bounds": [[y0, x0], [y1, x1]],
            "view": view,
            "layers": list(self.layers),
            "visible": list(self.visible),
            "base": {"url": s.base_map_url, "attribution": s.base_map_attribution,
                     "crs": s.base_map_crs},
            "anchor": self.anchor.isoformat(),
            "windowDays": DEFAULT_WINDOW_DAYS,
            "band": {"target": self.grid.grid_target, "tolerance": self.grid.grid_tolerance},
            "root": self.root_path,
            "vocabulary": vocabulary.as_json(),
            **self.extra,
        }
