"""GCJ-02 / BD-09: real points shifted and brought back to within 0.5 m."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from circles.chinacoords import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_gcj02
from circles.io.facilities import load_facilities
from conftest import METRIC, TESTDATA

GEOD = Geod(ellps="WGS84")


def _metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def test_real_points_come_back_from_gcj02_and_bd09():
    """A round trip, not an oracle: the shifted files were made with circles' own forward transforms
    (scripts/build_test_data.py). The oracle is test_inverses_undo_prcoords_forward_shifts below."""
    wgs = pd.read_csv(TESTDATA / "real_points_wgs84.csv")
    for name, inverse in (("gcj02", gcj02_to_wgs84), ("bd09", bd09_to_wgs84)):
        shifted = pd.read_csv(TESTDATA / f"real_points_{name}.csv")
        lon, lat = inverse(shifted["经度"].to_numpy(), shifted["纬度"].to_numpy())
        err = _metres(lon, lat, wgs["经度"].to_numpy(), wgs["纬度"].to_numpy())
        assert err.max() < 0.5, name
        # and the shift itself is the familiar few hundred metres
        raw = _metres(shifted["经度"].to_numpy(), shifted["纬度"].to_numpy(), wgs["经度"].to_numpy(), wgs["纬度"].to_numpy())
        assert 100 < raw.min() and raw.max() < 1500


def test_gazetteer_loader_undoes_gcj02():
    wgs, _ = load_facilities(TESTDATA / "real_points_wgs84.csv", crs=METRIC, coords="wgs84")
    gcj, rej = load_facilities(TESTDATA / "real_points_gcj02.csv", crs=METRIC, coords="gcj02")
    assert len(rej) == 0 and len(gcj) == len(wgs) == 50
    assert gcj.geometry.distance(wgs.geometry).max() < 0.5


@settings(max_examples=200, deadline=None)
@given(st.floats(73.5, 134.7), st.floats(18.2, 53.5))
def test_gcj02_round_trip_anywhere_in_china(lon, lat):
    glon, glat = wgs84_to_gcj02(lon, lat)
    back = gcj02_to_wgs84(glon, glat)
    assert _metres(float(back[0]), float(back[1]), lon, lat) < 0.01


# --- independent oracle: prcoords (a separate implementation of the published GCJ-02 / BD-09 formulas)
def test_forward_and_inverse_agree_with_prcoords_on_real_points():
    import prcoords

    from circles.chinacoords import wgs84_to_bd09

    wgs = pd.read_csv(TESTDATA / "real_points_wgs84.csv")
    for lon, lat in zip(wgs["经度"], wgs["纬度"]):
        g = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
        ours = wgs84_to_gcj02(lon, lat)
        assert _metres(float(ours[0]), float(ours[1]), g.lon, g.lat) < 0.01
        b = prcoords.wgs_bd(prcoords.Coords(lat, lon))
        ours_b = wgs84_to_bd09(lon, lat)
        assert _metres(float(ours_b[0]), float(ours_b[1]), b.lon, b.lat) < 0.01
        # inverse: prcoords' iterative ("bored") inverse of its own forward transform
        w = prcoords.gcj_wgs_bored(g)
        back = gcj02_to_wgs84(g.lon, g.lat)
        assert _metres(float(back[0]), float(back[1]), w.lon, w.lat) < 0.01


@settings(max_examples=200, deadline=None)
@given(st.floats(73.5, 134.7), st.floats(18.2, 53.5))
def test_gcj02_forward_equals_prcoords_anywhere_in_china(lon, lat):
    import prcoords

    g = prcoords.wgs_gcj(prcoords.Coords(lat, lon), check_china=False)
    ours = wgs84_to_gcj02(lon, lat)
    assert _metres(float(ours[0]), float(ours[1]), g.lon, g.lat) < 0.01


def test_inverses_undo_prcoords_forward_shifts():
    """Real WGS84 points shifted by prcoords' forward GCJ-02 and BD-09 (not by circles), brought back
    by circles' inverses to within 1 mm; and the BD-09 inverse agrees with prcoords' own inverse
    (``bd_wgs_bored``, which stops near 1e-7 degrees: up to 5 mm off here, so to 1 cm)."""
    import prcoords

    wgs = pd.read_csv(TESTDATA / "real_points_wgs84.csv")
    lon0, lat0 = wgs["经度"].to_numpy(), wgs["纬度"].to_numpy()
    for fwd, inverse in ((prcoords.wgs_gcj, gcj02_to_wgs84), (prcoords.wgs_bd, bd09_to_wgs84)):
        shifted = [fwd(prcoords.Coords(la, lo)) for lo, la in zip(lon0, lat0)]
        lon, lat = inverse(pd.Series([c.lon for c in shifted]).to_numpy(), pd.Series([c.lat for c in shifted]).to_numpy())
        assert _metres(lon, lat, lon0, lat0).max() < 1e-3, fwd.__name__
    for lo, la in zip(lon0, lat0):
        b = prcoords.wgs_bd(prcoords.Coords(la, lo))
        theirs = prcoords.bd_wgs_bored(b)
        ours = bd09_to_wgs84(b.lon, b.lat)
        assert _metres(float(ours[0]), float(ours[1]), theirs.lon, theirs.lat) < 1e-2
