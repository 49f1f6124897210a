/* onemap page: the vector-tile layers (our /tiles), the light base map and admin labels.
 *
 * Each overlay lives in its own pane (``leaflet-ol-<key>-pane``) so what it drew can
 * be counted in the DOM, and counts the features of the tiles it has loaded.
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});
  var U = onemap.util, S = onemap.styles;

  // Any layer name inside a tile gets the same style (composite tiles name theirs).
  function anyLayer(fn) {
    return new Proxy({}, { get: function () { return fn; } });
  }

  // VectorGrid.Protobuf that keeps the feature count of every loaded tile.
  var CountingGrid = L.VectorGrid.Protobuf.extend({
    initialize: function (url, options) {
      L.VectorGrid.Protobuf.prototype.initialize.call(this, url, options);
      this._counts = {};
      this.on("tileunload", function (e) { delete this._counts[this._tileCoordsToKey(e.coords)]; }, this);
    },
    _getVectorTilePromise: function (coords) {
      var self = this, key = this._tileCoordsToKey(coords);
      return L.VectorGrid.Protobuf.prototype._getVectorTilePromise.call(this, coords).then(function (vt) {
        var n = 0;
        Object.keys(vt.layers).forEach(function (name) {
          var feats = vt.layers[name].features || [];
          n += feats.length;
          // The MVT feature id (the row id) is what popups and planner edits need.
          feats.forEach(function (f) { if (f.id !== undefined && f.properties.id === undefined) f.properties.id = f.id; });
        });
        self._counts[key] = n;
        return vt;
      });
    },
    // Points become Leaflet circle markers without a position of their own; a click on one
    // asks for it (Leaflet's _fireDOMEvent), so give them the tile pixel's lat/lng.
    _createLayer: function (feat, pxPerExtent, opacity) {
      var layer = L.VectorGrid.Protobuf.prototype._createLayer.call(this, feat, pxPerExtent, opacity);
      if (feat.type === 1) layer.getLatLng = pointLatLng;
      return layer;
    },
    featureCount: function () {
      var c = this._counts;
      return Object.keys(c).reduce(function (s, k) { return s + c[k]; }, 0);
    },
  });

  function pointLatLng() {
    var r = this._renderer;
    if (!r || !r._tileCoord || !this._point) return onemap.map.getCenter();
    var c = r._tileCoord, size = r._size;
    return onemap.map.unproject(L.point(c.x * size.x, c.y * size.y).add(this._point), c.z);
  }

  function tileUrl(layer, params) {
    return onemap.cfg.root + "/tiles/" + layer + "/{z}/{x}/{y}.pbf" + U.qs(params || {});
  }

  function vectorLayer(key, tileLayer, opts) {
    var layer = new CountingGrid(tileUrl(tileLayer, opts.params), {
      pane: onemap.paneFor(key),
      rendererFactory: opts.canvas ? L.canvas.tile : L.svg.tile,
      vectorTileLayerStyles: anyLayer(opts.style),
      interactive: !!opts.popup || !!opts.interactive,
      getFeatureId: opts.featureId,
      fetchOptions: { headers: U.authHeaders(), credentials: "same-origin" },
      maxNativeZoom: 18,
      maxZoom: 20,
      minZoom: opts.minZoom || 0,
      updateWhenZooming: false,
      keepBuffer: 1,
    });
    layer.onemapKey = key;
    layer.on("tileload", onemap.markFirstTile);
    if (opts.popup) {
      layer.on("click", function (e) {
        if (onemap.planner && onemap.planner.handleClick(key, e)) return;
        var p = e.layer.properties || {};
        L.DomEvent.stop(e);
        onemap.lastPopup = { layer: key, properties: p };
        var html = popupFor(opts.popup, p), single = !(p.count > 1);
        // A single case or incident: which post gets there first (response circles).
        if (opts.popup.nearest && single && onemap.topics && onemap.topics.has("response")) {
          var at = e.layer && e.layer.getLatLng ? e.layer.getLatLng() : e.latlng;
          html = html.replace(/<\/div>$/, onemap.topics.nearestButton(at.lat, at.lng) + "</div>");
        }
        L.popup({ maxWidth: 340 }).setLatLng(e.latlng).setContent(html).openOn(onemap.map);
      });
    }
    return layer;
  }

  // A cluster (a tile cell of several points) says how many and of what; a point its fields.
  function popupFor(spec, p) {
    if (p.count !== undefined && p.count > 1 && p.h3 === undefined && spec.cluster) {
      // The cluster's per-value counts, in the order of the served vocabulary (geo/vocabulary.py)
      // or of the layer's own keys (camera classes, case lights); a merge had dropped the latter.
      var keys = spec.cluster.vocabulary ? onemap.cfg.vocabulary[spec.cluster.vocabulary] : spec.cluster.keys || [];
      var parts = keys.filter(function (k) { return p[k]; }).map(function (k) {
        return U.escapeHtml(U.t("v." + k)) + " " + U.fmt(p[k]);
      });
      return '<div class="om-popup"><h4>' + U.escapeHtml(U.t(spec.cluster.title).replace("{n}", U.fmt(p.count))) +
        "</h4><div>" + parts.join(" · ") + '</div><div class="om-note-dark">' + U.escapeHtml(U.t("pop.zoom_in")) + "</div></div>";
    }
    return U.popupHtml(spec.title(p), p, spec.fields);
  }

  var T = function (k) { return U.t(k); };

  // key → how to build it.
  var TILE_LAYERS = {
    admin_areas: {
      tile: "admin_areas", style: S.admin,
      popup: { title: function (p) { return p.name || T("layer.admin_areas"); }, fields: ["name", "code", "level"] },
    },
    grids: {
      tile: "grids", style: S.grid,
      popup: {
        title: function (p) { return p.name || p.code || T("layer.grids"); },
        fields: ["code", "households", "worker", "community_code"],
      },
    },
    buildings: {
      tile: "buildings", minZoom: 14,
      style: function () { return { color: S.C.buildingLayer.line, weight: 0.6, fill: true, fillColor: S.C.buildingLayer.fill, fillOpacity: 0.8, opacity: 1 }; },
      featureId: function (f) { return f.id !== undefined ? f.id : f.properties.id; },
      popup: { title: function (p) { return p.code || T("layer.buildings"); }, fields: ["code", "households", "population", "floors", "kind"] },
    },
    roads: {
      tile: "roads", style: S.road,
      popup: { title: function (p) { return p.name || T("layer.roads"); }, fields: ["name", "class"] },
    },
    places: {
      tile: "places", style: S.place,
      popup: { title: function (p) { return p.name || T("layer.places"); }, fields: ["name", "kind", "key"] },
    },
    cameras: {
      tile: "cameras", style: S.camera, clusterUntil: 15,
      popup: {
        title: function (p) { return p.name || p.code || T("layer.cameras"); },
        fields: ["code", "class", "kind", "status", "azimuth", "fov", "range_m"],
        cluster: { title: "pop.cameras_n", keys: ["A", "B", "C"] },
      },
    },
    camera_views: { tile: "camera_views", canvas: true, style: S.view, minZoom: 13 },
    coverage_gaps: {
      tile: "coverage_gaps", style: S.gap,
      popup: { title: function () { return T("layer.coverage_gaps"); }, fields: ["area_m2", "incidents", "priority", "nearest_camera_m", "community_code"] },
    },
    // Gi* cells as tiles: what a widget sees (the hotspot API is for readers).
    hotspots: {
      tile: "hotspots", filtered: true, style: function (p) { return S.hot(p.bin); },
      popup: { title: function (p) { return U.t("bin." + p.bin); }, fields: ["h3", "count", "gi_z", "p_value", "bin"] },
    },
    incidents: {
      tile: "incidents", filtered: true, style: S.incident,
      popup: {
        title: function (p) { return p.category ? U.show("category", p.category) : T("layer.incidents"); },
        fields: ["category", "source", "occurred_at", "status", "count"],
        cluster: { title: "pop.incidents_n", vocabulary: "categories" },
        nearest: true,
      },
    },
    // The topic layers of ARCHITECTURE.md §9–§10 as tiles (the topic panels read the JSON APIs).
    posts: {
      tile: "posts", style: S.post,
      popup: {
        title: function (p) { return p.name || p.code || T("layer.posts"); },
        fields: ["code", "kind", "mode", "status", "turnout_s"],
        cluster: { title: "pop.posts_n", keys: [] },
      },
    },
    response_areas: {
      tile: "response_areas", style: S.responseArea,
      popup: { title: function (p) { return T("pop.minutes").replace("{m}", p.minutes); }, fields: ["households", "population", "area_m2"] },
    },
    case_warnings: {
      tile: "case_warnings", filtered: true, style: S.caseLight,
      popup: {
        title: function (p) { return p.light ? T("p11." + p.light) : T("layer.case_warnings"); },
        fields: ["category", "source", "department", "status", "limit_at"],
        cluster: { title: "pop.cases_n", keys: ["red", "yellow", "green"] },
        nearest: true,
      },
    },
    // What a widget sees of the 平安指数 (readers get it from the API: onemap.topics.safetyLayer).
    safety_index: {
      tile: "safety_index", style: S.safety,
      popup: { title: function (p) { return (p.name || p.code) + " · " + T("risk." + p.level); }, fields: ["index", "rank", "change", "period"] },
    },
  };

  function buildTileOverlay(key) {
    var spec = TILE_LAYERS[key];
    if (spec.clusterUntil) return clusteredPoints(key, spec);
    var layer = vectorLayer(key, spec.tile, {
      style: spec.style, canvas: spec.canvas, popup: spec.popup, featureId: spec.featureId,
      minZoom: spec.minZoom, params: spec.filtered ? onemap.filterParams() : null,
      interactive: key === "buildings" || key === "grids",
    });
    if (spec.filtered) {
      layer.onemapRefilter = function () { layer.setUrl(tileUrl(spec.tile, onemap.filterParams())); };
    }
    if (key === "admin_areas") return withLabels(layer);
    return layer;
  }

  // Points drawn as the tiles' clusters up to ``clusterUntil`` (tiles of zoom 13, where the
  // tile layer still clusters, scaled up) and as single points closer in: the city view
  // shows a few hundred sized circles instead of thousands of dots.
  function clusteredPoints(key, spec) {
    var opts = { style: spec.style, popup: spec.popup, params: null };
    // Tiles of zoom 13 are drawn scaled by 2^(z-13): draw circles that much smaller.
    var clusterStyle = function (p, z) {
      var s = spec.style(p, z), k = Math.pow(2, Math.max(0, onemap.map.getZoom() - 13));
      s.radius = (s.radius || 4) / k;
      s.weight = (s.weight || 1) / k;
      return s;
    };
    var clusters = vectorLayer(key, spec.tile, { style: clusterStyle, popup: spec.popup, params: null });
    clusters.options.maxNativeZoom = 13;
    clusters.options.maxZoom = spec.clusterUntil;
    onemap.map.on("zoomend", function () {
      var z = onemap.map.getZoom();
      if (onemap.map.hasLayer(clusters) && z > 13 && z <= spec.clusterUntil) clusters.redraw();
    });
    var points = vectorLayer(key, spec.tile, opts);
    points.options.minZoom = spec.clusterUntil + 1;
    var group = L.layerGroup([clusters, points]);
    group.onemapKey = key;
    group.featureCount = function () {
      return (onemap.map.hasLayer(clusters) ? clusters.featureCount() : 0) + (onemap.map.hasLayer(points) ? points.featureCount() : 0);
    };
    return group;
  }

  // Admin areas: outlines from tiles plus name labels (district / street / community by zoom).
  function withLabels(outlines) {
    var labels = L.layerGroup([], { pane: onemap.paneFor("labels") });
    var group = L.layerGroup([outlines, labels]);
    group.onemapKey = "admin_areas";
    group.featureCount = function () { return outlines.featureCount(); };
    U.api("/map/labels").then(function (r) {
      r.body.forEach(function (a) {
        areaNames[a.code] = a.name;
        var icon = L.divIcon({ className: "om-label om-label-" + a.level, html: "<span>" + U.escapeHtml(a.name) + "</span>", iconSize: [0, 0] });
        var m = L.marker([a.lat, a.lon], { icon: icon, pane: onemap.paneFor("labels"), interactive: false, keyboard: false });
        m.level = a.level;
        labels.addLayer(m);
      });
      onemap.updateLabelZoom();
    }).catch(function (e) { console.warn("labels", e.message); });
    return group;
  }

  var areaNames = {};
  onemap.areaName = function (code) { return areaNames[code] || String(code); };

  function updateLabelZoom() {
    var z = onemap.map.getZoom(), pane = onemap.map.getPane(onemap.paneFor("labels"));
    if (!pane) return;
    pane.classList.toggle("om-z-district", z < 13);
    pane.classList.toggle("om-z-street", z >= 12 && z < 15);
    pane.classList.toggle("om-z-community", z >= 14);
  }

  // The default base map: our own admin areas, river, roads and buildings, drawn light.
  function localBase() {
    var layer = new CountingGrid(tileUrl("admin_areas,waterways,roads,buildings"), {
      pane: onemap.paneFor("base"),
      rendererFactory: L.canvas.tile,
      vectorTileLayerStyles: {
        admin_areas: S.base.admin_areas, waterways: S.base.waterways, roads: S.base.roads,
        buildings: S.base.buildings,
      },
      interactive: false,
      fetchOptions: { headers: U.authHeaders(), credentials: "same-origin" },
      maxNativeZoom: 18, maxZoom: 20, updateWhenZooming: false, keepBuffer: 1,
    });
    layer.onemapKey = "base";
    layer.on("tileload", onemap.markFirstTile);
    return layer;
  }

  function externalBase(base) {
    var opts = { pane: onemap.paneFor("base"), attribution: base.attribution || "", maxZoom: 20, subdomains: "01234567" };
    return base.crs === "gcj02" ? new onemap.gcj02.ShiftedTileLayer(base.url, opts) : L.tileLayer(base.url, opts);
  }

  onemap.layers = {
    TILE_LAYERS: TILE_LAYERS, buildTileOverlay: buildTileOverlay, localBase: localBase,
    externalBase: externalBase, tileUrl: tileUrl, CountingGrid: CountingGrid,
  };
  onemap.updateLabelZoom = updateLabelZoom;
})();
