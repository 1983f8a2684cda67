"""``hil characterize crossbar-read``: the crossbar's physical vector-matrix multiply against
the ideal sum of its junctions' conductances.

1. *program* (``pattern`` "random"): every junction written to a random state (seeded), one
   strong pulse each (``program_to_p_V`` / ``program_to_ap_V`` for ``program_width``),
   verified by a reading, repeated up to 3 times; "keep" leaves the states as they are;
2. *map*: every junction's conductance G_ij read alone (its row driven, its column measured,
   every other line grounded);
3. *vmm*: ``vectors`` random binary input vectors (each row active with ``density``), for
   each scheme of ``schemes``: every column's summed current I_j (:meth:`read_columns`),
   beside the ideal I_j = V_read sum_i x_i G_ij from the map.

The VMM error of a column reading is (I_measured - I_ideal) / I_ideal. With the unselected
lines grounded it is the extra IR drop of the column lines shared by the active rows (the map
reads each junction with its row line carrying its whole row's current, so that drop is in
the map already: against the simulated truth's conductances the grounded read is ~5-10 % low
on the example bench, 20 ohm access and 2 ohm per cell); with them floating ("float") the
sneak paths through the unselected junctions add to every column. The summary reports, per scheme, the mean, rms and
largest relative error, and the cost (round trips, projected bench time, floor).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from drivers.crossbar import UNSELECTED, Crossbar
from procedures.base import BenchProcedure
from procedures.session import ParameterError

COLUMNS = ["Phase", "Scheme", "Vector", "Row", "Column", "Active rows", "State",
           "Conductance (S)", "Measured current (A)", "Ideal current (A)", "Relative error",
           "Round trips", "Projected bench time (s)", "Floor (s)"]
PATTERNS = ("random", "keep")
MAX_WRITES = 3


class CrossbarReadProcedure(BenchProcedure):
    vectors = IntegerParameter("Input vectors", default=16, minimum=1, maximum=10**5)
    density = FloatParameter("Active fraction of the rows", default=0.5, minimum=0.0, maximum=1.0)
    v_read = FloatParameter("Read voltage", units="V", default=0.1, minimum=0.0, maximum=20.0)
    schemes = Parameter("Unselected-line schemes", default="ground,float")
    pattern = Parameter("State pattern", default="random")
    program_to_p_V = FloatParameter("Program to P amplitude", units="V", default=0.6, minimum=0.0, maximum=20.0)
    program_to_ap_V = FloatParameter("Program to AP amplitude", units="V", default=0.85, minimum=0.0, maximum=20.0)
    program_width = FloatParameter("Program width", units="s", default=1e-6, minimum=0.0, maximum=1.0)
    seed = IntegerParameter("Seed", default=0, minimum=0, maximum=2**31 - 1)
    nplc = FloatParameter("Read NPLC", default=0.01, minimum=0.001, maximum=10.0)

    DATA_COLUMNS = COLUMNS
    KEY_COLUMNS = ("Phase", "Scheme", "Vector", "Row", "Column")

    def scheme_list(self) -> list[str]:
        schemes = [s.strip() for s in str(self.schemes).split(",") if s.strip()]
        bad = [s for s in schemes if s not in UNSELECTED]
        if not schemes or bad:
            raise ParameterError(f"schemes {self.schemes!r}: each must be one of {UNSELECTED} "
                                 "(comma separated)")
        return schemes

    def validate(self):
        super().validate()
        config = self.bench_config()
        groups = [g for g in config.groups if g.columns]
        if len(groups) != 1:
            raise ParameterError(f"bench {config.name!r} has {len(groups)} crossbar groups; "
                                 "crossbar-read needs one (e.g. examples/benches/stt_synapse_crossbar.toml)")
        if not config.wiring.ground_row:
            raise ParameterError(f"bench {config.name!r} has no [wiring] ground_row: the "
                                 "conductance map reads each junction with the other lines grounded")
        self.scheme_list()
        if str(self.pattern) not in PATTERNS:
            raise ParameterError(f"pattern {self.pattern!r} is not one of {PATTERNS}")
        if not 0 < float(self.density) <= 1:
            raise ParameterError(f"density {float(self.density):g} must lie in (0, 1]: the "
                                 "fraction of rows an input vector drives")
        self.require_int("vectors", self.vectors)
        facts = self.facts(next(d.name for d in config.devices() if d.column_slot))
        lim = facts.limits
        if not 0 < float(self.v_read) <= lim.max_compliance_V:
            raise ParameterError(f"v_read {float(self.v_read):g} V must lie in (0, "
                                 f"{lim.max_compliance_V:g} V] (max_compliance_V of size {facts.size!r})")
        self.check_width(facts, float(self.program_width), "program width")
        for name in ("program_to_p_V", "program_to_ap_V"):
            self.require_positive(name, getattr(self, name), "V")
            self.check_level(facts, float(getattr(self, name)), name)

    # ------------------------------------------------------------------ the bench side
    def _costed(self, xbar: Crossbar, key, measure) -> dict:
        def run():
            rt0, t0, f0 = xbar.round_trips, xbar.projected_bench_time_s, xbar.floor_s
            row = {c: float("nan") for c in COLUMNS}
            row.update({"Scheme": "-", "Vector": -1, "Row": -1, "Column": -1, "Active rows": "-",
                        "State": "-"})
            row.update(measure())
            row.update({"Round trips": xbar.round_trips - rt0,
                        "Projected bench time (s)": xbar.projected_bench_time_s - t0,
                        "Floor (s)": xbar.floor_s - f0})
            return row
        return self.point(key, run)

    def _program(self, xbar: Crossbar, rng) -> None:
        states = rng.integers(0, 2, size=(xbar.rows, xbar.cols))
        for r in range(xbar.rows):
            for c in range(xbar.cols):
                want = int(states[r, c])
                state = "P" if want else "AP"
                amplitude = float(self.program_to_p_V if want else self.program_to_ap_V)

                def measure(r=r, c=c, want=want, state=state, amplitude=amplitude):
                    for _ in range(MAX_WRITES):
                        xbar.write(r, c, state, amplitude, float(self.program_width))
                        if xbar.read_state(r, c) == want:
                            break
                    return {"Phase": "program", "Row": r, "Column": c, "State": state}
                self._costed(xbar, ("program", "-", -1, r, c), measure)

    def execute(self):
        xbar = Crossbar(self.bench, v_read_V=float(self.v_read), nplc=float(self.nplc))
        rng = np.random.default_rng(int(self.seed))
        if str(self.pattern) == "random":
            self._program(xbar, rng)
        self.emit("progress", 30.0)
        g = np.zeros((xbar.rows, xbar.cols))
        for r in range(xbar.rows):
            for c in range(xbar.cols):
                row = self._costed(xbar, ("map", "-", -1, r, c), lambda r=r, c=c: {
                    "Phase": "map", "Row": r, "Column": c,
                    "Conductance (S)": xbar.read_junction(r, c)})
                g[r, c] = float(row["Conductance (S)"])
        self.emit("progress", 50.0)
        inputs = rng.random((int(self.vectors), xbar.rows)) < float(self.density)
        inputs[~inputs.any(axis=1), 0] = True          # every vector drives a row
        schemes = self.scheme_list()
        for k, x in enumerate(inputs):
            for scheme in schemes:
                self._vmm(k, x, scheme, g)
            self.emit("progress", 50.0 + 50.0 * (k + 1) / len(inputs))

    def _vmm(self, k: int, x: np.ndarray, scheme: str, g: np.ndarray) -> None:
        keys = [("vmm", scheme, k, -1, c) for c in range(g.shape[1])]
        if all(self.key(*key) in self.done for key in keys):
            return
        xbar = Crossbar(self.bench, v_read_V=float(self.v_read), nplc=float(self.nplc),
                        unselected=scheme)
        rt0, t0, f0 = xbar.round_trips, xbar.projected_bench_time_s, xbar.floor_s
        measured = xbar.read_columns(x)
        ideal = float(self.v_read) * (x.astype(float) @ g)
        bits = "rows " + " ".join(str(i) for i in np.flatnonzero(x))   # text, not a number
        share = 1.0 / g.shape[1]       # the columns share the read's cost
        for c, key in enumerate(keys):
            row = {col: float("nan") for col in COLUMNS}
            row.update({"Phase": "vmm", "Scheme": scheme, "Vector": k, "Row": -1, "Column": c,
                        "Active rows": bits, "State": "-", "Measured current (A)": float(measured[c]),
                        "Ideal current (A)": float(ideal[c]),
                        "Relative error": float((measured[c] - ideal[c]) / ideal[c]),
                        "Round trips": (xbar.round_trips - rt0) * share,
                        "Projected bench time (s)": (xbar.projected_bench_time_s - t0) * share,
                        "Floor (s)": (xbar.floor_s - f0) * share})
            self.point(key, lambda row=row: row)

    # ------------------------------------------------------------------ analysis
    def finish(self, rows: list[dict], out: Path) -> dict:
        summary = analyze(rows)
        summary["bench"] = self.bench_config().name
        paths = {"csv": Path(out) / "crossbar_read.csv", **plot_vmm(rows, Path(out))}
        summary_path = Path(out) / "crossbar_read_summary.json"
        summary_path.write_text(json.dumps(summary, indent=2, default=float))
        report = Path(out) / "crossbar_read_report.md"
        report.write_text(report_markdown(summary, paths))
        return {"summary": summary, "summary_path": summary_path, "report": report, **paths}


def _num(row, key) -> float:
    try:
        return float(row[key])
    except (TypeError, ValueError, KeyError):
        return float("nan")


def analyze(rows: list[dict]) -> dict:
    """VMM error per scheme, the conductance map's statistics and the run's cost."""
    out: dict = {"schemes": {}}
    for scheme in dict.fromkeys(r["Scheme"] for r in rows if r["Phase"] == "vmm"):
        err = np.array([_num(r, "Relative error") for r in rows
                        if r["Phase"] == "vmm" and r["Scheme"] == scheme])
        err = err[np.isfinite(err)]
        out["schemes"][scheme] = {"readings": int(err.size), "mean_error": float(err.mean()),
                                  "rms_error": float(np.sqrt(np.mean(err ** 2))),
                                  "max_abs_error": float(np.abs(err).max())}
    g = np.array([_num(r, "Conductance (S)") for r in rows if r["Phase"] == "map"])
    if g.size:
        out["map"] = {"junctions": int(g.size), "min_S": float(g.min()), "max_S": float(g.max())}

    def total(column):
        return float(sum(v for v in (_num(r, column) for r in rows) if math.isfinite(v)))
    cost = {"round_trips": total("Round trips"), "projected_time_s": total("Projected bench time (s)"),
            "floor_s": total("Floor (s)")}
    cost["projected_over_floor"] = cost["projected_time_s"] / cost["floor_s"] if cost["floor_s"] else None
    out["bench_cost"] = cost
    return out


def plot_vmm(rows: list[dict], out: Path) -> dict[str, Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vmm = [r for r in rows if r["Phase"] == "vmm"]
    if not vmm:
        return {}
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for scheme, color in (("ground", "tab:blue"), ("float", "tab:red")):
        own = [r for r in vmm if r["Scheme"] == scheme]
        if own:
            ax.plot([_num(r, "Ideal current (A)") * 1e6 for r in own],
                    [_num(r, "Measured current (A)") * 1e6 for r in own], "o", ms=3, color=color,
                    label=f"unselected lines: {scheme}")
    top = max(max(_num(r, "Ideal current (A)"), _num(r, "Measured current (A)")) for r in vmm) * 1e6
    ax.plot([0, top], [0, top], "k--", lw=0.8, label="ideal")
    ax.set_xlabel("ideal V_read sum x_i G_ij (uA)")
    ax.set_ylabel("measured column current (uA)")
    ax.set_title("crossbar VMM: measured vs ideal", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "crossbar_read.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"plot": path}


def report_markdown(summary: dict, paths: dict) -> str:
    cost = summary["bench_cost"]
    lines = ["# Crossbar read: physical VMM vs the ideal sum of conductances", "",
             f"bench {summary.get('bench', '')}; error = (I_measured - I_ideal) / I_ideal per "
             "column reading, I_ideal = V_read sum_i x_i G_ij from the single-junction map.", "",
             "| unselected lines | readings | mean error | rms error | max abs error |",
             "|---|---|---|---|---|"]
    for scheme, s in summary["schemes"].items():
        lines.append(f"| {scheme} | {s['readings']} | {s['mean_error']:+.4f} | {s['rms_error']:.4f} "
                     f"| {s['max_abs_error']:.4f} |")
    ratio = cost["projected_over_floor"]
    lines += ["", f"Bench cost: {cost['round_trips']:.0f} round trips, projected bench time "
                  f"{cost['projected_time_s']:.1f} s, physical floor {cost['floor_s']:.3g} s"
                  + (f" ({ratio:.0f}x)" if ratio else "") + ".", ""]
    lines += [f"![{key}]({path.name})" for key, path in paths.items() if str(path).endswith(".png")]
    return "\n".join(lines) + "\n"


__all__ = ["COLUMNS", "CrossbarReadProcedure", "analyze"]
