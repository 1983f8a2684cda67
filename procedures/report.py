"""Characterization reports: PNG plots (matplotlib, Agg) and a Markdown summary per chip.

Survey report (:func:`write_survey_report`)
    ``switching_curves.png``  P_sw vs write current, one panel per size: measured points and
                              each device's fitted Neel-Brown curve;
    ``i50_hist.png``          I50 per size (D2D spread);
    ``width_hist.png``        10-90 % curve width / I50 per size (smaller -> broader);
    ``report.md``             the table of fitted values by size and by device, the bus
                              round trips and the projected real-bench time.

Single-procedure reports (:func:`write_procedure_report`) plot what that procedure measured
(P vs width with tau(I), R-H / R-I loops, error rate vs cycle) next to a short
``<procedure>_report.md`` (e.g. ``ri_loop_report.md``).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(value, digits=4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}"


# ----------------------------------------------------------------------------- survey
def plot_switching_curves(result, rows, path: Path) -> Path:
    sizes = [s.size for s in result.sizes] or sorted({d.size for d in result.devices.values()})
    fig, axes = plt.subplots(1, max(len(sizes), 1), figsize=(4.2 * max(len(sizes), 1), 3.6),
                             squeeze=False)
    for ax, size in zip(axes[0], sizes):
        devs = [d for d in result.devices.values() if d.size == size]
        for k, dev in enumerate(devs):
            color = plt.cm.viridis(k / max(len(devs) - 1, 1))
            fine = [r for r in rows if r["Device"] == dev.name and r["Phase"] == "fine"]
            current = np.array([r["Write current (A)"] for r in fine], dtype=float)
            prob = np.array([r["Switching probability"] for r in fine], dtype=float)
            ax.plot(current * 1e6, prob, "o", ms=3, color=color, alpha=0.7)
            if dev.ok and current.size:
                grid = np.linspace(current.min(), current.max(), 200)
                ax.plot(grid * 1e6, dev.neel_brown.probability(grid), "-", lw=1, color=color)
        ax.set_title(f"size {size}: {len(devs)} devices")
        ax.set_xlabel("write current (uA)")
        ax.set_ylabel("switching probability")
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{result.bench} / {result.chip}: P_sw vs current at {result.width_s * 1e9:g} ns")
    return _save(fig, path)


def plot_histograms(result, path_i50: Path, path_width: Path) -> tuple[Path, Path]:
    sizes = [s.size for s in result.sizes]
    fig, axes = plt.subplots(1, max(len(sizes), 1), figsize=(3.6 * max(len(sizes), 1), 3.2),
                             squeeze=False)
    for ax, size, color in zip(axes[0], sizes, COLORS):
        i50 = [d.neel_brown.i50_A * 1e6 for d in result.devices.values() if d.size == size and d.ok]
        ax.hist(i50, bins=min(max(len(i50) // 2, 3), 12), color=color, alpha=0.8)
        ax.set_title(f"I50, size {size}")
        ax.set_xlabel("I50 (uA)")
        ax.set_ylabel("devices")
    _save(fig, path_i50)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    all_rel = [d.neel_brown.relative_width for d in result.devices.values() if d.ok]
    if all_rel:
        bins = np.linspace(min(all_rel) * 0.95, max(all_rel) * 1.05, 16)
        for size, color in zip(sizes, COLORS):
            rel = [d.neel_brown.relative_width for d in result.devices.values()
                   if d.size == size and d.ok]
            ax.hist(rel, bins=bins, color=color, alpha=0.6, label=f"size {size}")
    ax.set_xlabel("curve width (10-90 %) / I50")
    ax.set_ylabel("devices")
    ax.set_title("switching-curve width by device size")
    ax.legend()
    return path_i50, _save(fig, path_width)


def survey_markdown(result) -> str:
    tau0 = next((d.neel_brown.tau0_s for d in result.devices.values() if d.ok), 1e-9)
    lines = [f"# Characterization report: bench `{result.bench}`, chip `{result.chip}`", "",
             (f"Variability survey: every device through the switch matrix, {result.points} "
              f"amplitudes x {result.trials} reset-write-read trials per device (after the "
              f"coarse and zoom locate scans), pulse width {result.width_s * 1e9:g} ns. Fits: "
              f"Neel-Brown (Ic0, Delta at tau0 = {tau0:g} s) and logistic: binomial maximum "
              f"likelihood for binary readouts (macrospin), weighted least squares on the "
              f"switched fraction for multi-domain bars."), "",
             "## By device size", "",
             ("| size | devices | I50 mean (uA) | I50 D2D spread | 10-90 width (uA) | width / I50 | "
              "width (A/m^2) | Delta | Ic0 mean (uA) |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for s in result.sizes:
        lines.append(f"| {s.size} | {s.count} | {s.i50_mean_A * 1e6:.3f} | {s.i50_spread_rel:.1%} | "
                     f"{s.width_mean_A * 1e6:.3f} | {s.relative_width_mean:.4f} +- "
                     f"{s.relative_width_sd:.4f} | {s.width_density_A_m2:.3g} | "
                     f"{s.delta_mean:.1f} +- {s.delta_sd:.1f} | {s.ic0_mean_A * 1e6:.2f} |")
    if len(result.sizes) > 1:
        broad = max(result.sizes, key=lambda s: s.relative_width_mean)
        narrow = min(result.sizes, key=lambda s: s.relative_width_mean)
        lines += ["", (f"Size effect: size **{broad.size}** switches over the broadest relative "
                       f"range (width/I50 = {broad.relative_width_mean:.3f}, Delta = "
                       f"{broad.delta_mean:.1f}), size **{narrow.size}** over the narrowest "
                       f"({narrow.relative_width_mean:.3f}, Delta = {narrow.delta_mean:.1f}): "
                       f"a lower energy barrier makes a more stochastic neuron.")]
    lines += ["", "## Per device", "",
              ("| device | size | readout | R_line (ohm) | I50 (uA) | Ic0 (uA) | Delta | "
               "logistic slope (1/uA) | width / I50 | dispersion |"),
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, d in result.devices.items():
        if not d.ok:
            lines.append(f"| {name} | {d.size} | {d.readout} | {_fmt(d.line_resistance_ohm)} | "
                         f"not fitted: {d.error.split(';')[0]} | | | | | |")
            continue
        nb, lg = d.neel_brown, d.logistic
        lines.append(f"| {name} | {d.size} | {d.readout} | {d.line_resistance_ohm:.1f} | "
                     f"{nb.i50_A * 1e6:.3f} +- "
                     f"{nb.i50_err_A * 1e6:.3f} | {nb.ic0_A * 1e6:.3f} +- {nb.ic0_err_A * 1e6:.3f} | "
                     f"{nb.delta:.1f} +- {nb.delta_err:.1f} | {lg.slope_per_A * 1e-6:.3f} | "
                     f"{nb.relative_width:.4f} | {nb.dispersion:.2f} |")
    if result.width_scans:
        lines += ["", "## Relaxation time from P vs pulse width", "",
                  ("At three currents of each scanned device, P_sw over pulse widths 10 ns - 1 us "
                   "gives tau(I) (P = 1 - exp(-t/tau)); tau(I) gives Delta and Ic0 independently "
                   "of the amplitude sweep."), "",
                  ("| device | currents (uA) | tau (ns) | Delta (tau fit) | Ic0 (uA, tau fit) | "
                   "Delta (amplitude fit) |"), "|---|---|---|---|---|---|"]
        for name, (taus, curve) in result.width_scans.items():
            dev = result.devices.get(name)
            amp = f"{dev.neel_brown.delta:.1f}" if dev is not None and dev.ok else "-"
            lines.append(f"| {name} | {', '.join(f'{t.current_A * 1e6:.4g}' for t in taus)} | "
                         f"{', '.join(f'{t.tau_s * 1e9:.3g}' for t in taus)} | {curve.delta:.1f} +- "
                         f"{curve.delta_err:.1f} | {curve.ic0_A * 1e6:.4g} +- "
                         f"{curve.ic0_err_A * 1e6:.2g} | {amp} |")
    lines += ["", "## Cost", "",
              f"- bus round trips: {result.round_trips:.0f}",
              (f"- projected real-bench time: {result.projected_time_s:.1f} s "
               f"({result.projected_time_s / 60:.1f} min)"),
              (f"- floor (trials x read integration): {getattr(result, 'floor_s', 0.0):.2f} s; "
               f"at the read SMU's reading rate: {getattr(result, 'reading_floor_s', 0.0):.2f} s"),
              "",
              "## Files", ""]
    for key, path in result.paths.items():
        lines.append(f"- {key}: `{Path(path).name}`")
    return "\n".join(lines) + "\n"


def plot_survey_widths(result, rows, path: Path) -> Path:
    """P vs width of the devices the survey scanned, one panel each, with 1 - exp(-t/tau)."""
    names = list(result.width_scans)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        taus, curve = result.width_scans[name]
        part = [r for r in rows if r["Device"] == name and str(r["Phase"]).startswith("width")]
        for k, (tau, color) in enumerate(zip(taus, COLORS), start=1):
            scan = [r for r in part if r["Phase"] == f"width{k}"]
            width = np.array([r["Pulse width (s)"] for r in scan], dtype=float)
            ax.semilogx(width * 1e9, [r["Switching probability"] for r in scan], "o", color=color,
                        label=f"{tau.current_A * 1e6:.4g} uA: tau {tau.tau_s * 1e9:.3g} ns")
            grid = np.geomspace(width.min(), width.max(), 100)
            ax.semilogx(grid * 1e9, -np.expm1(-grid / tau.tau_s), "-", color=color, lw=1)
        ax.set_title(f"{name}: Delta {curve.delta:.1f}, Ic0 {curve.ic0_A * 1e6:.4g} uA", fontsize=9)
        ax.set_xlabel("pulse width (ns)")
        ax.set_ylabel("switching probability")
        ax.set_ylim(-0.03, 1.03)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("P_sw vs pulse width -> tau(I) = tau0 exp(Delta (1 - I/Ic0))")
    return _save(fig, path)


def write_survey_report(result, rows, out_dir) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {"switching_curves": plot_switching_curves(result, rows, out / "switching_curves.png")}
    if result.width_scans:
        paths["p_vs_width"] = plot_survey_widths(result, rows, out / "p_vs_width.png")
    paths["i50_hist"], paths["width_hist"] = plot_histograms(result, out / "i50_hist.png",
                                                             out / "width_hist.png")
    result.paths.update(paths)
    report = out / "report.md"
    report.write_text(survey_markdown(result))
    paths["report"] = report
    return paths


# ----------------------------------------------------------------------------- single procedures
def plot_p_vs_width(rows, summary, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    phases = sorted({r["Phase"] for r in rows if str(r["Phase"]).startswith("width")})
    for phase, color in zip(phases, COLORS):
        part = [r for r in rows if r["Phase"] == phase]
        width = np.array([r["Pulse width (s)"] for r in part], dtype=float)
        prob = np.array([r["Switching probability"] for r in part], dtype=float)
        current = part[0]["Write current (A)"]
        ax.semilogx(width * 1e9, prob, "o", color=color, label=f"{current * 1e6:.2f} uA")
        tau = next((t["tau_s"] for t in summary.get("tau", [])
                    if math.isclose(t["current_A"], current, rel_tol=1e-9)), None)
        if tau:
            grid = np.geomspace(width.min(), width.max(), 100)
            ax.semilogx(grid * 1e9, -np.expm1(-grid / tau), "-", color=color, lw=1)
    ax.set_xlabel("pulse width (ns)")
    ax.set_ylabel("switching probability")
    ax.set_title("P_sw vs pulse width (lines: 1 - exp(-t/tau))")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_sweep(rows, summary, path: Path) -> Path:
    fine = [r for r in rows if r["Phase"] == "fine"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    current = np.array([r["Write current (A)"] for r in fine], dtype=float)
    ax.plot(current * 1e6, [r["Switching probability"] for r in fine], "o", label="measured")
    nb = summary.get("neel_brown")
    if nb and current.size:
        from devices.laws import neel_brown
        grid = np.linspace(current.min(), current.max(), 200)
        ax.plot(grid * 1e6, neel_brown.probability(grid, nb["width_s"], nb["ic0_A"], nb["delta"],
                                                   nb["tau0_s"], nb["exponent"]), "-",
                label=f"Neel-Brown: Delta {nb['delta']:.1f}, Ic0 {nb['ic0_A'] * 1e6:.2f} uA")
    ax.set_xlabel("write current (uA)")
    ax.set_ylabel("switching probability")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_loop(rows, x_column: str, path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for branch, color in zip(("init", "up", "down"), COLORS):
        part = [r for r in rows if r["Branch"] == branch]
        if part:
            x = np.array([r[x_column] for r in part], dtype=float)
            scale = 1e6 if "(A)" in x_column else 1e3 if "(T)" in x_column else 1.0
            ax.plot(x * scale, [r["Resistance (ohm)"] for r in part], "o-", ms=3, color=color,
                    label=branch)
    unit = "uA" if "(A)" in x_column else "mT" if "(T)" in x_column else ""
    ax.set_xlabel(f"{x_column.split(' (')[0].lower()} ({unit})")
    ax.set_ylabel("resistance (ohm)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_endurance(rows, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    cycles = np.array([r["Cycles done"] for r in rows], dtype=float)
    rate = np.array([r["Error rate"] for r in rows], dtype=float)
    ax.plot(cycles, rate, "o-", ms=3)
    for r in rows:
        if r["State"] != "ok":
            ax.annotate(str(r["State"]), (r["Cycles done"], r["Error rate"]), fontsize=7)
    ax.set_xlabel("cycles")
    ax.set_ylabel("write error rate")
    ax.set_title("endurance")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def write_procedure_report(name: str, rows, summary: dict, out_dir, round_trips: float,
                           projected_s: float) -> dict[str, Path]:
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    if name == "switching":
        paths["plot"] = plot_sweep(rows, summary, out / "switching_curve.png")
    elif name == "width":
        paths["plot"] = plot_p_vs_width(rows, summary, out / "p_vs_width.png")
    elif name == "rh-loop":
        paths["plot"] = plot_loop(rows, "Field (T)", out / "rh_loop.png", "R-H loop")
    elif name == "ri-loop":
        paths["plot"] = plot_loop([r for r in rows if r["Branch"] != "line"], "Write current (A)",
                                  out / "ri_loop.png", "R-I loop")
    elif name == "endurance":
        paths["plot"] = plot_endurance(rows, out / "endurance.png")
    lines = [f"# {name}", "", "| quantity | value |", "|---|---|"]

    def flatten(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                flatten(f"{prefix}{k}." if isinstance(v, dict) else f"{prefix}{k}", v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                flatten(f"{prefix}[{i}].", v)
        else:
            lines.append(f"| {prefix} | {_fmt(value) if isinstance(value, float) else value} |")

    flatten("", summary)
    lines += ["", f"- bus round trips: {round_trips:.0f}",
              f"- projected real-bench time: {projected_s:.2f} s"]
    for key, path in paths.items():
        lines.append(f"- {key}: `{path.name}`")
    report = out / f"{name.replace('-', '_')}_report.md"    # its own: --out may be shared
    report.write_text("\n".join(lines) + "\n")
    paths["report"] = report
    return paths


__all__ = ["plot_endurance", "plot_histograms", "plot_loop", "plot_p_vs_width", "plot_sweep",
           "plot_switching_curves", "survey_markdown", "write_procedure_report",
           "write_survey_report"]
