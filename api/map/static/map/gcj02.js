/* GCJ-02 (高德/腾讯) base maps: the WGS-84 → GCJ-02 offset and a base layer that
 * is shifted so that our WGS-84 layers sit on it.
 *
 * The offset varies slowly (a few metres across a district), so the whole base
 * layer is translated by the offset computed at the view centre and recomputed on
 * every move: an approximation documented in the README. Shifting the base map
 * rather than every overlay keeps each coordinate the page reports in WGS-84.
 */
(function () {
  "use strict";
  var onemap = (window.onemap = window.onemap || {});
  var A = 6378245.0, EE = 0.00669342162296594323;

  function outOfChina(lat, lon) {
    return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
  }

  function tLat(x, y) {
    var r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin(y / 3.0 * Math.PI)) * 2.0 / 3.0;
    r += (160.0 * Math.sin(y / 12.0 * Math.PI) + 320 * Math.sin(y * Math.PI / 30.0)) * 2.0 / 3.0;
    return r;
  }

  function tLon(x, y) {
    var r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin(x / 3.0 * Math.PI)) * 2.0 / 3.0;
    r += (150.0 * Math.sin(x / 12.0 * Math.PI) + 300.0 * Math.sin(x / 30.0 * Math.PI)) * 2.0 / 3.0;
    return r;
  }

  // [dLat, dLon] in degrees such that GCJ-02 = WGS-84 + offset.
  function offset(lat, lon) {
    if (outOfChina(lat, lon)) return [0, 0];
    var dLat = tLat(lon - 105.0, lat - 35.0), dLon = tLon(lon - 105.0, lat - 35.0);
    var radLat = lat / 180.0 * Math.PI, magic = Math.sin(radLat);
    magic = 1 - EE * magic * magic;
    var sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((A * (1 - EE)) / (magic * sqrtMagic) * Math.PI);
    dLon = (dLon * 180.0) / (A / sqrtMagic * Math.cos(radLat) * Math.PI);
    return [dLat, dLon];
  }

  // Pixel shift that puts the GCJ-02 base map under WGS-84 overlays at the view centre.
  function pixelShift(map) {
    var c = map.getCenter(), o = offset(c.lat, c.lng);
    var here = map.latLngToLayerPoint(c);
    var there = map.latLngToLayerPoint([c.lat + o[0], c.lng + o[1]]);
    return here.subtract(there);
  }

  // A tile layer in its own pane, translated by pixelShift and padded so no edge shows.
  var ShiftedTileLayer = L.TileLayer.extend({
    onAdd: function (map) {
      L.TileLayer.prototype.onAdd.call(this, map);
      map.on("moveend zoomend viewreset", this._shift, this);
      this._shift();
    },
    onRemove: function (map) {
      map.off("moveend zoomend viewreset", this._shift, this);
      L.TileLayer.prototype.onRemove.call(this, map);
    },
    _shift: function () {
      if (!this._map) return;
      this._px = pixelShift(this._map);
      L.DomUtil.setPosition(this.getPane(), this._px);
      this._update();
    },
    _getTiledPixelBounds: function (center) {
      var b = L.TileLayer.prototype._getTiledPixelBounds.call(this, center);
      var p = this._px || L.point(0, 0), pad = L.point(Math.abs(p.x) + 1, Math.abs(p.y) + 1);
      return L.bounds(b.min.subtract(pad), b.max.add(pad));
    },
  });

  onemap.gcj02 = { offset: offset, pixelShift: pixelShift, ShiftedTileLayer: ShiftedTileLayer };
})();
