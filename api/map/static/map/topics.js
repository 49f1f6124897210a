/* onemap page: the topic layers of DESIGN §9–§10 — response circles (1/3/5 minutes) and
 * unreached places, open cases by red/yellow/green, 平安指数 by community with its risk
 * level, and the period's report. The server says which of these APIs it has
 * (``cfg.topics``); a topic without one shows "not available" and asks nothing.
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});
  var U = onemap.util, el = U.el, t = U.t;

  var MINUTES = { 1: "#006d2c", 3: "#31a354", 5: "#a1d99b" };
  var LIGHT = { red: "#d7191c", yellow: "#fdae61", green: "#1a9641" };
  var RISK = { none: "#f0f0f0", blue: "#4575b4", yellow: "#fee090", orange: "#fc8d59", red: "#d73027" };
  var layers = {};

  function off(key) {
    if (layers[key]) { onemap.map.removeLayer(layers[key]); delete layers[key]; }
  }

  function swatchRow(color, text) {
    return el("div", { class: "om-legend-row" }, [el("i", { class: "om-swatch", style: "background:" + color + ";border-color:" + color }), el("span", { text: text })]);
  }

  function popup(title, fields) {
    return function (ft, layer) {
      layer.bindPopup(function () { return U.popupHtml(title(ft.properties), ft.properties, fields); });
    };
  }

  function response(box) {
    off("response");
    return Promise.all([
      U.api("/api/v1/response/areas" + U.qs({ minutes: "1,3,5", mode: "drive", overlap: "dissolve" })),
      U.api("/api/v1/response/summary" + U.qs({ level: "city", minutes: "1,3,5", mode: "drive" })),
    ]).then(function (r) {
      var areas = r[0].body, unreached = (r[1].body && r[1].body.unreached) || { type: "FeatureCollection", features: [] };
      var feats = (areas.features || []).slice().sort(function (a, b) { return b.properties.minutes - a.properties.minutes; });
      var group = L.layerGroup([
        L.geoJSON({ type: "FeatureCollection", features: feats }, {
          pane: onemap.paneFor("topic_areas"),
          style: function (f) { var c = MINUTES[f.properties.minutes] || "#74c476"; return { color: c, weight: 1, fillColor: c, fillOpacity: 0.3 }; },
          onEachFeature: popup(function (p) { return t("p11.minutes").replace("{m}", p.minutes); }, ["households", "population", "area_m2"]),
        }),
        L.geoJSON(unreached, {
          pane: onemap.paneFor("cases"),
          pointToLayer: function (f, ll) { return L.circleMarker(ll, { pane: onemap.paneFor("cases"), radius: 5, color: "#000", weight: 1.5, fillColor: "#fff", fillOpacity: 1 }); },
          onEachFeature: popup(function (p) { return p.name || t("p11.unreached"); }, ["name", "kind"]),
        }),
      ]).addTo(onemap.map);
      layers.response = group;
      box.appendChild(el("div", { class: "om-legend-section" }, [1, 3, 5].map(function (m) {
        return swatchRow(MINUTES[m], t("p11.minutes").replace("{m}", m));
      }).concat([swatchRow("#ffffff", t("p11.unreached") + "：" + U.fmt(unreached.features.length))])));
    });
  }

  function cases(box) {
    off("cases");
    return U.api("/api/v1/cases/warnings" + U.qs({ level: "community" })).then(function (r) {
      var body = r.body || {}, fc = body.cases || { type: "FeatureCollection", features: [] };
      layers.cases = L.geoJSON(fc, {
        pane: onemap.paneFor("cases"),
        pointToLayer: function (f, ll) {
          var c = LIGHT[f.properties.light || f.properties.level || f.properties.warning] || "#888";
          return L.circleMarker(ll, { pane: onemap.paneFor("cases"), radius: 5, color: "#fff", weight: 1, fillColor: c, fillOpacity: 0.95 });
        },
        onEachFeature: popup(function (p) { return p.external_id || t("kind.incident"); }, ["external_id", "category", "department", "status", "occurred_at"]),
      }).addTo(onemap.map);
      var sum = { red: 0, yellow: 0, green: 0 };
      (body.units || []).forEach(function (u) { sum.red += u.red || 0; sum.yellow += u.yellow || 0; sum.green += u.green || 0; });
      box.appendChild(el("div", { class: "om-legend-section" }, ["red", "yellow", "green"].map(function (k) {
        return swatchRow(LIGHT[k], t("p11." + k) + "：" + U.fmt(sum[k]));
      })));
    });
  }

  function safety(box) {
    off("safety");
    return U.api("/api/v1/safety-index" + U.qs({ level: "community" })).then(function (r) {
      layers.safety = L.geoJSON(r.body, {
        pane: onemap.paneFor("topic_areas"),
        style: function (f) { var c = RISK[f.properties.level] || "#ccc"; return { color: "#555", weight: 1, fillColor: c, fillOpacity: 0.55 }; },
        onEachFeature: popup(function (p) {
          return (p.name || p.code) + " · " + t("stats.col.index") + " " + Number(p.index).toFixed(1) + " · " + t("risk." + p.level);
        }, ["code", "rank", "change"]),
      }).addTo(onemap.map);
      box.appendChild(el("div", { class: "om-legend-section" }, ["blue", "yellow", "orange", "red"].map(function (k) {
        return swatchRow(RISK[k], t("risk." + k));
      })));
    });
  }

  function period() {
    var a = new Date(onemap.cfg.anchor);
    return a.getFullYear() + "-" + String(a.getMonth() + 1).padStart(2, "0");
  }

  var TOPICS = [
    { key: "response", run: response }, { key: "cases", run: cases }, { key: "safety", run: safety },
  ];

  // The topics tab: a switch per topic (or "not available") and the report link.
  function render(box) {
    var have = onemap.cfg.topics || {};
    box.innerHTML = "";
    box.appendChild(el("h3", { text: t("p11.title") }));
    TOPICS.forEach(function (tp) {
      var row = el("div", { class: "om-topic", "data-topic": tp.key });
      var detail = el("div", { class: "om-topic-detail" });
      if (!have[tp.key]) {
        row.appendChild(el("label", { text: t("p11." + tp.key) }));
        row.appendChild(el("span", { class: "om-note", text: t("p11.unavailable") }));
      } else {
        var box2 = el("input", { type: "checkbox", id: "om-topic-" + tp.key });
        box2.checked = !!layers[tp.key];
        box2.addEventListener("change", function () {
          detail.innerHTML = "";
          if (box2.checked) tp.run(detail).catch(function (e) { detail.textContent = t("msg.error") + "：" + e.message; });
          else off(tp.key);
        });
        row.appendChild(el("label", {}, [box2, el("span", { text: " " + t("p11." + tp.key) })]));
      }
      box.appendChild(row);
      box.appendChild(detail);
    });
    var rep = el("div", { class: "om-topic", "data-topic": "report" });
    if (have.report) {
      rep.appendChild(el("a", { id: "om-report-link", target: "_blank", href: onemap.cfg.root + "/api/v1/reports/" + period() + ".html", text: t("p11.report") + " " + period() }));
    } else {
      rep.appendChild(el("label", { text: t("p11.report") }));
      rep.appendChild(el("span", { class: "om-note", text: t("p11.unavailable") }));
    }
    box.appendChild(rep);
  }

  onemap.topics = { render: render, layers: layers };
})();
