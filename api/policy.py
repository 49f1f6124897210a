"""The access policy: which roles may call which route.

One table, :data:`POLICY`, keyed on the HTTP method and the route's path
template (``/ogc/collections/{c}/items``; a ``*`` matches anything, so a rule
can cover one area). The first rule that matches wins; a route no rule
matches is refused (default deny), and ``tests/test_auth_policy.py`` fails
for any route of the app without a rule, so a new router must declare its roles
here, and for any rule no route of the app is decided by (a rule left behind).

Privacy for ``widget`` (public map widgets in other apps): the analysis APIs
are closed to it here; what it sees in tiles, OGC and the map page is decided by
:class:`geo.widget.WidgetRules` (incidents only as H3 counts, cameras hidden or
coarsened per ``ONEMAP_WIDGET_CAMERAS``, whole-day time windows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache

from geo.widget import WIDGET, WidgetRules

ADMIN = frozenset({"admin"})
EDITORS = frozenset({"admin", "planner"})
READERS = frozenset({"admin", "planner", "viewer"})
EVERYONE = frozenset({"admin", "planner", "viewer", "widget"})
GET = frozenset({"GET"})
WRITE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# What a widget may see is decided by geo.widget.WidgetRules (one home for its rules);
# the checks below only say which surface a route is.
WidgetCheck = Callable[[Mapping[str, object], WidgetRules], "str | None"]


def _first_param(params: Mapping[str, object]) -> str:
    return str(next(iter(params.values()), ""))


def _widget_ogc_items(params: Mapping[str, object], rules: WidgetRules) -> str | None:
    return rules.refuses("features", _first_param(params))


def _widget_tiles(params: Mapping[str, object], rules: WidgetRules) -> str | None:
    for layer in _first_param(params).split(","):
        why = rules.refuses("tiles", layer.strip())
        if why:
            return why
    return None


@dataclass(frozen=True)
class Rule:
    """Who may call the routes matching ``methods`` × ``pattern``.

    ``roles`` None means public (no key needed). ``export`` marks data exports,
    which are written to the audit log. ``widget`` refines access for the
    widget role from the route's path parameters.
    """

    methods: frozenset[str]
    pattern: str
    roles: frozenset[str] | None
    export: bool = False
    widget: WidgetCheck | None = field(default=None, compare=False)

    @property
    def public(self) -> bool:
        """No key needed."""
        return self.roles is None

    def matches(self, method: str, template: str) -> bool:
        """True when this rule covers the route."""
        return method in self.methods and fnmatchcase(template, self.pattern)

    def denies(self, role: str, params: Mapping[str, object], rules: WidgetRules) -> str | None:
        """Why ``role`` may not call this route with ``params`` (None: it may)."""
        if self.roles is not None and role not in self.roles:
            return f"role {role} may not call this route (allowed: {', '.join(sorted(self.roles))})"
        if role == WIDGET and self.widget is not None:
            return self.widget(params, rules)
        return None


POLICY: tuple[Rule, ...] = (
    # Probes, the schema and its docs: public.
    Rule(GET, "/healthz", None),
    Rule(GET, "/readyz", None),
    Rule(GET, "/openapi.json", None),
    Rule(GET, "/docs*", None),
    Rule(GET, "/redoc*", None),
    Rule(GET, "/static/*", None),
    Rule(GET, "/metrics", ADMIN),
    # The map page and its widget.
    Rule(GET, "/map/summary*", READERS),
    Rule(GET, "/map/stats*", READERS),
    Rule(GET, "/map/trends*", READERS),
    Rule(GET, "/map/search*", READERS),
    Rule(GET, "/map/record/*", READERS),
    Rule(GET, "/map*", EVERYONE),
    # Standards-based reads; widgets are kept to non-sensitive layers.
    Rule(GET, "/ogc/collections/*/items*", EVERYONE, export=True, widget=_widget_ogc_items),
    Rule(GET, "/ogc*", EVERYONE),
    Rule(GET, "/tiles/*", EVERYONE, widget=_widget_tiles),
    # Incidents: raw points are personal data; only ingest is a route.
    Rule(frozenset({"POST"}), "/api/v1/incidents*", ADMIN),
    # Case flow: figures for readers (case lists hold raw incidents: never widgets),
    # case changes by editors (every change is kept in the case history).
    Rule(frozenset({"PATCH"}), "/api/v1/incidents/*", EDITORS),
    Rule(GET, "/api/v1/cases*", READERS),
    Rule(GET, "/api/v1/safety-index*", READERS),
    Rule(GET, "/api/v1/reports*", READERS, export=True),
    # Cameras: security data.
    Rule(GET, "/api/v1/cameras*", READERS),
    Rule(WRITE, "/api/v1/cameras*", ADMIN),
    # Analyses.
    Rule(GET, "/api/v1/hotspots*", READERS),
    Rule(GET, "/api/v1/heatmap*", READERS),
    Rule(GET, "/api/v1/coverage*", READERS),
    Rule(WRITE, "/api/v1/coverage*", EDITORS),
    # Response circles: figures include recent incidents and post positions; widgets get
    # the areas only (no incidents in them), through the tiles and OGC layers.
    Rule(GET, "/api/v1/response*", READERS),
    Rule(WRITE, "/api/v1/response*", EDITORS),
    # Grid plans: planners edit, viewers look.
    Rule(GET, "/api/v1/grid-plans/*/grids*", READERS, export=True),
    Rule(GET, "/api/v1/grid-plans*", READERS),
    Rule(WRITE, "/api/v1/grid-plans*", EDITORS),
    Rule(GET, "/api/v1/jobs/*", EDITORS),
)


@lru_cache(maxsize=1024)
def rule_for(method: str, template: str) -> Rule | None:
    """The first rule covering ``method`` on the route ``template`` (None: refused)."""
    for rule in POLICY:
        if rule.matches(method, template):
            return rule
    return None
