"""The largest write current a device neuron may ask for, from the bench's safety limits.

A write pulse reaches a device through the pulse generator's source impedance R_s and the
device's write path R. The drivers allow a pulse whose open-circuit voltage (EMF) stays
under both bench-file ceilings: ``max_pulse_voltage_V``, and the worst-case current density
``EMF / (R_s + min_line_resistance_ohm) / line_cross_section_m2`` under
``max_current_density_A_m2`` (:func:`drivers.limits.max_pulse_level_V`). The largest current
a device can then be given is that EMF over *its own* write path: ``EMF_max / (R_s + R)``.
Without a known R the lowest line resistance of the size stands in, which bounds every device
of the size from above; with the device's measured (bench) or drawn (simulated array) write
path the ceiling is the one the drivers will actually honour.

``max_write_current_A`` never clips a current: the input -> current mapping is built to stay
below it (with headroom), and a configuration that cannot is refused with
:class:`CurrentLimitError`.
"""

from __future__ import annotations

from devices.benchfile import BenchFile, SafetyLimits
from drivers.limits import max_pulse_level_V, write_current_A


class CurrentLimitError(ValueError):
    """A write current (or a mapping that could produce one) over a device's safety limit."""


def max_write_current_A(limits: SafetyLimits, source_impedance_ohm: float,
                        write_path_ohm: float | None = None) -> float:
    """The largest current the drivers let a pulse drive through a write path of
    ``write_path_ohm`` (None: the size's lowest line resistance, the bound of the size)."""
    path = limits.min_line_resistance_ohm if write_path_ohm is None \
        else max(float(write_path_ohm), limits.min_line_resistance_ohm)
    return float(write_current_A(max_pulse_level_V(limits, source_impedance_ohm),
                                 source_impedance_ohm, path))


def device_current_limits(bench: BenchFile) -> dict[str, float]:
    """Safe maximum write current (A) of every device of a bench, by device name: the bound
    of its size (a bench backend narrows it with each device's measured write path)."""
    return {dev.name: max_write_current_A(bench.limits_for(dev), bench.wiring.source_impedance_ohm)
            for dev in bench.devices()}
