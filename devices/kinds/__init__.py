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
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType, ModuleType
from typing import Mapping

from devices.benchschema import Number


@dataclass(frozen=True)
class DeviceKind:
    """What every package may know of a kind without importing another package's face."""

    name: str
    summary: str          # one line for ``hil bench show`` and errors
    law: ModuleType       # the module in devices.laws that its switching follows
    element: str          # what it is in a network: "switching_neuron", "ifr_neuron"
    spreads: tuple[str, ...] = ()   # the D2D spreads its truth draws ([variability] keys)
    #: the material overrides a [[chip.group]] of this kind may set, each with its range
    #: (the keys of its truth's DEFAULTS; the bench file refuses any other key)
    parameters: Mapping[str, Number] = field(default_factory=dict)


def _positive(high: float, unit: str) -> Number:
    return Number(0.0, high, unit, open_low=True)


#: the ranges of the parameters every Neel-Brown kind's truth takes (a typo'd exponent
#: such as 60 instead of 60e-9 is refused, not simulated)
NEEL_BROWN_PARAMETERS = MappingProxyType({
    "fm_thickness_m": _positive(1e-7, "m"),
    "anisotropy_J_m3": _positive(1e7, "J/m^3"),
    "saturation_A_m": _positive(1e7, "A/m"),
    "critical_current_density_A_m2": _positive(1e14, "A/m^2"),
    "series_resistance_ohm": Number(0.0, 1e8, "ohm"),
    "read_noise_ohm": Number(0.0, 1e6, "ohm"),
    "tau0_s": _positive(1e-3, "s"),
    "exponent": _positive(4.0, ""),
    "temperature_K": _positive(1000.0, "K"),
})


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
