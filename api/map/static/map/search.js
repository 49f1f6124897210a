/* onemap page: one search box in the header — grid and camera codes, posts, incident
 * numbers and names (/map/search). Picking a hit flies there and opens its record.
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});
  var U = onemap.util, el = U.el, t = U.t;

  var FIELDS = {
    grid: ["code", "name", "worker", "households", "population", "community_code"],
    camera: ["code", "name", "class", "kind", "status", "azimuth", "fov", "range_m"],
    incident: ["external_id", "source", "category", "subcategory", "status", "occurred_at", "resolved_at", "department", "grid"],
    post: ["code", "name", "kind", "mode", "status"],
    admin_area: ["code", "name", "level", "parent_code"],
    place: ["name", "kind", "key"],
    road: ["name", "class"],
    building: ["code", "households", "population", "floors", "kind", "community_code"],
  };

  function recordHtml(hit, rec) {
    var f = Object.assign({}, rec.fields, rec.grid ? { grid: rec.grid } : {});
    var title = t("kind." + hit.kind) + " · " + (hit.name || hit.code || "");
    var html = U.popupHtml(title, f, FIELDS[hit.kind] || Object.keys(f));
    if (rec.history && rec.history.length) {
      var rows = rec.history.map(function (h) {
        var when = h.changed_at || h.at || h.time || "";
        var what = Object.keys(h).filter(function (k) { return !/^(id|changed_at|at|time)$/.test(k); })
          .map(function (k) { return k + "=" + h[k]; }).join(" ");
        return "<tr><th>" + U.escapeHtml(String(when).slice(0, 16)) + "</th><td>" + U.escapeHtml(what) + "</td></tr>";
      });
      html = html.replace(/<\/div>$/, "<h4>" + U.escapeHtml(t("pop.history")) + "</h4><table>" + rows.join("") + "</table></div>");
    }
    return html;
  }

  function go(hit) {
    var map = onemap.map, b = hit.bbox;
    var small = Math.abs(b[2] - b[0]) < 1e-4 && Math.abs(b[3] - b[1]) < 1e-4;
    if (small) map.setView([hit.lat, hit.lon], 18, { animate: false });
    else map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { maxZoom: 18, animate: false });
    onemap.focusOutline(hit.kind === "grid" || hit.kind === "admin_area" ? b : null);
    return U.api("/map/record/" + hit.kind + "/" + hit.id).then(function (r) {
      onemap.lastRecord = r.body;
      L.popup({ maxWidth: 360 }).setLatLng([hit.lat, hit.lon]).setContent(recordHtml(hit, r.body)).openOn(map);
    });
  }

  function init(head) {
    var input = el("input", { type: "search", id: "om-search", class: "om-search", placeholder: t("search.placeholder"), autocomplete: "off" });
    var list = el("div", { class: "om-search-list", id: "om-search-list" });
    var seq = 0, timer = null;
    function run() {
      var q = input.value.trim(), mine = ++seq;
      if (!q) { list.innerHTML = ""; list.style.display = "none"; return; }
      U.api("/map/search" + U.qs({ q: q })).then(function (r) {
        if (mine !== seq) return;
        list.innerHTML = "";
        var hits = r.body.hits;
        if (!hits.length) list.appendChild(el("div", { class: "om-search-none", text: t("search.none") }));
        hits.forEach(function (h) {
          list.appendChild(el("div", {
            class: "om-search-hit", "data-kind": h.kind, "data-code": h.code || "",
            onclick: function () { list.style.display = "none"; go(h); },
          }, [el("span", { class: "om-search-kind", text: t("kind." + h.kind) }),
            el("span", { text: (h.code || "") + (h.name ? " " + h.name : "") })]));
        });
        list.style.display = "block";
      }).catch(function (e) { list.innerHTML = ""; list.appendChild(el("div", { class: "om-search-none", text: e.message })); });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 200); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") {
        clearTimeout(timer);
        var first = list.querySelector(".om-search-hit");
        if (first && list.style.display === "block") first.click(); else run();
      }
    });
    head.appendChild(el("div", { class: "om-search-box" }, [input, list]));
  }

  onemap.search = { init: init, go: go };
})();
