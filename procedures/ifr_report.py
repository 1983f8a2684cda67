"""Plots of the IFR procedures (PNG, matplotlib Agg): the pulses-to-fire histogram of a
cycling run, and the transfer curve (amplitude encoding, with the fit) beside firing vs pulse
number (number encoding). Each returns ``{"plot": path}`` for the run's outputs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from procedures.ifr_fit import IFRFit  # noqa: E402


def plot_ifr_cycles(summary: dict, out_dir) -> dict[str, Path]:
    path = Path(out_dir) / "ifr_histogram.png"
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    hist = {int(k): v for k, v in summary.get("histogram", {}).items()}
    if hist:
        ax.bar(list(hist), list(hist.values()), color="tab:blue", width=0.8)
    ax.set_xlabel("pulses to fire")
    ax.set_ylabel("cycles")
    ax.set_title(f"{summary.get('device', '')}: {summary.get('fired_cycles', 0)} fired of "
                 f"{summary.get('cycles', 0)}, reset success {summary.get('reset_success_rate', float('nan')):.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"plot": path}


def plot_ifr_transfer(summary: dict, out_dir) -> dict[str, Path]:
    path = Path(out_dir) / "ifr_transfer.png"
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    points = [a for a in summary.get("amplitudes", []) if a["fired"]]
    density = np.array([a["density_A_m2"] for a in points])
    left.errorbar(density, [a["mean_pulses"] for a in points], yerr=[a["sd_pulses"] for a in points],
                  fmt="o", color="tab:blue", capsize=3, label="measured (mean, sd)")
    fit = summary.get("fit", {})
    if "jdep_A_m2" in fit and density.size:
        model = IFRFit(**fit)
        grid = np.linspace(density.min(), density.max(), 200)
        left.plot(grid, model.mean_pulses(grid), color="tab:orange",
                  label=f"fit: J_dep {model.jdep_A_m2:.3g} A/m^2, mu {model.mobility_m3_per_A_s:.3g}")
    left.set_xlabel("write current density (A/m^2)")
    left.set_ylabel("pulses to fire")
    left.set_title("amplitude encoding")
    left.legend(fontsize=7)
    number = summary.get("number_encoding", {})
    fired = number.get("fired_by_pulse", [])
    right.step(range(1, len(fired) + 1), fired, where="post", color="tab:green")
    right.set_xlabel("pulse number")
    right.set_ylabel("fraction fired")
    right.set_title(f"number encoding at {number.get('amplitude_V', float('nan')):.3g} V")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"plot": path}


__all__ = ["plot_ifr_cycles", "plot_ifr_transfer"]
