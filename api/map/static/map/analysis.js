/* onemap page: layers computed by the analysis APIs — incident heatmap, Gi* hotspots,
 * emerging-hotspot trends — and the coverage figure of the summary panel.
 * Each layer refetches when the time/category/source filters change.
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});
  var U = onemap.util, S = onemap.styles;

  // leaflet.heat draws into overlayPane; this one draws into its own pane.
  var PaneHeat = L.HeatLayer.extend({
    onAdd: function (map) {
      L.HeatLayer.prototype.onAdd.call(this, map);
      map.getPane(this.options.pane).appendChild(this._canvas);
    },
    onRemove: function (map) {
      map.getPanes().overlayPane.appendChild(this._canvas);
      L.HeatLayer.prototype.onRemove.call(this, map);
    },
  });

  // A layer group that (re)loads its content from an API while it is on the map.
  var FetchedLayer = L.LayerGroup.extend({
    initialize: function (key, load) {
      L.LayerGroup.prototype.initialize.call(this, []);
      this.onemapKey = key;
      this._load = load;
      this._stale = true;
      this.count = 0;
      this.status = "idle";
    },
    onAdd: function (map) {
      L.LayerGroup.prototype.onAdd.call(this, map);
      if (this._stale) this.refresh();
    },
    onemapRefilter: function () {
      this._stale = true;
      if (this._map) this.refresh();
    },
    refresh: function () {
      var self = this, seq = (this._seq = (this._seq || 0) + 1);
      this._stale = false;
      this.status = "loading";
      return this._load().then(function (layer) {
        if (seq !== self._seq) return;
        self.clearLayers();
        if (layer) self.addLayer(layer.layer);
        self.count = layer ? layer.count : 0;
        self.data = layer ? layer.data : [];
        // No incident in the window: nothing drawn, and the panel says why.
        self.status = layer ? "ready" : "empty";
        self.fire("onemap:loaded");
      }).catch(function (e) {
        if (seq !== self._seq) return;
        // Never leave the previous window's result on the map.
        self.clearLayers();
        self.count = 0;
        self.data = [];
        self.status = "error";
        self.error = e.message;
        console.warn(self.onemapKey, e.message);
        self.fire("onemap:loaded");
      });
    },
    featureCount: function () { return this.count; },
  });

  function windowParams() {
    var f = onemap.filterParams();
    return { from: f.from, to: f.to, category: f.category, source: f.source };
  }

  // Incidents in the whole service area for a window (memoised per window): the analysis
  // layers ask this first and draw an empty state instead of calling an API that has
  // nothing to analyse (it would answer 422, a console error in every browser).
  // The page's config carries the opening window's count (no request on a cold load).
  var counts = {};
  function countKey(p) {
    return [Math.floor(new Date(p.from).getTime() / 1000), Math.floor(new Date(p.to).getTime() / 1000), p.category || "", p.source || ""].join("|");
  }
  function windowCount(p) {
    var seed = onemap.cfg.windowCount;
    if (seed && !counts.seeded) {
      counts.seeded = true;
      counts[countKey({ from: seed.from, to: seed.to })] = Promise.resolve(seed.incidents);
    }
    var key = countKey(p);
    if (!counts[key]) {
      var b = onemap.cfg.bounds;
      var q = { bbox: [b[0][1], b[0][0], b[1][1], b[1][0]].map(function (v) { return v.toFixed(6); }).join(","),
        from: p.from, to: p.to, category: p.category, source: p.source };
      counts[key] = U.api("/map/summary" + U.qs(q)).then(function (r) { return r.body.incidents; });
      counts[key].catch(function () { delete counts[key]; });
    }
    return counts[key];
  }

  // Run ``load`` only when the window has incidents; resolve null (empty) otherwise.
  function ifAny(p, load) {
    return windowCount(p).then(function (n) { return n > 0 ? load() : null; });
  }

  // Kernel radius in screen pixels: the API's bandwidth (metres) at the current zoom.
  function heatRadius(bandwidthM) {
    var map = onemap.map, lat = map.getCenter().lat;
    var mPerPx = 156543.03392 * Math.cos(lat * Math.PI / 180) / Math.pow(2, map.getZoom());
    return Math.max(8, Math.min(60, 0.6 * (bandwidthM || 400) / mPerPx));
  }

  function heatmap() {
    var fetched = new FetchedLayer("heatmap", function () {
      return ifAny(windowParams(), function () { return U.api("/api/v1/heatmap" + U.qs(windowParams())).then(function (r) {
        var body = r.body || {}, pts = Array.isArray(body) ? body : body.points || [];
        var bw = body.parameters && body.parameters.bandwidth_m;
        var ws = pts.map(function (p) { return +p[2] || 1; }).sort(function (a, b) { return a - b; });
        // Neighbouring kernels overlap on screen and add up: leave head room above the peak.
        // Neighbouring kernels overlap on screen and add up: leave head room above the peak,
        // but not so much that the ramp's upper half is never reached.
        var max = ws.length ? 1.6 * ws[ws.length - 1] : 1;
        var radius = heatRadius(bw), I = S.C.intensity;
        var layer = new PaneHeat(pts, {
          pane: onemap.paneFor("heatmap"), radius: radius, blur: Math.min(30, radius * 0.6), minOpacity: 0.12,
          max: max, maxZoom: onemap.map.getZoom(),
          gradient: { 0.1: I[0], 0.3: I[1], 0.55: I[2], 0.8: I[3], 1.0: I[4] },
        });
        layer.bandwidthM = bw;
        return { layer: layer, count: pts.length, data: pts };
      }); });
    });
    // Keep the kernel's ground size when zooming (leaflet.heat works in pixels).
    fetched.on("add", function () {
      onemap.map.on("zoomend", fetched._rescale = function () {
        fetched.eachLayer(function (h) {
          var r = heatRadius(h.bandwidthM);
          h.setOptions({ radius: r, blur: Math.min(30, r * 0.6), maxZoom: onemap.map.getZoom() });
        });
      });
    });
    fetched.on("remove", function () { onemap.map.off("zoomend", fetched._rescale); });
    return fetched;
  }

  function h3Popup(title, fields) {
    return function (feature, layer) {
      layer.bindPopup(function () { return U.popupHtml(title(feature.properties), feature.properties, fields); });
    };
  }

  function hotspots() {
    return new FetchedLayer("hotspots", function () {
      var b = onemap.cfg.bounds, p = windowParams();
      p.res = 9;
      p.significant_only = "true";
      p.bbox = [b[0][1], b[0][0], b[1][1], b[1][0]].join(",");
      return ifAny(p, function () { return U.api("/api/v1/hotspots" + U.qs(p)).then(function (r) {
        var feats = ((r.body && r.body.features) || []).filter(function (f) { return f.properties.bin; });
        var layer = L.geoJSON({ type: "FeatureCollection", features: feats }, {
          pane: onemap.paneFor("hotspots"),
          style: function (f) { return S.hot(f.properties.bin); },
          onEachFeature: h3Popup(function (pr) { return U.t("bin." + pr.bin); }, ["h3", "count", "gi_z", "p_value", "bin"]),
        });
        return { layer: layer, count: feats.length, data: feats };
      }); });
    });
  }

  // Emerging trends need a long series: at least the 26 weeks before the window's end.
  function emerging() {
    return new FetchedLayer("emerging", function () {
      var f = onemap.filterParams(), to = new Date(f.to);
      var from = new Date(Math.min(new Date(f.from).getTime(), to.getTime() - 182 * 864e5));
      var p = { res: 9, from: from.toISOString(), to: f.to, step: "week", pattern_only: "true" };
      return ifAny({ from: p.from, to: p.to }, function () { return U.api("/api/v1/hotspots/emerging" + U.qs(p)).then(function (r) {
        var feats = ((r.body && r.body.features) || []).filter(function (ft) {
          var c = ft.properties.category;
          return c && c !== "none";
        });
        var layer = L.geoJSON({ type: "FeatureCollection", features: feats }, {
          pane: onemap.paneFor("emerging"),
          style: function (ft) { return S.emerging(ft.properties.category); },
          onEachFeature: h3Popup(function (pr) { return U.t("em." + pr.category) || pr.category; }, ["h3", "category", "trend_z", "trend_p"]),
        });
        return { layer: layer, count: feats.length, data: feats };
      }); });
    });
  }

  // Hot cells (bin > 0) of the hotspot result that touch the current view.
  function hotCellsInView(hotLayer) {
    if (!hotLayer || !hotLayer.data) return null;
    var view = onemap.map.getBounds(), n = 0;
    hotLayer.getLayers().forEach(function (g) {
      g.eachLayer(function (cell) {
        if (cell.feature.properties.bin > 0 && view.intersects(cell.getBounds())) n += 1;
      });
    });
    return n;
  }

  // City-wide camera coverage of public (non-building) area, from the coverage API.
  function coverageShare() {
    return U.api("/api/v1/coverage/summary?level=city").then(function (r) {
      var units = (r.body && r.body.units) || [];
      var share = units.length ? units[0].area_share : null;
      return typeof share === "number" ? share * 100 : null;
    }).catch(function () { return null; });
  }

  onemap.analysis = {
    heatmap: heatmap, hotspots: hotspots, emerging: emerging, hotCellsInView: hotCellsInView,
    coverageShare: coverageShare, FetchedLayer: FetchedLayer, windowCount: windowCount,
  };
})();
