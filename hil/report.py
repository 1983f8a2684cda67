"""Results of an experiment as a table, CSV / JSON files and PNG plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

TARGET_GAP_PP = 1.5  # in-situ within this many percentage points of the software baseline


#: the level of a run on the bench file's own [nonideal] table (hil.config.BENCH_NONIDEAL)
BENCH_LEVEL = "bench"


def _cell(summary: dict, key) -> str:
    if len(key) == 3:
        key = (*key, BENCH_LEVEL)
    row = summary.get(key)
    if row is None:
        return "-"
    return f"{row['test_acc_mean_pct']:5.1f} ± {row['test_acc_std_pct']:3.1f}"


def _index(result) -> dict:
    return {(r["mode"], r["size"], r["variability"], r.get("nonideal", BENCH_LEVEL)): r
            for r in result.summary()}


def format_table(result) -> str:
    """The results table: test accuracy (%) mean ± std over seeds, per size and variability."""
    summary = _index(result)
    software = summary.get(("software", "-", "-", BENCH_LEVEL))
    ideal = summary.get(("ideal_stochastic", "-", "-", BENCH_LEVEL))
    seeds = result.config.seeds
    hidden = result.config.hidden
    hidden = hidden if isinstance(hidden, int) else " x ".join(str(h) for h in hidden) + " (layers)"
    lines = [f"test accuracy (%), mean ± std over {len(seeds)} seed(s) {list(seeds)}; "
             f"{result.config.epochs} epochs, {hidden} hidden neurons, "
             f"{result.config.repeats} trial(s)/answer in training, "
             f"{result.config.eval_repeats} in test",
             f"software baseline (sigmoid):   {_cell(summary, ('software', '-', '-'))}",
             f"ideal stochastic binary:       {_cell(summary, ('ideal_stochastic', '-', '-'))}",
             ""]
    if _is_drift_study(result) and not any(k[3] == BENCH_LEVEL and k[1] != "-" for k in summary):
        return "\n".join(lines + [format_drift_table(result)] + _events_block(result))
    header = (f"{'variability':<11} {'size':<4} {'ex-situ raw':>12} {'ex-situ':>12} "
              f"{'in-situ':>12} {'in-situ - sw':>12} {'target':>7} {'trips/batch':>11} "
              f"{'bench time':>10}")
    lines += [header, "-" * len(header)]
    variabilities = list(result.config.variability)
    sizes = sorted({r["size"] for r in result.runs if r["size"] != "-"},
                   key=lambda s: [r["size"] for r in result.runs].index(s))
    for var in variabilities:
        for size in sizes:
            insitu = summary.get(("insitu", size, var, BENCH_LEVEL))
            gap = target = "-"
            trips = bench = "n.a."
            if insitu is not None and software is not None:
                diff = insitu["test_acc_mean_pct"] - software["test_acc_mean_pct"]
                gap = f"{diff:+.1f} pp"
                target = "met" if diff >= -TARGET_GAP_PP else "MISSED"
            if insitu is not None:
                trips = f"{insitu['round_trips_per_batch']:.0f}"
                bench = "n.a." if insitu["bench_time_s"] is None else _duration(insitu["bench_time_s"])
            lines.append(f"{var:<11} {size:<4} {_cell(summary, ('exsitu_uncalibrated', size, var)):>12} "
                         f"{_cell(summary, ('exsitu', size, var)):>12} "
                         f"{_cell(summary, ('insitu', size, var)):>12} {gap:>12} {target:>7} "
                         f"{trips:>11} {bench:>10}")
    if ideal is None and software is None:
        lines.append("(no software baseline in this run)")
    lines.append("ex-situ raw: trained on the typical-device model, deployed without per-device "
                 "calibration; ex-situ / in-situ: per-device I50-centred current mapping.")
    projection = getattr(result, "bench_projection", {})
    if projection:
        first = next(iter(projection.values()))
        neurons = first.get("neurons_per_sample", first["batch"][1])   # every hidden layer's
        lines.append(
            f"trips/batch, bench time: one in-situ training batch ({first['batch'][0]} samples x "
            f"{neurons} neurons x {first['repeats']} trials) measured through the "
            f"BenchBackend (drivers + simulated VISA, virtual clock), scaled to the run's "
            f"training batches, plus the bench's one-time setup (evaluation not included); per "
            f"batch {first['bench_time_s_per_batch']:.2f} s against a physical floor of "
            f"{first['floor_s_per_batch']:.2f} s; the simulated array itself uses no bus.")
    else:
        lines.append("trips/batch and bench time: simulated array = 0 / n.a. (no bench projection)")
    if _is_drift_study(result):
        lines += ["", format_drift_table(result)]
    return "\n".join(lines + _events_block(result))


def _events_block(result) -> list[str]:
    events = format_device_events(result)
    return ["", events] if events else []


_DRIFT_MODES = ("exsitu_recal", "insitu_online")


def _is_drift_study(result) -> bool:
    config = result.config
    return bool(set(config.modes) & set(_DRIFT_MODES)) or tuple(config.nonideal) != (BENCH_LEVEL,)


def format_drift_table(result) -> str:
    """Accuracy per non-ideality level x variability x size for the modes side by side, the
    in-situ margin over ex-situ calibrated once, the gap to software, and what periodic
    recalibration cost in bench time."""
    summary = _index(result)
    software = summary.get(("software", "-", "-", BENCH_LEVEL))
    cols = (("exsitu", "ex-situ once"), ("exsitu_recal", "ex-situ recal"), ("insitu", "in-situ"),
            ("insitu_online", "in-situ online"))
    header = (f"{'nonideal':<9} {'var':<5} {'size':<4} " + " ".join(f"{c[1]:>14}" for c in cols)
              + f" {'in-situ - once':>14} {'best - sw':>10} {'recal cost':>16} {'session':>8}")
    lines = [f"devices that drift: test accuracy (%) at the end of the bench session, mean ± std "
             f"over {len(result.config.seeds)} seed(s); software "
             f"{_cell(summary, ('software', '-', '-'))}", header, "-" * len(header)]
    sizes = list(dict.fromkeys(r["size"] for r in result.runs if r["size"] != "-"))
    for level in result.config.nonideal:
        for var in result.config.variability:
            for size in sizes:
                rows = {m: summary.get((m, size, var, level)) for m, _ in cols}
                if not any(rows.values()):
                    continue
                best = max((rows[m]["test_acc_mean_pct"] for m in ("insitu", "insitu_online")
                            if rows[m]), default=None)
                once = rows["exsitu"]
                margin = "-" if best is None or once is None else \
                    f"{best - once['test_acc_mean_pct']:+.1f} pp"
                gap = "-" if best is None or software is None else \
                    f"{best - software['test_acc_mean_pct']:+.1f} pp"
                recal = rows["exsitu_recal"]
                cost = "-" if recal is None or recal["recalibration_bench_time_s"] is None else \
                    f"{recal['recalibrations']:.0f} x, {_duration(recal['recalibration_bench_time_s'])}"
                session = next((r["session_s"] for r in rows.values() if r and r["session_s"]), None)
                lines.append(f"{level:<9} {var:<5} {size:<4} "
                             + " ".join(f"{_cell(summary, (m, size, var, level)):>14}" for m, _ in cols)
                             + f" {margin:>14} {gap:>10} {cost:>16} "
                             f"{'-' if session is None else _duration(session):>8}")
    lines.append("best - sw: the better in-situ mode against software; recal cost: recalibrations "
                 "and their trials' projected bench time; session: the devices' virtual time at "
                 "the last test (every device mode is tested then).")
    return "\n".join(lines)


def format_device_events(result) -> str:
    """Devices left out at calibration or found dead / stuck during training, per run."""
    lines = []
    for run_id, events in getattr(result, "device_events", {}).items():
        for e in events:
            when = "at calibration" if e["note"] == "left out at calibration" else (
                f"after batch {e['batch']}" + ("" if e["virtual_time_s"] is None
                                              else f" ({_duration(e['virtual_time_s'])} virtual)"))
            moved = (f"; {e['neurons_moved']} neuron(s) moved to {', '.join(e['to'])}"
                     if e["neurons_moved"] else (f"; {e['note']}" if e["note"] else ""))
            lines.append(f"  {run_id}: {e['device']} {when}: {e['answer']}{moved}")
    return "devices left out or remapped:\n" + "\n".join(lines) if lines else ""


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def write_results_json(results, path: Path, indent: int = 1) -> Path:
    """``results`` as JSON at ``path``, whole or not at all: written beside it and renamed, so
    a run killed mid-write never leaves half a results.json (every experiment writes it here)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=indent, default=str))
    tmp.replace(path)
    return path


def write_outputs(result, out_dir: Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"runs": out_dir / "runs.csv", "summary": out_dir / "summary.csv",
             "json": out_dir / "results.json", "curves": out_dir / "learning_curves.png",
             "sizes": out_dir / "accuracy_vs_size.png", "table": out_dir / "table.txt"}
    _write_csv(paths["runs"], result.runs)
    _write_csv(paths["summary"], result.summary())
    write_results_json({
        "config": {k: v for k, v in result.config.to_dict().items()
                   if k != "bench" or v is None or isinstance(v, str)},
        "runs": result.runs, "summary": result.summary(), "learning_curves": result.curves,
        "bench_projection": getattr(result, "bench_projection", {}),
        "neuron_maps": result.mappings,
        "device_events": getattr(result, "device_events", {})}, paths["json"])
    paths["table"].write_text(format_table(result) + "\n")
    plot_learning_curves(result, paths["curves"])
    plot_accuracy_vs_size(result, paths["sizes"])
    return paths


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        path.write_text("")
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(result, path: Path) -> None:
    """Test accuracy per epoch (mean over seeds) of every trained configuration."""
    plt = _pyplot()
    groups: dict[str, list[list[float]]] = {}
    for run_id, curve in result.curves.items():
        parts = run_id.split("/")
        label = "/".join(p for p in parts if not p.startswith("seed"))
        if label.startswith("exsitu"):
            label = label.replace("/model", "") + " (typical-device model)"
        groups.setdefault(label, []).append(curve)
    variabilities = list(result.config.variability) or ["-"]
    fig, axes = plt.subplots(1, len(variabilities), figsize=(6 * len(variabilities), 4.5),
                             squeeze=False)
    for ax, var in zip(axes[0], variabilities):
        for label, curves in sorted(groups.items()):
            if "/" in label and f"/{var}" not in label:
                continue
            n = min(len(c) for c in curves)
            if n == 0:
                continue
            mean = np.mean([c[:n] for c in curves], axis=0) * 100
            style = "-" if label.startswith(("insitu", "software")) else "--"
            ax.plot(np.arange(1, n + 1), mean, style, label=label.replace(f"/{var}", ""))
        ax.set_title(f"test accuracy per epoch, {var} D2D variability")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:     # a panel with no run of its level is empty
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_accuracy_vs_size(result, path: Path) -> None:
    plt = _pyplot()
    summary = _index(result)
    sizes = [s for s in dict.fromkeys(r["size"] for r in result.runs) if s != "-"]
    variabilities = list(result.config.variability)
    fig, axes = plt.subplots(1, max(len(variabilities), 1), figsize=(5.5 * max(len(variabilities), 1), 4.2),
                             squeeze=False)
    for ax, var in zip(axes[0], variabilities):
        x = np.arange(len(sizes))
        for mode, marker in (("exsitu_uncalibrated", "v"), ("exsitu", "s"), ("insitu", "o")):
            rows = [summary.get((mode, s, var, BENCH_LEVEL)) for s in sizes]
            if not any(rows):
                continue
            mean = [r["test_acc_mean_pct"] if r else np.nan for r in rows]
            std = [r["test_acc_std_pct"] if r else np.nan for r in rows]
            ax.errorbar(x, mean, yerr=std, marker=marker, capsize=3, label=mode)
        for mode, style in (("software", "k-"), ("ideal_stochastic", "k:")):
            row = summary.get((mode, "-", "-", BENCH_LEVEL))
            if row:
                ax.axhline(row["test_acc_mean_pct"], color="k",
                           linestyle=style[1:], label=mode, linewidth=1)
        ax.set_xticks(x, sizes)
        ax.set_xlabel("device size")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{var} D2D variability")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:     # a panel with no run of its level is empty
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
