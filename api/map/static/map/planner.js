/* onemap page: planner mode — edit a draft grid plan through the grid-plan API.
 *
 * Pick (or create) a draft, click buildings (or draw a box) to select them, click a
 * grid (or pick it in the list) as the target, move; split a grid into k; merge
 * selected grids; every edit is sent with If-Match: "<plan version>" and the touched
 * grids' households and the plan's evaluation are reloaded; publish makes it active.
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});
  var U = onemap.util, S = onemap.styles, el = U.el, t = U.t;
  var P = "/api/v1/grid-plans";
  var SELECTED = { color: "#ff6f00", weight: 2, fill: true, fillColor: "#ffca28", fillOpacity: 0.95, opacity: 1 };

  var st = { active: false, plan: null, grids: null, selected: {}, target: "", mergeSel: {}, touched: [], layer: null, labels: null, buildings: null };
  var ui = {};

  function plansOf(body) { return Array.isArray(body) ? body : (body && (body.plans || body.items || body.features)) || []; }
  function selectedIds() { return Object.keys(st.selected).map(Number); }
  function ifMatch() { return { "If-Match": '"' + st.plan.version + '"' }; }

  function msg(text, isError) {
    ui.msg.textContent = text || "";
    ui.msg.classList.toggle("om-error", !!isError);
  }

  function fail(e) {
    msg(e.status === 412 || e.status === 409 ? t("pl.conflict") + "（" + e.message + "）" : t("msg.error") + "：" + e.message, true);
  }

  function loadPlans(selectId) {
    return U.api(P).then(function (r) {
      var plans = plansOf(r.body);
      st.plans = plans;
      ui.plan.innerHTML = "";
      ui.plan.appendChild(el("option", { value: "", text: plans.some(isDraft) ? t("pl.pick") : t("pl.no_plans") }));
      plans.filter(isDraft).forEach(function (p) {
        ui.plan.appendChild(el("option", { value: p.id, text: "#" + p.id + " " + (p.name || "") }));
      });
      showActive();
      if (selectId) { ui.plan.value = String(selectId); return openPlan(selectId); }
    });
  }

  function isDraft(p) { return (p.status || "draft") === "draft"; }

  // A new draft copies the active plan (the plan list is loaded first if needed).
  function newDraft() {
    var name = t("pl.new_draft") + " " + new Date().toLocaleString(onemap.cfg.lang === "zh" ? "zh-CN" : "en");
    (st.plans ? Promise.resolve() : loadPlans()).then(function () {
      var active = st.plans.filter(function (p) { return p.status === "active"; })[0];
      return U.api(P, { method: "POST", body: { from_plan: active ? active.id : null, name: name } });
    }).then(function (r) {
      return loadPlans(r.body.id);
    }).catch(fail);
  }

  function openPlan(id) {
    if (!id) return Promise.resolve();
    st.selected = {}; st.mergeSel = {}; st.touched = []; st.target = "";
    return U.api(P + "/" + id).then(function (r) {
      st.plan = r.body;
      var etag = r.headers.get("ETag");
      if (st.plan.version === undefined && etag) st.plan.version = etag.replace(/"/g, "");
      return reloadGrids();
    }).then(evaluate).then(render).catch(fail);
  }

  function reloadGrids() {
    return U.api(P + "/" + st.plan.id + "/grids").then(function (r) {
      var before = {};
      if (st.grids) st.grids.features.forEach(function (f) { before[f.properties.code] = f.properties.households; });
      st.grids = r.body;
      st.householdsBefore = before;
      drawGrids();
    });
  }

  // Grid codes are long (community code + sequence); labels show the sequence.
  function shortCode(code) { return code && code.length > 6 ? "…" + code.slice(-3) : code; }

  function gridByCode(code) {
    return (st.grids ? st.grids.features : []).filter(function (f) { return f.properties.code === code; })[0];
  }

  function drawGrids() {
    var map = onemap.map;
    if (st.layer) map.removeLayer(st.layer);
    if (st.labels) map.removeLayer(st.labels);
    st.layer = L.geoJSON(st.grids, {
      pane: onemap.paneFor("plangrids"),
      style: function (f) {
        var s = S.grid(f.properties), code = f.properties.code;
        if (code === st.target || st.mergeSel[code]) { s.weight = 3.5; s.color = "#ff6f00"; }
        return s;
      },
      onEachFeature: function (f, layer) {
        layer.on("click", function (e) { L.DomEvent.stop(e); gridClicked(f.properties.code); });
      },
    }).addTo(map);
    if (onemap.legend) onemap.legend.update();
    st.labels = L.layerGroup(st.grids.features.map(function (f) {
      var c = L.geoJSON(f).getBounds().getCenter();
      var icon = L.divIcon({ className: "om-plan-label", html: "<span>" + U.escapeHtml(shortCode(f.properties.code)) + "<br>" + U.fmt(f.properties.households) + "</span>", iconSize: [0, 0] });
      return L.marker(c, { icon: icon, interactive: false, pane: onemap.paneFor("labels") });
    })).addTo(map);
    ui.target.innerHTML = "";
    ui.target.appendChild(el("option", { value: "", text: "—" }));
    st.grids.features.map(function (f) { return f.properties.code; }).sort().forEach(function (c) {
      ui.target.appendChild(el("option", { value: c, text: c }));
    });
    ui.target.value = st.target;
  }

  // The plan grid under a point (ray casting over its rings); null when none.
  function inRing(x, y, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function gridAt(latlng) {
    var x = latlng.lng, y = latlng.lat;
    var hit = (st.grids ? st.grids.features : []).filter(function (f) {
      var g = f.geometry, polys = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
      return polys.some(function (rings) {
        return inRing(x, y, rings[0]) && !rings.slice(1).some(function (h) { return inRing(x, y, h); });
      });
    })[0];
    return hit ? hit.properties.code : null;
  }

  function gridClicked(code) {
    if (st.mode === "merge") {
      if (st.mergeSel[code]) delete st.mergeSel[code]; else st.mergeSel[code] = true;
    } else {
      st.target = code;
      ui.target.value = code;
      if (st.mode === "target") { st.mode = null; msg(""); }
    }
    st.layer.setStyle(st.layer.options.style);
    render();
  }

  // Building clicks select (planner mode only); returns true when handled.
  function handleClick(key, e) {
    if (!st.active || !st.plan) return false;
    // Picking a target or grids to merge: the grid under the click, whatever is drawn on it.
    if (st.mode === "target" || st.mode === "merge") {
      var code = gridAt(e.latlng);
      L.DomEvent.stop(e);
      if (code) gridClicked(code);
      return true;
    }
    if (key !== "buildings") return false;
    var p = e.layer.properties || {}, id = p.id;
    if (id === undefined) return false;
    L.DomEvent.stop(e);
    var b = onemap.overlays.buildings;
    if (st.selected[id]) { delete st.selected[id]; b.resetFeatureStyle(id); }
    else { st.selected[id] = p; b.setFeatureStyle(id, SELECTED); }
    render();
    return true;
  }

  function clearSelection() {
    var b = onemap.overlays.buildings;
    selectedIds().forEach(function (id) { b.resetFeatureStyle(id); });
    st.selected = {};
    render();
  }

  // One edit: POST with If-Match, then reload grids and evaluation.
  function edit(body) {
    msg(t("msg.loading"));
    return U.api(P + "/" + st.plan.id + "/edits", { method: "POST", headers: ifMatch(), body: body }).then(function (r) {
      var b = r.body || {}, etag = r.headers.get("ETag");
      st.plan.version = b.version !== undefined ? b.version : (b.plan && b.plan.version) || (etag ? etag.replace(/"/g, "") : st.plan.version);
      st.lastEdit = b;
      return reloadGrids().then(function () {
        st.touched = touchedCodes(b, body);
        clearSelection();
        st.mergeSel = {};
        return evaluate();
      });
    }).then(function () { msg(t("pl.saved") + " · " + t("pl.version") + " " + st.plan.version); render(); }).catch(fail);
  }

  // Grids an edit touched: what the API says, else those whose households changed, plus the target.
  function touchedCodes(resp, body) {
    var listed = resp.touched || resp.touched_grids || resp.grids;
    if (Array.isArray(listed) && listed.length) {
      return listed.map(function (g) { return typeof g === "string" ? g : g.code; });
    }
    var out = {};
    st.grids.features.forEach(function (f) {
      var c = f.properties.code;
      if (st.householdsBefore[c] !== f.properties.households) out[c] = true;
    });
    if (body.to_grid) out[body.to_grid] = true;
    return Object.keys(out);
  }

  function move() {
    var ids = selectedIds(), to = ui.target.value;
    if (!ids.length || !to) return;
    edit({ op: "move", buildings: ids, to_grid: to });
  }

  function merge() {
    var codes = Object.keys(st.mergeSel);
    if (codes.length < 2) { st.mode = "merge"; msg(t("pl.merge_hint")); render(); return; }
    st.mode = null;
    edit({ op: "merge", grids: codes });
  }

  function split() {
    var code = ui.target.value, k = parseInt(ui.k.value, 10) || 2;
    if (!code) return;
    edit({ op: "split", grid: code, k: k });
  }

  // Box selection: press, drag and release on the map; every building of the plan inside
  // the rectangle is selected. The plan's building points come from the grid-plan API once.
  function boxSelect() {
    var map = onemap.map;
    if (!st.plan) return;
    msg(t("pl.box_drag"));
    st.mode = "box";
    render();
    map.dragging.disable();
    map.getContainer().style.cursor = "crosshair";
    var start = null, rect = null;
    function down(e) {
      start = e.latlng;
      rect = L.rectangle(L.latLngBounds(start, start), { pane: onemap.paneFor("planner"), color: "#ff6f00", weight: 2, dashArray: "4 3", fillOpacity: 0.08, interactive: false }).addTo(map);
    }
    function move(e) { if (start) rect.setBounds(L.latLngBounds(start, e.latlng)); }
    function up(e) {
      if (!start) return;
      var bounds = L.latLngBounds(start, e.latlng);
      map.removeLayer(rect);
      map.off("mousedown", down); map.off("mousemove", move); map.off("mouseup", up);
      map.dragging.enable();
      map.getContainer().style.cursor = "";
      st.mode = null;
      selectIn(bounds);
    }
    map.on("mousedown", down); map.on("mousemove", move); map.on("mouseup", up);
  }

  function selectIn(bounds) {
    {
      planBuildings().then(function (fc) {
        var b = onemap.overlays.buildings;
        fc.features.forEach(function (f) {
          var c = f.geometry.coordinates, id = f.properties.id;
          if (bounds.contains([c[1], c[0]]) && !st.selected[id]) {
            st.selected[id] = f.properties;
            b.setFeatureStyle(id, SELECTED);
          }
        });
        msg("");
        render();
      }).catch(fail);
    }
  }

  function planBuildings() {
    if (st.buildings && st.buildings.plan === st.plan.id) return Promise.resolve(st.buildings.fc);
    return U.api(P + "/" + st.plan.id + "/buildings").then(function (r) {
      st.buildings = { plan: st.plan.id, fc: r.body };
      return r.body;
    });
  }

  function activePlan() {
    return (st.plans || []).filter(function (p) { return p.status === "active"; })[0];
  }

  // Publish asks first: what changes against the active plan, then confirm or cancel.
  function publish() {
    var active = activePlan();
    msg(t("msg.loading"));
    var diff = active ? U.api(P + "/" + active.id + "/diff/" + st.plan.id).then(function (r) { return r.body; }) : Promise.resolve(null);
    diff.then(function (d) {
      msg("");
      ui.confirm.innerHTML = "";
      var rows = d ? [["pl.diff_added", d.added.length], ["pl.diff_removed", d.removed.length], ["pl.diff_changed", d.changed.length],
        ["pl.diff_unchanged", d.unchanged], ["pl.diff_buildings", d.buildings_moved], ["pl.diff_households", d.households_moved]] : [];
      ui.confirm.appendChild(el("h4", { text: t("pl.diff") + (active ? "（#" + active.id + "）" : "") }));
      ui.confirm.appendChild(el("table", { id: "om-publish-diff" }, [el("tbody", {}, rows.map(function (r) {
        return el("tr", { "data-key": r[0] }, [el("td", { text: t(r[0]) }), el("td", { class: "om-num", text: U.fmt(r[1]) })]);
      }))]));
      ui.confirm.appendChild(el("div", { class: "om-btns" }, [
        el("button", { type: "button", id: "om-publish-confirm", class: "om-active", text: t("pl.confirm_publish"), onclick: doPublish }),
        el("button", { type: "button", id: "om-publish-cancel", text: t("pl.cancel"), onclick: function () { ui.confirm.style.display = "none"; } }),
      ]));
      ui.confirm.style.display = "block";
    }).catch(fail);
  }

  function doPublish() {
    ui.confirm.style.display = "none";
    var t0 = Date.now(), id = st.plan.id;
    ui.progress.style.display = "block";
    var done = 0;
    var tick = function () {
      ui.progress.textContent = t("pl.publishing").replace("{s}", Math.round((Date.now() - t0) / 1000)) +
        (done > 0 ? " · " + Math.round(done * 100) + "%" : "");
    };
    tick();
    var timer = setInterval(tick, 500);
    // The publish runs as a job: 202 with its Location, polled until it succeeds or fails.
    var follow = function (r) {
      var job = r.body, url = r.headers.get("Location") || ("/api/v1/jobs/" + job.id);
      var poll = function (j) {
        done = j.progress || 0;
        if (j.state === "succeeded") return j;
        if (j.state === "failed") {
          var err = new Error((j.error && j.error.detail) || j.state);
          err.code = j.error && j.error.code;
          throw err;
        }
        return new Promise(function (ok) { setTimeout(ok, 300); })
          .then(function () { return U.api(url); })
          .then(function (r2) { return poll(r2.body); });
      };
      return poll(job);
    };
    U.api(P + "/" + id + "/publish", { method: "POST", headers: ifMatch() }).then(follow).then(function () {
      clearInterval(timer);
      ui.progress.style.display = "none";
      var g = onemap.overlays.grids;
      if (g && g.redraw) g.redraw();
      return U.api(P + "/" + id).then(function (r) {
        var p = r.body;
        ui.activePlan.textContent = "#" + p.id + " " + (p.name || "") + " · " + t("pl.version") + " " + p.version;
        msg(t("pl.published_as") + "#" + p.id);
        if (st.layer) onemap.map.removeLayer(st.layer);
        if (st.labels) onemap.map.removeLayer(st.labels);
        st.plan = null; st.layer = null; st.labels = null;
        return loadPlans();
      });
    }).then(render).catch(function (e) { clearInterval(timer); ui.progress.style.display = "none"; fail(e); });
  }

  function showActive() {
    var a = activePlan();
    ui.activePlan.textContent = a ? "#" + a.id + " " + (a.name || "") + " · " + t("pl.version") + " " + a.version : "—";
  }

  function evaluate() {
    // Households-only checks: the contiguity proofs take seconds per community (?exact=true).
    return U.api(P + "/" + st.plan.id + "/evaluate?grids=false&exact=false").then(function (r) {
      st.evaluation = r.body;
    }).catch(function () { st.evaluation = null; });
  }

  function inBandShare(ev) {
    if (!ev) return null;
    var s = ev.summary || ev;
    var v = s.in_band_share !== undefined ? s.in_band_share : s.share_in_band !== undefined ? s.share_in_band : s.within_band_share;
    if (typeof v === "number") return v;
    var grids = st.grids ? st.grids.features : [];
    if (!grids.length) return null;
    return grids.filter(function (f) { return S.gridBand(f.properties.households) === "ok"; }).length / grids.length;
  }

  function render() {
    if (!ui.panel) return;
    var ids = selectedIds();
    ui.count.textContent = String(ids.length);
    ui.version.textContent = st.plan ? String(st.plan.version) : "—";
    ui.move.disabled = !st.plan || !ids.length || !ui.target.value;
    ui.split.disabled = !st.plan || !ui.target.value;
    ui.boxBtn.disabled = !st.plan;
    ui.boxBtn.classList.toggle("om-active", st.mode === "box");
    ui.pick.disabled = !st.plan;
    ui.pick.classList.toggle("om-active", st.mode === "target");
    ui.merge.disabled = !st.plan;
    ui.merge.classList.toggle("om-active", st.mode === "merge");
    ui.publish.disabled = !st.plan;
    ui.mergeSel.textContent = Object.keys(st.mergeSel).join("、") || "—";
    var share = inBandShare(st.evaluation);
    ui.band.textContent = share === null ? "—" : (share * 100).toFixed(1) + "%";
    ui.touched.innerHTML = "";
    st.touched.forEach(function (code) {
      var f = gridByCode(code), h = f ? f.properties.households : null;
      var band = f ? S.gridBand(h) : "";
      ui.touched.appendChild(el("tr", { "data-grid": code }, [
        el("td", { text: code }), el("td", { class: "om-num om-households", text: h === null ? "—" : String(h) }),
        el("td", { class: "om-" + band, text: band ? t("legend.grid_" + band).split(/[（(]/)[0] : "—" }),
      ]));
    });
  }

  function setActive(on) {
    st.active = on;
    ui.panel.style.display = on ? "block" : "none";
    if (onemap.layerControl) { if (on) onemap.layerControl.collapse(); else onemap.layerControl.expand(); }
    ui.toggle.textContent = on ? t("pl.close") : t("pl.open");
    ui.toggle.classList.toggle("om-active", on);
    var b = onemap.overlays.buildings;
    var g = onemap.overlays.grids;
    if (on) {
      if (b && !onemap.map.hasLayer(b)) b.addTo(onemap.map);
      st.gridsWereOn = g && onemap.map.hasLayer(g);
      if (st.gridsWereOn) onemap.map.removeLayer(g);
      loadPlans().catch(fail);
      msg(t("pl.click_buildings"));
    } else {
      if (st.layer) onemap.map.removeLayer(st.layer);
      if (st.labels) onemap.map.removeLayer(st.labels);
      clearSelection();
      st.plan = null;
      if (st.gridsWereOn) g.addTo(onemap.map);
    }
    if (onemap.legend) onemap.legend.update();
  }

  function pickTarget() {
    st.mode = st.mode === "target" ? null : "target";
    msg(st.mode ? t("pl.pick_target_hint") : "");
    render();
  }

  // On the right, under the summary: the left column holds the filters and the legend
  // (the grid colour key must stay in view while planning).
  var PlannerControl = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      ui.toggle = el("button", { type: "button", id: "om-planner-toggle", text: t("pl.open"), onclick: function () { setActive(!st.active); } });
      ui.plan = el("select", { id: "om-plan", onchange: function () { openPlan(ui.plan.value); } });
      ui.version = el("span", { id: "om-plan-version", text: "—" });
      ui.count = el("span", { id: "om-selected-count", text: "0" });
      ui.target = el("select", { id: "om-target", onchange: function () { st.target = ui.target.value; if (st.layer) st.layer.setStyle(st.layer.options.style); render(); } });
      ui.move = el("button", { type: "button", id: "om-move", text: t("pl.move"), onclick: move });
      ui.split = el("button", { type: "button", id: "om-split", text: t("pl.split"), onclick: split });
      ui.k = el("input", { type: "number", id: "om-split-k", min: "2", max: "20", value: "2", style: "width:3.5em" });
      ui.boxBtn = el("button", { type: "button", id: "om-box", text: t("pl.box"), onclick: boxSelect });
      ui.pick = el("button", { type: "button", id: "om-pick-target", text: t("pl.pick_target"), onclick: pickTarget });
      ui.activePlan = el("span", { id: "om-active-plan", text: "—" });
      ui.confirm = el("div", { class: "om-confirm", id: "om-publish-box", style: "display:none" });
      ui.progress = el("div", { class: "om-msg", id: "om-publish-progress", style: "display:none" });
      ui.merge = el("button", { type: "button", id: "om-merge", text: t("pl.merge"), onclick: merge });
      ui.publish = el("button", { type: "button", id: "om-publish", text: t("pl.publish"), onclick: publish });
      ui.mergeSel = el("span", { id: "om-merge-sel", text: "—" });
      ui.band = el("span", { id: "om-in-band", text: "—" });
      ui.touched = el("tbody", { id: "om-touched" });
      ui.msg = el("div", { class: "om-msg", id: "om-planner-msg" });
      ui.panel = el("div", { class: "om-planner", style: "display:none" }, [
        el("h3", { text: t("pl.title") }),
        el("div", { class: "om-row" }, [el("label", { text: t("pl.active") }), ui.activePlan]),
        el("div", { class: "om-row" }, [el("label", { text: t("pl.plan") }), ui.plan]),
        el("div", { class: "om-btns" }, [el("button", { type: "button", id: "om-new-draft", text: t("pl.new_draft"), onclick: newDraft })]),
        el("div", { class: "om-row" }, [el("label", { text: t("pl.version") }), ui.version]),
        el("div", { class: "om-row" }, [el("label", { text: t("pl.selected") }), ui.count, ui.boxBtn,
          el("button", { type: "button", id: "om-clear", text: t("pl.clear"), onclick: clearSelection })]),
        el("div", { class: "om-row" }, [el("label", { text: t("pl.target") }), ui.target, ui.pick]),
        el("div", { class: "om-row" }, [el("label", { text: t("pl.selected_grids") }), ui.mergeSel]),
        el("div", { class: "om-btns" }, [ui.move, ui.split, el("label", { text: "k" }), ui.k, ui.merge, ui.publish]),
        el("h4", { text: t("pl.touched") }),
        el("table", {}, [el("thead", {}, [el("tr", {}, [el("th", { text: t("f.code") }), el("th", { text: t("f.households") }), el("th", { text: t("f.deviation") })])]), ui.touched]),
        el("div", { class: "om-row" }, [el("label", { text: t("pl.in_band") }), ui.band]),
        ui.confirm, ui.progress, ui.msg,
      ]);
      var wrap = el("div", { class: "om-panel om-planner-wrap" }, [ui.toggle, ui.panel]);
      L.DomEvent.disableClickPropagation(wrap);
      L.DomEvent.disableScrollPropagation(wrap);
      return wrap;
    },
  });

  function init(map) {
    new PlannerControl().addTo(map);
  }

  onemap.planner = { init: init, handleClick: handleClick, state: st, gridAt: gridAt };
})();
