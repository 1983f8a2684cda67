"""R-I loop critical currents, endurance error rates, stuck and broken detection."""

import math

import pytest

from procedures.endurance import EnduranceProcedure, classify
from procedures.loops import RILoopProcedure, analyze_rh
from procedures.runner import run_procedure
from procedures.session import open_bench
from devices.laws import neel_brown
from simulated_bench.bench import SimulatedBench


@pytest.fixture(scope="module")
def bench():
    with open_bench() as b:
        yield b


def test_ri_loop_critical_currents_both_polarities(bench, tmp_path):
    proc = RILoopProcedure(bench=bench, device="chip1/S2", points=31)
    out = run_procedure(proc, tmp_path / "ri.csv")
    chip = SimulatedBench.from_config(None).chip
    i = chip.index("chip1/S2")
    i50 = neel_brown.current_for_probability(0.5, 10e-9, chip.ic0_A[i], chip.delta[i])
    s = out.extra
    # one pulse per step: the loop switches within the thermally activated range below Ic0
    assert 0.85 * i50 < s["critical_current_plus_A"] < chip.ic0_A[i] * 1.05
    assert -chip.ic0_A[i] * 1.05 < s["critical_current_minus_A"] < -0.85 * i50
    assert s["r_high_ohm"] - s["r_low_ohm"] > 1.0          # the AHE step (2 x R_AHE)
    assert math.isclose(s["critical_density_plus_A_m2"], s["critical_current_plus_A"] / 3e-16)


def test_endurance_ok_and_stuck(bench, tmp_path):
    ok = run_procedure(EnduranceProcedure(bench=bench, device="chip1/M1", cycles=300, block=100),
                       tmp_path / "ok.csv")
    assert ok.extra["states"] == {"ok": 3} and ok.extra["mean_error_rate"] == 0.0
    # a write level far below the critical current never switches: flagged stuck
    stuck = run_procedure(EnduranceProcedure(bench=bench, device="chip1/M2", cycles=200,
                                             block=100, amplitude=0.05), tmp_path / "stuck.csv")
    assert stuck.extra["first_failure"] == ("stuck", 100)
    assert [r["State"] for r in stuck.rows] == ["stuck", "stuck"]


class LineOpensAfter:
    """The real bench, except that the write line reads open after ``n`` line checks."""

    def __init__(self, bench, n):
        self._bench, self._n = bench, n

    def __getattr__(self, name):
        return getattr(self._bench, name)

    def line_resistance(self, device, *args, **kwargs):
        self._n -= 1
        return 1e12 if self._n < 0 else self._bench.line_resistance(device, *args, **kwargs)


def test_endurance_stops_on_a_broken_device(bench, tmp_path):
    proc = EnduranceProcedure(bench=LineOpensAfter(bench, 2), device="chip1/M3", cycles=1000,
                              block=100)
    out = run_procedure(proc, tmp_path / "broken.csv")
    assert [r["State"] for r in out.rows] == ["ok", "ok", "broken"]   # then no more pulses
    assert out.extra["first_failure"] == ("broken", 300)


def test_classify():
    row = {"Line resistance (ohm)": 1600.0, "Mean resistance (ohm)": 5.0, "Errors": 0, "Cycles": 100,
           "Error rate": 0.0}
    assert classify(row, 1600.0, 0.01, 5.0) == "ok"
    assert classify({**row, "Errors": 5, "Error rate": 0.05}, 1600.0, 0.01, 5.0) == "degraded"
    assert classify({**row, "Errors": 100, "Error rate": 1.0}, 1600.0, 0.01, 5.0) == "stuck"
    assert classify({**row, "Line resistance (ohm)": 1e9}, 1600.0, 0.01, 5.0) == "broken"
    assert classify({**row, "Line resistance (ohm)": 10.0}, 1600.0, 0.01, 5.0) == "broken"
    assert classify({**row, "Mean resistance (ohm)": float("nan")}, 1600.0, 0.01, 5.0) == "broken"


def test_rh_analysis_finds_coercive_fields():
    rows = []
    for branch, fields, flip in (("init", [0.0, -0.02, -0.04], None), ("up", [-0.02, 0.0, 0.02, 0.04], 0.01),
                                 ("down", [0.02, 0.0, -0.02, -0.04], -0.01)):
        for i, h in enumerate(fields):
            if branch == "init":
                r = 4.0
            elif branch == "up":
                r = 6.0 if h > flip else 4.0
            else:
                r = 4.0 if h < flip else 6.0
            rows.append({"Branch": branch, "Point": i, "Field (T)": h, "Resistance (ohm)": r})
    s = analyze_rh(rows)
    assert s["r_at_plus_max_ohm"] == 6.0 and s["r_at_minus_max_ohm"] == 4.0
    assert 0.0 < s["switching_field_up_T"] <= 0.02 and -0.02 <= s["switching_field_down_T"] < 0.0
    assert 0.0 < s["coercive_field_T"] <= 0.02
