/* onemap page: the dock of panels — statistics by area (sortable table with bars, rankings,
 * click to zoom and focus), trends (daily/weekly lines with 环比/同比, weekly hotspot
 * play-back) and the topic layers (response circles, case lights, 平安指数, the report).
 * Each panel follows the time/category/source filter.
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});
  var U = onemap.util, S = onemap.styles, el = U.el, t = U.t;

  var st = { tab: null, level: "community", sort: { key: "incidents", desc: true }, data: null, extra: {} };
  var ui = {};

  // ---- focus: the outline of the area a row or a search hit picked ----------------------
  var focusLayer = null;
  function focusOutline(bbox) {
    if (focusLayer) { onemap.map.removeLayer(focusLayer); focusLayer = null; }
    if (!bbox) return;
    focusLayer = L.rectangle([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], {
      pane: onemap.paneFor("focus"), color: "#111", weight: 2.5, dashArray: "6 4", fill: false, interactive: false,
    }).addTo(onemap.map);
  }
  onemap.focusOutline = focusOutline;

  // ---- statistics by area ---------------------------------------------------------------
  var COLS = [
    { key: "rank", num: true }, { key: "name" }, { key: "incidents", num: true, bar: true },
    { key: "per_1000", num: true, digits: 1 }, { key: "households", num: true },
    { key: "cameras_online", num: true }, { key: "coverage", num: true, pct: true },
    { key: "balance", num: true, pct: true },
  ];
  // Columns that appear when the topic APIs exist (ARCHITECTURE.md §5).
  var TOPIC_COLS = [
    { key: "index", num: true, digits: 1, topic: "safety" },
    { key: "overdue", num: true, topic: "cases" },
    { key: "reach", num: true, pct: true, topic: "response" },
  ];

  function columns() {
    var topics = onemap.cfg.topics || {};
    return COLS.concat(TOPIC_COLS.filter(function (c) { return topics[c.topic]; }));
  }

  function colLabel(c) {
    if (c.key === "balance" && st.level === "grid") return t("stats.col.deviation");
    return t("stats.col." + c.key);
  }

  function loadStats() {
    var f = onemap.filterParams(), level = st.level, seq = (st.seq = (st.seq || 0) + 1);
    ui.statsMsg.textContent = t("msg.loading");
    var q = U.qs({ level: level, from: f.from, to: f.to, category: f.category, source: f.source });
    var cov = U.api("/api/v1/coverage/summary" + U.qs({ level: level })).then(function (r) {
      var out = {};
      ((r.body && r.body.units) || []).forEach(function (u) { out[u.code] = u.area_share; });
      return out;
    }).catch(function () { return {}; });
    return Promise.all([U.api("/map/stats" + q), cov, topicColumns(level)]).then(function (res) {
      if (seq !== st.seq) return;
      var units = res[0].body.units, share = res[1], extra = res[2];
      units.forEach(function (u) {
        u.coverage = share[u.code] === undefined ? null : share[u.code];
        Object.keys(extra).forEach(function (k) { u[k] = extra[k][u.code] === undefined ? null : extra[k][u.code]; });
      });
      var ranked = units.slice().sort(function (a, b) { return b.incidents - a.incidents; });
      ranked.forEach(function (u, i) { u.rank = i + 1; });
      st.data = { level: level, count: res[0].body.count, units: units, from: f.from, to: f.to };
      ui.statsMsg.textContent = units.length ? "" : t("empty.stats");
      drawTable();
      document.documentElement.setAttribute("data-stats-rows", String(units.length));
    }).catch(function (e) { ui.statsMsg.textContent = t("msg.error") + "：" + e.message; });
  }

  // Figures of the topic APIs per unit code (only those the service has).
  function topicColumns(level) {
    var topics = onemap.cfg.topics || {}, jobs = [], out = {};
    if (topics.safety && onemap.cfg.hasCases) {  // no case at all: no index (the API says 422)
      jobs.push(U.api("/api/v1/safety-index" + U.qs({ level: level })).then(function (r) {
        out.index = {};
        ((r.body && r.body.features) || []).forEach(function (ft) { out.index[ft.properties.code] = ft.properties.index; });
      }).catch(function () {}));
    }
    if (topics.cases) {
      // Open overdue cases at the end of the window (as the case panel lights them), no list.
      var f = onemap.filterParams(), at = new Date(Math.min(new Date(f.to).getTime(), Date.now()));
      jobs.push(U.api("/api/v1/cases/warnings" + U.qs({ level: level, at: at.toISOString(), limit: 0 })).then(function (r) {
        out.overdue = {};
        ((r.body && r.body.units) || []).forEach(function (u) { out.overdue[u.code] = u.red; });
      }).catch(function () {}));
    }
    if (topics.response) {
      jobs.push(U.api("/api/v1/response/summary" + U.qs({ level: level, minutes: "1,3,5" })).then(function (r) {
        out.reach = {};
        ((r.body && r.body.units) || []).forEach(function (u) {
          var three = u.reached && u.reached["3"];
          out.reach[u.code] = three ? three.household_share : null;
        });
      }).catch(function () {}));
    }
    return Promise.all(jobs).then(function () { return out; });
  }

  function cell(c, u, max) {
    var v = u[c.key];
    if (c.key === "name") return el("td", { text: v });
    var text = v === null || v === undefined ? "—"
      : c.pct ? (c.key === "balance" && st.level === "grid" ? (v > 0 ? "+" : "") : "") + (100 * v).toFixed(1) + "%"
      : c.digits ? Number(v).toFixed(c.digits) : U.fmt(v);
    var td = el("td", { class: "om-num", "data-col": c.key, text: text });
    if (c.bar && max > 0) {
      td.classList.add("om-bar-cell");
      td.appendChild(el("i", { class: "om-bar", style: "width:" + (100 * v / max).toFixed(1) + "%" }));
    }
    return td;
  }

  function sorted() {
    var k = st.sort.key, d = st.sort.desc ? -1 : 1;
    return st.data.units.slice().sort(function (a, b) {
      var x = a[k], y = b[k];
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : x > y ? 1 : 0) * d;
    });
  }

  function drawTable() {
    var cols = columns(), units = sorted();
    var max = units.reduce(function (m, u) { return Math.max(m, u.incidents); }, 0);
    var head = el("tr", {}, cols.map(function (c) {
      var mark = st.sort.key === c.key ? (st.sort.desc ? " ▼" : " ▲") : "";
      return el("th", { "data-col": c.key, text: colLabel(c) + mark, onclick: function () {
        st.sort = { key: c.key, desc: st.sort.key === c.key ? !st.sort.desc : c.key !== "name" && c.key !== "rank" };
        drawTable();
      } });
    }));
    var body = units.map(function (u) {
      var tr = el("tr", { "data-code": u.code, onclick: function () { focusUnit(u); } }, cols.map(function (c) { return cell(c, u, max); }));
      if (onemap.focus && onemap.focus.code === u.code) tr.classList.add("om-focused");
      return tr;
    });
    ui.table.innerHTML = "";
    ui.table.appendChild(el("thead", {}, [head]));
    ui.table.appendChild(el("tbody", {}, body));
  }

  // A row click zooms to the unit, outlines it and focuses the summary on it.
  function focusUnit(u) {
    var b = u.bbox;
    onemap.focus = { level: st.level, code: u.code, name: u.name, bbox: b };
    onemap.map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { animate: false, padding: [20, 20] });
    focusOutline(b);
    ui.focus.textContent = t("stats.filter_on") + u.name;
    ui.focusBox.style.display = "flex";
    drawTable();
    onemap.controls.writeUrl();
  }

  function clearFocus() {
    onemap.focus = null;
    focusOutline(null);
    ui.focusBox.style.display = "none";
    if (st.data) drawTable();
    onemap.controls.writeUrl();
  }

  // ---- export ---------------------------------------------------------------------------
  function exportRows() {
    var cols = columns();
    var rows = sorted().map(function (u) {
      return cols.map(function (c) { var v = u[c.key]; return v === null || v === undefined ? "" : v; }).concat([u.code]);
    });
    return { header: cols.map(colLabel).concat([t("f.code")]), rows: rows };
  }

  function csvText() {
    var d = exportRows(), q = function (v) {
      var s = String(v);
      return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    };
    return [d.header].concat(d.rows).map(function (r) { return r.map(q).join(","); }).join("\r\n") + "\r\n";
  }

  // Excel 2003 XML (opens in Excel and WPS; no library needed).
  function xlsText() {
    var d = exportRows(), x = function (v) {
      var num = typeof v === "number";
      return '<Cell><Data ss:Type="' + (num ? "Number" : "String") + '">' + U.escapeHtml(v) + "</Data></Cell>";
    };
    var rows = [d.header].concat(d.rows).map(function (r) { return "<Row>" + r.map(x).join("") + "</Row>"; });
    return '<?xml version="1.0" encoding="UTF-8"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" ' +
      'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="' + U.escapeHtml(t("stats.title")) +
      '"><Table>' + rows.join("") + "</Table></Worksheet></Workbook>";
  }

  function fileName(ext) {
    var f = onemap.filterParams();
    return "onemap-" + st.level + "-" + f.from.slice(0, 10) + "_" + f.to.slice(0, 10) + "." + ext;
  }

  function download(name, blob) {
    var a = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  // The map as drawn (tiles, canvases, SVG layers in pane order) with title, date and window.
  function mapPng() {
    var map = onemap.map, box = map.getContainer().getBoundingClientRect(), head = 40;
    var canvas = document.createElement("canvas");
    canvas.width = box.width; canvas.height = box.height + head;
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = S.C.land; ctx.fillRect(0, 0, canvas.width, canvas.height);
    var parts = Array.prototype.slice.call(map.getContainer().querySelectorAll(".leaflet-map-pane canvas, .leaflet-map-pane svg, .leaflet-map-pane img.leaflet-tile"));
    var z = function (n) { var p = n.closest(".leaflet-pane"); return p ? Number(getComputedStyle(p).zIndex) || 0 : 0; };
    parts = parts.map(function (n, i) { return { n: n, z: z(n), i: i }; }).sort(function (a, b) { return a.z - b.z || a.i - b.i; });
    var draw = parts.map(function (p) {
      var r = p.n.getBoundingClientRect(), x = r.left - box.left, y = r.top - box.top + head;
      if (!r.width || !r.height || r.right < box.left || r.left > box.right || r.bottom < box.top || r.top > box.bottom) return Promise.resolve(null);
      if (p.n.tagName.toLowerCase() === "svg") {
        var xml = new XMLSerializer().serializeToString(p.n);
        var img = new Image();
        return new Promise(function (res) {
          img.onload = function () { res(function () { ctx.drawImage(img, x, y, r.width, r.height); }); };
          img.onerror = function () { res(null); };
          img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(xml);
        });
      }
      return Promise.resolve(function () { try { ctx.drawImage(p.n, x, y, r.width, r.height); } catch (e) { /* tainted */ } });
    });
    return Promise.all(draw).then(function (fns) {
      fns.forEach(function (fn) { if (fn) fn(); });
      var f = onemap.filterParams();
      ctx.fillStyle = "#0b2447"; ctx.fillRect(0, 0, canvas.width, head);
      ctx.fillStyle = "#fff"; ctx.font = "bold 18px sans-serif";
      ctx.fillText(t("title"), 12, 26);
      ctx.font = "13px sans-serif";
      var note = t("print.window") + " " + f.from.slice(0, 10) + " – " + f.to.slice(0, 10) + "   " + t("print.date") + " " + U.isoDay(new Date());
      ctx.fillText(note, canvas.width - ctx.measureText(note).width - 12, 26);
      return canvas;
    });
  }

  function exportPng() {
    return mapPng().then(function (canvas) {
      return new Promise(function (res) { canvas.toBlob(function (b) { download(fileName("png").replace(st.level, "map"), b); res(b); }); });
    });
  }

  function printLayout() {
    var f = onemap.filterParams();
    ui.printHead.textContent = "";
    ui.printHead.appendChild(el("div", { class: "om-print-title", text: t("title") }));
    ui.printHead.appendChild(el("div", { text: t("print.window") + "：" + f.from.slice(0, 10) + " – " + f.to.slice(0, 10) + "　" + t("print.date") + "：" + U.isoDay(new Date()) }));
    window.print();
  }

  // ---- trends ---------------------------------------------------------------------------
  var SOURCE_COLOURS = { "12345": "#0072B2", "110": "#D55E00", grid: "#009E73", petition: "#CC79A7", other: "#999999" };

  function loadTrend() {
    var f = onemap.filterParams(), seq = (st.tseq = (st.tseq || 0) + 1);
    ui.trendMsg.textContent = t("msg.loading");
    var q = U.qs({ from: f.from, to: f.to, category: f.category, source: f.source, step: st.step || "day", by: st.by || "category" });
    return U.api("/map/trends" + q).then(function (r) {
      if (seq !== st.tseq) return;
      st.trend = r.body;
      ui.trendMsg.textContent = r.body.total ? "" : t("empty.window");
      drawTrend(r.body);
      document.documentElement.setAttribute("data-trend-total", String(r.body.total));
    }).catch(function (e) { ui.trendMsg.textContent = t("msg.error") + "：" + e.message; });
  }

  function pct(change) {
    if (change === null || change === undefined) return "—";
    return (change > 0 ? "+" : "") + (100 * change).toFixed(1) + "%";
  }

  function drawTrend(d) {
    var W = 440, H = 170, L0 = 34, B = 20, keys = Object.keys(d.series), n = d.buckets.length;
    var max = 1;
    keys.forEach(function (k) { d.series[k].forEach(function (v) { if (v > max) max = v; }); });
    var x = function (i) { return L0 + (n > 1 ? i * (W - L0 - 6) / (n - 1) : (W - L0) / 2); };
    var y = function (v) { return H - B - v * (H - B - 8) / max; };
    var colours = d.by === "source" ? SOURCE_COLOURS : S.C.incident;
    var svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="' + W + '" height="' + H + '" class="om-chart">'];
    [0, 0.5, 1].forEach(function (f) {
      var v = Math.round(max * f);
      svg.push('<line x1="' + L0 + '" x2="' + W + '" y1="' + y(v) + '" y2="' + y(v) + '" stroke="#2e5a8f" stroke-width="0.5"/>');
      svg.push('<text x="' + (L0 - 4) + '" y="' + (y(v) + 4) + '" text-anchor="end">' + v + "</text>");
    });
    keys.forEach(function (k) {
      var pts = d.series[k].map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); }).join(" ");
      svg.push('<polyline data-key="' + U.escapeHtml(k) + '" fill="none" stroke-width="1.8" stroke="' + (colours[k] || "#ccc") + '" points="' + pts + '"/>');
    });
    var every = Math.max(1, Math.ceil(n / 6));
    d.buckets.forEach(function (b, i) {
      if (i % every === 0) svg.push('<text x="' + x(i) + '" y="' + (H - 5) + '" text-anchor="middle">' + b.slice(5) + "</text>");
    });
    svg.push("</svg>");
    ui.chart.innerHTML = svg.join("");
    ui.trendKeys.innerHTML = "";
    keys.forEach(function (k) {
      ui.trendKeys.appendChild(el("span", { class: "om-key" }, [el("i", { class: "om-swatch", style: "background:" + (colours[k] || "#ccc") + ";border-color:" + (colours[k] || "#ccc") }), el("span", { text: t("v." + k) })]));
    });
    ui.totals.innerHTML = "";
    [["trend.total", U.fmt(d.total)], ["trend.mom", pct(d.previous.change)], ["trend.yoy", pct(d.year_ago.change)]].forEach(function (p) {
      ui.totals.appendChild(el("div", { class: "om-figure" }, [el("div", { class: "om-figure-value", "data-figure": p[0], text: p[1] }), el("div", { class: "om-figure-label", text: t(p[0]) })]));
    });
  }

  // Weekly hotspots, one week after another over the current window (at most 12 weeks).
  function play() {
    if (st.playing) { stop(); return; }
    var f = onemap.filter, hot = onemap.overlays.hotspots;
    if (!hot) return;
    st.saved = { days: f.days, from: f.from, to: f.to };
    st.playing = true;
    ui.play.textContent = t("trend.stop");
    if (!onemap.map.hasLayer(hot)) hot.addTo(onemap.map);
    var end = f.to.getTime(), weeks = Math.min(12, Math.max(1, Math.round((end - f.from.getTime()) / 6048e5)));
    var i = 0;
    (function next() {
      if (!st.playing) return;
      if (i >= weeks) { stop(); return; }
      var from = new Date(end - (weeks - i) * 6048e5), to = new Date(from.getTime() + 6048e5);
      onemap.filter.days = null; onemap.filter.from = from; onemap.filter.to = to;
      ui.week.textContent = t("trend.week_of") + " " + U.isoDay(from);
      i += 1;
      onemap.applyFilter();
      var wait = function () { st.timer = setTimeout(next, 1200); };
      if (hot.status === "loading") hot.once("onemap:loaded", wait); else wait();
    })();
  }

  function stop() {
    st.playing = false;
    clearTimeout(st.timer);
    ui.play.textContent = t("trend.play");
    ui.week.textContent = "";
    if (st.saved) {
      onemap.filter.days = st.saved.days; onemap.filter.from = st.saved.from; onemap.filter.to = st.saved.to;
      st.saved = null;
      onemap.applyFilter();
    }
  }

  // ---- the dock -------------------------------------------------------------------------
  function tabButton(key, label) {
    return el("button", { type: "button", class: "om-tab", "data-tab": key, id: "om-tab-" + key, text: label, onclick: function () { show(st.tab === key ? null : key); } });
  }

  function show(tab) {
    st.tab = tab;
    ["stats", "trend", "topics"].forEach(function (k) {
      ui[k + "Box"].style.display = k === tab ? "block" : "none";
      ui.tabs.querySelector('[data-tab="' + k + '"]').classList.toggle("om-active", k === tab);
    });
    // The open dock takes the right-hand column: the layer list folds to its button.
    if (onemap.layerControl) { if (tab) onemap.layerControl.collapse(); else onemap.layerControl.expand(); }
    if (tab === "stats") loadStats();
    if (tab === "trend") loadTrend();
    if (tab === "topics") onemap.topics.render(ui.topicsBox);
  }

  function levelButtons() {
    return el("div", { class: "om-btns" }, ["street", "community", "grid"].map(function (lv) {
      return el("button", { type: "button", class: "om-level" + (lv === st.level ? " om-active" : ""), "data-level": lv, text: t("stats.level." + lv), onclick: function () {
        st.level = lv;
        ui.statsBox.querySelectorAll(".om-level").forEach(function (b) { b.classList.toggle("om-active", b.getAttribute("data-level") === lv); });
        loadStats();
      } });
    }));
  }

  function choice(values, current, onpick, cls) {
    var wrap = el("div", { class: "om-btns" });
    values.forEach(function (v) {
      wrap.appendChild(el("button", { type: "button", class: cls + (v[0] === current ? " om-active" : ""), "data-value": v[0], text: t(v[1]), onclick: function () {
        wrap.querySelectorAll("button").forEach(function (b) { b.classList.toggle("om-active", b.getAttribute("data-value") === v[0]); });
        onpick(v[0]);
      } }));
    });
    return wrap;
  }

  var DockControl = L.Control.extend({
    options: { position: "bottomright" },
    onAdd: function () {
      ui.tabs = el("div", { class: "om-tabs" }, [tabButton("stats", t("stats.open")), tabButton("trend", t("trend.title")), tabButton("topics", t("p11.title"))]);
      ui.table = el("table", { class: "om-stats-table", id: "om-stats-table" });
      ui.statsMsg = el("div", { class: "om-msg", id: "om-stats-msg" });
      ui.focus = el("span", { id: "om-focus" });
      ui.focusBox = el("div", { class: "om-row", style: "display:none" }, [ui.focus, el("button", { type: "button", id: "om-focus-clear", text: t("stats.filter_clear"), onclick: clearFocus })]);
      ui.statsBox = el("div", { class: "om-dock-body", id: "om-stats", style: "display:none" }, [
        el("h3", { text: t("stats.title") }), levelButtons(), ui.focusBox,
        el("div", { class: "om-table-wrap" }, [ui.table]), ui.statsMsg,
        el("div", { class: "om-btns om-export" }, [
          el("span", { class: "om-note", text: t("export.title") + "：" }),
          el("button", { type: "button", id: "om-export-csv", text: t("export.csv"), onclick: function () { download(fileName("csv"), new Blob(["\ufeff" + csvText()], { type: "text/csv;charset=utf-8" })); } }),
          el("button", { type: "button", id: "om-export-xls", text: t("export.xls"), onclick: function () { download(fileName("xls"), new Blob([xlsText()], { type: "application/vnd.ms-excel" })); } }),
          el("button", { type: "button", id: "om-export-png", text: t("export.png"), onclick: exportPng }),
          el("button", { type: "button", id: "om-print", text: t("export.print"), onclick: printLayout }),
        ]),
      ]);
      ui.chart = el("div", { id: "om-trend-chart" });
      ui.trendKeys = el("div", { class: "om-keys" });
      ui.totals = el("div", { class: "om-figures", id: "om-trend-totals" });
      ui.trendMsg = el("div", { class: "om-msg", id: "om-trend-msg" });
      ui.play = el("button", { type: "button", id: "om-play", text: t("trend.play"), onclick: play });
      ui.week = el("span", { id: "om-play-week", class: "om-note" });
      ui.trendBox = el("div", { class: "om-dock-body", id: "om-trend", style: "display:none" }, [
        el("h3", { text: t("trend.title") }),
        choice([["day", "trend.day"], ["week", "trend.week"]], "day", function (v) { st.step = v; loadTrend(); }, "om-step"),
        choice([["category", "trend.by_category"], ["source", "trend.by_source"]], "category", function (v) { st.by = v; loadTrend(); }, "om-by"),
        ui.totals, ui.chart, ui.trendKeys, ui.trendMsg,
        el("div", { class: "om-btns" }, [ui.play, ui.week]),
      ]);
      ui.topicsBox = el("div", { class: "om-dock-body", id: "om-topics", style: "display:none" });
      var box = el("div", { class: "om-panel om-dock", id: "om-dock" }, [ui.tabs, ui.statsBox, ui.trendBox, ui.topicsBox]);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    },
  });

  // A focus named in the URL (``focus=community:CODE``): outline it again, keep the view.
  function restoreFocus() {
    var f = new URLSearchParams(window.location.search).get("focus");
    var m = f && /^(street|community|grid):(.+)$/.exec(f);
    if (!m) return;
    var p = onemap.filterParams();
    U.api("/map/stats" + U.qs({ level: m[1], from: p.from, to: p.to })).then(function (r) {
      var u = r.body.units.filter(function (x) { return x.code === m[2]; })[0];
      if (!u) return;
      onemap.focus = { level: m[1], code: u.code, name: u.name, bbox: u.bbox };
      focusOutline(u.bbox);
      ui.focus.textContent = t("stats.filter_on") + u.name;
      ui.focusBox.style.display = "flex";
      onemap.controls.writeUrl();
    }).catch(function () {});
  }

  function init(map) {
    ui.printHead = el("div", { class: "om-print-head", id: "om-print-head" });
    document.body.appendChild(ui.printHead);
    new DockControl().addTo(map);
    restoreFocus();
    onemap.onFilter = onemap.onFilter || [];
    onemap.onFilter.push(function () {
      if (st.tab === "stats") loadStats();
      if (st.tab === "trend" && !st.playing) loadTrend();
      if (st.tab === "topics") onemap.topics.render(ui.topicsBox);
    });
  }

  onemap.panels = {
    init: init, show: show, state: st, csvText: csvText, xlsText: xlsText, mapPng: mapPng,
    loadStats: loadStats, loadTrend: loadTrend, focusUnit: focusUnit,
  };
})();
