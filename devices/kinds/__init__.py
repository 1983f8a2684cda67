"""The device kinds a bench file may name (``[[chip.group]] kind = "..."``), one module each.

A kind has five faces, each in the package whose job it is (``DESIGN.md``, "Device kinds"):
its law (:mod:`devices.laws`), its truth in the simulator (``simulated_bench.kinds.<name>``),
the procedures and fits that characterize it (``procedures``), its calibrated model
(``procedures.calibration``) and its learning element (``hil``). The module here says what
the kind is and which law it follows; every package finds its own face by the kind's name,
so adding a kind adds modules and edits no table elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from types import ModuleType


@dataclass(frozen=True)
class DeviceKind:
    """What every package may know of a kind without importing another package's face."""

    name: str
    summary: str          # one line for ``hil bench show`` and errors
    law: ModuleType       # the module in devices.laws that its switching follows
    element: str          # what it is in a network: "switching_neuron" (more kinds to come)
    spreads: tuple[str, ...] = ()   # the D2D spreads its truth draws ([variability] keys)


@cache
def names() -> tuple[str, ...]:
    """The kinds this installation knows: the modules of this package."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


def spread_names() -> tuple[str, ...]:
    """Every D2D spread some kind draws: the keys a bench file's ``[variability]`` may hold."""
    return tuple(sorted({key for name in names() for key in kind(name).spreads}))


def kind(name: str) -> DeviceKind:
    """The kind called ``name``; a ValueError naming the known kinds for any other."""
    if name not in names():
        raise ValueError(f"device kind {name!r} is not one of {names()}")
    return importlib.import_module(f"{__name__}.{name}").KIND
