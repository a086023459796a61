"""The stages of a run, in order; each takes earlier results (and the Study) and returns its own.

- :mod:`circles.stages.load`: ``load_inputs(study) -> Inputs``
- :mod:`circles.stages.travel`: ``travel(study, inputs) -> Travel``
- :mod:`circles.stages.score`: ``score(study, inputs, travel, preset) -> Scores``
- :mod:`circles.stages.siting`: ``siting(study, inputs, travel, scores, preset) -> Siting``
- :mod:`circles.stages.whatif`: ``whatif(study, inputs, travel, scores, siting, preset) -> WhatIf``
- :mod:`circles.stages.isochrones`: ``isochrones(inputs, travel) -> Isochrones``
- :mod:`circles.stages.summarise`: ``summarise(...) -> dict`` (``summary.json``)

The engines stay in their topic modules (:mod:`circles.travel`, :mod:`circles.coverage`,
:mod:`circles.siting`, :mod:`circles.isochrones`, :mod:`circles.targets`,
:mod:`circles.whatif`); a stage only wires them together.
"""
