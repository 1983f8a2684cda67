"""IFR characterization of DW-MTJ neurons through the instruments (simulated bench, fixed seed):
pulses-to-fire statistics and the reset success rate against the simulated truth, stuck-wall
detection, the transfer fit recovering J_dep and the mobility, and bad input refused before
anything is sent."""

import math
from pathlib import Path

import numpy as np
import pytest

from devices.laws import domain_wall as dw
from procedures.cli import main as characterize
from procedures.ifr import IFRCyclingProcedure, IFRTransferProcedure
from procedures.runner import run_procedure
from procedures.session import ParameterError, open_bench
from simulated_bench.visa import SimulatedVisaLibrary

BENCH = str(Path(__file__).resolve().parents[1] / "examples" / "benches" / "dw_ifr_neurons.toml")
KIND = "dw_mtj_ifr_neuron"


@pytest.fixture
def lab():
    return SimulatedVisaLibrary(BENCH).bench


@pytest.fixture
def bench(lab):
    with open_bench(BENCH, "sim", visa_library=SimulatedVisaLibrary(lab)) as opened:
        yield opened


def truth_of(lab, device):
    return lab.chip.kind_state[KIND], lab.chip.index(device), lab


def run(procedure, tmp_path, name):
    run_procedure(procedure, tmp_path / f"{name}.csv")
    return procedure.summary


def test_ifr_cycles_match_the_truth_and_count_failed_resets(lab, bench, tmp_path):
    state, i, _ = truth_of(lab, "chip1/M5")
    summary = run(IFRCyclingProcedure(bench=bench, bench_file=BENCH, device="chip1/M5", cycles=100),
                  tmp_path, "ifr")
    assert summary["state"] == "ok" and summary["cycles"] == summary["fired_cycles"] == 100
    assert sum(summary["histogram"].values()) == 100
    step = dw.mean_step_m(summary["current_density_A_m2"], 10e-9, state.jdep_A_m2[i],
                          state.mobility_m3_per_A_s[i])
    expected = float(dw.expected_pulses_to_fire(step, state.mtj_distance_m[i], state.pinning_rel[i]))
    spread = float(dw.pulses_to_fire_sd(step, state.mtj_distance_m[i], state.pinning_rel[i]))
    assert summary["mean_pulses_to_fire"] == pytest.approx(expected, abs=4 * spread / 10)
    # M5 fails 5.2 % of its resets (truth); every failure was retried and then succeeded
    p_fail, attempts = state.reset_fail_probability[i], summary["reset_attempts"]
    assert p_fail == pytest.approx(0.052, abs=1e-3)
    assert 1 - summary["reset_success_rate"] == pytest.approx(p_fail, abs=4 * math.sqrt(p_fail / attempts))
    assert attempts > 100


def test_a_wall_below_depinning_is_detected_as_stuck(lab, bench, tmp_path):
    state, i, lab = truth_of(lab, "chip1/M0")
    proc = IFRCyclingProcedure(bench=bench, bench_file=BENCH, device="chip1/M0", cycles=100,
                               amplitude=0.05, max_pulses=10)    # J ~ 2.4e10 < J_dep 3.2e10
    summary = run(proc, tmp_path, "stuck")
    assert summary["state"] == "stuck wall" and summary["cycles"] == 3 == summary["stuck_cycles"]
    assert state.position_m[i] == 0.0


def test_the_transfer_fit_recovers_jdep_and_the_mobility(lab, bench, tmp_path):
    state, i, _ = truth_of(lab, "chip1/M3")
    summary = run(IFRTransferProcedure(bench=bench, bench_file=BENCH, device="chip1/M3", cycles=25,
                                       points=5), tmp_path, "transfer")
    means = [a["mean_pulses"] for a in summary["amplitudes"]]
    assert np.all(np.diff(means) < 0)                    # amplitude encoding
    fired = summary["number_encoding"]["fired_by_pulse"]
    assert fired[-1] == 1.0 and np.all(np.diff(fired) >= 0)   # number encoding
    fit = summary["fit"]
    jdep, mu_eff = state.jdep_A_m2[i], state.mobility_m3_per_A_s[i] * fit["distance_m"] / state.mtj_distance_m[i]
    # stated tolerance: within 5 % and within 4 of the fit's own standard errors
    assert fit["jdep_A_m2"] == pytest.approx(jdep, rel=0.05)
    assert abs(fit["jdep_A_m2"] - jdep) < 4 * fit["jdep_err_A_m2"]
    assert fit["mobility_m3_per_A_s"] == pytest.approx(mu_eff, rel=0.05)
    assert abs(fit["mobility_m3_per_A_s"] - mu_eff) < 4 * fit["mobility_err_m3_per_A_s"]
    assert fit["pinning_rel"] == pytest.approx(0.15, abs=0.05)


def test_bad_input_is_refused_before_anything_is_sent(tmp_path, capsys):
    with pytest.raises(ParameterError, match="over the device limit"):
        IFRCyclingProcedure(bench_file=BENCH, device="chip1/N1", amplitude=0.5).validate()
    with pytest.raises(ParameterError, match="reverse pulse"):
        IFRCyclingProcedure(bench_file=BENCH, device="chip1/N1", reset_amplitude=0.2).validate()
    with pytest.raises(ParameterError, match="integrate-fire-reset neuron"):
        IFRTransferProcedure(device="chip1/S0").validate()    # the default bench: SOT Hall bars
    code = characterize(["ifr", "--bench", BENCH, "--device", "W1", "--width", "5e-6",
                         "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "max_pulse_width_s" in err[0]
    assert not (tmp_path / "ifr.csv").exists()
