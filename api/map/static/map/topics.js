/* onemap page: the topic panels of ARCHITECTURE.md §9–§10, read from their JSON APIs —
 * response circles (1/3/5-minute areas, the city's reach, what no post reaches in time,
 * the nearest posts to a picked incident with their routes), case flow (办结率, on-time
 * and satisfaction rates, open cases lit red/yellow/green at the end of the time window,
 * the warning list and departments), 平安指数 per community with its risk level and
 * ranking, and the period's report. The server says which APIs it has (``cfg.topics``;
 * none for a widget); a topic without one shows "not available" and asks nothing.
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});
  var U = onemap.util, S = onemap.styles, el = U.el, t = U.t;
  var C = S.C;
  var BREAKS = [1, 3, 5];
  var layers = {};
  var st = { built: false, details: {}, ran: {} };

  // Topic panels live in the full page's dock (an embed has none).
  function has(key) { return !onemap.cfg.embed && !!(onemap.cfg.topics || {})[key]; }

  function off(key) {
    if (layers[key]) { onemap.map.removeLayer(layers[key]); delete layers[key]; }
  }

  function put(key, layer) {
    off(key);
    layers[key] = layer.addTo(onemap.map);
    return layer;
  }

  function fill(text, values) {
    return Object.keys(values).reduce(function (s, k) { return s.replace("{" + k + "}", values[k]); }, text);
  }

  function pct(v) { return v === null || v === undefined ? "—" : (100 * v).toFixed(1) + "%"; }

  function swatchRow(color, text, attrs) {
    return el("div", Object.assign({ class: "om-legend-row" }, attrs || {}), [
      el("i", { class: "om-swatch", style: "background:" + color + ";border-color:" + color }), el("span", { text: text })]);
  }

  function figure(key, value, label) {
    return el("div", { class: "om-figure" }, [el("div", { class: "om-figure-value", "data-figure": key, text: value }),
      el("div", { class: "om-figure-label", text: label })]);
  }

  function msg(box, text, cls) {
    box.appendChild(el("div", { class: "om-msg " + (cls || ""), text: text }));
  }

  // A clickable list row: flies to ``where`` (a Leaflet layer) and opens its popup.
  function listRow(attrs, parts, layer) {
    return el("div", Object.assign({ class: "om-list-row", onclick: function () {
      if (layer.getBounds) onemap.map.fitBounds(layer.getBounds(), { maxZoom: 17, animate: false, padding: [30, 30] });
      else onemap.map.setView(layer.getLatLng(), Math.max(onemap.map.getZoom(), 17), { animate: false });
      if (layer.openPopup) layer.openPopup();
    } }, attrs), parts.map(function (p) { return typeof p === "string" ? el("span", { text: p }) : p; }));
  }

  function popupOf(title, fields) {
    return function (ft, layer) {
      layer.bindPopup(function () {
        var html = U.popupHtml(title(ft.properties), ft.properties, fields);
        if (ft.geometry.type === "Point" && has("response")) {
          var c = ft.geometry.coordinates;
          html = html.replace(/<\/div>$/, nearestButton(c[1], c[0]) + "</div>");
        }
        return html;
      });
    };
  }

  // ---- response circles -----------------------------------------------------------------
  function response(box) {
    var q = { minutes: BREAKS.join(","), mode: "drive" };
    return Promise.all([
      U.api("/api/v1/response/areas" + U.qs(Object.assign({ overlap: "dissolve" }, q))),
      U.api("/api/v1/response/summary" + U.qs(Object.assign({ level: "city" }, q))),
      U.api("/api/v1/response/summary" + U.qs(Object.assign({ level: "community" }, q))),
    ]).then(function (r) {
      box.innerHTML = "";
      var areas = (r[0].body.features || []).slice().sort(function (a, b) { return b.properties.minutes - a.properties.minutes; });
      var city = (r[1].body.units || [])[0];
      var unreached = (r[2].body.unreached || {}).features || [];
      var last = BREAKS[BREAKS.length - 1];
      var areaLayer = L.geoJSON({ type: "FeatureCollection", features: areas }, {
        pane: onemap.paneFor("topic_areas"),
        style: function (f) { var c = C.minutes[Math.round(f.properties.minutes)]; return { color: c, weight: 1, fillColor: c, fillOpacity: 0.3 }; },
        onEachFeature: popupOf(function (p) { return t("pop.minutes").replace("{m}", p.minutes); }, ["households", "population", "area_m2"]),
      });
      var units = unreached.filter(function (f) { return f.properties.kind === "unit"; });
      var places = unreached.filter(function (f) { return f.properties.kind !== "unit"; });
      var byName = {};
      var unitLayer = L.geoJSON({ type: "FeatureCollection", features: units }, {
        pane: onemap.paneFor("topic_areas"),
        style: function (f) {
          return { color: C.unreached, weight: 1.5, dashArray: "5 4", fillColor: C.unreached, fillOpacity: 0.04 + 0.22 * (f.properties.share_unreached || 0) };
        },
        onEachFeature: function (f, l) {
          byName["u:" + f.properties.code] = l;
          popupOf(function (p) { return p.name; }, ["households", "households_unreached", "share_unreached"])(f, l);
        },
      });
      var placeLayer = L.geoJSON({ type: "FeatureCollection", features: places }, {
        pane: onemap.paneFor("cases"),
        pointToLayer: function (f, ll) { return L.circleMarker(ll, { pane: onemap.paneFor("cases"), radius: 6, color: C.unreached, weight: 2.5, fillColor: "#fff", fillOpacity: 1 }); },
        onEachFeature: function (f, l) {
          byName["p:" + f.properties.name] = l;
          l.bindPopup(function () { return U.popupHtml(f.properties.name, f.properties, ["place_kind", "seconds"]); });
        },
      });
      put("response", L.layerGroup([areaLayer, unitLayer, placeLayer]));
      // The city's reach per break.
      var table = el("table", { class: "om-topic-table", id: "om-reach-table" }, [el("tr", {}, [
        el("th", { text: "" }), el("th", { text: t("p11.reach_households") }), el("th", { text: t("p11.reach_share") }), el("th", { text: t("p11.reach_places") })])]);
      BREAKS.forEach(function (m) {
        var r0 = city && city.reached[String(m)];
        table.appendChild(el("tr", { "data-minutes": String(m) }, [
          el("th", {}, [el("i", { class: "om-swatch", style: "background:" + C.minutes[m] + ";border-color:" + C.minutes[m] }), el("span", { text: " " + t("p11.minutes").replace("{m}", m) })]),
          el("td", { class: "om-num", "data-col": "households", text: r0 ? U.fmt(r0.households) : "—" }),
          el("td", { class: "om-num", "data-col": "share", text: r0 ? pct(r0.household_share) : "—" }),
          el("td", { class: "om-num", "data-col": "key_places", text: r0 ? U.fmt(r0.key_places) + (city ? " / " + U.fmt(city.key_places) : "") : "—" }),
        ]));
      });
      box.appendChild(el("h4", { text: t("p11.reach_title") }));
      box.appendChild(table);
      // What no post reaches within the largest break.
      var list = el("div", { class: "om-list", id: "om-unreached" });
      if (!units.length && !places.length) msg(list, fill(t("p11.unreached_none"), { m: last }), "om-empty");
      if (units.length) list.appendChild(el("h4", { text: fill(t("p11.unreached_units"), { m: last }) }));
      units.slice().sort(function (a, b) { return b.properties.households_unreached - a.properties.households_unreached; }).forEach(function (f) {
        var p = f.properties;
        list.appendChild(listRow({ "data-code": p.code, "data-kind": "unit" }, [p.name, fill(t("p11.households_n"), { n: U.fmt(p.households_unreached) }) + " · " + pct(p.share_unreached)], byName["u:" + p.code]));
      });
      if (places.length) list.appendChild(el("h4", { text: fill(t("p11.unreached_places"), { m: last }) }));
      places.forEach(function (f) {
        var p = f.properties, s = p.seconds === null || p.seconds === undefined ? t("p11.never") : (p.seconds / 60).toFixed(1) + " " + t("p11.minutes").replace("{m}", "").trim();
        list.appendChild(listRow({ "data-name": p.name, "data-kind": "place" }, [p.name, U.show("kind", p.place_kind) + " · " + s], byName["p:" + p.name]));
      });
      box.appendChild(list);
      // Nearest posts to a picked point or incident.
      var near = el("div", { class: "om-nearest", id: "om-nearest" }, [
        el("h4", { text: t("p11.nearest") }),
        el("div", { class: "om-note", text: t("p11.nearest_hint") }),
        el("button", { type: "button", id: "om-nearest-pick", text: t("p11.pick"), onclick: pickPoint }),
        el("div", { id: "om-nearest-list" }),
      ]);
      box.appendChild(near);
    });
  }

  function pickPoint() {
    var list = document.getElementById("om-nearest-list");
    if (list) list.textContent = t("p11.pick_now");
    // Caught before any layer sees the click (clickable layers stop it from reaching the map).
    var box = onemap.map.getContainer();
    box.style.cursor = "crosshair";
    var take = function (ev) {
      if (ev.target.closest && ev.target.closest(".leaflet-control")) return;
      ev.stopPropagation();
      box.removeEventListener("click", take, true);
      box.style.cursor = "";
      var ll = onemap.map.mouseEventToLatLng(ev);
      nearest(ll.lat, ll.lng);
    };
    box.addEventListener("click", take, true);
  }

  function nearestButton(lat, lon) {
    return '<button type="button" class="om-nearest-btn" data-lat="' + lat.toFixed(7) + '" data-lon="' + lon.toFixed(7) + '">' + U.escapeHtml(t("p11.nearest")) + "</button>";
  }

  var ROUTE = ["#08306b", "#2171b5", "#6baed6"];

  // The k fastest posts to (lat, lon): routes on the map, fastest first in the panel.
  function nearest(lat, lon) {
    var seq = (st.nearSeq = (st.nearSeq || 0) + 1);
    return U.api("/api/v1/response/nearest" + U.qs({ lon: lon.toFixed(7), lat: lat.toFixed(7), k: 3, mode: "drive" })).then(function (r) {
      if (seq !== st.nearSeq) return;
      var feats = (r.body && r.body.features) || [];
      var routes = L.geoJSON({ type: "FeatureCollection", features: feats.slice().reverse() }, {
        pane: onemap.paneFor("routes"),
        style: function (f) { var i = f.properties.rank - 1; return { color: ROUTE[Math.min(i, 2)], weight: 6 - Math.min(i, 2) * 1.5, opacity: 0.9 }; },
        onEachFeature: function (f, l) { l.bindPopup(U.popupHtml(f.properties.post, f.properties, ["code", "kind", "seconds", "metres", "turnout_s"])); },
      });
      var mark = L.circleMarker([lat, lon], { pane: onemap.paneFor("routes"), radius: 7, color: "#111", weight: 3, fill: true, fillColor: "#fff", fillOpacity: 1 });
      put("nearest", L.layerGroup([routes, mark]));
      onemap.nearestResult = r.body;
      var list = document.getElementById("om-nearest-list");
      if (!list) return;
      list.innerHTML = "";
      if (!feats.length) { msg(list, t("p11.nearest_none"), "om-empty"); return; }
      feats.forEach(function (f) {
        var p = f.properties;
        list.appendChild(el("div", { class: "om-route", "data-code": p.code }, [
          el("i", { class: "om-line", style: "border-top:4px solid " + ROUTE[Math.min(p.rank - 1, 2)] }),
          el("span", { text: fill(t("p11.route"), { rank: p.rank, post: p.post, min: (p.seconds / 60).toFixed(1), km: (p.metres / 1000).toFixed(2) }) }),
        ]));
      });
    }).catch(function (e) {
      var list = document.getElementById("om-nearest-list");
      if (list) list.textContent = t("msg.error") + "：" + e.message;
    });
  }

  // ---- case flow --------------------------------------------------------------------------
  // The lights are those at the end of the time window (now when the window ends now).
  function caseWindow() {
    var f = onemap.filterParams(), at = new Date(Math.min(new Date(f.to).getTime(), Date.now()));
    return { from: f.from, to: f.to, at: at.toISOString() };
  }

  function hours(h) { return Math.abs(h) >= 10 ? Math.round(Math.abs(h)) : Math.abs(h).toFixed(1); }

  function cases(box) {
    var w = caseWindow();
    // No case received in the window: the figures' API would answer 422; show the empty state.
    var figures = onemap.analysis.windowCount({ from: w.from, to: w.to }).then(function (n) {
      return n > 0 ? U.api("/api/v1/cases/summary" + U.qs({ level: "city", from: w.from, to: w.to, at: w.at }))
        : { body: { units: [] } };
    });
    return Promise.all([
      figures,
      U.api("/api/v1/cases/warnings" + U.qs({ level: "community", at: w.at, limit: 2000 })),
    ]).then(function (r) {
      box.innerHTML = "";
      var sum = (r[0].body.units || [])[0] || {}, warn = r[1].body || {};
      var fc = warn.cases || { type: "FeatureCollection", features: [] };
      box.appendChild(el("div", { class: "om-note", id: "om-cases-window", text: fill(t("p11.cases_window"), {
        from: U.isoDay(new Date(w.from)), to: U.isoDay(new Date(new Date(w.to).getTime() - 1)), at: new Date(w.at).toLocaleString(onemap.cfg.lang === "zh" ? "zh-CN" : "en") }) }));
      box.appendChild(el("div", { class: "om-figures om-figures-4", id: "om-case-figures" }, [
        figure("received", U.fmt(sum.received || 0), t("p11.received")),
        figure("closure_rate", pct(sum.closure_rate), t("p11.closure")),
        figure("on_time_rate", pct(sum.on_time_rate), t("p11.on_time")),
        figure("satisfaction_rate", pct(sum.satisfaction_rate), t("p11.satisfaction")),
        figure("overdue_open", U.fmt(sum.overdue_open || 0), t("p11.overdue")),
      ]));
      if (!sum.received) msg(box, t("p11.no_cases"), "om-empty");
      var total = { red: 0, yellow: 0, green: 0 };
      (warn.units || []).forEach(function (u) { total.red += u.red || 0; total.yellow += u.yellow || 0; total.green += u.green || 0; });
      box.appendChild(el("div", { class: "om-legend-section om-lights", id: "om-lights" }, ["red", "yellow", "green"].map(function (k) {
        return swatchRow(C.light[k], t("p11." + k) + "：" + U.fmt(total[k]), { "data-light": k });
      })));
      var open = total.red + total.yellow + total.green;
      var matched = fc.numberMatched === undefined ? fc.features.length : fc.numberMatched;
      if (!open) msg(box, t("p11.no_open"), "om-empty");
      else if (matched > fc.features.length) box.appendChild(el("div", { class: "om-note", text: fill(t("p11.shown_of"), { n: U.fmt(fc.features.length), total: U.fmt(matched) }) }));
      var byId = {};
      var fields = ["external_id", "category", "source", "department", "status", "occurred_at", "limit_at", "hours_past_limit"];
      put("cases", L.geoJSON(fc, {
        pane: onemap.paneFor("cases"),
        pointToLayer: function (f, ll) { return L.circleMarker(ll, Object.assign(S.caseLight(f.properties), { pane: onemap.paneFor("cases") })); },
        onEachFeature: function (f, l) {
          byId[f.properties.external_id] = l;
          popupOf(function (p) { return t("p11." + p.light) + " · " + (p.external_id || ""); }, fields)(f, l);
        },
      }));
      // Warnings: red cases most overdue first, then yellow ones closest to their limit.
      var warned = fc.features.filter(function (f) { return f.properties.light !== "green"; }).sort(function (a, b) {
        return (b.properties.hours_past_limit || 0) - (a.properties.hours_past_limit || 0);
      });
      if (warned.length) {
        var list = el("div", { class: "om-list", id: "om-warnings" }, [el("h4", { text: t("p11.warn_list") })]);
        warned.slice(0, 12).forEach(function (f) {
          var p = f.properties, h = p.hours_past_limit || 0;
          var when = h >= 0 ? fill(t("p11.hours_over"), { h: hours(h) }) : fill(t("p11.hours_left"), { h: hours(h) });
          list.appendChild(listRow({ "data-id": p.external_id, "data-light": p.light }, [
            el("i", { class: "om-dot", style: "background:" + C.light[p.light] + ";width:9px;height:9px" }),
            p.external_id, (p.department || "—") + " · " + when], byId[p.external_id]));
        });
        box.appendChild(list);
      }
      var deps = (warn.by_department || []).filter(function (d) { return d.red || d.yellow || d.green; })
        .sort(function (a, b) { return b.red - a.red || b.yellow - a.yellow; });
      if (deps.length) {
        var tbl = el("table", { class: "om-topic-table", id: "om-departments" }, [el("tr", {}, [
          el("th", { text: t("p11.department") })].concat(["red", "yellow", "green"].map(function (k) {
          return el("th", {}, [el("i", { class: "om-dot", style: "background:" + C.light[k] + ";width:9px;height:9px" })]);
        })))]);
        deps.forEach(function (d) {
          tbl.appendChild(el("tr", { "data-department": d.department }, [el("td", { text: d.department || "—" })].concat(["red", "yellow", "green"].map(function (k) {
            return el("td", { class: "om-num", "data-light": k, text: U.fmt(d[k] || 0) });
          }))));
        });
        box.appendChild(el("h4", { text: t("p11.by_department") }));
        box.appendChild(tbl);
      }
    });
  }

  // ---- 平安指数 ------------------------------------------------------------------------------
  function safetyFeatures(fc) {
    return L.geoJSON(fc, {
      pane: onemap.paneFor("topic_areas"),
      style: function (f) { return { color: "#555", weight: 1, fillColor: C.risk[f.properties.level] || "#ccc", fillOpacity: 0.55 }; },
      onEachFeature: function (f, l) {
        l.bindPopup(function () {
          var p = f.properties;
          return U.popupHtml((p.name || p.code) + " · " + t("risk." + p.level), p, ["index", "rank", "change", "received", "households"]);
        });
      },
    });
  }

  function safety(box) {
    if (!onemap.cfg.hasCases) {
      box.innerHTML = "";
      msg(box, t("p11.no_index"), "om-empty");
      return Promise.resolve();
    }
    return U.api("/api/v1/safety-index" + U.qs({ level: "community" })).then(function (r) {
      box.innerHTML = "";
      var fc = r.body || { features: [] }, feats = fc.features || [];
      if (!feats.length) { msg(box, t("p11.no_index"), "om-empty"); return; }
      var layer = put("safety", safetyFeatures(fc));
      var byCode = {};
      layer.eachLayer(function (l) { byCode[l.feature.properties.code] = l; });
      box.appendChild(el("div", { class: "om-note", id: "om-safety-period", text: fill(t("p11.period"), { p: fc.period, q: fc.previous || "—" }) }));
      var n = { none: 0, blue: 0, yellow: 0, orange: 0, red: 0 };
      feats.forEach(function (f) { n[f.properties.level] = (n[f.properties.level] || 0) + 1; });
      box.appendChild(el("div", { class: "om-legend-section", id: "om-risk-counts" }, ["red", "orange", "yellow", "blue", "none"].map(function (k) {
        return swatchRow(C.risk[k], t("risk." + k) + "：" + n[k], { "data-risk": k });
      })));
      var list = el("div", { class: "om-list", id: "om-safety-rank" }, [el("h4", { text: t("p11.ranking") })]);
      feats.slice().sort(function (a, b) { return a.properties.rank - b.properties.rank; }).forEach(function (f) {
        var p = f.properties, ch = typeof p.change === "number" ? " (" + (p.change > 0 ? "▲" : p.change < 0 ? "▼" : "") + Math.abs(p.change).toFixed(1) + ")" : "";
        list.appendChild(listRow({ "data-code": p.code, "data-risk": p.level }, [
          el("i", { class: "om-swatch", style: "background:" + C.risk[p.level] + ";border-color:#555" }),
          p.rank + ". " + (p.name || p.code), Number(p.index).toFixed(1) + ch], byCode[p.code]));
      });
      box.appendChild(list);
      box.appendChild(el("details", { class: "om-method" }, [el("summary", { text: t("p11.method") }), el("div", { class: "om-note", text: fc.method || "" })]));
    });
  }

  // The 平安指数 overlay of the layer control for readers (computed by the API when missing).
  function safetyLayer() {
    return new onemap.analysis.FetchedLayer("safety_index", function () {
      if (!onemap.cfg.hasCases) return Promise.resolve(null);
      return U.api("/api/v1/safety-index" + U.qs({ level: "community" })).then(function (r) {
        var feats = (r.body && r.body.features) || [];
        if (!feats.length) return null;
        var layer = L.geoJSON(r.body, {
          pane: onemap.paneFor("safety_index"),
          style: function (f) { return S.safety(f.properties); },
          onEachFeature: function (f, l) {
            l.bindPopup(function () {
              var p = f.properties;
              return U.popupHtml((p.name || p.code) + " · " + t("risk." + p.level), p, ["index", "rank", "change", "received"]);
            });
          },
        });
        return { layer: layer, count: feats.length, data: feats };
      });
    });
  }

  function period() {
    var a = new Date(onemap.cfg.anchor);
    return a.getFullYear() + "-" + String(a.getMonth() + 1).padStart(2, "0");
  }

  var TOPICS = [
    { key: "response", run: response }, { key: "cases", run: cases, filtered: true }, { key: "safety", run: safety },
  ];

  function runTopic(tp) {
    var detail = st.details[tp.key];
    st.ran[tp.key] = JSON.stringify(onemap.filterParams());
    detail.innerHTML = "";
    msg(detail, t("p11.loading"));
    detail.setAttribute("data-state", "loading");
    return tp.run(detail).then(function () {
      detail.setAttribute("data-state", "ready");
    }).catch(function (e) {
      detail.innerHTML = "";
      msg(detail, t("msg.error") + "：" + e.message, "om-error");
      detail.setAttribute("data-state", "error");
    });
  }

  function stopTopic(tp) {
    off(tp.key);
    if (tp.key === "response") off("nearest");
    st.details[tp.key].innerHTML = "";
    st.details[tp.key].removeAttribute("data-state");
  }

  // The topics tab: a switch per topic (or "not available") and the report link. Built once;
  // later calls (a filter change) refresh the topics that follow the filter.
  function render(box) {
    if (st.built && box.firstChild) {
      TOPICS.forEach(function (tp) {
        if (tp.filtered && layers[tp.key] && st.ran[tp.key] !== JSON.stringify(onemap.filterParams())) runTopic(tp);
      });
      return;
    }
    st.built = true;
    box.innerHTML = "";
    box.appendChild(el("h3", { text: t("p11.title") }));
    TOPICS.forEach(function (tp) {
      var row = el("div", { class: "om-topic", "data-topic": tp.key });
      var detail = el("div", { class: "om-topic-detail", id: "om-topic-detail-" + tp.key });
      st.details[tp.key] = detail;
      if (!has(tp.key)) {
        row.appendChild(el("label", { text: t("p11." + tp.key) }));
        row.appendChild(el("span", { class: "om-note", text: t("p11.unavailable") }));
      } else {
        var check = el("input", { type: "checkbox", id: "om-topic-" + tp.key });
        check.addEventListener("change", function () { if (check.checked) runTopic(tp); else stopTopic(tp); });
        row.appendChild(el("label", {}, [check, el("span", { text: " " + t("p11." + tp.key) })]));
      }
      box.appendChild(row);
      box.appendChild(detail);
    });
    var rep = el("div", { class: "om-topic", "data-topic": "report" });
    if (has("report")) {
      rep.appendChild(el("a", { id: "om-report-link", target: "_blank", href: onemap.cfg.root + "/api/v1/reports/" + period() + ".html", text: t("p11.report") + " " + period() }));
    } else {
      rep.appendChild(el("label", { text: t("p11.report") }));
      rep.appendChild(el("span", { class: "om-note", text: t("p11.unavailable") }));
    }
    box.appendChild(rep);
  }

  // "Nearest posts" buttons inside popups (tile layers and the panels' own features); caught
  // while capturing, since Leaflet popups stop clicks from bubbling out of them.
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest(".om-nearest-btn");
    if (!b) return;
    e.preventDefault();
    if (onemap.panels.state.tab !== "topics") onemap.panels.show("topics");
    var check = document.getElementById("om-topic-response");
    var lat = Number(b.getAttribute("data-lat")), lon = Number(b.getAttribute("data-lon"));
    var go = function () { return nearest(lat, lon); };
    if (check && !check.checked) {
      check.checked = true;
      runTopic(TOPICS[0]).then(go);
    } else go();
  }, true);

  onemap.topics = {
    render: render, layers: layers, has: has, nearest: nearest, nearestButton: nearestButton,
    safetyLayer: safetyLayer, state: st,
  };
})();
