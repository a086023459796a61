"""China's obfuscated web-map coordinates: GCJ-02 and BD-09.

Chinese web maps (AutoNavi/Amap, Tencent: GCJ-02; Baidu: BD-09) publish coordinates
shifted from WGS84 by a published, non-invertible formula. PROJ does not implement it
(OSGeo/PROJ#982), so circles does, vectorised with numpy. The forward transforms are the
published ones; the inverses are iterative (fixed-point on the forward transform) and
come back to within about 1e-9 degree (well under 1 mm), far inside the 0.5 m we test.

Outside China's bounding box the offsets are zero, as in the original formula.

Examples
--------
>>> lon, lat = wgs84_to_gcj02(114.30, 30.58)
>>> back = gcj02_to_wgs84(lon, lat)
>>> round(float(back[0]), 7), round(float(back[1]), 7)
(114.3, 30.58)
"""

from __future__ import annotations

import numpy as np

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the formula
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

__all__ = [
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "to_wgs84",
    "named_system",
]


def _out_of_china(lon, lat):
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon, lat):
    x = lon - 105.0
    y = lat - 35.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(radlat) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat):
    """Forward GCJ-02 transform (WGS84 degrees in, GCJ-02 degrees out)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def _invert(forward, lon, lat, *, tol_deg=1e-10, max_iter=30):
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(max_iter):
        flon, flat = forward(wlon, wlat)
        elon, elat = flon - lon, flat - lat
        wlon = wlon - elon
        wlat = wlat - elat
        if np.all(np.abs(elon) < tol_deg) and np.all(np.abs(elat) < tol_deg):
            break
    return wlon, wlat


def gcj02_to_wgs84(lon, lat):
    """Iterative inverse of :func:`wgs84_to_gcj02`."""
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon, lat):
    """Forward BD-09 transform from GCJ-02 degrees."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat):
    """Iterative inverse of :func:`gcj02_to_bd09`."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon, lat):
    """WGS84 to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    """BD-09 to WGS84 (through GCJ-02), both steps iterative."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def named_system(name: str) -> str | None:
    """``"wgs84"``, ``"gcj02"`` or ``"bd09"`` for a named lon/lat system ("GCJ-02", "CGCS2000",
    "EPSG:4490" ...); None for anything else (an EPSG code PROJ handles)."""
    key = name.lower().replace("-", "").replace("_", "").replace(":", "")
    if key in ("wgs84", "cgcs2000", "epsg4326", "epsg4490"):
        return "wgs84"  # CGCS2000 is within about 1 m of WGS84
    return key if key in ("gcj02", "bd09") else None


def to_wgs84(lon, lat, system: str):
    """Convert lon/lat arrays declared in ``system`` ("wgs84", "gcj02" or "bd09") to WGS84."""
    system = named_system(system)
    if system == "wgs84":
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if system == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if system == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError("unknown coordinate system: use wgs84, cgcs2000, gcj02 or bd09")
