"""TileJSON 3.0.0 documents for one or more layers.

Examples
--------
>>> from tiles.layers import registry
>>> from tiles.settings import TileSettings
>>> s = TileSettings(_env_file=None)
>>> doc = tilejson((registry(s)["roads"],), "http://h/tiles/roads/{z}/{x}/{y}.pbf", [None], s)
>>> doc["tilejson"], doc["vector_layers"][0]["fields"]["class"]
('3.0.0', 'String')
"""

from __future__ import annotations

from collections.abc import Sequence

from tiles.layers import TileLayer
from tiles.settings import TileSettings

WORLD = [-180.0, -85.051129, 180.0, 85.051129]


def layer_fields(layer: TileLayer) -> dict[str, str]:
    """Property name → type, including the cluster properties of point layers."""
    fields = {p.name: p.type for p in layer.properties}
    if layer.cluster_below is not None:
        fields["count"] = "Number"
        fields.update({name: "Number" for name, _ in layer.cluster_counts})
    if layer.name == "incidents":
        fields["h3"] = "String"  # aggregated cells (widget role)
    return fields


def _describe(layer: TileLayer) -> str:
    text = layer.description
    if layer.cluster_below is not None:
        text += f"; clustered below z{layer.cluster_below}"
    if layer.simplify_below is not None and layer.kind != "point":
        text += f"; simplified below z{layer.simplify_below}"
    return text


def _union(bounds: Sequence[list[float] | None]) -> list[float]:
    known = [b for b in bounds if b]
    if not known:
        return WORLD
    return [min(b[0] for b in known), min(b[1] for b in known),
            max(b[2] for b in known), max(b[3] for b in known)]


def tilejson(layers: Sequence[TileLayer], url: str, bounds: Sequence[list[float] | None],
             settings: TileSettings) -> dict:
    """The TileJSON document; ``url`` is the tile URL template."""
    box = _union(bounds)
    minzoom = min(layer.minzoom for layer in layers)
    maxzoom = max(layer.maxzoom for layer in layers)
    centre_zoom = max(minzoom, min(maxzoom, 12))
    return {
        "tilejson": "3.0.0",
        "name": ",".join(layer.name for layer in layers),
        "description": "; ".join(f"{layer.name}: {layer.description}" for layer in layers),
        "version": "1.0.0",
        "attribution": "onemap 一张图",
        "scheme": "xyz",
        "tiles": [url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": box,
        "center": [round((box[0] + box[2]) / 2, 6), round((box[1] + box[3]) / 2, 6), centre_zoom],
        "vector_layers": [
            {"id": layer.name, "description": _describe(layer), "minzoom": layer.minzoom,
             "maxzoom": layer.maxzoom, "fields": layer_fields(layer)}
            for layer in layers
        ],
    }
