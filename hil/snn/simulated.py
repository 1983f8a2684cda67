"""The fast simulated path of the spiking layer: a simulated chip's true DW-MTJ parameters.

Reaches the simulator only through :mod:`hil.simulated` (the sanctioned importer: it draws
the chips as the simulated bench does), then reads each domain-wall device's truth (the
state its kind keeps in ``chip.kind_state``): J_dep, mu, the distance to fire, the pinning
spread, the leak and the reset failure probability, per device. Two uses:

- :func:`truth_calibration`: what a perfect ``ifr-survey`` would write (a ``domain_wall``
  :class:`~procedures.calibration.ChipCalibration`), the calibration source ``truth``;
- :func:`truth_backend`: an :class:`~hil.snn.devices.IFRArrayBackend` playing the true devices
  (their D2D draw and cycle-to-cycle noise), the devices of an in-situ run and of a
  deployment.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from devices.benchfile import BenchFile, as_bench_file
from devices.kinds import dw_mtj_ifr_neuron
from hil.snn.devices import IFRArrayBackend, IFRParameters
from procedures.calibration import ChipCalibration, DomainWallCalibration

KIND = dw_mtj_ifr_neuron.KIND.name


def wall_chip(bench: BenchFile | str | dict | None = None, chip_seed: int | None = None,
              variability: Mapping[str, float] | None = None):
    """The first chip of a bench, drawn as :func:`hil.simulated.build_chips` draws it (``chip_seed``
    None: the simulated bench's own chip), checked to hold domain-wall neurons."""
    from hil.simulated import build_chips

    bench = as_bench_file(bench)
    chip = build_chips(bench, chip_seed, variability)[0]
    if KIND not in chip.kind_state:
        from hil.snn.config import SNNConfigError

        raise SNNConfigError(f"bench {bench.name!r} has no {KIND} devices on chip {chip.name!r}: "
                             f"a spiking layer needs domain-wall IFR neurons (e.g. --bench "
                             f"examples/benches/dw_ifr_neurons.toml)")
    return chip


def truth_calibration(chip, width_s: float) -> ChipCalibration:
    """Every domain-wall device of ``chip`` with its true law parameters."""
    walls = chip.kind_state[KIND]
    devices = {}
    for i, name in enumerate(chip.names):
        if chip.kind[i] != KIND:
            continue
        leak = float(walls.leak_time_s[i])
        devices[name] = DomainWallCalibration(
            size=str(chip.size[i]), width_s=float(width_s),
            jdep_A_m2=float(walls.jdep_A_m2[i]), mobility_m3_per_A_s=float(walls.mobility_m3_per_A_s[i]),
            distance_m=float(walls.mtj_distance_m[i]), pinning_rel=float(walls.pinning_rel[i]),
            cross_section_m2=float(chip.cross_section_m2[i]),
            leak_time_s=leak if np.isfinite(leak) else None,
            reset_fail_probability=float(walls.reset_fail_probability[i]),
            line_resistance_ohm=float(chip.line_resistance_ohm[i]))
    return ChipCalibration("", chip.name, float(width_s), devices, f"simulated truth: chip {chip.name}")


def truth_backend(chip, bench: BenchFile, seed: int = 0) -> IFRArrayBackend:
    """The chip's true domain-wall devices as an array backend (trials seeded by ``seed``),
    each with the safe ceiling of its true write path under ``bench``'s limits."""
    truth = truth_calibration(chip, 1e-9)        # the law's parameters do not depend on width
    params = IFRParameters.from_calibration(truth, truth.names(), bench)
    return IFRArrayBackend(params, seed, name=f"simulated chip {chip.name!r} (true physics)")


def sizes_of(chip) -> dict[str, list[str]]:
    """size -> the chip's domain-wall devices of that size, in chip order."""
    out: dict[str, list[str]] = {}
    for i, name in enumerate(chip.names):
        if chip.kind[i] == KIND:
            out.setdefault(str(chip.size[i]), []).append(name)
    return out


__all__ = ["KIND", "sizes_of", "truth_backend", "truth_calibration", "wall_chip"]
