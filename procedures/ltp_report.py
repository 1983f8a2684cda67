"""Outputs of the LTP/LTD procedure: ``ltp_ltd.png`` (conductance vs pulse number of every
cycle, beside each device's mean sweeps with the fitted law) and the synapses' calibration
file ``calibration_<chip>_synapses.json`` (:mod:`procedures.calibration`, models
``ferrimagnet_synapse`` and ``dw_quantized_synapse``)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from devices.laws import synapse_conductance as law  # noqa: E402
from drivers.limits import write_current_A  # noqa: E402
from procedures.calibration import ChipCalibration, ElementCalibration, save_calibration  # noqa: E402

PLOTTED_DEVICES = 4
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def plot_ltp_ltd(rows, summary: dict, out_dir) -> dict[str, Path]:
    from procedures.ltp_ltd import device_sweeps

    path = Path(out_dir) / "ltp_ltd.png"
    names = list(summary.get("devices", {}))[:PLOTTED_DEVICES]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, color in zip(names, COLORS):
        sweeps = device_sweeps([r for r in rows if r["Device"] == name])
        if not sweeps["ltp"].size:
            continue
        trace = np.concatenate([np.concatenate([u, d]) for u, d in zip(sweeps["ltp"], sweeps["ltd"])])
        left.plot(np.arange(trace.size), trace * 1e6, ".", ms=2, color=color, label=name)
        p = np.arange(sweeps["ltp"].shape[1])
        right.plot(p, sweeps["ltp"].mean(0) * 1e6, "^", ms=3, color=color)
        right.plot(p, sweeps["ltd"].mean(0) * 1e6, "v", ms=3, color=color)
        fit = summary["devices"][name]["fit"]
        if "nu_ltp" in fit:
            args = (fit["gmin_S"], fit["gmax_S"])
            right.plot(p, law.ltp_conductance(p, *args, fit["nu_ltp"], fit["n_pulses"]) * 1e6, "-",
                       color=color, lw=1, label=f"{name}: nu {fit['nu_ltp']:.2f}/{fit['nu_ltd']:.2f}, "
                                                 f"N {fit['n_pulses']:.1f}, c2c {fit['write_noise']:.2f}")
            right.plot(p, law.ltd_conductance(p, *args, fit["nu_ltd"], fit["n_pulses"]) * 1e6, "-",
                       color=color, lw=1)
        elif "levels" in fit:
            for g in fit["level_conductances_S"]:
                right.axhline(g * 1e6, color=color, lw=0.5, ls=":")
            right.plot([], [], color=color, label=f"{name}: K {fit['levels']}, p {fit['step_probability']:.2f}, "
                                                  f"overshoot {fit['overshoot_probability']:.3f}")
    left.set_xlabel("pulse number (potentiation then depression, every cycle)")
    left.set_ylabel("conductance (uS)")
    left.set_title("LTP/LTD cycles")
    left.legend(fontsize=7, markerscale=3)
    right.set_xlabel("pulse number within a sweep")
    right.set_ylabel("conductance (uS)")
    right.set_title("mean sweeps (^ LTP, v LTD) and the fit")
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"plot": path}


def _finite(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None and (not isinstance(v, float) or math.isfinite(v))}


def _entry(bench_file, name: str, device: dict) -> ElementCalibration | None:
    fit = device["fit"]
    if "error" in fit:
        return None
    line = device.get("line_resistance_ohm")
    common = {"read_noise_S": fit["read_noise_S"], "cross_section_m2": device["cross_section_m2"],
              "line_resistance_ohm": line}
    if line:   # the density the played pulse drove through the line
        current = write_current_A(device["amplitude_V"], bench_file.wiring.source_impedance_ohm, line)
        common["write_density_A_m2"] = float(current) / device["cross_section_m2"]
    if device["element"] == "analog_synapse":
        keys = ("gmin_S", "gmax_S", "nu_ltp", "nu_ltd", "n_pulses", "write_noise", "n_states",
                "gmin_err_S", "gmax_err_S", "nu_ltp_err", "nu_ltd_err", "n_pulses_err",
                "write_noise_err")
        model = "ferrimagnet_synapse"
    else:
        keys = ("levels", "gmin_S", "gmax_S", "step_probability", "overshoot_probability",
                "step_probability_err", "overshoot_err")
        model = "dw_quantized_synapse"
    values = _finite({**{k: fit[k] for k in keys}, **common})
    extra = {"level_conductances_S": fit["level_conductances_S"]} if "level_conductances_S" in fit else {}
    return ElementCalibration(model, values, device["size"], device["width_s"], extra)


def write_synapse_calibration(bench_file, summary: dict, out_dir) -> Path | None:
    """The fitted devices' calibration, one file per chip (the first chip's path returned;
    None when no device was fitted)."""
    by_chip: dict[str, dict] = {}
    for name, device in summary.get("devices", {}).items():
        entry = _entry(bench_file, name, device)
        if entry is not None:
            by_chip.setdefault(bench_file.device(name).chip, {})[name] = entry
    paths = []
    for chip, devices in by_chip.items():
        width = next(iter(devices.values())).width_s
        calibration = ChipCalibration(bench_file.name or "", chip, width, devices,
                                      "hil characterize ltp-ltd")
        paths.append(save_calibration(calibration, Path(out_dir) / f"calibration_{chip}_synapses.json"))
    return paths[0] if paths else None


__all__ = ["plot_ltp_ltd", "write_synapse_calibration"]
