"""Hysteresis loops: resistance vs magnet field (R-H) and vs write-pulse amplitude (R-I).

R-H loop
    The magnet sweeps 0 -> -H ("init"), -H -> +H ("up"), +H -> -H ("down"); the read SMU reads
    the device at each field. Results: resistance levels at +-H_max and, where the reading
    crosses the midpoint between them, the switching (coercive) field of each branch. With
    the default bench's in-plane magnet (axis "x") the Hall reading shows the hard-axis
    response instead (the magnet tilts m; SOT needs a current to switch).

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

    DATA_COLUMNS = RH_COLUMNS
    KEY_COLUMNS = ("Device", "Branch", "Point")

    def validate(self):
        super().validate()
        facts = self.facts(self.device)
        self.require_int("points", self.points, 3)
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
                    r = float(self.bench.read_resistance(facts.name))
                    return {"Device": facts.name, "Size": facts.size, "Branch": branch,
                            "Point": i, "Field (T)": float(field), "Resistance (ohm)": r,
                            "Round trips": self.bench.round_trips - rt0,
                            "Projected bench time (s)": self.bench.projected_time_s - t0}
                rows.append(self.point((facts.name, branch, i), measure))
                self.emit("progress", 100.0 * len(rows) / total)
        setter(0.0)
        self.summary = analyze_rh(rows)


def analyze_rh(rows) -> dict:
    fields = np.array([r["Field (T)"] for r in rows], dtype=float)
    res = np.array([r["Resistance (ohm)"] for r in rows], dtype=float)
    top = fields.max()
    r_pos = float(np.mean(res[np.isclose(fields, top)]))
    r_neg = float(np.mean(res[np.isclose(fields, -top)]))
    mid = 0.5 * (r_pos + r_neg)
    down = [r for r in rows if r["Branch"] == "down"]
    back = [r for r in rows if r["Branch"] == "up"]
    h_down = _any_crossing([r["Field (T)"] for r in down], [r["Resistance (ohm)"] for r in down], mid)
    h_back = _any_crossing([r["Field (T)"] for r in back], [r["Resistance (ohm)"] for r in back], mid)
    return {"r_at_plus_max_ohm": r_pos, "r_at_minus_max_ohm": r_neg,
            "r_max_ohm": float(res.max()), "r_min_ohm": float(res.min()),
            "switching_field_down_T": h_down, "switching_field_up_T": h_back,
            "coercive_field_T": 0.5 * (abs(h_down) + abs(h_back))
            if np.isfinite(h_down) and np.isfinite(h_back) else float("nan")}


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
