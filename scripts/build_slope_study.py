"""Write the small slope test study ``tests/data/slope/`` (issue 23): a 3 km road on a generated 10 % ramp.

Usage::

    python scripts/build_slope_study.py

Everything is generated here, nothing is real: one east-west road (three 1 km centreline
pieces, UTM 50N near Wuhan), one day-care centre 20 m south of its middle, a row of 30
population cells of 100 m whose centres are 50 m north of the road (100 people each), and a
DEM rising 10 % to the east (``z = 0.1 x (x - X0)``, 20 m pixels, well past the road's ends).
The answers follow by hand (``tests/test_slope_pipeline.py``): a home ``d`` metres west of the
centre walks uphill, ``50 + 1.419 d + 20`` s (Tobler at g = +0.1: ``exp(0.35)``); a home east
of it walks downhill at exactly the flat speed (Tobler at g = -0.1 equals flat), ``50 + d + 20`` s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "slope"
CRS = "EPSG:32650"
X0, Y0 = 240_000.0, 3_386_000.0  # west end of the road (UTM 50N, Hankou's latitude)
GRADE = 0.1


def write_tif(path: Path, z: np.ndarray, left: float, top: float, res: float, nodata=None) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1, dtype="float32",
                       crs=CRS, transform=from_origin(left, top, res, res), nodata=nodata) as dst:
        dst.write(z.astype("float32"), 1)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [[[X0 + 1000 * i, Y0], [X0 + 1000 * (i + 1), Y0]] for i in range(3)]
    roads = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32650"}},
             "features": [{"type": "Feature", "properties": {"name": f"坡路{i + 1}段", "highway": "residential"},
                           "geometry": {"type": "LineString", "coordinates": c}} for i, c in enumerate(lines)]}
    (OUT / "roads.geojson").write_text(json.dumps(roads, ensure_ascii=False, indent=1), encoding="utf-8")
    area = {"type": "FeatureCollection", "crs": roads["crs"], "features": [{"type": "Feature", "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [[[X0, Y0 - 100], [X0 + 3000, Y0 - 100],
                                                             [X0 + 3000, Y0 + 100], [X0, Y0 + 100], [X0, Y0 - 100]]]}}]}
    (OUT / "area.geojson").write_text(json.dumps(area, indent=1), encoding="utf-8")
    # 30 cells of 100 m in one row from Y0 to Y0 + 100 (centres 50 m north of the road), 100 people each
    write_tif(OUT / "pop_total.tif", np.full((1, 30), 100.0), X0, Y0 + 100, 100.0)
    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(X0 + 1500, Y0 - 20)
    (OUT / "facilities.csv").write_text("编号,名称,类型,经度,纬度,床位数\n"
                                        f"S1,坡路日间照料中心（生成）,社区日间照料中心,{lon:.9f},{lat:.9f},20\n",
                                        encoding="utf-8")
    # the ramp: 20 m pixels from X0 - 200 to X0 + 3200, Y0 - 300 to Y0 + 300
    res, left, top = 20.0, X0 - 200, Y0 + 300
    w, h = 170, 30
    xc = left + res * (np.arange(w) + 0.5)
    z = np.repeat((GRADE * (xc - X0))[None, :], h, axis=0)
    write_tif(OUT / "dem.tif", z, left, top, res, nodata=-9999.0)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
