"""A sweep's summary: per grid cell (the axes but the seed) and metric, the mean, the sample
std and percentiles over the cell's points; the table as CSV and text, and one plot (accuracy,
or the relative switching width, against the first spread axis, one line per size)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

PERCENTILES = (10, 50, 90)


def _key(value):
    return repr(value)


def cell_table(spec, records: list[dict]) -> list[dict]:
    axes = spec.cell_axes
    cells: dict[tuple, list[dict]] = {}
    for record in records:
        cell = tuple(_key(record["coords"].get(a)) for a in axes)
        cells.setdefault(cell, []).append(record)
    rows = []
    for cell_records in cells.values():
        coords = {a: cell_records[0]["coords"].get(a) for a in axes}
        ok = [r for r in cell_records if r.get("status") == "ok"]
        failed = len(cell_records) - len(ok)
        metrics = sorted({m for r in ok for m in r["metrics"]})
        if not metrics:
            rows.append({**coords, "metric": "", "n": 0, "failed": failed, "mean": np.nan,
                         "std": np.nan, **{f"p{q}": np.nan for q in PERCENTILES}})
        for metric in metrics:
            values = np.array([float(r["metrics"][metric]) for r in ok if metric in r["metrics"]])
            values = values[np.isfinite(values)]
            stats = ({"mean": float(values.mean()),
                      "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                      **{f"p{q}": float(np.percentile(values, q)) for q in PERCENTILES}}
                     if len(values) else {"mean": np.nan, "std": np.nan,
                                          **{f"p{q}": np.nan for q in PERCENTILES}})
            rows.append({**coords, "metric": metric, "n": int(len(values)), "failed": failed,
                         **stats})
    return rows


def format_table(rows: list[dict], axes: list[str]) -> str:
    stat_cols = ["n", "failed", "mean", "std"] + [f"p{q}" for q in PERCENTILES]
    head = axes + ["metric"] + stat_cols
    body = []
    for row in rows:
        cells = [f"{row[a]:.4g}" if isinstance(row[a], float) else str(row[a]) for a in axes]
        cells.append(row["metric"])
        cells += [str(row[c]) if c in ("n", "failed") else f"{row[c]:.4g}" for c in stat_cols]
        body.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def write_tables(rows: list[dict], spec, out: Path) -> dict[str, Path]:
    from hil.sweep.store import write_json_atomic

    axes = spec.cell_axes
    columns = axes + ["metric", "n", "failed", "mean", "std"] + [f"p{q}" for q in PERCENTILES]
    path = out / "table.csv"
    tmp = out / ".table.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    text = out / "table.txt"
    text.write_text(format_table(rows, axes) + "\n", encoding="utf-8")
    write_json_atomic(out / "table.json", {"axes": axes, "rows": rows})
    return {"table": path, "table_text": text}


def _x_axis(spec) -> str | None:
    numeric = [a for a in spec.cell_axes
               if all(isinstance(p.coords[a], (int, float)) and not isinstance(p.coords[a], bool)
                      for p in spec.points)]
    spreads = [a for a in numeric if a.startswith("variability.")]
    return (spreads or numeric or [None])[0]


def plot(spec, rows: list[dict], path: Path) -> Path | None:
    """Accuracy (or relative switching width) vs the first spread axis, per size; None
    when the spec has no numeric axis to plot against or no metric to plot."""
    x_axis = _x_axis(spec)
    if x_axis is None:
        return None
    metrics = sorted({r["metric"] for r in rows})
    wanted = ([m for m in metrics if m.startswith("train.") and m.endswith(".acc_pct")]
              or [m for m in metrics if m.endswith(".relative_width")])
    if not wanted:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [a for a in spec.cell_axes if a != x_axis]
    lines: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["metric"] in wanted and row["n"]:
            label = (row["metric"],) + tuple(f"{a}={row[a]}" for a in others)
            lines.setdefault(label, []).append(row)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, line in sorted(lines.items()):
        line.sort(key=lambda r: r[x_axis])
        name = label[0].removeprefix("train.").removeprefix("survey.")
        name = name.removesuffix(".acc_pct").removesuffix(".relative_width")
        ax.errorbar([r[x_axis] for r in line], [r["mean"] for r in line],
                    yerr=[r["std"] for r in line], marker="o", capsize=3,
                    label=" ".join((name,) + label[1:]))
    ax.set_xlabel(x_axis)
    ax.set_ylabel("test accuracy (%)" if wanted[0].startswith("train.")
                  else "10-90 % switching width / I50")
    ax.set_title(f"{spec.name}: mean +- std over seeds")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["cell_table", "format_table", "plot", "write_tables"]
