"""Each device kind's truth in the simulator, one module per kind named as in the bench file.

A module gives the kind's material defaults (``DEFAULTS``), its per-size physics before
device-to-device spread (``nominal_parameters``), and how one device answers a pulse and a
read (``switch_target``, ``damage``, ``write_path_resistance``, ``read_resistance``).
:class:`~simulated_bench.chip.Chip` keeps every device's parameters in flat arrays and asks
the device's kind module for the rest: a new kind is a new module here, no switch elsewhere.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from devices import kinds

SHORT_OHM = 2.0          # a broken-down barrier
OPEN_OHM = 1e12          # an electromigrated line


@cache
def truth(kind: str) -> ModuleType:
    """The simulator's module for device kind ``kind`` (checked against :mod:`devices.kinds`)."""
    kinds.kind(kind)
    return importlib.import_module(f"{__name__}.{kind}")
