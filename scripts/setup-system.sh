#!/usr/bin/env bash
# Install the system packages onemap needs, only when missing (idempotent, quiet when done).
set -euo pipefail

# fonts-wqy-microhei: a CJK font, so the map page (and its screenshots) show Chinese text.
packages=(postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting gdal-bin chromium fonts-wqy-microhei)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing system packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's postgresql package starts a default cluster on 5432; we run our own.
if command -v pg_ctlcluster >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | grep -q "^15 *main"; then
  pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
fi
