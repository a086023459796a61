"""The candidate stage: every candidate site read or generated once, snapped once, searched once (-> :class:`CandidateTimes`).

Before this stage existed the same candidate-to-people times were searched per siting
kind, again for the after-state (the chosen sites re-snapped), again to score the study
after siting and again for the what-if page. Now one matrix serves them all, cut at the
largest time any of them reads: ``max(siting threshold, longest threshold)`` (the what-if
page's reach and the 2SFCA catchment). Two searches stay outside it, on purpose: the
p-median model's untruncated times (up to the search limit, far past the others' reach:
searching every candidate that far would cost more than the model's one extra search) and
the after-state's nearest times up to the search limit (one multi-source search per kind
from the few chosen sites).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from circles import coverage as cov
from circles.kinds import KINDS
from circles.results import CandidateTimes, Inputs, Travel
from circles.siting import candidate_nodes, read_candidates, read_exclusion
from circles.study import Study


def candidate_sets(study: Study, inputs: Inputs, units: gpd.GeoDataFrame, exclude,
                   from_file: gpd.GeoDataFrame | None) -> dict[str, gpd.GeoDataFrame]:
    """Each siting model's candidate table: the candidates file, or generated road nodes.

    Generated per kind: road nodes thinned to one per ``candidate_spacing_m`` square in the
    units where this kind does not cover everyone within the siting threshold; for the
    joint model, over the whole area.
    """
    s = study.siting
    out = {}
    keys = ["joint"] if s.model == "joint" else [k for k in s.kinds if k in KINDS]
    for key in keys:
        if from_file is not None:
            out[key] = from_file
        elif key == "joint":
            out[key] = candidate_nodes(inputs.nodes, spacing_m=s.candidate_spacing_m, area=inputs.area, exclude=exclude)
        else:
            col = cov.col("cov", KINDS[key].serves, key, s.threshold_min)
            served = units[col] if col in units else pd.Series(0.0, index=units.index)
            under = units[served.fillna(1.0) < 1.0 - 1e-9]
            zone = shapely.union_all(under.geometry.values) if len(under) else inputs.area
            out[key] = candidate_nodes(inputs.nodes, spacing_m=s.candidate_spacing_m, area=zone, exclude=exclude)
    return out


def candidate_times(study: Study, inputs: Inputs, travel: Travel, units: gpd.GeoDataFrame) -> CandidateTimes | None:
    """One snap and one search for every candidate of the run (``None`` when no siting is asked).

    ``units`` are the scored units (a kind's generated candidates lie where it leaves
    people uncovered).
    """
    s = study.siting
    if s.n_sites == 0 or not s.kinds:
        return None
    exclude = read_exclusion(s.exclude, travel.net.crs)
    from_file = None if s.candidates is None else \
        read_candidates(s.candidates, travel.net.crs, name_column=s.candidate_name_column, exclude=exclude)
    sets = candidate_sets(study, inputs, units, exclude, from_file)
    if from_file is not None:
        grid = from_file
    else:
        grid = candidate_nodes(inputs.nodes, spacing_m=s.candidate_spacing_m, area=inputs.area, exclude=exclude)
        grid = grid[["geometry"]].assign(name="")  # generated: no name of its own (the page says "candidate")
    # one row per distinct point, in order of first appearance (sets first, then the grid)
    tables = [*sets.values(), grid]
    every = np.concatenate([np.asarray(t.geometry.values, dtype=object) for t in tables])
    xy = np.c_[shapely.get_x(every), shapely.get_y(every)] if len(every) else np.zeros((0, 2))
    first = ~pd.DataFrame(xy).duplicated().to_numpy()
    geoms = list(every[first])
    index: dict[tuple[float, float], int] = {key: i for i, key in enumerate(map(tuple, xy[first].tolist()))}
    points = gpd.GeoDataFrame(geometry=geoms, crs=travel.net.crs) if geoms else \
        gpd.GeoDataFrame(geometry=[], crs=travel.net.crs)
    snap = travel.net.snap_points(points, max_offroad_m=study.travel.max_offroad_m)
    cutoff_s = max(float(s.threshold_min) * 60.0, travel.tmax_s)
    times = travel.net.times_to_points(snap, travel.demand_snap, cutoff_s=cutoff_s).tocsr()
    return CandidateTimes(sets=sets, grid=grid, exclude=exclude, snap=snap, times=times, cutoff_s=cutoff_s,
                          n_points=len(travel.point_snap), index=index)


__all__ = ["candidate_sets", "candidate_times"]
