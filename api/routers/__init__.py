"""HTTP routers, one module per area. ``ROUTERS`` lists what ``create_app`` mounts."""

ROUTERS = [
    "api.routers.health",
    "api.routers.incidents",
    "api.routers.cameras",
    "api.routers.hotspots",
    "api.routers.coverage",
    "api.routers.grid_plans",
    "api.routers.jobs",
    "api.routers.response",
    "api.routers.cases",
    "api.routers.ogc",
    "api.routers.tiles",
    "api.routers.map",
    "api.metrics",
]
