/* onemap page: wires the folium map to our layers, controls and planner mode.
 *
 * ``onemap.start(map, cfg)`` is called by the page with the folium map and the
 * config built by api/map/config.py. Public state for tests and benchmarks:
 * ``onemap.overlays`` (key → layer), ``onemap.metrics`` (first tile time).
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});

  // Bottom → top. Non-interactive canvases sit low so they never hide clickable features.
  var PANE_ORDER = [
    "base", "camera_views", "heatmap", "safety_index", "response_areas", "admin_areas", "topic_areas", "grids", "plangrids",
    "hotspots", "emerging", "coverage_gaps", "roads", "buildings", "places", "incidents", "case_warnings", "cases", "routes",
    "cameras", "posts", "focus", "labels", "planner",
  ];

  function paneFor(key) {
    var name = "ol-" + key, map = onemap.map;
    if (!map.getPane(name)) {
      var i = PANE_ORDER.indexOf(key);
      var pane = map.createPane(name);
      pane.style.zIndex = key === "base" ? 250 : 380 + 10 * (i < 0 ? PANE_ORDER.length : i);
      // The heatmap is context: grids and labels stay readable through it.
      if (key === "heatmap") pane.style.opacity = "0.75";
    }
    return name;
  }

  // The first vector tile drawn after DOMContentLoaded: the page's "first render".
  function markFirstTile() {
    if (onemap.metrics.firstTile === undefined) {
      onemap.metrics.firstTile = performance.now();
      document.documentElement.setAttribute("data-first-tile", String(onemap.metrics.firstTile));
    }
  }

  function buildOverlay(key, cfg) {
    if (key === "heatmap") return onemap.analysis.heatmap();
    if (key === "hotspots" && onemap.cfg.hotspotSource === "api") return onemap.analysis.hotspots();
    if (key === "emerging") return onemap.analysis.emerging();
    // Readers ask the API (it computes the index when missing); a widget reads the tiles.
    if (key === "safety_index" && cfg.summary) return onemap.topics.safetyLayer();
    return onemap.layers.buildTileOverlay(key);
  }

  function applyFilter() {
    Object.keys(onemap.overlays).forEach(function (k) {
      var l = onemap.overlays[k];
      if (l.onemapRefilter) l.onemapRefilter();
    });
    if (onemap.filterControl) onemap.filterControl.sync();
    onemap.controls.updateSummary();
    onemap.controls.writeUrl();
    (onemap.onFilter || []).forEach(function (fn) { fn(); });
  }

  function baseLayers(cfg) {
    var t = onemap.util.t, bases = {};
    var local = onemap.layers.localBase();
    bases[t("layer.base")] = local;
    if (cfg.base.url) bases[t("layer.external")] = onemap.layers.externalBase(cfg.base);
    bases[t("layer.none")] = L.layerGroup();
    return { all: bases, initial: cfg.base.url ? bases[t("layer.external")] : local };
  }

  function start(map, cfg) {
    onemap.map = map;
    onemap.cfg = cfg;
    onemap.metrics = { start: performance.now() };
    // Leaflet.VectorGrid 1.3 calls a helper Leaflet 1.9 no longer has.
    if (!L.DomEvent.fakeStop) L.DomEvent.fakeStop = function (e) { e._stopped = true; };
    map.attributionControl.setPrefix(false);
    onemap.controls.initFilter(cfg);
    var fromUrl = cfg.embed ? { view: null, layers: null } : onemap.controls.urlView();
    // The view first, so no layer asks for tiles of folium's opening view.
    var view = fromUrl.view || cfg.view;
    if (view) map.setView(view.center, view.zoom, { animate: false });
    else map.fitBounds(cfg.bounds, { padding: [10, 10], animate: false });

    var bases = baseLayers(cfg);
    bases.initial.addTo(map);
    onemap.base = bases.initial;

    onemap.overlays = {};
    var named = {};
    cfg.layers.forEach(function (key) {
      var layer = buildOverlay(key, cfg);
      onemap.overlays[key] = layer;
      var label = key === "incidents" && cfg.role === "widget" ? "layer.incident_cells" : "layer." + key;
      named['<span class="om-layer-name" data-layer="' + key + '">' + onemap.util.t(label) + "</span>"] = layer;
    });
    // When each opening layer has drawn (benchmarks read ``onemap.metrics.drawn``).
    onemap.metrics.drawn = {};
    var opening = (fromUrl.layers || cfg.visible).filter(function (k) { return onemap.overlays[k]; });
    // Resolves once every opening layer has drawn (or after 5 s): secondary requests (the
    // coverage figure) wait for it instead of competing with the first view.
    onemap.drawnAll = new Promise(function (resolve) {
      var check = function () {
        if (opening.every(function (k) { return onemap.metrics.drawn[k] !== undefined; })) resolve();
      };
      onemap.metrics.onDrawn = check;
      setTimeout(resolve, 5000);
      setTimeout(check, 0);
    });
    opening.forEach(function (key) {
      var layer = onemap.overlays[key];
      var parts = layer instanceof L.LayerGroup && !layer.onemapRefilter ? layer.getLayers() : [layer];
      var left = parts.length;
      var done = function () {
        left -= 1;
        if (left === 0 && onemap.metrics.drawn[key] === undefined) {
          onemap.metrics.drawn[key] = performance.now();
          onemap.metrics.onDrawn();
        }
      };
      var z = map.getZoom();
      parts.forEach(function (p) {
        if (p instanceof onemap.analysis.FetchedLayer) p.once("onemap:loaded", done);
        else if (p instanceof L.GridLayer && z >= (p.options.minZoom || 0) && z <= p.options.maxZoom) p.once("load", done);
        else done();
      });
      layer.addTo(map);
    });
    onemap.layerControl = L.control.layers(bases.all, named, { collapsed: cfg.embed, position: "topright" });

    if (!cfg.embed) {
      var head = onemap.controls.header(cfg);
      if (cfg.summary) onemap.search.init(head);
      if (cfg.summary) onemap.summaryControl = new onemap.controls.SummaryControl().addTo(map);
      onemap.layerControl.addTo(map);
      onemap.filterControl = new onemap.controls.FilterControl().addTo(map);
      onemap.legend = new onemap.controls.LegendControl({ position: "bottomleft" }).addTo(map);
      if (cfg.planner) onemap.planner.init(map, cfg);
      if (cfg.summary) onemap.panels.init(map, head);
    } else {
      onemap.layerControl.addTo(map);
      // A widget names what its colours mean too.
      onemap.legend = new onemap.controls.LegendControl({ position: "bottomleft" }).addTo(map);
    }
    var pending = null;
    map.on("moveend", function () {
      clearTimeout(pending);
      pending = setTimeout(function () { onemap.controls.updateSummary(); onemap.controls.writeUrl(); }, 250);
    });
    map.on("overlayadd overlayremove", onemap.controls.writeUrl);
    map.on("zoomend", onemap.updateLabelZoom);
    onemap.controls.updateSummary();
    onemap.controls.writeUrl();
    document.documentElement.setAttribute("data-onemap", "ready");
  }

  onemap.start = start;
  onemap.paneFor = paneFor;
  onemap.markFirstTile = markFirstTile;
  onemap.applyFilter = applyFilter;
  onemap.PANE_ORDER = PANE_ORDER;
})();
