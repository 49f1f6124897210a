/* onemap page: planner mode — edit a draft grid plan through the grid-plan API.
 *
 * Pick (or create) a draft, click buildings (or draw a box) to select them, click a
 * grid (or pick it in the list) as the target, move; split a grid into k; merge
 * selected grids; every edit is sent with If-Match: "<plan version>" and the touched
 * grids' households and the plan's evaluation are reloaded; publish makes it active.
 * Communities that cannot fit the band are listed with the nearest feasible alternatives;
 * the contiguity proofs for the rest of the unbalanced ones run on demand.
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});
  var U = onemap.util, S = onemap.styles, el = U.el, t = U.t;
  var P = "/api/v1/grid-plans";
  var SELECTED = { color: "#ff6f00", weight: 2, fill: true, fillColor: "#ffca28", fillOpacity: 0.95, opacity: 1 };

  var st = { active: false, plan: null, grids: null, selected: {}, target: "", mergeSel: {}, touched: [], layer: null, labels: null, buildings: null, exact: {}, proving: false };
  // Contiguity proofs: one evaluation's search budget is shared by the communities it is
  // asked for (about 4 min in all on the small demo's tower communities), so they are asked
  // PROVE_BATCH at a time and at most PROVE_MAX per click.
  var PROVE_BATCH = 4, PROVE_MAX = 8;
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
    st.selected = {}; st.mergeSel = {}; st.touched = []; st.target = ""; st.exact = {};
    ui.proveMsg.textContent = "";
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
      var old = st.grids;
      return reloadGrids().then(function () {
        st.touched = touchedCodes(b, body);
        forgetProofs(st.touched, old);
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

  // -- Communities that cannot fit: the evaluation's infeasible and undecided entries, those
  // of the communities proved on demand (st.exact: code → {infeasible, undecided}) replacing
  // the households-only ones.
  function byCommunity(list, code) { return (list || []).filter(function (d) { return d.community_code === code; }); }

  function undecidedRow(d) {
    return { community_code: d.community_code, kind: "undecided", detail: d.detail, buildings: d.buildings, alternatives: [] };
  }

  function reportRows() {
    var ev = st.evaluation || {}, rows = [];
    (ev.infeasible || []).concat((ev.undecided || []).map(undecidedRow)).forEach(function (d) {
      if (!st.exact[d.community_code]) rows.push(d);
    });
    Object.keys(st.exact).forEach(function (code) {
      var x = st.exact[code];
      rows = rows.concat(x.infeasible, x.undecided.map(undecidedRow));
    });
    return rows.sort(function (a, b) { return a.community_code < b.community_code ? -1 : a.community_code > b.community_code ? 1 : 0; });
  }

  // The alternatives' notes come from the server in English; the known ones are translated,
  // a grid count's note ("two grids") is already said by the count.
  var NOTES = {
    "the building alone as one grid": "pl.note_building_alone",
    "the plan drawn fits the band at this tolerance": "pl.note_plan_drawn",
    "the households can be grouped from this tolerance": "pl.note_grouped",
    "no households: join a neighbouring community": "pl.note_no_households",
  };

  function fill(key, values) {
    return t(key).replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  }

  function altText(a) {
    var parts = [], target = onemap.cfg.band.target;
    if (a.grids !== undefined && a.grids !== null) parts.push(fill(a.grids === 1 ? "pl.alt_grid" : "pl.alt_grids", { n: a.grids }));
    if (typeof a.households_per_grid === "number") parts.push(fill("pl.alt_per_grid", { h: U.fmt(a.households_per_grid) }));
    if (typeof a.tolerance === "number") {
      // The band in whole households (a product like 300 × 0.76 is not exactly 228 in floats).
      var lo = Math.ceil(target * (1 - a.tolerance) - 1e-6), hi = Math.floor(target * (1 + a.tolerance) + 1e-6);
      parts.push(fill("pl.alt_tolerance", { tol: a.tolerance.toFixed(2), band: U.fmt(lo) + "\u2060–\u2060" + U.fmt(hi) }));
    }
    var note = a.note || "";
    if (NOTES[note]) note = t(NOTES[note]);
    else if (a.grids !== undefined && /^\w+ grids?$/.test(note)) note = "";
    if (note) parts.push(note);
    return parts.join(t("pl.alt_sep"));
  }

  function zoomToCommunity(code) {
    var fs = (st.grids ? st.grids.features : []).filter(function (f) { return f.properties.community_code === code; });
    if (fs.length) onemap.map.fitBounds(L.geoJSON({ type: "FeatureCollection", features: fs }).getBounds(), { maxZoom: 17 });
  }

  function renderInfeasible() {
    var rows = reportRows();
    ui.infeasible.innerHTML = "";
    if (!rows.length) {
      ui.infeasible.appendChild(el("tr", { class: "om-inf-none" }, [el("td", { text: st.evaluation ? t("pl.inf_none") : "—" })]));
      return;
    }
    rows.forEach(function (d) {
      var code = d.community_code, name = onemap.areaName ? onemap.areaName(code) : code;
      var lines = [
        el("div", { class: "om-inf-head" }, [el("span", { class: "om-inf-name", text: name }), name !== code ? el("span", { class: "om-inf-code", text: code }) : null]),
        el("div", { class: "om-inf-kind", text: onemap.cfg.t["pl.kind_" + d.kind] || d.kind }),
        el("div", { class: "om-inf-detail", text: d.detail || "" }),
      ];
      (d.alternatives || []).forEach(function (a) { lines.push(el("div", { class: "om-inf-alt", text: altText(a) })); });
      ui.infeasible.appendChild(el("tr", { "data-community": code, "data-kind": d.kind, title: t("pl.inf_zoom"), onclick: function () { zoomToCommunity(code); } }, [el("td", {}, lines)]));
    });
  }

  // Communities with grids outside the band that nothing explains yet: no proof of the
  // households-only evaluation, no contiguity proof asked, not a building over the bound.
  function proveCandidates() {
    var over = {}, explained = {}, out = {};
    ((st.evaluation && st.evaluation.infeasible) || []).forEach(function (d) {
      if (d.kind !== "building_over_upper_bound") explained[d.community_code] = true;
      else (d.buildings || []).forEach(function (b) { over[b] = true; });
    });
    (st.grids ? st.grids.features : []).forEach(function (f) {
      var p = f.properties, c = p.community_code;
      var inBand = typeof p.within_band === "boolean" ? p.within_band : S.gridBand(p.households) === "ok";
      if (!c || inBand || explained[c] || st.exact[c]) return;
      if ((p.building_ids || []).some(function (b) { return over[b]; })) return;
      out[c] = true;
    });
    return Object.keys(out).sort();
  }

  // An edit makes the proofs of the communities it touched stale (grids before and after it).
  function forgetProofs(codes, oldGrids) {
    var olds = oldGrids ? oldGrids.features : [];
    codes.forEach(function (code) {
      var f = gridByCode(code) || olds.filter(function (g) { return g.properties.code === code; })[0];
      if (f) delete st.exact[f.properties.community_code];
    });
  }

  function prove() {
    var todo = proveCandidates(), plan = st.plan;
    if (!plan) return;
    if (!todo.length) { ui.proveMsg.textContent = t("pl.prove_none"); return; }
    var rest = Math.max(0, todo.length - PROVE_MAX), t0 = Date.now(), done = 0, n = { bad: 0, und: 0, ok: 0 }, stale = false;
    todo = todo.slice(0, PROVE_MAX);
    var tick = function () {
      ui.proveMsg.textContent = fill("pl.proving", { i: done, n: todo.length, s: Math.round((Date.now() - t0) / 1000) });
    };
    var batches = [];
    for (var i = 0; i < todo.length; i += PROVE_BATCH) batches.push(todo.slice(i, i + PROVE_BATCH));
    st.proving = true;
    render();
    tick();
    var timer = setInterval(tick, 500);
    var current = function (version) { return st.plan === plan && String(version) === String(plan.version); };
    var version = plan.version;
    batches.reduce(function (chain, batch) {
      return chain.then(function () {
        if (stale || !current(version)) { stale = true; return; }
        var q = batch.map(function (c) { return "&community=" + encodeURIComponent(c); }).join("");
        return U.api(P + "/" + plan.id + "/evaluate?grids=false&exact=true" + q).then(function (r) {
          done += batch.length;
          if (!current(r.body.version)) { stale = true; return; }
          batch.forEach(function (c) {
            var x = { infeasible: byCommunity(r.body.infeasible, c), undecided: byCommunity(r.body.undecided, c) };
            st.exact[c] = x;
            if (x.infeasible.length) n.bad += 1; else if (x.undecided.length) n.und += 1; else n.ok += 1;
          });
          renderInfeasible();
        });
      });
    }, Promise.resolve()).then(function () {
      ui.proveMsg.textContent = stale ? t("pl.prove_stale") :
        fill("pl.proved", { n: todo.length, bad: n.bad, und: n.und, ok: n.ok }) + (rest ? fill("pl.prove_more", { r: rest }) : "");
    }, function (e) {
      ui.proveMsg.textContent = "";
      fail(e);
    }).then(function () {
      clearInterval(timer);
      st.proving = false;
      render();
    });
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
    ui.prove.disabled = !st.plan || st.proving;
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
    renderInfeasible();
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
      ui.infeasible = el("tbody", {});
      ui.prove = el("button", { type: "button", id: "om-prove", text: t("pl.prove"), title: t("pl.prove_hint"), onclick: prove });
      ui.proveMsg = el("div", { class: "om-msg", id: "om-prove-progress" });
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
        el("h4", { text: t("pl.infeasible") }),
        el("div", { class: "om-note", text: t("pl.inf_note") }),
        el("table", { id: "om-infeasible", class: "om-inf" }, [ui.infeasible]),
        el("div", { class: "om-btns" }, [ui.prove]),
        ui.proveMsg,
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
