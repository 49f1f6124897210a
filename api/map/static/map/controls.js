/* onemap page: the time/category/source filters, the summary panel, the legend and
 * the header — the chrome the embed leaves out.
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});
  var U = onemap.util, S = onemap.styles, el = U.el, t = U.t;
  // Vocabularies come from the server (geo/vocabulary.py, in the page config).
  function vocabulary(name) { return onemap.cfg.vocabulary[name]; }
  var DAY = 864e5;

  // Filter state: presets count back from the anchor (the newest incident, or now).
  // The filter comes from the URL when it holds one (a shared or reloaded view), else the
  // default window; every change is written back (``writeUrl``).
  function initFilter(cfg) {
    var params = new URLSearchParams(window.location.search);
    var anchor = new Date(cfg.anchor);
    var to = new Date(anchor.getTime() + 1000);
    var days = parseInt(params.get("days"), 10);
    if (!(days > 0 && days <= 3660)) days = cfg.windowDays;
    var pick = function (v, allowed) { return allowed.indexOf(v) >= 0 ? v : ""; };
    var f = { days: days, to: to, from: new Date(to.getTime() - days * DAY),
      category: pick(params.get("category"), vocabulary("categories")),
      source: pick(params.get("source"), vocabulary("sources")) };
    var pf = new Date(params.get("from")), pt = new Date(params.get("to"));
    if (params.get("from") && params.get("to") && !isNaN(pf) && !isNaN(pt) && pf < pt) {
      f.days = null;
      f.from = pf;
      f.to = pt;
    }
    onemap.filter = f;
  }

  // The view, the filter and the layers on the map, as the page's own URL.
  function writeUrl() {
    if (!onemap.cfg || onemap.cfg.embed || !onemap.map) return;
    var f = onemap.filter, q = new URLSearchParams();
    var keep = new URLSearchParams(window.location.search).get("access_token");
    if (keep) q.set("access_token", keep);
    if (f.days) q.set("days", String(f.days));
    else { q.set("from", f.from.toISOString()); q.set("to", f.to.toISOString()); }
    if (f.category) q.set("category", f.category);
    if (f.source) q.set("source", f.source);
    var on = Object.keys(onemap.overlays || {}).filter(function (k) { return onemap.map.hasLayer(onemap.overlays[k]); });
    q.set("layers", on.join(","));
    var c = onemap.map.getCenter();
    q.set("z", String(onemap.map.getZoom()));
    q.set("c", c.lng.toFixed(5) + "," + c.lat.toFixed(5));
    if (onemap.focus) q.set("focus", onemap.focus.level + ":" + onemap.focus.code);
    history.replaceState(null, "", window.location.pathname + "?" + q.toString());
  }

  // View and layers asked for by the URL (null when it names none).
  function urlView() {
    var q = new URLSearchParams(window.location.search);
    var z = parseInt(q.get("z"), 10), c = (q.get("c") || "").split(",").map(Number);
    var view = z >= 3 && z <= 20 && c.length === 2 && !isNaN(c[0]) && !isNaN(c[1]) ? { center: [c[1], c[0]], zoom: z } : null;
    var layers = q.get("layers") === null ? null : q.get("layers").split(",").filter(Boolean);
    return { view: view, layers: layers };
  }

  function filterParams() {
    var f = onemap.filter;
    return { from: f.from.toISOString(), to: f.to.toISOString(), category: f.category, source: f.source };
  }

  function setPreset(days) {
    var anchor = new Date(onemap.cfg.anchor), to = new Date(anchor.getTime() + 1000);
    onemap.filter.days = days;
    onemap.filter.to = to;
    onemap.filter.from = new Date(to.getTime() - days * DAY);
    onemap.applyFilter();
  }

  function filterMsg(text) {
    var m = document.getElementById("om-filter-msg");
    if (m) m.textContent = text || "";
  }

  function setCustom(fromDay, toDay) {
    var from = new Date(fromDay + "T00:00:00"), to = new Date(toDay + "T00:00:00");
    if (isNaN(from) || isNaN(to) || to < from) { filterMsg(t("ctl.bad_range")); return false; }
    filterMsg("");
    onemap.filter.days = null;
    onemap.filter.from = from;
    onemap.filter.to = new Date(to.getTime() + DAY);
    onemap.applyFilter();
    return true;
  }

  function select(id, values, prefix, current, onchange) {
    var s = el("select", { id: id, onchange: function () { onchange(s.value); } },
      [el("option", { value: "", text: t("ctl.all") })].concat(values.map(function (v) {
        return el("option", { value: v, text: t(prefix + v) });
      })));
    s.value = current;
    return s;
  }

  var FilterControl = L.Control.extend({
    options: { position: "topleft" },
    onAdd: function () {
      var f = onemap.filter;
      var presets = el("div", { class: "om-presets" }, [7, 30, 90].map(function (d) {
        return el("button", { type: "button", "data-days": d, class: "om-preset", text: t("ctl.days" + d), onclick: function () { setPreset(d); } });
      }).concat([el("button", { type: "button", "data-days": "custom", class: "om-preset", text: t("ctl.custom"),
        onclick: function () { box.classList.toggle("om-custom-open"); } })]));
      var fromI = el("input", { type: "date", id: "om-from", value: U.isoDay(f.from) });
      var toI = el("input", { type: "date", id: "om-to", value: U.isoDay(new Date(f.to.getTime() - 1)) });
      var custom = el("div", { class: "om-custom" }, [
        el("label", { text: t("ctl.from") }), fromI, el("label", { text: t("ctl.to") }), toI,
        el("button", { type: "button", id: "om-apply", text: t("ctl.apply"), onclick: function () { setCustom(fromI.value, toI.value); } }),
      ]);
      var box = el("div", { class: "om-panel om-filters" }, [
        el("h3", { text: t("ctl.time") }), presets, custom,
        el("div", { class: "om-row" }, [el("label", { text: t("ctl.category") }),
          select("om-category", vocabulary("categories"), "v.", f.category, function (v) { onemap.filter.category = v; onemap.applyFilter(); })]),
        el("div", { class: "om-row" }, [el("label", { text: t("ctl.source") }),
          select("om-source", vocabulary("sources"), "v.", f.source, function (v) { onemap.filter.source = v; onemap.applyFilter(); })]),
        el("div", { class: "om-msg om-error", id: "om-filter-msg" }),
        el("div", { class: "om-note", text: t("ctl.anchor_note") + U.isoDay(new Date(onemap.cfg.anchor)) }),
      ]);
      this._box = box;
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      this.sync();
      return box;
    },
    sync: function () {
      if (!this._box) return;
      var days = onemap.filter.days;
      this._box.querySelectorAll(".om-preset").forEach(function (b) {
        var d = b.getAttribute("data-days");
        b.classList.toggle("om-active", days === null ? d === "custom" : String(days) === d);
      });
    },
  });

  function figure(id, label) {
    return el("div", { class: "om-figure" }, [el("div", { class: "om-figure-value", id: id, text: "—" }), el("div", { class: "om-figure-label", text: label })]);
  }

  var SummaryControl = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      var box = el("div", { class: "om-panel om-summary", id: "om-summary" }, [
        el("h3", { text: t("sum.title") }),
        el("div", { class: "om-figures" }, [
          figure("om-sum-incidents", t("sum.incidents")), figure("om-sum-hot", t("sum.hot_cells")),
          figure("om-sum-coverage", t("sum.coverage")),
        ]),
        el("div", { class: "om-empty", id: "om-sum-empty", style: "display:none", text: t("empty.window") }),
        el("div", { class: "om-note", id: "om-sum-window" }),
        el("div", { class: "om-note", text: t("sum.coverage_basis") }),
      ]);
      L.DomEvent.disableClickPropagation(box);
      return box;
    },
  });

  function setText(id, text) { var e = document.getElementById(id); if (e) e.textContent = text; }

  // Refresh the figures for the current view and filters.
  function updateSummary() {
    if (!document.getElementById("om-summary")) return;
    var b = onemap.map.getBounds(), f = onemap.filterParams();
    var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
    var seq = (updateSummary.seq = (updateSummary.seq || 0) + 1);
    U.api("/map/summary" + U.qs({ bbox: bbox, from: f.from, to: f.to, category: f.category, source: f.source })).then(function (r) {
      if (seq === updateSummary.seq) setText("om-sum-incidents", U.fmt(r.body.incidents));
    }).catch(function () { setText("om-sum-incidents", "—"); });
    onemap.analysis.windowCount(f).then(function (n) {
      if (seq !== updateSummary.seq) return;
      var empty = document.getElementById("om-sum-empty");
      if (empty) empty.style.display = n === 0 ? "block" : "none";
      document.documentElement.setAttribute("data-window-incidents", String(n));
    }).catch(function () {});
    // The hot-cell figure is the hotspot result of *this* filter: while a refetch runs,
    // wait for it (showing the old figure would lag one change behind).
    var hot = onemap.cfg.hotspotSource === "api" ? onemap.overlays.hotspots : null;
    var showHot = function () {
      if (seq !== updateSummary.seq) return;
      var n = onemap.analysis.hotCellsInView(hot);
      setText("om-sum-hot", n === null ? "—" : U.fmt(n));
    };
    if (hot) {
      if (hot._stale && !hot._map) { setText("om-sum-hot", "…"); hot.refresh().then(showHot); }
      else if (hot.status === "loading") { setText("om-sum-hot", "…"); hot.once("onemap:loaded", showHot); }
      else showHot();
    }
    if (onemap.coverage === undefined) {
      onemap.coverage = null;
      (onemap.drawnAll || Promise.resolve()).then(onemap.analysis.coverageShare).then(function (v) {
        onemap.coverage = v;
        setText("om-sum-coverage", v === null ? "—" : v.toFixed(1) + "%");
      });
    }
    var from = new Date(f.from), to = new Date(new Date(f.to).getTime() - 1);
    setText("om-sum-window", t("sum.window") + "：" + U.isoDay(from) + " – " + U.isoDay(to));
  }

  function swatch(color, hollow) {
    return el("i", { class: "om-swatch" + (hollow ? " om-hollow" : ""), style: "background:" + (hollow ? "#fff" : color) + ";border-color:" + color });
  }

  // Legend sections per layer; only the layers on the map show theirs.
  function legendSections() {
    var C = S.C, band = onemap.cfg.band;
    var lo = Math.round(band.target * (1 - band.tolerance)), hi = Math.round(band.target * (1 + band.tolerance));
    var tb = function (k) { return t(k).replace("{lo}", lo).replace("{hi}", hi); };
    var item = function (sw, text) { return el("div", { class: "om-legend-row" }, [sw, el("span", { text: text })]); };
    var dot = function (color, size) {
      return el("i", { class: "om-dot", style: "background:" + color + ";width:" + size + "px;height:" + size + "px" });
    };
    var cells = onemap.cfg.role === "widget";
    var breaks = S.COUNT_BREAKS;
    return {
      admin_areas: [item(el("i", { class: "om-line", style: "border-top:3px solid " + C.admin.district }), t("v.district")),
        item(el("i", { class: "om-line", style: "border-top:2px solid " + C.admin.street }), t("v.street")),
        item(el("i", { class: "om-line", style: "border-top:1px dashed " + C.admin.community }), t("v.community"))],
      grids: [item(swatch(C.grid.under), tb("legend.grid_under")), item(swatch(C.grid.ok, true), tb("legend.grid_ok")),
        item(swatch(C.grid.over), tb("legend.grid_over"))],
      buildings: [item(swatch(C.buildingLayer.fill), t("legend.building"))],
      roads: [item(el("i", { class: "om-line", style: "border-top:3px solid " + C.road }), t("legend.road"))],
      places: ["school", "hospital", "station", "police", "market", "government", "hotel", "other"].map(function (k) {
        return item(dot(C.place[k], 8), t("v." + k));
      }).concat([item(el("i", { class: "om-dot", style: "background:#fff;border:1.5px solid #222;width:9px;height:9px" }), t("legend.place_key"))]),
      cameras: ["A", "B", "C"].map(function (k) { return item(dot(C.camera[k], 8), t("v." + k)); })
        .concat([item(swatch("#555", true), t("legend.camera_off")), item(dot(C.cameraCluster, 14), t("legend.camera_cluster"))]),
      camera_views: [item(swatch(C.view), t("legend.view"))],
      incidents: cells
        ? breaks.map(function (b, i) {
          return item(swatch(C.intensity[i]), i + 1 < breaks.length ? b + "–" + (breaks[i + 1] - 1) : "≥ " + b);
        }).concat([el("div", { class: "om-note", text: t("legend.incident_cells") })])
        : Object.keys(C.incident).map(function (k) { return item(dot(C.incident[k], 9), t("v." + k)); })
          .concat([el("div", { class: "om-note", text: t("legend.incident_size") })]),
      hotspots: [3, 2, 1, -1, -2, -3].map(function (b) { return item(swatch(C.hot[b]), t("bin." + b)); }),
      emerging: ["new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating", "historical", "cold"]
        .map(function (k) { return item(swatch(C.emerging[k]), t("em." + k)); }),
      coverage_gaps: [el("div", { class: "om-ramp", style: "background:linear-gradient(90deg," + C.gap.join(",") + ")" })],
      heatmap: [el("div", { class: "om-ramp", style: "background:linear-gradient(90deg," + C.intensity.join(",") + ")" })],
      posts: Object.keys(C.post).map(function (k) { return item(dot(C.post[k], 10), t("v." + k)); })
        .concat([item(el("i", { class: "om-dot", style: "background:#fff;border:2px solid " + C.post.police_post + ";width:8px;height:8px" }), t("legend.post_off"))]),
      response_areas: [1, 3, 5].map(function (m) { return item(swatch(C.minutes[m]), t("p11.minutes").replace("{m}", m)); }),
      case_warnings: ["red", "yellow", "green"].map(function (k) { return item(dot(C.light[k], 10), t("p11." + k)); })
        .concat([el("div", { class: "om-note", text: t("legend.case_cluster") })]),
      safety_index: ["none", "blue", "yellow", "orange", "red"].map(function (k) { return item(swatch(C.risk[k]), t("risk." + k)); })
        .concat([el("div", { class: "om-note", text: t("legend.safety_note") })]),
    };
  }

  var LegendControl = L.Control.extend({
    options: { position: "bottomright" },
    onAdd: function (map) {
      var box = el("div", { class: "om-panel om-legend", id: "om-legend" });
      this._box = box;
      this._sections = legendSections();
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      map.on("overlayadd overlayremove", this.update, this);
      this.update();
      return box;
    },
    update: function () {
      var box = this._box, sections = this._sections;
      box.innerHTML = "";
      box.appendChild(el("h3", { text: t("legend.title") }));
      var title = { cameras: t("legend.camera_class"), coverage_gaps: t("legend.gap"), heatmap: t("legend.heat"),
        response_areas: t("legend.response"),
        admin_areas: t("legend.admin"), incidents: onemap.cfg.role === "widget" ? t("layer.incident_cells") : t("layer.incidents") };
      Object.keys(sections).forEach(function (key) {
        var layer = onemap.overlays[key];
        var planned = key === "grids" && onemap.planner && onemap.planner.state.active && onemap.planner.state.layer;
        if (!planned && (!layer || !onemap.map.hasLayer(layer))) return;
        var sec = el("div", { class: "om-legend-section", "data-layer": key }, [el("h4", { text: title[key] || t("layer." + key) })].concat(sections[key]));
        box.appendChild(sec);
      });
      box.style.display = box.children.length > 1 ? "flex" : "none";
    },
  });

  function header(cfg) {
    var h = el("div", { class: "om-header" }, [el("span", { class: "om-logo", text: "◉" }), el("span", { class: "om-title", text: t("title") })]);
    document.body.appendChild(h);
    return h;
  }

  onemap.controls = {
    initFilter: initFilter, FilterControl: FilterControl, SummaryControl: SummaryControl,
    LegendControl: LegendControl, updateSummary: updateSummary, header: header, setPreset: setPreset,
    setCustom: setCustom, writeUrl: writeUrl, urlView: urlView,
  };
  onemap.filterParams = filterParams;
})();
