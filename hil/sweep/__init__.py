"""Sweeps over bench parameters and experiment settings: ``hil sweep SPEC.toml``.

A spec (:mod:`hil.sweep.spec`) names axes over the bench file's D2D spreads, device-group
fields (sizes, widths, counts), survey parameters, experiment settings and seeds; it expands
into points, each a plain serializable config with an explicit seed (:class:`Point`). A point
characterizes (a small variability survey) and/or trains (:func:`hil.experiment.run_experiment`)
on the bench it builds from that config (:mod:`hil.sweep.point`), and its result is written as
one JSON file named by the hash of its config as it finishes (:mod:`hil.sweep.store`): a killed
sweep, run again, does only the missing points. Points run in process (the default) or as Ray
tasks (:mod:`hil.sweep.execute`); the numbers depend on the spec only, never on the order or the
place a point ran. At the end: the aggregate table and plot (:mod:`hil.sweep.aggregate`).
"""

from hil.sweep.spec import Point, SweepSpec, SweepSpecError, load_spec, parse_spec
from hil.sweep.run import SweepResult, run_sweep

__all__ = ["Point", "SweepResult", "SweepSpec", "SweepSpecError", "load_spec", "parse_spec",
           "run_sweep"]
