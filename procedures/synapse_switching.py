"""``hil characterize synapse-switching``: stochastic STT switching of crossbar synapses.

Per junction and per direction (P -> AP, AP -> P), at each pulse width of ``widths``:

1. *search*: a bisection of the amplitude between ``v_min`` and ``v_max`` for the 50 %
   point, ``search_steps`` probes of ``search_trials`` trials each;
2. *grid*: ``points`` amplitudes over V50 x [0.9, 1.1] (the bisection's estimate), ``trials``
   trials each.

A trial: the junction starts in the direction's source state; one write pulse
(:meth:`drivers.crossbar.Crossbar.write`, the floating-line scheme, the column held at 0 V by
the aux SMU); one reading of the junction (the write lines stay closed with the generator's
output off, the other lines are grounded: one relay close, then one open for the next
pulse); after a switch, a reset pulse back (``reset_width``, amplitude ``reset_to_p_V`` or
``reset_to_ap_V``), verified by a reading and repeated up to 3 times. Every probe and grid
point is a row (its counts), so an interrupted run resumes without repeating one. The
junction's P and AP conductances are read first (``Phase`` "read").

The fit (:func:`procedures.fits.fit_neel_brown_exponent`, per junction, both directions at
once): P_sw = 1 - exp(-t / tau), tau = tau0 exp(Delta (1 - V / Vc)^n) with Vc per direction
and the free layer's Delta and n shared, tau0 given (``tau0``). V is the programmed pulse
amplitude: the junction sees it less the drop over the 50 ohm source and the line (~1-3 %
for a 3-9 kohm junction), so the fitted Vc reads that much above the barrier's. Outputs
(``finish``): ``calibration_<chip>.json`` (model ``stt_synapse``), P vs V and V50 vs width
plots, ``synapse_switching_summary.json`` and ``synapse_switching_report.md`` with the D2D
spread of the fitted parameters, the round trips, projected bench time and floor.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from devices import kinds
from drivers.crossbar import Crossbar
from procedures.base import BenchProcedure
from procedures.fits import FitError, fit_neel_brown_exponent
from procedures.session import ParameterError

COLUMNS = ["Junction", "Row", "Column", "Direction", "Phase", "Point", "Pulse amplitude (V)",
           "Pulse width (s)", "Trials", "Switched", "Switching probability", "Reset failures",
           "Conductance (S)", "Round trips", "Projected bench time (s)", "Floor (s)"]
#: each direction: (label, source state, target state, fit group)
DIRECTIONS = (("P->AP", "P", "AP", 0), ("AP->P", "AP", "P", 1))
MAX_RESETS = 3


class SynapseSwitchingProcedure(BenchProcedure):
    devices = Parameter("Junctions", default="W0")
    widths = Parameter("Pulse widths (s)", default="2e-9,2e-8,2e-7,2e-6,2e-5")
    points = IntegerParameter("Grid points per width", default=4, minimum=2, maximum=100)
    trials = IntegerParameter("Trials per grid point", default=24, minimum=1, maximum=10**5)
    search_steps = IntegerParameter("Bisection steps", default=5, minimum=1, maximum=20)
    search_trials = IntegerParameter("Trials per bisection probe", default=4, minimum=1, maximum=1000)
    v_min = FloatParameter("Lowest amplitude", units="V", default=0.2, minimum=0.0, maximum=20.0)
    v_max = FloatParameter("Highest amplitude", units="V", default=0.0, minimum=0.0, maximum=20.0)
    reset_to_p_V = FloatParameter("Reset to P amplitude", units="V", default=0.6, minimum=0.0, maximum=20.0)
    reset_to_ap_V = FloatParameter("Reset to AP amplitude", units="V", default=0.85, minimum=0.0, maximum=20.0)
    reset_width = FloatParameter("Reset width", units="s", default=1e-6, minimum=0.0, maximum=1.0)
    tau0 = FloatParameter("Attempt time tau0", units="s", default=1e-9, minimum=1e-15, maximum=1e-3)
    v_read = FloatParameter("Read voltage", units="V", default=0.1, minimum=0.0, maximum=20.0)
    nplc = FloatParameter("Read NPLC", default=0.01, minimum=0.001, maximum=10.0)

    DATA_COLUMNS = COLUMNS
    KEY_COLUMNS = ("Junction", "Direction", "Phase", "Point")

    # ------------------------------------------------------------------ validation
    def width_list(self) -> list[float]:
        try:
            widths = [float(w) for w in str(self.widths).split(",") if w.strip()]
        except ValueError:
            raise ParameterError(f"widths {self.widths!r} must be pulse widths in s separated by "
                                 "commas, e.g. 2e-9,2e-7,2e-5") from None
        bad = [w for w in widths if not (math.isfinite(w) and w > 0)]
        if bad:
            raise ParameterError(f"widths {self.widths!r}: {bad[0]:g} is not a pulse width (a "
                                 "finite number of s > 0), e.g. 2e-9,2e-7,2e-5")
        if len(set(widths)) < 2:   # a repeated width fits no exponent: said before the run
            raise ParameterError(f"widths {self.widths!r}: fitting the exponent n needs two or "
                                 "more different pulse widths (over two decades or more)")
        return widths

    def junction_facts(self):
        config = self.bench_config()
        spec = [s.strip() for s in str(self.devices or "all").split(",") if s.strip()]
        crossbar = [d for d in config.devices() if d.column_slot]
        if not crossbar:
            raise ParameterError(f"bench {config.name!r} has no crossbar of synapses (a "
                                 "[[chip.group]] of kind stt_mtj_synapse): use e.g. "
                                 "examples/benches/stt_synapse_crossbar.toml")
        if spec in ([], ["all"]):
            return [self.facts(d.name) for d in crossbar]
        out = [self.facts(name) for name in spec]
        for f in out:
            group = config.group_of(f.address)
            if kinds.kind(group.kind).element != "crossbar_synapse":
                raise ParameterError(f"{f.name} is a {group.kind} device; synapse-switching needs "
                                     "junctions of a crossbar (kind stt_mtj_synapse)")
        return out

    def v_high(self, facts) -> float:
        return float(self.v_max) or 0.95 * facts.max_level_V

    def validate(self):
        super().validate()
        for name in ("points", "trials", "search_steps", "search_trials"):
            self.require_int(name, getattr(self, name))
        self.require_positive("tau0", self.tau0, "s")
        self.require_positive("nplc", self.nplc)
        for facts in self.junction_facts():
            for width in self.width_list():
                self.check_width(facts, width)
            self.check_width(facts, float(self.reset_width), "reset width")
            high = self.v_high(facts)
            if not 0 < float(self.v_min) < high:
                raise ParameterError(f"v_min {float(self.v_min):g} V must lie in (0, v_max "
                                     f"{high:g} V): the amplitude range the search bisects")
            for name, level in (("v_max", high), ("reset_to_p_V", float(self.reset_to_p_V)),
                                ("reset_to_ap_V", float(self.reset_to_ap_V))):
                self.require_positive(name, level, "V")
                self.check_level(facts, level, name)
            lim = facts.limits
            if not 0 < float(self.v_read) <= lim.max_compliance_V:
                raise ParameterError(f"v_read {float(self.v_read):g} V must lie in (0, "
                                     f"{lim.max_compliance_V:g} V] (max_compliance_V of size "
                                     f"{facts.size!r}): the read must not write")

    # ------------------------------------------------------------------ the bench side
    def _crossbar(self) -> Crossbar:
        if getattr(self, "_xbar", None) is None or self._xbar.bench is not self.bench:
            # the aux SMU holds the column at 0 V for the writes too: a trial's read config is
            # its write config plus lines, so a trial costs one relay close and one open
            self._xbar = Crossbar(self.bench, v_read_V=float(self.v_read), nplc=float(self.nplc),
                                  write_return="aux")
        return self._xbar

    def _position(self, facts) -> tuple[int, int]:
        xbar = self._crossbar()
        index = xbar.names.index(facts.name)
        return divmod(index, xbar.cols)

    def _set_state(self, r: int, c: int, state: str) -> int:
        """Reset junction (r, c) to ``state``, verified; returns the failed attempts."""
        xbar = self._crossbar()
        amplitude = float(self.reset_to_p_V if state == "P" else self.reset_to_ap_V)
        want = 1 if state == "P" else 0
        for attempt in range(MAX_RESETS):
            xbar.write(r, c, state, amplitude, float(self.reset_width))
            if xbar.read_state(r, c) == want:
                return attempt
        return MAX_RESETS

    def _trials(self, r: int, c: int, source: str, target: str, level: float, width: float,
                count: int) -> tuple[int, int]:
        """``count`` trials from ``source``: (switched, failed resets)."""
        xbar = self._crossbar()
        switched = failures = 0
        want = 1 if target == "P" else 0
        for _ in range(count):
            xbar.write(r, c, target, level, width)
            if xbar.read_state(r, c) == want:
                switched += 1
                failures += self._set_state(r, c, source)
        return switched, failures

    def _row(self, facts, r, c, label, phase, point, level, width, trials, measure) -> dict:
        def costed():
            xbar = self._crossbar()
            rt0, t0, f0 = xbar.round_trips, xbar.projected_bench_time_s, xbar.floor_s
            switched, failures, conductance = measure()
            return {"Junction": facts.name, "Row": r, "Column": c, "Direction": label,
                    "Phase": phase, "Point": point, "Pulse amplitude (V)": level,
                    "Pulse width (s)": width, "Trials": trials, "Switched": switched,
                    "Switching probability": switched / trials if trials else float("nan"),
                    "Reset failures": failures, "Conductance (S)": conductance,
                    "Round trips": xbar.round_trips - rt0,
                    "Projected bench time (s)": xbar.projected_bench_time_s - t0,
                    "Floor (s)": xbar.floor_s - f0}
        return self.point((facts.name, label, phase, point), costed)

    def _conductances(self, facts, r, c) -> None:
        xbar = self._crossbar()
        for label, state, _, _ in DIRECTIONS:
            def measure(state=state):
                failures = self._set_state(r, c, state)
                return 0, failures, float(np.mean([xbar.read_junction(r, c) for _ in range(3)]))
            self._row(facts, r, c, label, "read", 0, float("nan"), float("nan"), 0, measure)

    def _direction(self, facts, r, c, label, source, target, progress) -> None:
        self._set_state(r, c, source)
        widths, point = self.width_list(), 0
        for width in widths:
            lo, hi = float(self.v_min), self.v_high(facts)
            for _ in range(int(self.search_steps)):
                mid = 0.5 * (lo + hi)
                row = self._row(facts, r, c, label, "search", point, mid, width,
                                int(self.search_trials),
                                lambda: (*self._trials(r, c, source, target, mid, width,
                                                       int(self.search_trials)), float("nan")))
                point += 1
                if float(row["Switching probability"]) >= 0.5:
                    hi = mid
                else:
                    lo = mid
            v50 = 0.5 * (lo + hi)
            levels = np.clip(v50 * np.linspace(0.9, 1.1, int(self.points)), float(self.v_min),
                             self.v_high(facts))
            for level in levels:
                self._row(facts, r, c, label, "grid", point, float(level), width, int(self.trials),
                          lambda level=float(level): (*self._trials(r, c, source, target, level,
                                                                    width, int(self.trials)),
                                                      float("nan")))
                point += 1
            progress()

    def execute(self):
        chosen = self.junction_facts()
        steps = len(chosen) * len(DIRECTIONS) * len(self.width_list())
        done = [0]

        def progress():
            done[0] += 1
            self.emit("progress", 100.0 * done[0] / steps)
        for facts in chosen:
            if self.stopped():
                break
            r, c = self._position(facts)
            self._conductances(facts, r, c)
            for label, source, target, _ in DIRECTIONS:
                self._direction(facts, r, c, label, source, target, progress)

    # ------------------------------------------------------------------ analysis
    def finish(self, rows: list[dict], out: Path) -> dict:
        summary = analyze(rows, float(self.tau0), float(self.v_read))
        summary["bench"] = self.bench_config().name
        return write_switching_outputs(summary, rows, self.bench_config(), self.backend,
                                       self.width_list(), Path(out))


def _num(row, key) -> float:
    try:
        return float(row[key])
    except (TypeError, ValueError, KeyError):
        return float("nan")


def analyze(rows: list[dict], tau0_s: float = 1e-9, v_read: float = 0.1) -> dict:
    """Per junction the joint fit of both directions, the read conductances, the cost; and
    the D2D spread (mean, sd) of every fitted parameter over the junctions."""
    by_junction: dict[str, list[dict]] = {}
    for row in rows:
        by_junction.setdefault(str(row["Junction"]), []).append(row)
    junctions = {}
    for name, own in by_junction.items():
        writes = [r for r in own if r["Phase"] in ("search", "grid") and _num(r, "Trials") > 0]
        reads = {r["Direction"]: _num(r, "Conductance (S)") for r in own if r["Phase"] == "read"}
        # the "read" row of a direction reads its source state: P->AP starts in P
        entry = {"row": int(_num(own[0], "Row")), "col": int(_num(own[0], "Column")),
                 "g_p_S": reads.get("P->AP", float("nan")), "g_ap_S": reads.get("AP->P", float("nan")),
                 "trials": int(sum(_num(r, "Trials") for r in writes)),
                 "reset_failures": int(sum(_num(r, "Reset failures") for r in own))}
        group = {label: g for label, _, _, g in DIRECTIONS}
        try:
            fit = fit_neel_brown_exponent([_num(r, "Pulse amplitude (V)") for r in writes],
                                          [_num(r, "Switched") for r in writes],
                                          [_num(r, "Trials") for r in writes],
                                          [_num(r, "Pulse width (s)") for r in writes], tau0_s,
                                          group=[group[r["Direction"]] for r in writes])
            entry.update({"vc_p_to_ap_V": fit.critical[0], "vc_p_to_ap_err_V": fit.critical_err[0],
                          "vc_ap_to_p_V": fit.critical[1], "vc_ap_to_p_err_V": fit.critical_err[1],
                          "delta": fit.delta, "delta_err": fit.delta_err,
                          "exponent": fit.exponent, "exponent_err": fit.exponent_err,
                          "tau0_s": tau0_s, "dispersion": fit.dispersion})
        except FitError as exc:
            entry["error"] = str(exc)
        junctions[name] = entry
    fitted = [j for j in junctions.values() if "error" not in j]
    spread = {}
    for key in ("vc_p_to_ap_V", "vc_ap_to_p_V", "delta", "exponent", "g_p_S", "g_ap_S"):
        values = np.array([j[key] for j in fitted if math.isfinite(j[key])])
        if values.size:
            spread[key] = {"mean": float(values.mean()),
                           "sd": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
                           "relative_sd": float(values.std(ddof=1) / values.mean()) if values.size > 1 else float("nan")}

    def total(column):
        return float(sum(v for v in (_num(r, column) for r in rows) if math.isfinite(v)))
    cost = {"round_trips": total("Round trips"), "projected_time_s": total("Projected bench time (s)"),
            "floor_s": total("Floor (s)")}
    cost["projected_over_floor"] = cost["projected_time_s"] / cost["floor_s"] if cost["floor_s"] else None
    return {"junctions": junctions, "d2d_spread": spread, "fitted": len(fitted),
            "read_voltage_V": v_read, "bench_cost": cost}


# ----------------------------------------------------------------------------- outputs
def calibration_of(summary: dict, bench_file, backend: str, reference_width_s: float):
    """The chip's calibration: one ``stt_synapse`` entry per fitted junction."""
    from procedures.calibration import ChipCalibration, ElementCalibration, ELEMENT_KEYS
    from procedures.identity import chip_identity

    keys = ELEMENT_KEYS["stt_synapse"]
    devices = {}
    for name, j in summary["junctions"].items():
        if "error" in j or not (j["g_p_S"] > j["g_ap_S"] > 0):
            continue
        values = {k: float(j[k]) for k in keys if k in j and math.isfinite(j[k])}
        values["read_voltage_V"] = float(summary["read_voltage_V"])
        size = bench_file.device(name).size
        devices[name] = ElementCalibration("stt_synapse", values, size, reference_width_s,
                                           {"row": j["row"], "col": j["col"]})
    if not devices:
        raise FitError("no junction of the run could be fitted: see the report for each one")
    chip = bench_file.device(next(iter(devices))).chip
    trials = sum(j["trials"] for j in summary["junctions"].values())
    cal = ChipCalibration(bench_file.name, chip, reference_width_s, devices,
                          source=f"synapse-switching, {trials} trials")
    cal.meta["bench_cost"] = summary["bench_cost"]
    cal.meta["chip_identity"] = chip_identity(bench_file, chip, cal.names(), backend)
    return cal


def write_switching_outputs(summary, rows, bench_file, backend, widths, out: Path) -> dict:
    from procedures.calibration import save_calibration

    reference = float(sorted(widths)[len(widths) // 2])
    paths = {"csv": out / "synapse_switching.csv"}
    calibration = calibration_of(summary, bench_file, backend, reference)
    paths["calibration"] = save_calibration(calibration, out / f"calibration_{calibration.chip}.json")
    paths.update(plot_switching(summary, rows, out))
    summary_path = out / "synapse_switching_summary.json"
    summary_path.write_text(json.dumps(summary, indent=2, default=float))
    report = out / "synapse_switching_report.md"
    report.write_text(report_markdown(summary, paths))
    return {"summary": summary, "summary_path": summary_path, "report": report, **paths}


def plot_switching(summary: dict, rows: list[dict], out: Path) -> dict[str, Path]:
    """P vs V at every width (both directions, measured and fitted) of the first fitted
    junction, and V50 vs width of every junction (the fits' curves)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from devices.laws import stt_switching

    fitted = {n: j for n, j in summary["junctions"].items() if "error" not in j}
    paths = {}
    if not fitted:
        return paths
    name, j = next(iter(fitted.items()))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, (label, _, _, _) in zip(axes, DIRECTIONS):
        vc = j["vc_p_to_ap_V"] if label == "P->AP" else j["vc_ap_to_p_V"]
        own = [r for r in rows if r["Junction"] == name and r["Direction"] == label
               and r["Phase"] in ("search", "grid")]
        widths = sorted({_num(r, "Pulse width (s)") for r in own})
        for k, width in enumerate(widths):
            pts = sorted((_num(r, "Pulse amplitude (V)"), _num(r, "Switching probability"))
                         for r in own if _num(r, "Pulse width (s)") == width)
            color = plt.cm.viridis(k / max(len(widths) - 1, 1))
            ax.plot(*zip(*pts), "o", color=color, ms=3)
            grid = np.linspace(min(p[0] for p in pts), max(p[0] for p in pts), 100)
            ax.plot(grid, stt_switching.probability(grid, width, vc, j["delta"], j["tau0_s"],
                                                    j["exponent"]), color=color,
                    label=f"{width:.0e} s")
        ax.set_title(f"{name} {label}: Vc {vc:.3f} V, Delta {j['delta']:.1f}, n {j['exponent']:.2f}",
                     fontsize=9)
        ax.set_xlabel("pulse amplitude (V)")
    axes[0].set_ylabel("switching probability")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    paths["plot"] = out / "synapse_switching.png"
    fig.savefig(paths["plot"], dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    widths = np.logspace(np.log10(min(_num(r, "Pulse width (s)") for r in rows if r["Phase"] == "grid")),
                         np.log10(max(_num(r, "Pulse width (s)") for r in rows if r["Phase"] == "grid")), 60)
    for label, _, _, _ in DIRECTIONS:
        key = "vc_p_to_ap_V" if label == "P->AP" else "vc_ap_to_p_V"
        for n, jj in fitted.items():
            v50 = [float(stt_switching.voltage_for_probability(0.5, w, jj[key], jj["delta"],
                                                               jj["tau0_s"], jj["exponent"]))
                   for w in widths]
            ax.semilogx(widths, v50, color="tab:red" if label == "P->AP" else "tab:blue", lw=0.8,
                        label=label if n == name else None)
    ax.set_xlabel("pulse width (s)")
    ax.set_ylabel("V50 (V)")
    ax.set_title("50 % switching amplitude vs width (fits)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths["plot_v50"] = out / "synapse_v50_vs_width.png"
    fig.savefig(paths["plot_v50"], dpi=110)
    plt.close(fig)
    return paths


def report_markdown(summary: dict, paths: dict) -> str:
    cost = summary["bench_cost"]
    lines = ["# Synapse switching (stochastic STT, both directions)", "",
             f"bench {summary.get('bench', '')}: {summary['fitted']} of "
             f"{len(summary['junctions'])} junctions fitted; P_sw = 1 - exp(-t/tau), "
             "tau = tau0 exp(Delta (1 - V/Vc)^n), Vc per direction, Delta and n shared.", "",
             "| junction | r,c | Vc P>AP (V) | Vc AP>P (V) | Delta | n | G_P (uS) | G_AP (uS) | trials |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, j in summary["junctions"].items():
        if "error" in j:
            lines.append(f"| {name} | {j['row']},{j['col']} | fit failed: {j['error']} |||||||")
            continue
        lines.append(f"| {name} | {j['row']},{j['col']} | {j['vc_p_to_ap_V']:.4f} +- {j['vc_p_to_ap_err_V']:.4f} "
                     f"| {j['vc_ap_to_p_V']:.4f} +- {j['vc_ap_to_p_err_V']:.4f} "
                     f"| {j['delta']:.1f} +- {j['delta_err']:.1f} | {j['exponent']:.2f} +- {j['exponent_err']:.2f} "
                     f"| {j['g_p_S'] * 1e6:.1f} | {j['g_ap_S'] * 1e6:.1f} | {j['trials']} |")
    if summary["d2d_spread"]:
        lines += ["", "D2D spread over the fitted junctions (mean, relative sd):", ""]
        lines += [f"- {k}: {v['mean']:.4g}, {v['relative_sd']:.3f}" for k, v in summary["d2d_spread"].items()]
    ratio = cost["projected_over_floor"]
    lines += ["", f"Bench cost: {cost['round_trips']:.0f} round trips, projected bench time "
                  f"{cost['projected_time_s']:.1f} s, physical floor {cost['floor_s']:.3g} s"
                  + (f" ({ratio:.0f}x)" if ratio else "") + ".", ""]
    lines += [f"![{key}]({path.name})" for key, path in paths.items() if str(path).endswith(".png")]
    return "\n".join(lines) + "\n"


__all__ = ["COLUMNS", "DIRECTIONS", "SynapseSwitchingProcedure", "analyze", "calibration_of",
           "write_switching_outputs"]
