"""Prometheus ``/metrics``: per-layer tile latency and size, cache figures.

One registry per app (no import-time singletons); other areas may add their own
collectors to ``AppState.metrics.registry``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

router = APIRouter(tags=["metrics"])

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_SIZE_BUCKETS = (0, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)


class Metrics:
    """The app's Prometheus collectors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tile_seconds = Histogram(
            "onemap_tile_request_seconds", "Tile request latency by layer(s) and cache outcome",
            ["layer", "cache"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.tile_bytes = Histogram(
            "onemap_tile_response_bytes", "Tile body size (before transfer encoding) by layer(s)",
            ["layer"], buckets=_SIZE_BUCKETS, registry=self.registry,
        )
        self.render_seconds = Histogram(
            "onemap_tile_render_seconds", "Database render time of one layer of one tile",
            ["layer"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.render_bytes = Histogram(
            "onemap_tile_render_bytes", "MVT bytes rendered per layer", ["layer"],
            buckets=_SIZE_BUCKETS, registry=self.registry,
        )
        self.tile_errors = Counter(
            "onemap_tile_errors", "Tile requests that failed, by layer(s) and code",
            ["layer", "code"], registry=self.registry,
        )
        self.cache_bytes = Gauge("onemap_tile_cache_bytes", "Bytes held by the tile cache",
                                 registry=self.registry)
        self._children: dict[tuple[str, str], tuple] = {}
        self.cache_entries = Gauge("onemap_tile_cache_entries", "Tiles held by the tile cache",
                                   registry=self.registry)

    def observe_tile(self, layer: str, cache: str, seconds: float, nbytes: int) -> None:
        """One answered tile request (cache: hit, miss, coalesced, not_modified, cancelled)."""
        key = (layer, cache)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and hashes; look each pair up once
            children = (self.tile_seconds.labels(layer, cache), self.tile_bytes.labels(layer))
            self._children[key] = children
        children[0].observe(seconds)
        if cache != "not_modified":
            children[1].observe(nbytes)

    def observe_render(self, layer: str, seconds: float, nbytes: int) -> None:
        """One layer rendered by the database."""
        self.render_seconds.labels(layer).observe(seconds)
        self.render_bytes.labels(layer).observe(nbytes)


@router.get("/metrics", response_class=Response, include_in_schema=True)
def prometheus(request: Request) -> Response:
    """Prometheus text exposition of the app's metrics (``AppState.metrics``)."""
    data = generate_latest(request.app.state.onemap.metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
