#!/usr/bin/env bash
# Refetch the front-end assets inlined into report.html, from the npm registry, and check them.
# (circles/assets/report.js is ours, not vendored.)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cd "$tmp" && npm pack leaflet@1.9.4 >/dev/null && tar xzf leaflet-1.9.4.tgz
cp package/dist/leaflet.js package/dist/leaflet.css "$here/circles/assets/"
cp package/LICENSE "$here/circles/assets/LEAFLET-LICENSE"
rm -rf package && npm pack leaflet.markercluster@1.5.3 >/dev/null && tar xzf leaflet.markercluster-1.5.3.tgz
cp package/dist/leaflet.markercluster.js package/dist/MarkerCluster.css package/dist/MarkerCluster.Default.css \
   "$here/circles/assets/"
cp package/MIT-LICENCE.txt "$here/circles/assets/MARKERCLUSTER-LICENSE"
cd "$here/circles/assets" && sha256sum -c <<'SUMS'
db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a  leaflet.js
a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6  leaflet.css
1e4e1d22972a3926f48598e0caf14e3fe7049835d428a344fed4f9e3665b3508  leaflet.markercluster.js
614dea0a98ff3f4ead74f04918f6b1d1b9ba435c25b5fc23b21a394d1e3e4d87  MarkerCluster.css
61258232d98d64dc2a7b1e02130d67421bc5b9bda5994eef70228ff97570c170  MarkerCluster.Default.css
SUMS
