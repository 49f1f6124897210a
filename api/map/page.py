"""Build the 一张图 HTML with folium, every asset served from ``/static``.

folium's own template asks CDNs for Leaflet, jQuery, Bootstrap and Font Awesome;
the page replaces those lists with the local copies that ``scripts/install-assets.sh``
puts in ``api/map/static/vendor`` and adds the page's own script, which builds the
layers, controls and planner mode on the folium map.
"""

from __future__ import annotations

import json

import folium
from branca.element import Element, MacroElement
from folium.template import Template

from api.map.config import PageConfig

STATIC = "/static"
VENDOR_JS: list[tuple[str, str]] = [
    ("leaflet", f"{STATIC}/vendor/leaflet/leaflet.js"),
    ("vectorgrid", f"{STATIC}/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js"),
    ("heat", f"{STATIC}/vendor/heat/leaflet-heat.js"),
]
VENDOR_CSS: list[tuple[str, str]] = [
    ("leaflet_css", f"{STATIC}/vendor/leaflet/leaflet.css"),
]
PLANNER_JS: list[tuple[str, str]] = [("geoman", f"{STATIC}/vendor/geoman/leaflet-geoman.js")]
PLANNER_CSS: list[tuple[str, str]] = [("geoman_css", f"{STATIC}/vendor/geoman/leaflet-geoman.css")]
# The page's own code, in load order (each file adds to ``window.onemap``).
APP_JS: tuple[str, ...] = (
    "util.js", "gcj02.js", "styles.js", "layers.js", "analysis.js", "controls.js",
    "planner.js", "search.js", "topics.js", "panels.js", "onemap.js",
)
APP_CSS: tuple[str, ...] = ("onemap.css",)
ASSET_VERSION = "9"


class _Boot(MacroElement):
    """Hands the config to the page script once folium's map exists."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div id="onemap-ui" class="onemap-ui"></div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        window.ONEMAP = {{ this.config_json }};
        onemap.start({{ this._parent.get_name() }}, window.ONEMAP);
        {% endmacro %}
        """
    )

    def __init__(self, config: dict):
        super().__init__()
        self._name = "OnemapBoot"
        # </script> inside JSON would close the tag early.
        self.config_json = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")


def build_map(config: PageConfig) -> folium.Map:
    """The folium map with local assets and the page script attached.

    Parameters
    ----------
    config : PageConfig
        Role, layers, view and settings of this rendering.

    Returns
    -------
    folium.Map
        Render with :func:`render_page`.
    """
    x0, y0, x1, y1 = config.bounds
    m = folium.Map(
        location=[(y0 + y1) / 2, (x0 + x1) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,
        zoom_control=True,
        max_zoom=20,
        min_zoom=3,
    )
    m._id = "main"
    js = VENDOR_JS + (PLANNER_JS if config.planner else [])
    css = VENDOR_CSS + (PLANNER_CSS if config.planner else [])
    # Instance lists: folium's class-level defaults (CDN URLs) stay untouched.
    m.default_js = js + [(f"app_{n}", f"{STATIC}/map/{n}?v={ASSET_VERSION}") for n in APP_JS]
    m.default_css = css + [(f"app_{n}", f"{STATIC}/map/{n}?v={ASSET_VERSION}") for n in APP_CSS]
    m.add_child(_Boot(config.as_json()))
    return m


def render_page(config: PageConfig) -> str:
    """The complete HTML of ``/map`` or ``/map/embed``."""
    m = build_map(config)
    root = m.get_root()
    title = config.as_json()["t"]["embed_title" if config.embed else "title"]
    lang = "zh-CN" if config.settings.language == "zh" else "en"
    root.header.add_child(Element(f"<title>{title}</title>"), name="title", index=0)
    # No favicon request (it would be a 404 in the network log).
    root.header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon", index=1)
    html = root.render()
    html = html.replace("<html>", f'<html lang="{lang}">', 1)
    body_class = "onemap-embed" if config.embed else "onemap-full"
    return html.replace("<body>", f'<body class="{body_class}">', 1)
