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
  function initFilter(cfg) {
    var params = new URLSearchParams(window.location.search);
    var anchor = new Date(cfg.anchor);
    var to = new Date(anchor.getTime() + 1000);
    var days = cfg.windowDays;
    var f = { days: days, to: to, from: new Date(to.getTime() - days * DAY), category: params.get("category") || "", source: params.get("source") || "" };
    if (params.get("from") && params.get("to")) {
      f.days = null;
      f.from = new Date(params.get("from"));
      f.to = new Date(params.get("to"));
    }
    onemap.filter = f;
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

  function setCustom(fromDay, toDay) {
    var from = new Date(fromDay + "T00:00:00"), to = new Date(toDay + "T00:00:00");
    if (isNaN(from) || isNaN(to) || to < from) return;
    onemap.filter.days = null;
    onemap.filter.from = from;
    onemap.filter.to = new Date(to.getTime() + DAY);
    onemap.applyFilter();
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
    var hot = onemap.cfg.hotspotSource === "api" ? onemap.overlays.hotspots : null;
    var showHot = function () {
      var n = onemap.analysis.hotCellsInView(hot);
      setText("om-sum-hot", n === null ? "—" : U.fmt(n));
    };
    if (hot) {
      if (hot._stale && !hot._map) hot.refresh().then(showHot); else showHot();
    }
    if (onemap.coverage === undefined) {
      onemap.coverage = null;
      onemap.analysis.coverageShare().then(function (v) {
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
    return {
      grids: [item(swatch(C.grid.under), tb("legend.grid_under")), item(swatch(C.grid.ok), tb("legend.grid_ok")),
        item(swatch(C.grid.over), tb("legend.grid_over"))],
      cameras: ["A", "B", "C"].map(function (k) { return item(swatch(C.camera[k]), t("v." + k)); })
        .concat([item(swatch("#555", true), t("legend.camera_off"))]),
      incidents: Object.keys(C.incident).map(function (k) { return item(swatch(C.incident[k]), t("v." + k)); }),
      hotspots: [3, 2, 1, -1, -2, -3].map(function (b) { return item(swatch(C.hot[b]), t("bin." + b)); }),
      emerging: ["new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating", "historical", "cold"]
        .map(function (k) { return item(swatch(C.emerging[k]), t("em." + k)); }),
      coverage_gaps: [el("div", { class: "om-ramp om-ramp-gap" })],
      heatmap: [el("div", { class: "om-ramp om-ramp-heat" })],
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
      var title = { cameras: t("legend.camera_class"), coverage_gaps: t("legend.gap"), heatmap: t("legend.heat") };
      Object.keys(sections).forEach(function (key) {
        var layer = onemap.overlays[key];
        if (!layer || !onemap.map.hasLayer(layer)) return;
        var sec = el("div", { class: "om-legend-section", "data-layer": key }, [el("h4", { text: title[key] || t("layer." + key) })].concat(sections[key]));
        box.appendChild(sec);
      });
      box.style.display = box.children.length > 1 ? "flex" : "none";
    },
  });

  function header(cfg) {
    var h = el("div", { class: "om-header" }, [el("span", { class: "om-logo", text: "◉" }), el("span", { class: "om-title", text: t("title") })]);
    document.body.appendChild(h);
  }

  onemap.controls = {
    initFilter: initFilter, FilterControl: FilterControl, SummaryControl: SummaryControl,
    LegendControl: LegendControl, updateSummary: updateSummary, header: header, setPreset: setPreset,
    setCustom: setCustom,
  };
  onemap.filterParams = filterParams;
})();
