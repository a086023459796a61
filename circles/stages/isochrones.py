"""The isochrone stage: display polygons per kind and, while cheap, per facility (-> :class:`Isochrones`).

Both layers search from the travel stage's facility snap (nothing is snapped again).
Coverage numbers never come from these shapes.
"""

from __future__ import annotations

import logging
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from circles.isochrones import isochrone_polygons, isochrones_per_source
from circles.kinds import KINDS
from circles.results import Inputs, Isochrones, Travel
from circles.rules import PER_FACILITY_MAX
from circles.travel import subset

log = logging.getLogger(__name__)


def isochrones(inputs: Inputs, travel: Travel, *, tick: Callable[[float], None] = lambda f: None) -> Isochrones:
    """One polygon per kind and threshold; per facility at the longest threshold up to :data:`PER_FACILITY_MAX`."""
    crs, net, facilities, fsnap = inputs.crs, travel.net, travel.facilities, travel.facility_snap
    thresholds = list(inputs.thresholds_min)
    iso = []
    for k in travel.kinds:
        idx = np.flatnonzero((facilities["kind"] == k).to_numpy())
        iso.append(isochrone_polygons(net, subset(fsnap, idx), [t * 60 for t in thresholds],
                                      label={"kind": k, "kind_zh": KINDS[k].zh, "serves": KINDS[k].serves}))
        tick(0.8 * len(iso) / len(travel.kinds))
    by_kind = pd.concat(iso, ignore_index=True) if iso else gpd.GeoDataFrame(geometry=[], crs=crs)
    by_kind = gpd.GeoDataFrame(by_kind, geometry="geometry", crs=crs)
    # per facility only while cheap; otherwise on demand (circles.isochrones.facility_isochrones)
    if len(facilities) <= PER_FACILITY_MAX:
        labels = facilities[["facility_id", "name", "kind"]].to_dict("records")
        each = isochrones_per_source(net, fsnap, travel.tmax_s, labels=labels)
    else:
        each = gpd.GeoDataFrame(geometry=[], crs=crs)
        log.info("isochrones per facility skipped: %d facilities > %d (use facility_isochrones on demand)",
                 len(facilities), PER_FACILITY_MAX)
    return Isochrones(by_kind=by_kind, per_facility=each)
