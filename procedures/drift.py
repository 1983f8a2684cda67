"""Drift monitor: I50 of chosen devices at intervals over a long run, vs (virtual) time.

Each check measures P_sw at a few amplitudes around the device's last I50 (cheap: ``points``
levels x ``trials``, one batch) and fits the Neel-Brown law to them (a logistic, then the
0.5 crossing, where that fit fails); the first check sweeps a wide
window (0.3-0.95 of the safe maximum) to find I50. Between checks the bench waits
``interval_s``: a simulated bench lets the time pass on its clock (the VISA library's
``wait_virtual_s``; its devices drift meanwhile), a real one sleeps. Each row records when it
was measured (virtual or wall time, the device's write pulses so far in this run) and the
stage temperature where the bench exposes one (the VISA library's ``stage_temperature_K``;
NaN otherwise). The summary holds I50(t) per device; ``write_plots`` draws it (PNG).
"""

from __future__ import annotations

import math
import time

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from procedures.base import BenchProcedure
from procedures.fits import FitError, fit_logistic, fit_neel_brown
from procedures.session import ParameterError, select_devices
from procedures.switching import batch_fractions

DRIFT_COLUMNS = ["Device", "Size", "Check", "Point", "Virtual time (s)", "Write pulses",
                 "Stage temperature (K)", "Pulse amplitude (V)", "Pulse width (s)",
                 "Write current (A)", "Trials", "Switched", "Switching probability",
                 "Line resistance (ohm)", "Round trips", "Projected bench time (s)"]
#: the first check's window, in fractions of the device's safe maximum level
FIRST_WINDOW = (0.3, 0.95)
FIRST_POINTS = 10


class DriftMonitorProcedure(BenchProcedure):
    devices = Parameter("Devices", default="S0,S1")
    checks = IntegerParameter("Checks", default=6, minimum=2, maximum=10**5)
    interval_s = FloatParameter("Interval", units="s", default=600.0, minimum=0.0, maximum=1e7)
    points = IntegerParameter("Amplitudes per check", default=5, minimum=3, maximum=50)
    trials = IntegerParameter("Trials per amplitude", default=64, minimum=4, maximum=100000)
    span = FloatParameter("Window half-width (of I50)", default=0.15, minimum=0.01, maximum=0.9)
    pulse_width = FloatParameter("Pulse width", units="s", default=10e-9, minimum=-1.0, maximum=1.0)
    bias_field = FloatParameter("Bias field", units="T", default=0.01, minimum=-1.0, maximum=1.0)

    DATA_COLUMNS = DRIFT_COLUMNS
    KEY_COLUMNS = ("Device", "Check", "Point")

    def chosen(self):
        return select_devices(self.bench_config(), str(self.devices))

    def validate(self):
        super().validate()
        for name in ("checks", "points", "trials"):
            self.require_int(name, getattr(self, name))
        if not math.isfinite(float(self.interval_s)) or float(self.interval_s) < 0:
            raise ParameterError(f"interval_s must be a finite number >= 0 s, got {self.interval_s!r}")
        for facts in self.chosen():
            self.check_width(facts, float(self.pulse_width))
            if not 0 < abs(self.bias_field) <= facts.limits.max_field_T:
                raise ParameterError(f"bias_field {self.bias_field!r} T must be non-zero and within "
                                     f"max_field_T = {facts.limits.max_field_T:g} T")

    def write_plots(self, summary: dict, out_dir) -> dict:
        from procedures.drift_report import plot_drift
        return plot_drift(summary, out_dir)

    # ------------------------------------------------------------ the bench's clock
    def _library(self):
        return getattr(self.bench, "visa_library", None)

    def wait(self, seconds: float) -> None:
        advance = getattr(self._library(), "wait_virtual_s", None)
        if advance is not None:
            advance(seconds)
        elif seconds > 0:
            time.sleep(seconds)

    def temperature_K(self) -> float:
        reader = getattr(self._library(), "stage_temperature_K", None)
        value = reader() if reader is not None else None
        return float("nan") if value is None else float(value)

    # ------------------------------------------------------------ one check of one device
    def levels(self, facts, line_ohm: float, i50_A: float | None) -> np.ndarray:
        top = facts.max_level_V
        if i50_A is None or not math.isfinite(i50_A):
            return np.linspace(FIRST_WINDOW[0] * top, FIRST_WINDOW[1] * top, FIRST_POINTS)
        currents = i50_A * (1.0 + float(self.span) * np.linspace(-1.0, 1.0, int(self.points)))
        levels = np.array([float(facts.level_for_current_V(c, line_ohm)) for c in currents])
        return np.minimum(levels, top)       # the window, kept inside the safe range

    def check(self, facts, number: int, line_ohm: float, i50_A, pulses: int) -> list[dict]:
        keys = [self.key(facts.name, number, 0)]
        if keys[0] in self.done:     # resumed: this check is on disk, all its points
            return [r for k, r in self.done.items() if k[0] == facts.name and int(k[1]) == number]
        levels = self.levels(facts, line_ohm, i50_A)
        trials = int(self.trials)
        when_s, temp_K = self.bench.projected_time_s, self.temperature_K()
        rt0 = self.bench.round_trips
        batch = self.bench.trials(facts.name, levels, float(self.pulse_width), repeats=trials,
                                  reset_V=-0.8 * facts.max_level_V)
        frac, _, _ = batch_fractions(batch, len(levels), trials)
        rt, dt = self.bench.round_trips - rt0, self.bench.projected_time_s - when_s
        rows = []
        for i, level in enumerate(levels):
            current = float(facts.current_A(level, line_ohm))
            switched = float(np.clip(np.sum(frac[i]), 0.0, trials))
            row = {"Device": facts.name, "Size": facts.size, "Check": number, "Point": i,
                   "Virtual time (s)": when_s, "Write pulses": pulses + 2 * trials * (i + 1),
                   "Stage temperature (K)": temp_K, "Pulse amplitude (V)": float(level),
                   "Pulse width (s)": float(self.pulse_width), "Write current (A)": current,
                   "Trials": trials, "Switched": switched, "Switching probability": switched / trials,
                   "Line resistance (ohm)": line_ohm, "Round trips": rt / len(levels),
                   "Projected bench time (s)": dt / len(levels)}
            rows.append(self.point(self.key(facts.name, number, i), lambda row=row: row))
        return rows

    def execute(self):
        field_role = self.bench.field
        (getattr(field_role, "set_field_T", None) or field_role.set_field)(float(self.bias_field))
        chosen = self.chosen()
        line = {f.name: float(self.bench.line_resistance(f.name)) for f in chosen}
        i50 = {f.name: None for f in chosen}
        series = {f.name: [] for f in chosen}
        pulses = {f.name: 0 for f in chosen}
        total = int(self.checks)
        for number in range(total):
            if self.stopped():
                break
            if number:
                self.wait(float(self.interval_s))
            for facts in chosen:
                rows = self.check(facts, number, line[facts.name], i50[facts.name], pulses[facts.name])
                pulses[facts.name] = int(max(r["Write pulses"] for r in rows))
                fit = fit_check(rows)
                if math.isfinite(fit["i50_A"]):
                    i50[facts.name] = fit["i50_A"]
                series[facts.name].append({"check": number, **fit,
                                           "time_s": float(rows[0]["Virtual time (s)"]),
                                           "temperature_K": float(rows[0]["Stage temperature (K)"]),
                                           "write_pulses": pulses[facts.name]})
            self.emit("progress", 100.0 * (number + 1) / total)
        self.summary = {"devices": series, "interval_s": float(self.interval_s),
                        "i50_drift_rel": {name: drift_rel(s) for name, s in series.items()}}


def fit_check(rows: list[dict]) -> dict:
    """I50 of one check from its points (logistic fit); NaN when they show no transition."""
    current = np.array([float(r["Write current (A)"]) for r in rows])
    switched = np.array([float(r["Switched"]) for r in rows])
    trials = np.array([float(r["Trials"]) for r in rows])
    width_s = float(rows[0]["Pulse width (s)"])
    try:        # the law's own shape: a logistic over a window off-centre lags a drift
        fit = fit_neel_brown(current, switched, trials, width_s)
        if np.isfinite(fit.i50_A) and np.isfinite(fit.i50_err_A):
            return {"i50_A": float(fit.i50_A), "i50_err_A": float(fit.i50_err_A), "method": "neel_brown"}
    except (FitError, ValueError):
        pass
    try:
        fit = fit_logistic(current, switched, trials)
    except (FitError, ValueError) as exc:
        # a step between two points (a sharp curve, a wide first window): its crossing, so
        # the next check's window is centred on it; no error bar
        crossing = step_crossing(current, switched / trials)
        return {"i50_A": crossing, "i50_err_A": float("nan"), "method": "crossing",
                "fit_error": str(exc)}
    return {"i50_A": float(fit.i50_A), "i50_err_A": float(fit.i50_err_A), "method": "logistic"}


def step_crossing(current_A: np.ndarray, p: np.ndarray) -> float:
    """Where P crosses 0.5 between neighbouring points (linear), NaN when it never does."""
    order = np.argsort(current_A)
    current_A, p = current_A[order], p[order]
    above = np.flatnonzero((p[:-1] < 0.5) & (p[1:] >= 0.5))
    if not above.size:
        return float("nan")
    k = int(above[0])
    x = (0.5 - p[k]) / (p[k + 1] - p[k])
    return float(current_A[k] + x * (current_A[k + 1] - current_A[k]))


def drift_rel(series: list[dict]) -> float:
    """The last fitted I50 over the first, minus one (NaN with fewer than two fits)."""
    values = [s["i50_A"] for s in series if math.isfinite(s["i50_A"]) and s.get("method") != "crossing"]
    return values[-1] / values[0] - 1.0 if len(values) >= 2 else float("nan")


__all__ = ["DRIFT_COLUMNS", "DriftMonitorProcedure", "drift_rel", "fit_check"]
