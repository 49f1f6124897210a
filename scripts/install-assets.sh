#!/usr/bin/env bash
# Install the map page's JS/CSS from the npm registry and copy what the page loads
# into api/map/static/vendor, so the page never asks a CDN.
set -euo pipefail
cd "$(dirname "$0")/../api/map"
# npm ci installs exactly what package-lock.json records (and fails when it disagrees with package.json).
npm ci --no-audit --no-fund --loglevel=error >/dev/null
V=static/vendor
rm -rf "$V"; mkdir -p "$V/leaflet" "$V/vectorgrid" "$V/heat" "$V/geoman"
cp -r node_modules/leaflet/dist/. "$V/leaflet/"
cp node_modules/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js "$V/vectorgrid/"
cp node_modules/leaflet.heat/dist/leaflet-heat.js "$V/heat/"
cp node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css "$V/geoman/"
cp node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.js "$V/geoman/"
echo "assets: installed into api/map/$V"
