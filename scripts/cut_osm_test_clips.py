"""Cut the small real OSM clips the network tests use from the 2017 Wuhan OSM extract.

Usage::

    python scripts/cut_osm_test_clips.py [--pbf ../shared/data/wuhan-core/wuhan_osm_2017.osm.pbf]

Writes ``tests/data/wuhan_walk_rules.osm.bz2``: every highway way with a node in one of
two boxes (whole ways, with all their nodes and tags, content unchanged), chosen because
they hold the cases the walk rules must get right:

- 114.2980-114.3060 E, 30.5775-30.5850 N (Wuchang end of the Yangtze bridge): the primary ways
  tagged ``foot=no`` (OSM ways 264411350, 426933532, kept whole although their nodes lie outside);
- 114.2770-114.2810 E, 30.5975-30.6010 N (Hankou): a closed ring footway (OSM way
  134626988) and the streets around it.

Source and licence: OpenStreetMap (ODbL 1.0, "© OpenStreetMap contributors"), the Mapzen
metro extract of Wuhan as of 2017-10-21 (see data/README.md).
"""

from __future__ import annotations

import argparse
import bz2
from pathlib import Path

import osmium

ROOT = Path(__file__).resolve().parents[1]
IDS = {264411350, 426933532, 134626988}  # named above: always kept
BOXES = [(114.2980, 30.5775, 114.3060, 30.5850), (114.2770, 30.5975, 114.2810, 30.6010)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pbf", default=str(ROOT.parent.parent / "shared/data/wuhan-core/wuhan_osm_2017.osm.pbf"))
    a = p.parse_args()
    if not Path(a.pbf).exists():
        a.pbf = "/work/shared/data/wuhan-core/wuhan_osm_2017.osm.pbf"

    def inside(lon, lat):
        return any(x0 <= lon <= x1 and y0 <= lat <= y1 for x0, y0, x1, y1 in BOXES)

    ways, nodes = [], set()
    for w in osmium.FileProcessor(a.pbf, osmium.osm.NODE | osmium.osm.WAY).with_locations() \
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)).with_filter(osmium.filter.KeyFilter("highway")):
        try:
            if w.id in IDS or any(inside(n.lon, n.lat) for n in w.nodes):
                ways.append(w.id)
                nodes.update(n.ref for n in w.nodes)
        except osmium.InvalidLocationError:
            continue
    keep_ways = set(ways)
    out = ROOT / "tests/data/wuhan_walk_rules.osm"
    out.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(out))
    for obj in osmium.FileProcessor(a.pbf, osmium.osm.NODE | osmium.osm.WAY):
        if obj.is_node() and obj.id in nodes:
            writer.add_node(obj)
        elif obj.is_way() and obj.id in keep_ways:
            writer.add_way(obj)
    writer.close()
    (ROOT / "tests/data/wuhan_walk_rules.osm.bz2").write_bytes(bz2.compress(out.read_bytes(), 9))
    out.unlink()
    print(f"{len(keep_ways)} ways, {len(nodes)} nodes -> tests/data/wuhan_walk_rules.osm.bz2")


if __name__ == "__main__":
    main()
