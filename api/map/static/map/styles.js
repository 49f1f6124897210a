/* onemap page: colours and per-feature styles of every layer (one place to restyle). */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});

  // One colour scheme per meaning, all colour-blind safe (ColorBrewer / Okabe–Ito):
  // grid balance PRGn (purple under, green over, grey within the band); cameras neutral
  // greys (darker = higher class: infrastructure, not an alarm); incident categories
  // Okabe–Ito; intensity (heatmap, widget cells) YlOrRd; Gi* hot/cold RdBu; gap priority
  // RdPu; places muted qualitative.
  var C = {
    land: "#f3f1ec",
    water: "#a9cce6",
    waterLine: "#7fb2db",
    building: "#dcd8cf",
    buildingLine: "#c9c3b6",
    roadCasing: "#cfc8b8",
    admin: { district: "#6c5b8e", street: "#8b7bab", community: "#b3a8c8" },
    grid: { under: "#762a83", ok: "#8c8c8c", over: "#1b7837" },
    camera: { A: "#1a1a1a", B: "#4d4d4d", C: "#878787" },
    cameraCluster: "#333333",
    hot: { 3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", 0: "#cccccc", "-1": "#d1e5f0", "-2": "#67a9cf", "-3": "#2166ac" },
    emerging: {
      new: "#ff00ff", consecutive: "#ff8ab4", intensifying: "#b2182b", persistent: "#ef6548",
      diminishing: "#fdbb84", sporadic: "#fee8c8", oscillating: "#c994c7", historical: "#bdbdbd",
      cold: "#2166ac",
    },
    incident: {
      dispute: "#E69F00", public_order: "#D55E00", hazard: "#CC79A7", livelihood: "#56B4E9",
      city_management: "#009E73", other: "#999999",
    },
    place: {
      school: "#f28e2b", hospital: "#e15759", hotel: "#b07aa1", station: "#4e79a7",
      police: "#1d3f8f", market: "#59a14f", government: "#9c755f", other: "#79706e",
    },
    intensity: ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"],
    gap: ["#fcc5c0", "#f768a1", "#ae017e"],
    buildingLayer: { line: "#8d8676", fill: "#cbc3b2" },
    road: "#f0a830",
    view: "#4d4d4d",
    // Topic layers. Posts: dark, by kind; driving time: YlGnBu (darker = sooner); case lights
    // and the four warning levels keep the colours their conventions (红黄绿灯, 四级预警) use.
    post: {
      police_station: "#08306b", police_post: "#2171b5", patrol: "#6baed6", fire: "#7f2704",
      medical: "#00695c", grid_station: "#54278f", service_centre: "#8c6d31",
    },
    minutes: { 1: "#225ea8", 3: "#41b6c4", 5: "#c7e9b4" },
    light: { red: "#d7191c", yellow: "#fdae61", green: "#1a9641" },
    risk: { none: "#f7f7f7", blue: "#4575b4", yellow: "#fee090", orange: "#fc8d59", red: "#d73027" },
    unreached: "#252525",  // not reached in time: dark grey, dashed (purple means grids under the band)
  };
  // Widget count cells: lower bounds of the five intensity classes.
  var COUNT_BREAKS = [1, 10, 25, 50, 100];

  // Households per grid against the band (target ± tolerance).
  function gridBand(households) {
    var band = onemap.cfg.band, lo = band.target * (1 - band.tolerance), hi = band.target * (1 + band.tolerance);
    if (households === undefined || households === null) return "ok";
    return households < lo ? "under" : households > hi ? "over" : "ok";
  }

  function gridStyle(p) {
    var b = gridBand(p.households);
    var dev = Math.min(1, Math.abs((p.households || 0) - onemap.cfg.band.target) / onemap.cfg.band.target);
    return {
      color: C.grid[b], weight: b === "ok" ? 0.8 : 1.2, opacity: 0.9, fill: true, fillColor: C.grid[b],
      fillOpacity: b === "ok" ? 0.04 : 0.12 + 0.3 * dev,
    };
  }

  // Communities take clicks inside (an invisible fill); streets and the district on their
  // outline only, so a click inside a community opens the community.
  function adminStyle(p) {
    var lv = p.level || "community";
    return {
      color: C.admin[lv] || C.admin.community, weight: lv === "district" ? 3 : lv === "street" ? 2 : 1,
      dashArray: lv === "community" ? "4 3" : null, fill: lv === "community", fillColor: "#ffffff",
      fillOpacity: 0, opacity: 0.9,
    };
  }

  // The key with the largest count among ``keys`` (for cluster colours).
  function majority(p, keys) {
    var best = keys[0], n = -1;
    keys.forEach(function (k) { if ((p[k] || 0) > n) { n = p[k] || 0; best = k; } });
    return best;
  }

  function clusterRadius(n) { return Math.min(16, 4 + 2.4 * Math.log(n)); }

  function cameraStyle(p) {
    if (p["class"] === undefined && p.count !== undefined) {
      return { radius: clusterRadius(p.count), color: "#ffffff", weight: 1.5, fill: true, fillColor: C.cameraCluster, fillOpacity: 0.75, opacity: 1 };
    }
    var col = C.camera[p["class"]] || C.camera.B, off = p.status && p.status !== "online";
    return {
      radius: p["class"] === "A" ? 4.5 : 3.5, color: col, weight: off ? 1.5 : 1, fill: true,
      fillColor: off ? "#ffffff" : col, fillOpacity: off ? 0.6 : 0.9, opacity: 1,
      dashArray: p.status === "fault" ? "2 2" : null,
    };
  }

  function viewStyle(p) {
    return { color: C.view, weight: 0.5, opacity: 0.5, fill: true, fillColor: C.view, fillOpacity: 0.16 };
  }

  // Gaps: the redder the higher their priority rank (0..1 within the tile's data).
  function gapStyle(p) {
    var r = p.priority_rank !== undefined ? p.priority_rank : Math.min(1, Math.log10(1 + (p.incidents || 0)) / 2);
    var col = r > 0.66 ? C.gap[2] : r > 0.33 ? C.gap[1] : C.gap[0];
    return { color: col, weight: 1, opacity: 0.9, fill: true, fillColor: col, fillOpacity: 0.35 };
  }

  // Widget incident cells (H3 polygons with a count only): shaded by count.
  function countClass(n) {
    var k = 0;
    COUNT_BREAKS.forEach(function (b, i) { if (n >= b) k = i; });
    return k;
  }

  function incidentStyle(p) {
    if (p.h3 !== undefined && p.category === undefined && p.dispute === undefined) {
      var col0 = C.intensity[countClass(p.count || 0)];
      return { color: col0, weight: 0.6, opacity: 0.8, fill: true, fillColor: col0, fillOpacity: 0.55 };
    }
    var n = p.count || 1;
    var col = C.incident[p.category || majority(p, onemap.cfg.vocabulary.categories)] || "#555";
    return {
      radius: n > 1 ? clusterRadius(n) : 3, color: "#ffffff", weight: n > 1 ? 1 : 0.6,
      fill: true, fillColor: col, fillOpacity: 0.85, opacity: 0.9,
    };
  }

  function placeStyle(p) {
    var col = C.place[p.kind] || C.place.other, key = p.key === true || p.key === "true" || p.key === 1;
    return {
      radius: key ? 5 : 3.5, color: key ? "#222" : col, weight: key ? 1.5 : 1, fill: true,
      fillColor: col, fillOpacity: key ? 0.95 : 0.6, opacity: 1,
    };
  }

  function roadStyle(p) {
    var w = { arterial: 5, secondary: 3.5, local: 2 }[p["class"]] || 2;
    return { color: C.road, weight: w / 1.6, opacity: 0.85, fill: false };
  }

  function hotStyle(bin) {
    var col = C.hot[String(bin)] || C.hot[0];
    return { color: col, weight: 0.6, opacity: bin ? 0.9 : 0, fill: true, fillColor: col, fillOpacity: bin ? 0.6 : 0 };
  }

  function emergingStyle(cat) {
    var key = cat && cat.indexOf("cold") >= 0 ? "cold" : cat;
    var col = C.emerging[key];
    if (!col) return { opacity: 0, fillOpacity: 0, weight: 0 };
    return { color: col, weight: 0.6, opacity: 0.9, fill: true, fillColor: col, fillOpacity: 0.55 };
  }

  function postStyle(p) {
    if (p.kind === undefined && p.count !== undefined) {
      return { radius: clusterRadius(p.count), color: "#fff", weight: 1.5, fill: true, fillColor: C.post.police_station, fillOpacity: 0.85, opacity: 1 };
    }
    var col = C.post[p.kind] || C.post.police_post, off = p.status === "off_duty";
    return { radius: 6.5, color: off ? col : "#ffffff", weight: off ? 2 : 2, fill: true, fillColor: off ? "#ffffff" : col, fillOpacity: 1, opacity: 1 };
  }

  // Response areas: the dissolved driving breaks only (per-post and walking areas are in the
  // OGC collection and the topic panel), the shortest break drawn on top by the pane order.
  function responseAreaStyle(p) {
    if ((p.overlap && p.overlap !== "dissolve") || (p.mode && p.mode !== "drive")) return [];
    var col = C.minutes[Math.round(p.minutes)] || C.minutes[5];
    return { color: col, weight: 1, opacity: 0.9, fill: true, fillColor: col, fillOpacity: 0.28 };
  }

  // The worst light of a cluster or the light of one case.
  function worstLight(p) {
    if (p.light) return p.light;
    return p.red ? "red" : p.yellow ? "yellow" : "green";
  }

  function caseStyle(p) {
    var light = worstLight(p), n = p.count || 1, col = C.light[light];
    return {
      radius: n > 1 ? clusterRadius(n) : light === "red" ? 5.5 : 4.5, color: light === "red" ? "#67000d" : "#ffffff",
      weight: 1.2, fill: true, fillColor: col, fillOpacity: 0.92, opacity: 1,
    };
  }

  // 平安指数: tiles hold every stored level and period; the page shows the communities of one.
  function safetyStyle(p) {
    if (p.unit_level !== undefined && (p.unit_level !== "community" || p.period !== onemap.cfg.indexPeriod)) return [];
    return { color: "#555", weight: 1, opacity: 0.9, fill: true, fillColor: C.risk[p.level] || "#ccc", fillOpacity: 0.55 };
  }

  // The light base map drawn from our own tiles (readable with no network at all).
  var base = {
    waterways: function () {
      return { color: C.waterLine, weight: 1, fill: true, fillColor: C.water, fillOpacity: 1, opacity: 1 };
    },
    admin_areas: function (p) {
      return p.level === "district"
        ? { color: "#b9b0c8", weight: 2.5, fill: true, fillColor: C.land, fillOpacity: 1, opacity: 1 }
        : [];
    },
    roads: function (p, z) {
      var w = { arterial: 6, secondary: 4, local: 2.2 }[p["class"]] || 2;
      w = w * Math.max(0.45, Math.min(1.6, (z - 11) / 4));
      return { color: "#ffffff", weight: w, opacity: 1, fill: false };
    },
    buildings: function () {
      return { color: C.buildingLine, weight: 0.5, fill: true, fillColor: C.building, fillOpacity: 1, opacity: 1 };
    },
  };

  onemap.styles = {
    C: C, COUNT_BREAKS: COUNT_BREAKS, countClass: countClass, majority: majority, gridBand: gridBand, grid: gridStyle, admin: adminStyle, camera: cameraStyle, view: viewStyle,
    gap: gapStyle, incident: incidentStyle, place: placeStyle, road: roadStyle, hot: hotStyle,
    emerging: emergingStyle, base: base, post: postStyle, responseArea: responseAreaStyle,
    caseLight: caseStyle, worstLight: worstLight, safety: safetyStyle,
  };
})();
