"""Endurance: repeated switching cycles, error rate vs cycle count, stuck / broken detection.

A cycle is a reset pulse and a write pulse of opposite polarity at a level meant to switch
every time (default: 0.8 x the device's safe maximum; the reset is never weaker than that),
each checked by a read. Cycles run in
batched blocks of ``block`` cycles (O(1) round trips per block); each block is a row with
its write error rate (cycles whose write did not switch the device).

Every ``check_every`` blocks the write line's two-terminal resistance is measured. A block is
classified

- ``broken``   the line resistance left its band (``open``: > ``broken_factor`` x the
               initial value or not finite; ``short``: < initial / ``broken_factor``), or
               the read gives no finite value; the run stops: no more pulses go to a dead
               device;
- ``stuck``    no cycle of the block switched (error rate 1), or the block's two reference
               states (the batch's reset and set calibration reads) differ by less than
               ``STUCK_CONTRAST`` of the first block's: the device no longer responds (a worn
               device stuck in one state reads alike after either pulse, so its error rate
               alone is read noise over read noise);
- ``degraded`` error rate above ``max_error_rate``;
- ``ok``       otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from procedures.base import BenchProcedure
from procedures.session import ParameterError
from procedures.switching import batch_fractions

ENDURANCE_COLUMNS = ["Device", "Size", "Block", "Cycles done", "Pulse amplitude (V)",
                     "Pulse width (s)", "Write current (A)", "Current density (A/m**2)",
                     "Cycles", "Errors", "Error rate", "Mean resistance (ohm)",
                     "Line resistance (ohm)", "State", "Round trips", "Projected bench time (s)",
                     "Read contrast (ohm)"]
#: a block whose reference states differ by less than this fraction of the first block's is stuck
STUCK_CONTRAST = 0.2


class EnduranceProcedure(BenchProcedure):
    device = Parameter("Device", default="chip1/M0")
    cycles = IntegerParameter("Cycles", default=2000, minimum=1, maximum=10**9)
    block = IntegerParameter("Cycles per block", default=200, minimum=1, maximum=10**6)
    amplitude = FloatParameter("Write amplitude", units="V", default=0.0, minimum=-100.0, maximum=100.0)
    pulse_width = FloatParameter("Pulse width", units="s", default=10e-9, minimum=-1.0, maximum=1.0)
    bias_field = FloatParameter("Bias field", units="T", default=0.01, minimum=-1.0, maximum=1.0)
    check_every = IntegerParameter("Line check every N blocks", default=1, minimum=1, maximum=10**6)
    max_error_rate = FloatParameter("Max error rate", default=0.01, minimum=0.0, maximum=1.0)
    broken_factor = FloatParameter("Broken factor", default=5.0, minimum=1.0, maximum=1e6)

    DATA_COLUMNS = ENDURANCE_COLUMNS
    KEY_COLUMNS = ("Device", "Block")

    def write_level(self, facts) -> float:
        return float(self.amplitude) if self.amplitude else 0.8 * facts.max_level_V

    def reset_level(self, facts) -> float:
        """The reset pulse: the write level reversed, at least 0.8 x the safe maximum, so the
        reference states of every block are known even when the write is too weak."""
        return -max(self.write_level(facts), 0.8 * facts.max_level_V)

    def validate(self):
        super().validate()
        facts = self.facts(self.device)
        self.require_int("cycles", self.cycles)
        self.require_int("block", self.block)
        self.require_int("check_every", self.check_every)
        self.check_width(facts, float(self.pulse_width))
        if float(self.amplitude) < 0:
            raise ParameterError(f"amplitude is the write |level| and must be >= 0 V (0 = "
                                 f"automatic; the reset uses the opposite polarity), got "
                                 f"{self.amplitude!r} V")
        self.check_level(facts, self.write_level(facts), "amplitude")
        if not 0 < abs(self.bias_field) <= facts.limits.max_field_T:
            raise ParameterError(f"bias_field {self.bias_field!r} T must be non-zero and within "
                                 f"max_field_T = {facts.limits.max_field_T:g} T")

    def blocks(self) -> list[int]:
        full, rest = divmod(int(self.cycles), int(self.block))
        return [int(self.block)] * full + ([rest] if rest else [])

    def execute(self):
        facts = self.facts(self.device)
        field_role = self.bench.field
        (getattr(field_role, "set_field_T", None) or field_role.set_field)(float(self.bias_field))
        level = self.write_level(facts)
        sizes = self.blocks()
        initial_line = None
        initial_contrast = None
        line_ohm = float("nan")
        done_cycles = 0
        state_counts: dict[str, int] = {}
        first_failure = None
        for number, count in enumerate(sizes):
            if self.stopped():
                break
            key = self.key(facts.name, number)
            if key not in self.done:
                rt0, t0 = self.bench.round_trips, self.bench.projected_time_s
                if number % int(self.check_every) == 0 or initial_line is None:
                    line_ohm = float(self.bench.line_resistance(facts.name))
                batch = self.bench.trials(facts.name, np.array([level]), float(self.pulse_width),
                                          repeats=count, reset_V=self.reset_level(facts))
                frac, res, _ = batch_fractions(batch, 1, count)
                errors = float(np.sum(1.0 - frac))
                current = float(facts.current_A(level, line_ohm)) if math.isfinite(line_ohm) else float("nan")
                row = {"Device": facts.name, "Size": facts.size, "Block": number,
                       "Cycles done": done_cycles + count, "Pulse amplitude (V)": level,
                       "Pulse width (s)": float(self.pulse_width), "Write current (A)": current,
                       "Current density (A/m**2)": float(facts.current_density_A_m2(current)),
                       "Cycles": count, "Errors": errors, "Error rate": errors / count,
                       "Mean resistance (ohm)": float(np.nanmean(res)) if np.isfinite(res).any() else float("nan"),
                       "Line resistance (ohm)": line_ohm,
                       "Round trips": self.bench.round_trips - rt0,
                       "Projected bench time (s)": self.bench.projected_time_s - t0,
                       "Read contrast (ohm)": abs(float(getattr(batch, "contrast_ohm", float("nan"))))}
                reference = initial_line if initial_line is not None else line_ohm
                row["State"] = classify(row, reference, float(self.max_error_rate),
                                        float(self.broken_factor), initial_contrast)
                self.point(key, lambda row=row: row)
            row = self.done[key]
            if initial_line is None and math.isfinite(float(row["Line resistance (ohm)"])):
                initial_line = float(row["Line resistance (ohm)"])
            contrast = float(row.get("Read contrast (ohm)", float("nan")))
            if initial_contrast is None and math.isfinite(contrast) and contrast > 0:
                initial_contrast = contrast
            line_ohm = float(row["Line resistance (ohm)"])
            done_cycles = int(row["Cycles done"])
            state = str(row["State"])
            state_counts[state] = state_counts.get(state, 0) + 1
            if state != "ok" and first_failure is None:
                first_failure = (state, done_cycles)
            self.emit("progress", 100.0 * (number + 1) / len(sizes))
            if state == "broken":
                break
        rates = [float(r["Error rate"]) for k, r in self.done.items() if k[0] == facts.name]
        self.summary = {"device": facts.name, "cycles": done_cycles,
                        "mean_error_rate": float(np.mean(rates)) if rates else float("nan"),
                        "states": state_counts,
                        "first_failure": first_failure}


def classify(row: dict, initial_line_ohm: float, max_error_rate: float, broken_factor: float,
             initial_contrast_ohm: float | None = None) -> str:
    line = float(row["Line resistance (ohm)"])
    read = float(row["Mean resistance (ohm)"])
    if not math.isfinite(line) or not math.isfinite(read) or line <= 0:
        return "broken"
    if initial_line_ohm and math.isfinite(initial_line_ohm) and (
            line > broken_factor * initial_line_ohm or line < initial_line_ohm / broken_factor):
        return "broken"
    if row["Errors"] >= row["Cycles"]:
        return "stuck"
    contrast = float(row.get("Read contrast (ohm)", float("nan")))
    if initial_contrast_ohm and math.isfinite(contrast) and contrast < STUCK_CONTRAST * initial_contrast_ohm:
        return "stuck"
    if row["Error rate"] > max_error_rate:
        return "degraded"
    return "ok"


__all__ = ["EnduranceProcedure", "classify"]
