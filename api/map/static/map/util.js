/* onemap page: small helpers shared by the other scripts (no dependencies but Leaflet). */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});

  // An API key given to the page (?access_token=…, e.g. a widget key in an iframe URL)
  // travels with every request the page makes, as Authorization: Bearer.
  var pageKey = new URLSearchParams(window.location.search).get("access_token");

  function authHeaders(extra) {
    var h = Object.assign({}, extra || {});
    if (pageKey) h["Authorization"] = "Bearer " + pageKey;
    return h;
  }

  function qs(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (v === null || v === undefined || v === "") return;
      parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(v));
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  // fetch JSON; rejects with {status, detail, code} on a non-2xx answer.
  function api(path, opts) {
    opts = opts || {};
    var init = { method: opts.method || "GET", headers: authHeaders(opts.headers) };
    if (opts.body !== undefined) {
      init.body = JSON.stringify(opts.body);
      init.headers["Content-Type"] = "application/json";
    }
    return fetch(onemap.cfg.root + path, init).then(function (r) {
      return r.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = { detail: text }; }
        if (!r.ok) {
          var err = new Error((body && body.detail) || r.statusText);
          err.status = r.status;
          err.code = body && body.code;
          throw err;
        }
        return { body: body, headers: r.headers, status: r.status };
      });
    });
  }

  function t(key) {
    var s = onemap.cfg && onemap.cfg.t[key];
    return s === undefined ? key : s;
  }

  // A field value as people read it: translated codes, rounded numbers, local dates.
  function show(field, value) {
    if (value === null || value === undefined || value === "") return "—";
    if (field === "occurred_at") return new Date(value).toLocaleString(onemap.cfg.lang === "zh" ? "zh-CN" : "en");
    if (field === "bin") return t("bin." + value);
    if (field === "level" && onemap.cfg.t["risk." + value] !== undefined) return t("risk." + value);
    if (field === "light") return t("p11." + value);
    if (field === "limit_at") return new Date(value).toLocaleString(onemap.cfg.lang === "zh" ? "zh-CN" : "en");
    if (field === "change" && typeof value === "number") return (value > 0 ? "+" : "") + value.toFixed(1);
    if (field === "index" && typeof value === "number") return value.toFixed(1);
    if (field === "community_code" || field === "parent_code") return onemap.areaName ? onemap.areaName(value) : String(value);
    if (field === "category" && onemap.cfg.t["em." + value] && !onemap.cfg.t["v." + value]) return t("em." + value);
    var tv = onemap.cfg.t["v." + value];
    if (tv !== undefined && typeof value !== "number") return tv;
    if (typeof value === "number") {
      if (field === "p_value" || field === "trend_p") return value < 0.001 ? "< 0.001" : value.toPrecision(2);
      if (field === "nearest_camera_m" && value < 0.5) return t("pop.camera_inside");
      if (Math.abs(value) >= 100 || Number.isInteger(value)) return fmt(value);
      return value.toFixed(2);
    }
    return String(value);
  }

  function fmt(n) {
    if (n === null || n === undefined || isNaN(n)) return "—";
    return Math.round(n).toLocaleString(onemap.cfg.lang === "zh" ? "zh-CN" : "en");
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // Popup HTML: a title and the listed fields that the feature carries.
  function popupHtml(title, props, fields) {
    var rows = fields.filter(function (f) { return props[f] !== undefined; }).map(function (f) {
      return "<tr><th>" + escapeHtml(t("f." + f)) + "</th><td>" + escapeHtml(show(f, props[f])) + "</td></tr>";
    });
    return '<div class="om-popup"><h4>' + escapeHtml(title) + "</h4><table>" + rows.join("") + "</table></div>";
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "html") e.innerHTML = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  onemap.util = {
    api: api, qs: qs, t: t, show: show, fmt: fmt, el: el, escapeHtml: escapeHtml,
    popupHtml: popupHtml, authHeaders: authHeaders, isoDay: isoDay,
  };
})();
