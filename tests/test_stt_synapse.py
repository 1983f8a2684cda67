"""STT-MTJ binary synapses: the switching law, the (Vc, Delta, n) fit with n free, the
stt_synapse calibration model, and hil characterize synapse-switching / crossbar-read on the
simulated crossbar."""

import json
from pathlib import Path

import numpy as np
import pytest

from devices.laws import stt_switching
from procedures.calibration import CalibrationFileError, load_calibration, parse_calibration
from procedures.cli import run_characterization
from procedures.fits import FitError, fit_neel_brown_exponent
from simulated_bench.bench import SimulatedBench

XBAR = "examples/benches/stt_synapse_crossbar.toml"


def sampled_counts(rng, vcs, delta, n, widths, trials=24):
    """Counts drawn from the law on a grid of V50 x [0.9, 1.1] at each width and direction."""
    drive, width, switched, group = [], [], [], []
    for g, vc in enumerate(vcs):
        for w in widths:
            v = float(stt_switching.voltage_for_probability(0.5, w, vc, delta, 1e-9, n)) \
                * np.linspace(0.9, 1.1, 4)
            drive += list(v)
            width += [w] * v.size
            switched += list(rng.binomial(trials, stt_switching.probability(v, w, vc, delta, 1e-9, n)))
            group += [g] * v.size
    return drive, switched, trials, width, group


@pytest.mark.parametrize("n", [2.0, 1.0])
def test_the_fit_recovers_vc_delta_and_a_free_exponent(n):
    """Stated tolerances for 1152 trials over 6 widths (2 ns .. 200 us): Vc within 4 %,
    Delta within 15 %, n within 0.25 (2-3 sigma of the errors the fit reports)."""
    widths = [2e-9, 2e-8, 2e-7, 2e-6, 2e-5, 2e-4]
    *counts, group = sampled_counts(np.random.default_rng(7), (0.9, 0.65), 44.0, n, widths)
    fit = fit_neel_brown_exponent(*counts, group=group)
    assert fit.critical[0] == pytest.approx(0.9, rel=0.04)
    assert fit.critical[1] == pytest.approx(0.65, rel=0.04)
    assert fit.delta == pytest.approx(44.0, rel=0.15)
    assert fit.exponent == pytest.approx(n, abs=0.25)
    assert 0 < fit.exponent_err < 0.25 and 0 < fit.critical_err[0] < 0.04 * 0.9


def test_the_exponent_needs_two_widths():
    drive, switched, trials, width, group = sampled_counts(np.random.default_rng(0), (0.9,), 44.0,
                                                          2.0, [1e-7])
    with pytest.raises(FitError, match="two or more pulse widths"):
        fit_neel_brown_exponent(drive, switched, trials, width)


def test_the_calibration_model_is_the_law_and_refuses_an_inverted_pair():
    entry = {"model": "stt_synapse", "vc_p_to_ap_V": 0.9, "vc_ap_to_p_V": 0.65, "delta": 44.0,
             "exponent": 2.0, "tau0_s": 1e-9, "g_p_S": 2.8e-4, "g_ap_S": 1.1e-4, "row": 1}
    cal = parse_calibration({"format": "spin-hil-calibration", "version": 1, "width_s": 1e-7,
                             "devices": {"xbar/W9": entry}})["xbar/W9"]
    assert cal.switching_probability(0.5, 2e-6, "P") == pytest.approx(
        float(stt_switching.probability(0.5, 2e-6, 0.65, 44.0, 1e-9, 2.0)), rel=1e-12)
    v = cal.voltage_for_probability(0.3, 1e-8, "AP")
    assert cal.switching_probability(v, 1e-8, "AP") == pytest.approx(0.3, rel=1e-9)
    assert cal.at_width(1e-5) is cal and cal.extra == {"row": 1}
    with pytest.raises(CalibrationFileError, match=r"g_p_S .* must be over g_ap_S"):
        parse_calibration({"format": "spin-hil-calibration", "version": 1, "width_s": 1e-7,
                           "devices": {"xbar/W9": {**entry, "g_ap_S": 3e-4}}})


def test_synapse_switching_on_the_bench_writes_a_calibration_near_the_truth(tmp_path):
    truth = SimulatedBench.from_config(XBAR)
    state = truth.chip.kind_state["stt_mtj_synapse"]
    i = truth.chip.index("xbar/W9")
    result = run_characterization(
        "synapse-switching", {"bench_file": XBAR, "devices": "W9", "widths": "2e-8,2e-5",
                              "points": 3, "trials": 6, "search_steps": 3, "search_trials": 2},
        tmp_path, progress=False)
    fit = result["summary"]["junctions"]["xbar/W9"]
    # a small run (132 trials): loose bounds here, the tight ones on the fit above
    assert fit["vc_p_to_ap_V"] == pytest.approx(state.vc_p_to_ap_V[i], rel=0.2)
    assert fit["vc_ap_to_p_V"] == pytest.approx(state.vc_ap_to_p_V[i], rel=0.2)
    assert fit["g_p_S"] > 2 * fit["g_ap_S"]
    cal = load_calibration(result["calibration"])["xbar/W9"]
    assert cal.model == "stt_synapse" and cal["vc_ap_to_p_V"] == fit["vc_ap_to_p_V"]
    cost = result["summary"]["bench_cost"]
    assert cost["round_trips"] > 0 and cost["projected_time_s"] > 10 * cost["floor_s"] > 0
    for name in ("synapse_switching.png", "synapse_v50_vs_width.png", "synapse_switching_report.md"):
        assert (tmp_path / name).stat().st_size > 0


def test_crossbar_read_reports_the_vmm_error_of_each_scheme(tmp_path):
    result = run_characterization("crossbar-read", {"bench_file": XBAR, "vectors": 2,
                                                    "pattern": "keep"}, tmp_path, progress=False)
    schemes = json.loads(Path(result["summary_path"]).read_text())["schemes"]
    assert schemes["ground"]["readings"] == 16 and schemes["ground"]["max_abs_error"] < 0.02
    assert schemes["float"]["mean_error"] > 0.2          # sneak paths through floating lines
    assert (tmp_path / "crossbar_read.png").stat().st_size > 0


def test_the_tau_curve_fits_the_exponent_when_asked():
    from devices.laws import neel_brown
    from procedures.fits import TauFit, fit_tau_curve

    current = np.linspace(30e-6, 50e-6, 6)
    tau = neel_brown.relaxation_time(current, 60e-6, 60.0, 1e-9, 2.0)
    noise = 1 + 0.03 * np.random.default_rng(1).standard_normal(current.size)
    taus = [TauFit(float(i), float(t * e), float(0.05 * t), 1.0, 10) for i, t, e in zip(current, tau, noise)]
    free = fit_tau_curve(taus, 1e-9, None)
    assert free.exponent == pytest.approx(2.0, abs=0.3) and free.exponent_err > 0
    assert free.ic0_A == pytest.approx(60e-6, rel=0.1)
    assert fit_tau_curve(taus, 1e-9, 1.0).chi2_per_dof > 5 * free.chi2_per_dof   # n = 1 does not fit


def test_a_junction_reads_the_same_with_its_write_lines_left_closed():
    """synapse-switching returns its writes through the aux SMU so that the read config is the
    write config plus lines (generator off): the read conductance is the plain read's, and a
    trial (pulse, reading) costs one relay close and one open."""
    from drivers.bench import Bench
    from drivers.crossbar import Crossbar
    from simulated_bench.visa import SimulatedVisaLibrary

    sim = SimulatedBench.from_config(XBAR)
    with Bench.open(sim.config, visa_library=SimulatedVisaLibrary(sim)) as bench:
        plain, kept = Crossbar(bench), Crossbar(bench, write_return="aux")
        g = plain.read_junction(2, 6)
        kept.write(2, 6, "AP", 0.3, 2e-9)                 # far below V50: no switch
        assert kept.read_junction(2, 6) == pytest.approx(g, rel=1e-3)
        start, relays = bench.projected_time_s, bench.bus.per_address["GPIB0::16::INSTR"]
        for _ in range(3):
            kept.write(2, 6, "AP", 0.3, 2e-9)
            kept.read_state(2, 6)
        per_trial_s = (bench.projected_time_s - start) / 3
        assert bench.bus.per_address["GPIB0::16::INSTR"] - relays == 6
        assert per_trial_s < 2 * 3e-3 + 12e-3        # two relay settles and six bus messages
    assert [r.voltage_V > 0 for r in sim.pulse_log if r.device == "xbar/W22"] == [True] * 4
