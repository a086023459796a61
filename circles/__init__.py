"""circles: 15-minute elderly-care and childcare service circles for Chinese cities.

Modules, one per stage (nothing runs at import):

- :mod:`circles.study`: the study file (options object)
- :mod:`circles.io`: loaders (network, facilities, population, units)
- :mod:`circles.travel`: network travel times (where a travel time is computed)
- :mod:`circles.isochrones`: 5/10/15-minute isochrone polygons (display only)
- :mod:`circles.coverage`: coverage shares, capacity ratios, 2SFCA (where a share is computed)
- :mod:`circles.targets`: plan target presets, pass/fail (where a target is read)
- :mod:`circles.siting`: new-site suggestions (where a site is chosen)
- :mod:`circles.report`: the HTML map report (where a layer is drawn)
- :mod:`circles.rules`: the run's rules and policy constants (a leaf)
- :mod:`circles.results`: one frozen result per stage, and the run result
- :mod:`circles.stages`: the stages (load, travel, score, candidates, siting, what-if, isochrones)
- :mod:`circles.export`: writing a run's outputs
- :mod:`circles.pipeline`: ``analyse``/``run(study)`` call the stages in order
- :mod:`circles.cli`: the ``circles`` command
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
