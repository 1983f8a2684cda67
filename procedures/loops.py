"""Hysteresis loops: resistance vs magnet field (R-H) and vs write-pulse amplitude (R-I).

R-H loop
    The magnet sweeps 0 -> -H ("init"), -H -> +H ("up"), +H -> -H ("down"); the read SMU reads
    the device at each field (``reads_per_point`` readings averaged: more readings, slower
    sweep). :func:`analyze_rh` says which kind of loop the data show:

    - ``"easy_axis"`` (out-of-plane magnet): a square loop. Resistance levels (mean of the
      readings above / below mid-level), the switching field of each branch where the
      reading crosses mid-level, the coercive field (h_up - h_down) / 2 and the loop shift.
      Field-driven reversal is thermally activated, so Hc is a fraction of Hk that shrinks
      for slower sweeps and smaller devices.
    - ``"hard_axis"`` (in-plane magnet, the default bench): no crossing, a symmetric dome,
      R(H) = R0 + dR sqrt(1 - (H/Hk)^2) (flat at R0 beyond Hk); the anisotropy field Hk is
      fitted (scipy) with its standard error, one dR per branch (a magnet pulled in plane
      falls back up or down at random, so the dome may change sign or size after a branch
      passes Hk).
    - ``"none"``: the reading does not change with the field beyond the noise (e.g. an
      easy-axis sweep that stays below the coercive field).

R-I loop
    At a fixed bias field, pulses of amplitude 0 -> -V -> +V -> -V (both polarities), each
    followed by a read; no reset between steps, so the state carries over and the loop
    shows the two critical currents. A loop needs the state to carry over, which the
    batched trials (a reset before every write) do not allow, so it runs pulse by pulse
    (a few round trips per step; every level is checked against the limits before the
    first pulse). Critical currents are reported in A and A/m^2 (where the reading
    crosses mid-level on each branch). A resumed loop goes on from the device's state.
"""

from __future__ import annotations

import math

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from procedures.base import BenchProcedure
from procedures.session import ParameterError

RH_COLUMNS = ["Device", "Size", "Branch", "Point", "Field (T)", "Resistance (ohm)",
              "Round trips", "Projected bench time (s)"]
RI_COLUMNS = ["Device", "Size", "Branch", "Point", "Pulse amplitude (V)", "Pulse width (s)",
              "Write current (A)", "Current density (A/m**2)", "Resistance (ohm)",
              "Line resistance (ohm)", "Round trips", "Projected bench time (s)"]


def crossing(x, y, level, rising: bool) -> float:
    """First x where y crosses ``level`` going up (rising) or down; linear interpolation."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    for i in range(1, len(x)):
        a, b = y[i - 1], y[i]
        if (rising and a < level <= b) or (not rising and a > level >= b):
            return float(x[i - 1] + (level - a) * (x[i] - x[i - 1]) / (b - a))
    return float("nan")


def _branch_sweep(top: float, points: int) -> list[tuple[str, np.ndarray]]:
    """0 -> -top (sets a known state), -top -> +top ("up"), +top -> -top ("down")."""
    init = np.linspace(0.0, -top, points)
    up = np.linspace(-top, top, 2 * points - 1)[1:]
    down = np.linspace(top, -top, 2 * points - 1)[1:]
    return [("init", init), ("up", up), ("down", down)]


class RHLoopProcedure(BenchProcedure):
    """Resistance vs bias field of one device."""

    device = Parameter("Device", default="chip1/L0")
    max_field = FloatParameter("Max field", units="T", default=0.05, minimum=-10.0, maximum=10.0)
    points = IntegerParameter("Points per half branch", default=21, minimum=3, maximum=10000)
    reads_per_point = IntegerParameter("Readings per point", default=1, minimum=1,
                                       maximum=1000)

    DATA_COLUMNS = RH_COLUMNS
    KEY_COLUMNS = ("Device", "Branch", "Point")

    def validate(self):
        super().validate()
        facts = self.facts(self.device)
        self.require_int("points", self.points, 3)
        self.require_int("reads_per_point", self.reads_per_point, 1)
        field = float(self.max_field)
        if not (math.isfinite(field) and field > 0):
            raise ParameterError(f"max_field must be > 0 T, got {field!r} T")
        if field > facts.limits.max_field_T:
            raise ParameterError(f"max_field {field:.4g} T is over the limit max_field_T = "
                                 f"{facts.limits.max_field_T:.4g} T of size {facts.size!r}: "
                                 f"use a smaller field")

    def execute(self):
        facts = self.facts(self.device)
        self.bench.select(facts.name)
        field_role = self.bench.field
        setter = getattr(field_role, "set_field_T", None) or field_role.set_field
        rows = []
        branches = _branch_sweep(float(self.max_field), int(self.points))
        total = sum(len(v) for _, v in branches)
        for branch, fields in branches:
            for i, field in enumerate(fields):
                if self.stopped():
                    return
                def measure(field=field, i=i, branch=branch):
                    rt0, t0 = self.bench.round_trips, self.bench.projected_time_s
                    setter(float(field))
                    r = float(np.mean([self.bench.read_resistance(facts.name)
                                       for _ in range(int(self.reads_per_point))]))
                    return {"Device": facts.name, "Size": facts.size, "Branch": branch,
                            "Point": i, "Field (T)": float(field), "Resistance (ohm)": r,
                            "Round trips": self.bench.round_trips - rt0,
                            "Projected bench time (s)": self.bench.projected_time_s - t0}
                rows.append(self.point((facts.name, branch, i), measure))
                self.emit("progress", 100.0 * len(rows) / total)
        setter(0.0)
        self.summary = analyze_rh(rows)


#: a loop's features must stand this many noise sigmas above the reading noise
RH_SIGNIFICANCE = 6.0


def reading_noise_ohm(resistance_ohm) -> float:
    """Robust rms noise of readings taken in sweep order (median of successive differences).

    Steps and slow trends touch few differences, so the median sees the noise.
    """
    diffs = np.abs(np.diff(np.asarray(resistance_ohm, dtype=float)))
    diffs = diffs[np.isfinite(diffs)]
    if not diffs.size:
        return float("nan")
    return float(1.4826 * np.median(diffs) / np.sqrt(2.0))


def hard_axis_model(field_T, r0_ohm, hk_T, dr_ohm):
    """R(H) = R0 + dR sqrt(1 - (H/Hk)^2), flat at R0 from |H| >= Hk on."""
    h = np.asarray(field_T, dtype=float) / hk_T
    return r0_ohm + dr_ohm * np.sqrt(np.clip(1.0 - h * h, 0.0, None))


def fit_hard_axis(fields_T, resistance_ohm, branches) -> dict:
    """Fit Hk (and R0, one dR per branch) to a hard-axis dome; Hk with its standard error.

    R0 and the dR are linear given Hk, so Hk is first found on a grid (linear least squares
    for the rest), then all parameters are refined together by ``scipy.optimize.curve_fit``.
    """
    from scipy.optimize import curve_fit

    fields_T = np.asarray(fields_T, dtype=float)
    res = np.asarray(resistance_ohm, dtype=float)
    names = list(dict.fromkeys(branches))
    which = np.array([names.index(b) for b in branches])
    top = float(np.max(np.abs(fields_T)))

    def design(hk_T):
        dome = np.sqrt(np.clip(1.0 - (fields_T / hk_T) ** 2, 0.0, None))
        columns = [np.ones_like(fields_T)] + [np.where(which == k, dome, 0.0)
                                              for k in range(len(names))]
        return np.stack(columns, axis=1)

    def model(h, r0, hk, *dr):
        return r0 + np.asarray(dr)[which] * np.sqrt(np.clip(1.0 - (h / hk) ** 2, 0.0, None))

    grid = top * np.geomspace(0.3, 30.0, 300)
    costs = []
    for hk in grid:
        coef, *_ = np.linalg.lstsq(design(hk), res, rcond=None)
        costs.append(float(np.sum((design(hk) @ coef - res) ** 2)))
    hk0 = float(grid[int(np.argmin(costs))])
    coef0, *_ = np.linalg.lstsq(design(hk0), res, rcond=None)
    try:
        popt, pcov = curve_fit(model, fields_T, res, p0=[coef0[0], hk0, *coef0[1:]],
                               maxfev=20000)
        hk_T, hk_err = abs(float(popt[1])), float(np.sqrt(pcov[1, 1]))
        r0, dr = float(popt[0]), popt[2:]
    except (RuntimeError, ValueError):
        hk_T, hk_err, r0, dr = hk0, float("inf"), float(coef0[0]), coef0[1:]
    if not np.isfinite(hk_err):
        hk_err = float("inf")
    residual = res - model(fields_T, r0, hk_T, *dr)
    return {"anisotropy_field_T": hk_T, "anisotropy_field_err_T": hk_err,
            "dome_base_ohm": r0,
            "dome_amplitude_ohm": {name: float(v) for name, v in zip(names, dr)},
            "fit_rms_ohm": float(np.sqrt(np.mean(residual ** 2))),
            "hk_beyond_sweep": hk_T > top}


def analyze_rh(rows) -> dict:
    """Loop kind, resistance levels and the coercive field (easy axis) or Hk (hard axis)."""
    fields = np.array([r["Field (T)"] for r in rows], dtype=float)
    res = np.array([r["Resistance (ohm)"] for r in rows], dtype=float)
    branch_of = [r["Branch"] for r in rows]
    top = np.abs(fields).max()
    at_top = np.isclose(fields, top)
    at_bottom = np.isclose(fields, -top)
    r_pos = float(np.mean(res[at_top])) if at_top.any() else float("nan")
    r_neg = float(np.mean(res[at_bottom])) if at_bottom.any() else float("nan")
    noise = reading_noise_ohm(res)
    span = float(np.nanmax(res) - np.nanmin(res))
    mid = 0.5 * (r_pos + r_neg)
    down = [r for r in rows if r["Branch"] == "down"]
    back = [r for r in rows if r["Branch"] == "up"]
    h_down = _any_crossing([r["Field (T)"] for r in down], [r["Resistance (ohm)"] for r in down], mid)
    h_up = _any_crossing([r["Field (T)"] for r in back], [r["Resistance (ohm)"] for r in back], mid)
    out = {"r_at_plus_max_ohm": r_pos, "r_at_minus_max_ohm": r_neg,
           "r_max_ohm": float(np.nanmax(res)), "r_min_ohm": float(np.nanmin(res)),
           "noise_ohm": noise, "max_field_T": float(top),
           "field_step_T": float(np.median(np.abs(np.diff(fields)))) if len(fields) > 1 else 0.0,
           "switching_field_down_T": float("nan"), "switching_field_up_T": float("nan"),
           "coercive_field_T": float("nan"), "loop_shift_T": float("nan"),
           "anisotropy_field_T": float("nan"), "anisotropy_field_err_T": float("nan")}
    floor = RH_SIGNIFICANCE * (noise if np.isfinite(noise) else 0.0)
    step = abs(r_pos - r_neg)
    if step > max(floor, 0.2 * span):
        # the two saturated states differ: a square (easy-axis) loop
        loop = [r for r in rows if r["Branch"] in ("up", "down")]
        loop_res = np.array([r["Resistance (ohm)"] for r in loop], dtype=float)
        high, low = loop_res[loop_res > mid], loop_res[loop_res <= mid]
        r_high = float(np.mean(high)) if high.size else float("nan")
        r_low = float(np.mean(low)) if low.size else float("nan")
        out.update(loop_kind="easy_axis", r_high_ohm=r_high, r_low_ohm=r_low,
                   high_over_low_minus_one=r_high / r_low - 1.0 if r_low else float("nan"),
                   switching_field_down_T=h_down, switching_field_up_T=h_up)
        if np.isfinite(h_down) and np.isfinite(h_up):
            out["coercive_field_T"] = 0.5 * abs(h_up - h_down)
            out["loop_shift_T"] = 0.5 * (h_up + h_down)
        out["description"] = (
            f"easy-axis (square) loop: levels {r_low:.5g} / {r_high:.5g} ohm, coercive field "
            f"{out['coercive_field_T'] * 1e3:.4g} mT (switching at {h_up * 1e3:.4g} mT up, "
            f"{h_down * 1e3:.4g} mT down)")
    elif span > floor and span > 0:
        fit = fit_hard_axis(fields, res, branch_of)
        out.update(loop_kind="hard_axis", **fit)
        err = fit["anisotropy_field_err_T"]
        out["description"] = (
            f"hard-axis loop (symmetric dome, no switching): Hk = "
            f"{fit['anisotropy_field_T'] * 1e3:.4g} +- {err * 1e3:.2g} mT"
            + (" (beyond the sweep: extrapolated)" if fit["hk_beyond_sweep"] else ""))
    else:
        out.update(loop_kind="none",
                   description=f"no field response above the noise ({noise:.3g} ohm rms) "
                               f"within +-{top * 1e3:.4g} mT")
    return out


class RILoopProcedure(BenchProcedure):
    """Resistance after pulses of amplitude 0 -> -V -> +V -> -V (both polarities)."""

    device = Parameter("Device", default="chip1/S0")
    max_amplitude = FloatParameter("Max amplitude", units="V", default=0.0, minimum=-100.0, maximum=100.0)
    pulse_width = FloatParameter("Pulse width", units="s", default=10e-9, minimum=-1.0, maximum=1.0)
    points = IntegerParameter("Points per half branch", default=41, minimum=3, maximum=10000)
    bias_field = FloatParameter("Bias field", units="T", default=0.01, minimum=-1.0, maximum=1.0)

    DATA_COLUMNS = RI_COLUMNS
    KEY_COLUMNS = ("Device", "Branch", "Point")

    def top_level(self, facts) -> float:
        """The loop's peak level: the parameter, or 0.9 x the device's safe maximum."""
        return float(self.max_amplitude) if self.max_amplitude else 0.9 * facts.max_level_V

    def validate(self):
        super().validate()
        facts = self.facts(self.device)
        self.require_int("points", self.points, 3)
        self.check_width(facts, float(self.pulse_width))
        if float(self.max_amplitude) < 0:
            raise ParameterError(f"max_amplitude is the loop's peak |level| and must be >= 0 V "
                                 f"(0 = automatic), got {self.max_amplitude!r} V")
        self.check_level(facts, self.top_level(facts), "max_amplitude")
        if not 0 < abs(self.bias_field) <= facts.limits.max_field_T:
            raise ParameterError(f"bias_field {self.bias_field!r} T must be non-zero and within "
                                 f"max_field_T = {facts.limits.max_field_T:g} T")

    def execute(self):
        facts = self.facts(self.device)
        field_role = self.bench.field
        (getattr(field_role, "set_field_T", None) or field_role.set_field)(float(self.bias_field))
        line_row = self.point((facts.name, "line", 0), lambda: {
            "Device": facts.name, "Size": facts.size, "Branch": "line", "Point": 0,
            "Line resistance (ohm)": float(self.bench.line_resistance(facts.name))})
        line_ohm = float(line_row["Line resistance (ohm)"])
        branches = _branch_sweep(self.top_level(facts), int(self.points))
        plan = [(b, i, float(v)) for b, levels in branches for i, v in enumerate(levels)]
        bench = self.bench
        bench.select(facts.name)
        pulse = bench.pulse
        pulse.check([p[2] for p in plan], float(self.pulse_width))   # all steps, before any
        min_level = float(getattr(pulse, "min_pulse_level_V", 0.0) or 0.0)
        for number, (branch, i, level) in enumerate(plan):
            if self.stopped():
                return

            def measure(branch=branch, i=i, level=level):
                rt0, t0 = bench.round_trips, bench.projected_time_s
                if abs(level) >= max(min_level, 1e-12):
                    pulse.pulse(level, float(self.pulse_width))
                r = float(bench.read_resistance(facts.name))
                current = float(facts.current_A(level, line_ohm))
                return {"Device": facts.name, "Size": facts.size, "Branch": branch, "Point": i,
                        "Pulse amplitude (V)": level, "Pulse width (s)": float(self.pulse_width),
                        "Write current (A)": current,
                        "Current density (A/m**2)": float(facts.current_density_A_m2(current)),
                        "Resistance (ohm)": r, "Line resistance (ohm)": line_ohm,
                        "Round trips": bench.round_trips - rt0,
                        "Projected bench time (s)": bench.projected_time_s - t0}

            self.point((facts.name, branch, i), measure)
            self.emit("progress", 100.0 * (number + 1) / len(plan))
        self.emit("progress", 100.0)
        rows = [self.done[self.key(facts.name, b, i)] for b, i, _ in plan]
        self.summary = analyze_ri(rows, facts)


def _any_crossing(x, y, level) -> float:
    up = crossing(x, y, level, True)
    down = crossing(x, y, level, False)
    found = [v for v in (up, down) if np.isfinite(v)]
    if not found:
        return float("nan")
    # the first one along the sweep
    return min(found, key=lambda v: int(np.argmin(np.abs(np.asarray(x, dtype=float) - v))))


def analyze_ri(rows, facts=None) -> dict:
    """Critical currents: where the reading crosses mid-level on the up and down branches."""
    res = np.array([r["Resistance (ohm)"] for r in rows], dtype=float)
    lo, hi = np.nanpercentile(res, 5), np.nanpercentile(res, 95)
    mid = 0.5 * (lo + hi)
    out = {"r_high_ohm": float(hi), "r_low_ohm": float(lo)}
    for branch, name in (("up", "plus"), ("down", "minus")):
        part = [r for r in rows if r["Branch"] == branch]
        ic = _any_crossing([r["Write current (A)"] for r in part],
                           [r["Resistance (ohm)"] for r in part], mid)
        out[f"critical_current_{name}_A"] = ic
        if facts is not None:
            out[f"critical_density_{name}_A_m2"] = float(facts.current_density_A_m2(ic))
    return out


__all__ = ["RHLoopProcedure", "RILoopProcedure", "analyze_rh", "analyze_ri", "crossing"]
