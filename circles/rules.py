"""The run's rules and policy constants, in one leaf module (imports nothing from circles).

Every number a stage, the summary or the methods text needs to agree on lives here, as
osmnx keeps its ``settings``: the search limit, the halo and reach of the reads, the
off-road and no-unit warning shares, the walking-speed band and the display caps.
Functions here are pure: they take numbers (or read attributes of a ``Study``), they do
no I/O and keep no state.
"""

from __future__ import annotations

import math

#: Share of the longest threshold above which an off-road leg is counted as long (summary.json).
LONG_OFFROAD_SHARE = 1 / 3

#: Share of the study's people in no unit above which a study with its own units is warned.
NO_UNIT_WARN_SHARE = 0.10

#: Walking speeds (m/s) of the speed-sensitivity band (equity view, methods text, figures).
SPEEDS_MPS = (0.8, 1.0, 1.2)

#: The pipeline draws per-facility isochrones only up to this many facilities.
PER_FACILITY_MAX = 300

#: An isochrone raster (display only) has at most this many cells: past it the cell grows by 1.5x steps.
#: The demo (17 m cells) and the Wuhan core (28 km square: 2.7 M cells) are below it; a 64 km whole
#: city is drawn with 39 m cells (about a screen pixel at the zoom that fits it) instead of 17 m
#: (README, bench_city). Times, shares and tables do not use it.
ISO_MAX_CELLS = 4_000_000

#: Tobler's hiking function on a DEM (circles/io/dem.py): speed falls by ``exp(-3.5 |g + 0.05|)``.
TOBLER_K = 3.5
TOBLER_G0 = 0.05
#: The fastest walking speed on a slope as a multiple of the flat one (Tobler at ``g = -0.05``,
#: gently downhill): what sizes the halo and the catchment discs when a DEM is given.
SLOPE_MAX_SPEED_FACTOR = math.exp(TOBLER_K * TOBLER_G0)

#: Fastest speed assumed on the drive profile when sizing the halo (120 km/h, in m/s).
DRIVE_MAX_SPEED_MPS = 120 / 3.6


def search_limit(thresholds_min, max_time_min: float | None = None, siting_threshold_min: float | None = None) -> float:
    """The one search limit (seconds) from the travel rules, in single runs, batches and siting alike.

    ``max_time_min`` when given, else twice the longest threshold; never shorter than the
    longest threshold or the siting threshold (``None`` when no siting is asked), since
    those must be exact. Times up to the limit are exact and do not depend on where the
    study area is cut; a time past it is "beyond" (``inf``), and a median or p90 that falls
    past it is reported as "> limit", never as a number.

    Examples
    --------
    >>> search_limit([5, 10, 15])
    1800.0
    >>> search_limit([5, 10, 15], siting_threshold_min=45)
    2700.0
    """
    tmax = max(float(t) for t in thresholds_min)
    limit = float(max_time_min) if max_time_min is not None else 2 * tmax
    floor = [tmax] + ([float(siting_threshold_min)] if siting_threshold_min is not None else [])
    return float(max([limit] + floor)) * 60.0


def search_limit_s(study) -> float:
    """:func:`search_limit` of a ``Study`` (reads its attributes only).

    The siting threshold counts only when the study asks for sites (``siting.n_sites``
    and ``siting.kinds``). A run evaluates this once (the travel stage) and every later
    stage reads the value kept in its result, so a caller changing the study afterwards
    cannot make two stages disagree.
    """
    s = study.siting
    siting = float(s.threshold_min) if s.n_sites and s.kinds else None
    return search_limit(study.travel.thresholds_min, study.travel.max_time_min, siting)


def max_speed_mps(profile: str, walk_speed_mps: float, sloped: bool = False) -> float:
    """The fastest speed of a profile: the walking speed (``sloped``, walking on a DEM: downhill at
    :data:`SLOPE_MAX_SPEED_FACTOR` times it), or 120 km/h on ``drive`` (at least the walking speed)."""
    if profile == "walk":
        return walk_speed_mps * (SLOPE_MAX_SPEED_FACTOR if sloped else 1.0)
    return max(walk_speed_mps, DRIVE_MAX_SPEED_MPS)


def halo_m(thresholds_min, profile: str, walk_speed_mps: float, sloped: bool = False) -> float:
    """The halo h: the longest threshold at the fastest speed (metres).

    People within 2h of the area use the same facilities (2SFCA step 1), facilities within
    h serve the area, roads within 2h carry every path that matters: results inside the
    area do not depend on where it was cut (see circles/batch.py).
    """
    return max(float(t) for t in thresholds_min) * 60.0 * max_speed_mps(profile, walk_speed_mps, sloped)


def reach_m(limit_s: float, thresholds_min, profile: str, walk_speed_mps: float, sloped: bool = False) -> float:
    """How far roads are read around the area: a trip within the search limit, and at least 2h."""
    return max(limit_s * max_speed_mps(profile, walk_speed_mps, sloped),
               2 * halo_m(thresholds_min, profile, walk_speed_mps, sloped))


def facility_reach_m(limit_s: float, thresholds_min, profile: str, walk_speed_mps: float,
                     sloped: bool = False) -> float:
    """How far facilities are read around the area: h, or a trip within the search limit if longer."""
    return max(halo_m(thresholds_min, profile, walk_speed_mps, sloped),
               limit_s * max_speed_mps(profile, walk_speed_mps, sloped))
