#!/usr/bin/env bash
# Refetch the front-end assets inlined into report.html, from the npm registry, and check them.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cd "$tmp" && npm pack leaflet@1.9.4 >/dev/null && tar xzf leaflet-1.9.4.tgz
cp package/dist/leaflet.js package/dist/leaflet.css "$here/circles/assets/"
cp package/LICENSE "$here/circles/assets/LEAFLET-LICENSE"
cd "$here/circles/assets" && sha256sum -c <<'SUMS'
db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a  leaflet.js
a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6  leaflet.css
SUMS
