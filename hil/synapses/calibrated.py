"""Device configs from a calibration file (``hil characterize ltp-ltd`` / ``neuron-transfer``):
the calibrated model of :mod:`procedures.calibration` read as the learning side's configs.

- :func:`synapse_from_calibration`: a synapse group's typical device (the median of each
  calibrated number over the group's devices) with the D2D spread the file shows (the
  relative spread of G_min, G_max and nu over those devices): what ex-situ training learns
  on and what the layers map weights to;
- :func:`neurons_from_calibration`: each calibrated CeLU neuron's alpha and gain, for the
  activation layer's backward (its forward stays the devices').
"""

from __future__ import annotations

import numpy as np

from hil.synapses.configs import CeLUNeuronDevice, SynapseConfigError, SynapseDevice
from procedures.calibration import ChipCalibration

SYNAPSE_MODELS = ("ferrimagnet_synapse", "dw_quantized_synapse")


def _entries(calibration: ChipCalibration, models: tuple[str, ...], size: str | None):
    found = [(name, calibration[name]) for name in calibration.names()
             if getattr(calibration[name], "model", None) in models
             and (size is None or calibration[name].size == size)]
    if not found:
        raise SynapseConfigError(f"calibration {calibration.source!r} has no {'/'.join(models)} "
                                 f"device{' of size ' + repr(size) if size else ''}: calibrate it "
                                 f"(hil characterize ltp-ltd / neuron-transfer) or use the truth")
    return found


def _spread(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1) / values.mean()) if len(values) > 1 and values.mean() else 0.0


def synapse_from_calibration(calibration: ChipCalibration, size: str,
                             read_noise_ohm: float = 0.0) -> SynapseDevice:
    entries = [e for _, e in _entries(calibration, SYNAPSE_MODELS, size)]
    model = entries[0].model

    def median(key):
        return float(np.median([e[key] for e in entries]))

    d2d = {"gmin_rel": _spread([e["gmin_S"] for e in entries]),
           "gmax_rel": _spread([e["gmax_S"] for e in entries])}
    common = dict(kind=model, g_min_S=median("gmin_S"), g_max_S=median("gmax_S"),
                  read_noise_ohm=read_noise_ohm)
    if model == "dw_quantized_synapse":
        d2d["step_probability_abs"] = float(np.std([e["step_probability"] for e in entries]))
        return SynapseDevice(law="notched", n_states=int(round(median("levels"))),
                             step_probability=median("step_probability"),
                             overshoot_probability=median("overshoot_probability"),
                             d2d={k: min(v, 1.0) for k, v in d2d.items()}, **common)
    d2d["nu_rel"] = _spread([e["nu_ltp"] for e in entries])
    return SynapseDevice(law="ltp_ltd", n_states=int(round(median("n_pulses"))) + 1,
                         nu_ltp=median("nu_ltp"), nu_ltd=median("nu_ltd"),
                         write_noise=median("write_noise"),
                         d2d={k: min(v, 1.0) for k, v in d2d.items()}, **common)


def neurons_from_calibration(calibration: ChipCalibration, names: list[str],
                             typical: CeLUNeuronDevice) -> tuple[np.ndarray, np.ndarray]:
    """(alpha_A, gain_ohm_per_A) of the neurons ``names`` (bench device names, in order)."""
    entries = dict(_entries(calibration, ("celu_neuron",), None))
    short = {name.split("/")[-1]: name for name in entries}
    missing = [n for n in names if n not in entries and n.split("/")[-1] not in short]
    if missing:
        raise SynapseConfigError(f"calibration {calibration.source!r} has no CeLU neuron "
                                 f"{missing[:3]}; calibrate every neuron the network uses "
                                 f"(hil characterize neuron-transfer)")
    pick = [entries.get(n) or entries[short[n.split("/")[-1]]] for n in names]
    return (np.array([e["alpha_A"] for e in pick]), np.array([e["gain_ohm_per_A"] for e in pick]))
