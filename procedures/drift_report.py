"""The drift monitor's plot (PNG, matplotlib Agg): I50 of each device vs time (relative to its
first check, so every size shares the axis), with the stage
temperature on a second axis where the bench exposed it."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _shown_err(point: dict) -> float:
    """A fit's I50 error bar, left out (0) where the fit could not pin I50 (error over half
    of it: the wide first window of a device whose transition it barely crossed)."""
    err = point["i50_err_A"]
    return err if math.isfinite(err) and err < 0.5 * point["i50_A"] else 0.0


def plot_drift(summary: dict, out_dir) -> dict:
    """Write ``drift_i50.png`` into ``out_dir``; returns {"drift_plot": path}."""
    path = Path(out_dir) / "drift_i50.png"
    fig, ax = plt.subplots(figsize=(7, 4))
    temperature = []
    for name, series in summary.get("devices", {}).items():
        points = [s for s in series if math.isfinite(s["i50_A"])]
        if not points:
            continue
        hours = [s["time_s"] / 3600.0 for s in points]
        first = points[0]["i50_A"]       # relative: devices of every size on one axis
        ax.errorbar(hours, [100.0 * (s["i50_A"] / first - 1.0) for s in points],
                    yerr=[100.0 * _shown_err(s) / first for s in points],
                    marker="o", capsize=2, label=f"{name} (I50 {first * 1e6:.1f} uA at start)")
        temperature = temperature or [(s["time_s"] / 3600.0, s["temperature_K"]) for s in series
                                      if math.isfinite(s["temperature_K"])]
    ax.set_xlabel("bench time (h)")
    ax.set_ylabel("I50 change from the first check (%)")
    ax.legend(loc="upper left", fontsize=8)
    if temperature:
        twin = ax.twinx()
        twin.plot(*zip(*temperature), color="0.5", linestyle="--", label="stage T")
        twin.set_ylabel("stage temperature (K)", color="0.4")
    ax.set_title("drift monitor: I50 vs time")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return {"drift_plot": path}
