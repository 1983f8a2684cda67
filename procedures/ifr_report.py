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


# ----------------------------------------------------------------------------- chip survey
def plot_survey_transfer(result, path: Path) -> Path:
    """Mean pulses to fire vs density, one panel per geometry: each neuron's points and fit."""
    sizes = [g.size for g in result.geometries] or sorted({n.size for n in result.neurons.values()})
    fig, axes = plt.subplots(1, max(len(sizes), 1), figsize=(4.2 * max(len(sizes), 1), 3.6),
                             squeeze=False)
    for ax, size in zip(axes[0], sizes):
        neurons = [n for n in result.neurons.values() if n.size == size]
        for k, n in enumerate(neurons):
            color = plt.cm.viridis(k / max(len(neurons) - 1, 1))
            points = [a for a in n.transfer["amplitudes"] if a["fired"]]
            density = np.array([a["density_A_m2"] for a in points])
            ax.plot(density, [a["mean_pulses"] for a in points], "o", ms=3, color=color)
            if n.ok and density.size:
                grid = np.linspace(density.min(), density.max(), 100)
                ax.plot(grid, n.fit.mean_pulses(grid), "-", lw=1, color=color)
        ax.axvline(result.reference_density_A_m2, color="grey", lw=0.8, ls=":")
        ax.set_title(f"geometry {size}: {len(neurons)} neurons")
        ax.set_xlabel("write current density (A/m^2)")
        ax.set_ylabel("mean pulses to fire")
        ax.grid(alpha=0.3)
    fig.suptitle("amplitude encoding over the chip (dotted: J_ref)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_survey_spread(result, path: Path) -> Path:
    """J_dep, the mobility and N at J_ref of every fitted neuron (error bars: fit), per geometry."""
    keys = (("jdep_A_m2", "J_dep (A/m^2)"), ("mobility_m3_per_A_s", "mu at design D (m/s per A/m^2)"),
            ("pulses_ref", "pulses to fire at J_ref"))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
    sizes = [g.size for g in result.geometries]
    for ax, (key, label) in zip(axes[0], keys):
        for x, size in enumerate(sizes):
            pairs = [n.value(key) for n in result.neurons.values() if n.size == size and n.ok]
            offsets = np.linspace(-0.25, 0.25, max(len(pairs), 1))
            ax.errorbar(x + offsets[:len(pairs)], [v for v, _ in pairs], yerr=[e for _, e in pairs],
                        fmt="o", ms=3, capsize=2)
        ax.set_xticks(range(len(sizes)), sizes)
        ax.set_xlabel("geometry")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle("device-to-device spread (error bars: each fit's standard error)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _g(value, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if isinstance(value, (int, float)) and np.isfinite(value) else "-"


def ifr_survey_markdown(result) -> str:
    from procedures.ifr_survey import QUANTITIES

    lines = [f"# IFR survey: bench `{result.bench}`, chip `{result.chip}`", "",
             (f"Every DW-MTJ neuron through the switch matrix: {result.points} write amplitudes x "
              f"{result.cycles} integrate-fire-reset cycles, {result.width_s * 1e9:g} ns pulses. "
              f"Fit per neuron: the domain-wall law's mean and spread of pulses to fire vs "
              f"current density (J_dep, mobility at the design distance, pinning spread). "
              f"Reference density J_ref = {result.reference_density_A_m2:.3g} A/m^2."), "",
             "## By geometry", "",
             ("D2D = sqrt(sd^2 - fit err^2) / mean (fit err: the median over the neurons; the devices' spread less the fits' scatter); "
              "configured: the bench file's [variability] (mobility: mu_rel and length_rel "
              "L / D combined)."), "",
             "| geometry | neurons | quantity | mean | sd | rel. spread | fit err | D2D | configured |",
             "|---|---|---|---|---|---|---|---|---|"]
    for g in result.geometries:
        for key, label, unit, _ in QUANTITIES:
            s = g.spreads[key]
            cfg = f"{s.configured_rel:.1%}" if s.configured_rel is not None else "-"
            lines.append(f"| {g.size} | {g.count} | {label}{f' ({unit})' if unit else ''} | "
                         f"{_g(s.mean)} | {_g(s.sd, 3)} | {s.rel:.1%} | {s.fit_rel:.1%} | "
                         f"{s.d2d_rel:.1%} | {cfg} |")
    lines += ["", "## Per neuron", "",
              ("| neuron | geometry | R_line (ohm) | J_dep (A/m^2) | mu (m/s per A/m^2) | pinning | "
               "N at J_ref | reset success | cycles (fired) | chi2/dof |"),
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, n in result.neurons.items():
        c = n.cycles
        head = (f"| {name} | {n.size} | {_g(n.line_resistance_ohm)} | ")
        tail = (f" | {_g(c['reset_success_rate'])} ({c['reset_attempts']} tries) | "
                f"{c['cycles']} ({c['fired_cycles']}) |")
        if not n.ok:
            lines.append(f"{head}not fitted: {n.error} | | | |{tail} |")
            continue
        f = n.fit
        lines.append(f"{head}{f.jdep_A_m2:.4g} +- {f.jdep_err_A_m2:.2g} | "
                     f"{f.mobility_m3_per_A_s:.4g} +- {f.mobility_err_m3_per_A_s:.2g} | "
                     f"{f.pinning_rel:.3f} +- {f.pinning_err:.3f} | {_g(n.pulses_ref, 3)} +- "
                     f"{_g(n.pulses_ref_err, 2)}{tail} {f.chi2_per_dof:.2f} |")
    cost = result.cost
    ratio = cost.get("projected_over_floor")
    lines += ["", "## Cost", "",
              f"- bus round trips: {cost['round_trips']:.0f}",
              f"- projected real-bench time: {cost['projected_time_s']:.1f} s",
              (f"- physical floor (each read's integration + the pulses): {cost['floor_s']:.2f} s"
               f"{f'; projected / floor {ratio:.1f}x' if ratio else ''} (one pulse and one read "
              f"per bus exchange: the cycle waits on each reading to know when it fired)"),
              "", "| geometry | round trips | projected (s) | floor (s) |", "|---|---|---|---|"]
    for size, c in cost.get("by_size", {}).items():
        lines.append(f"| {size} | {c['round_trips']:.0f} | {c['projected_time_s']:.2f} | {c['floor_s']:.3f} |")
    lines += ["", "## Files", ""]
    for key, path in result.paths.items():
        lines.append(f"- {key}: `{Path(path).name}`")
    return "\n".join(lines) + "\n"


def write_ifr_survey_report(result, rows, out_dir) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {"transfer_plot": plot_survey_transfer(result, out / "ifr_survey_transfer.png"),
             "spread_plot": plot_survey_spread(result, out / "ifr_survey_spread.png")}
    result.paths.update(paths)
    report = out / "ifr_survey_report.md"
    paths["report"] = report
    result.paths["report"] = report
    report.write_text(ifr_survey_markdown(result))
    return paths


__all__ = ["ifr_survey_markdown", "plot_ifr_cycles", "plot_ifr_transfer", "plot_survey_spread",
           "plot_survey_transfer", "write_ifr_survey_report"]
