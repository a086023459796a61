"""The what-if stage: the page's candidate-to-cell times and what a new site adds (-> :class:`WhatIf`)."""

from __future__ import annotations

import geopandas as gpd

from circles.results import Inputs, Scores, Siting, Travel, WhatIf
from circles.stages.score import composition_options
from circles.study import Study
from circles.whatif import whatif_data


def whatif(study: Study, inputs: Inputs, travel: Travel, scores: Scores, siting: Siting, units: gpd.GeoDataFrame,
           preset: dict) -> WhatIf:
    """The payload of :func:`circles.whatif.whatif_data` for the run's suggested sites (``{}`` when siting is off)."""
    return WhatIf(payload=whatif_data(study, travel.net, inputs.nodes, inputs.area, scores.points, units,
                                      scores.overall, travel.facilities, siting.sites, preset, travel.demand_snap,
                                      travel.demand, list(inputs.thresholds_min), candidates=siting.candidates,
                                      missing_fields=composition_options(study, inputs)["missing_fields"]))
