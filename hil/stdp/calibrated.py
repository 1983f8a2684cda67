"""The synapse model from a calibration file: its ``stt_synapse`` junctions (``hil characterize
synapse-switching``, :mod:`procedures.calibration`) reduced to the typical junction (the median
of each fitted number) and the measured D2D spread (the relative standard deviation over the
junctions). The critical voltages were fitted against the pulse amplitude the generator
played, so the rule's amplitudes from this model already carry the drop over the source and
the lines that a typical-parameter model misses on the bench."""

from __future__ import annotations

import numpy as np

from hil.stdp.synapse import SwitchingLaw, SynapseModel
from procedures.calibration import CalibrationFileError, load_calibration


def _rel_spread(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / np.mean(values)) if len(values) > 1 else 0.0


def model_from_calibration(path) -> SynapseModel:
    calibration = load_calibration(path)
    junctions = [d for d in calibration.devices.values() if d.model == "stt_synapse"]
    if not junctions:
        raise CalibrationFileError(
            f"calibration {str(path)!r} holds no stt_synapse junction (models: "
            f"{sorted({d.model for d in calibration.devices.values()})}); calibrate the crossbar "
            f"with hil characterize synapse-switching --bench ...")

    def column(key: str) -> np.ndarray:
        return np.array([float(j[key]) for j in junctions])

    delta, exponent, tau0 = (float(np.median(column(k))) for k in ("delta", "exponent", "tau0_s"))
    vc_p, vc_ap = column("vc_ap_to_p_V"), column("vc_p_to_ap_V")
    g_p, g_ap = column("g_p_S"), column("g_ap_S")
    return SynapseModel(
        to_p=SwitchingLaw(float(np.median(vc_p)), delta, exponent, tau0),
        to_ap=SwitchingLaw(float(np.median(vc_ap)), delta, exponent, tau0),
        g_p_S=float(np.median(g_p)), g_ap_S=float(np.median(g_ap)),
        spreads={"vc_rel": (_rel_spread(vc_p) + _rel_spread(vc_ap)) / 2,
                 "delta_rel": _rel_spread(column("delta")),
                 "g_rel": (_rel_spread(g_p) + _rel_spread(g_ap)) / 2},
        source=f"calibration {str(path)!r} ({len(junctions)} junctions, median and D2D spread)")
