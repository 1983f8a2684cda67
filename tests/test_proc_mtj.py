"""MTJ characterization recovers the simulated truth: the write current of a level follows the
junction's bias- and state-dependent resistance (measured: R_P, TMR0, V_half, leads), and the
Neel-Brown exponent n is fitted where the pulse widths identify it (n = 2 where not).

Tolerances (fixed seeds; the low-bias line conversion these replace was 20-30 % low on I50
and Ic0, 50 % on Delta): I50 3 %, Ic0 5 % (one width, 32 trials), Delta 15 % (the width
procedure's joint fit), R_P 0.5 %, TMR0 2 %, V_half 10 %, leads 60 ohm, n 0.3.
"""

import numpy as np
import pytest

from devices.kinds.mtj import JunctionWritePath
from devices.laws import neel_brown
from drivers.limits import emf_V, level_for_current_V, write_current_A
from procedures.runner import read_points, run_procedure
from procedures.session import load_bench, open_bench
from procedures.switching import (
    EXPONENT_MAX_ERR,
    SwitchingWidthProcedure,
    fit_joint_rows,
    junction_write_path,
)
from procedures.variability import survey_chip
from simulated_bench.bench import SimulatedBench

BENCH = "examples/benches/mtj_chip.toml"
SOURCE_OHM = 50.0
SMALL = {"trials": 32, "points": 10, "coarse_points": 16, "coarse_trials": 4,
         "reference_trials": 32}


@pytest.fixture(scope="module")
def chip():
    return SimulatedBench.from_config(load_bench(BENCH)).chips["chip1"]


def truth_of(chip, name: str) -> dict:
    i = chip.names.index(name)
    return {"ic0": chip.ic0_A[i], "delta": chip.delta[i], "r_p": chip.r_offset_ohm[i],
            "tmr0": chip.r_ahe_ohm[i], "half": chip.params[i]["tmr_half_bias_V"],
            "leads": chip.line_resistance_ohm[i],
            "i50": float(neel_brown.current_for_probability(0.5, 10e-9, chip.ic0_A[i], chip.delta[i],
                                                            chip.tau0_s[i], chip.exponent[i]))}


def check_path(path: JunctionWritePath, truth: dict) -> None:
    assert not path.parallel                       # writes start antiparallel (the reset)
    assert path.r_p_ohm == pytest.approx(truth["r_p"], rel=5e-3)
    assert path.tmr0 == pytest.approx(truth["tmr0"], rel=0.02)
    assert path.half_bias_V == pytest.approx(truth["half"], rel=0.10)
    assert abs(path.leads_ohm - truth["leads"]) < 60.0


def test_the_junction_law_gives_the_simulated_pulse_current(chip):
    """Through the one conversion (drivers.limits), the law with the truth's parameters
    reproduces the current the simulated pulse drives into an antiparallel junction; an
    ohmic line at the low-bias resistance is 20 % short of it at 0.8 V."""
    i = chip.names.index("chip1/M0")
    truth = truth_of(chip, "chip1/M0")
    chip.up_regions[i] = 0                          # antiparallel
    path = JunctionWritePath(truth["leads"], truth["r_p"], truth["tmr0"], truth["half"], False)
    levels = np.array([0.1, 0.3, 0.5, 0.8])
    simulated = []
    for level in levels:                            # as the simulated bench delivers a pulse
        node = emf_V(level, SOURCE_OHM) / (1 + SOURCE_OHM / chip.write_path_resistance(i))
        simulated.append(node / chip.write_path_resistance(i, node))
    current = write_current_A(levels, SOURCE_OHM, path)
    # 0.4 %: the simulated bench takes the source's drop at the zero-bias resistance
    assert current == pytest.approx(simulated, rel=5e-3)
    assert level_for_current_V(current, SOURCE_OHM, path) == pytest.approx(levels, rel=1e-9)
    ohmic = write_current_A(0.8, SOURCE_OHM, chip.write_path_resistance(i))
    assert ohmic < 0.85 * simulated[-1]
    parallel = JunctionWritePath(truth["leads"], truth["r_p"], truth["tmr0"], truth["half"], True)
    assert write_current_A(0.5, SOURCE_OHM, parallel) == pytest.approx(
        write_current_A(0.5, SOURCE_OHM, truth["leads"] + truth["r_p"]), rel=1e-9)


def test_survey_recovers_i50_ic0_and_each_junction_law(chip, tmp_path):
    with open_bench(BENCH) as bench:
        result = survey_chip(bench, tmp_path / "survey", devices="S0,L0", report=False,
                             print_summary=False, **SMALL)
    rows = read_points(tmp_path / "survey" / "survey.csv")[1]
    calibration = result.calibration()
    for name in ("chip1/S0", "chip1/L0"):
        truth, fit = truth_of(chip, name), result.devices[name].neel_brown
        assert fit.exponent == 2.0                  # one width: the kind's n (below)
        assert fit.i50_A == pytest.approx(truth["i50"], rel=0.03)
        assert fit.ic0_A == pytest.approx(truth["ic0"], rel=0.05)
        own = [r for r in rows if r["Device"] == name]
        line = next(float(r["Line resistance (ohm)"]) for r in own if r["Phase"] == "line")
        path = junction_write_path(JunctionWritePath, line, [r for r in own if r["Phase"] == "junction"])
        check_path(path, truth)
        # the calibration file carries the law the currents were converted through
        assert calibration.devices[name].extra["junction_write_path"] == path.to_dict()
    for size in ("S", "L"):                         # n per size from its width-scanned device
        entry = result.exponents[size]
        assert entry["device"] == f"chip1/{size}0"
        assert entry["used"] == (entry["fitted"] if entry["identified"] else 2.0)
        assert not entry["identified"] or entry["err"] <= EXPONENT_MAX_ERR


def test_width_procedure_fits_delta_at_the_junction_exponent(chip, tmp_path):
    with open_bench(BENCH) as bench:
        proc = SwitchingWidthProcedure(bench=bench, device="chip1/M0", widths=6, **SMALL)
        run_procedure(proc, tmp_path / "width.csv")
    truth, joint = truth_of(chip, "chip1/M0"), proc.summary["joint"]
    assert joint["exponent"] == proc.summary["neel_brown_n"]["exponent"] \
        if proc.summary["neel_brown_n"]["identified"] else joint["exponent"] == 2.0
    assert joint["ic0_A"] == pytest.approx(truth["ic0"], rel=0.03)
    assert joint["delta"] == pytest.approx(truth["delta"], rel=0.15)
    assert joint["i50_A"] == pytest.approx(truth["i50"], rel=0.02)
    assert proc.summary["tau_curve"]["exponent"] == joint["exponent"]
    check_path(JunctionWritePath(**{**proc.summary["write_path"], "half_bias_V":
                                    proc.summary["write_path"]["half_bias_V"] or np.inf}), truth)


def synthetic_rows(exponent: float, trials: int, seed: int) -> list[dict]:
    """Counts drawn from the law at the width procedure's design: a fine sweep at 10 ns and
    P vs width (10 ns .. 1 us) at the currents of P(10 ns) = 0.01, 0.1, 0.5, 0.9."""
    rng = np.random.default_rng(seed)
    ic0, delta = 56e-6, 60.0
    def at(p, w):
        return float(neel_brown.current_for_probability(p, w, ic0, delta, 1e-9, exponent))
    points = [("fine", i, 10e-9) for i in np.linspace(at(0.03, 10e-9), at(0.97, 10e-9), 16)]
    points += [(f"width{k}", at(p, 10e-9), w) for k, p in enumerate((0.01, 0.1, 0.5, 0.9), 1)
               for w in np.geomspace(10e-9, 1e-6, 10)]
    rows = []
    for phase, current, width in points:
        p = neel_brown.probability(current, width, ic0, delta, 1e-9, exponent)
        rows.append({"Phase": phase, "Write current (A)": current, "Pulse width (s)": width,
                     "Trials": trials, "Switched": float(rng.binomial(trials, p)),
                     "Readout": "binary", "Switched sd": 0.0})
    return rows


@pytest.mark.parametrize("exponent", [1.0, 2.0])
def test_exponent_fitted_where_the_widths_identify_it(exponent):
    fit = fit_joint_rows(synthetic_rows(exponent, 512, seed=7), 1e-9, fallback=2.0)
    assert fit["neel_brown_n"]["identified"]
    assert fit["joint"]["exponent"] == pytest.approx(exponent, abs=0.3)
    assert fit["joint"]["delta"] == pytest.approx(60.0, rel=0.15)
    few = fit_joint_rows(synthetic_rows(exponent, 8, seed=7), 1e-9, fallback=2.0)
    assert not few["neel_brown_n"]["identified"] and few["joint"]["exponent"] == 2.0
