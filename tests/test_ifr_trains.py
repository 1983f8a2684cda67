"""DW-MTJ IFR runs as pulse trains (drivers.pulsetrain: the generator's Trigger Out wired to the
2450) answer as pulse by pulse does, for a fraction of the bus: IFR cycles against the truth,
a failed reset retried and then stopping the run, SNN lanes' spikes against the pulse-by-pulse
lanes (same seed), and a train refused before anything is sent."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from devices.laws import domain_wall as dw
from drivers.pulsetrain import run_train
from hil.snn.bench import IFRBenchBackend
from hil.snn.devices import IFRParameters
from hil.snn.layer import DensityMapping, IFRSpikingLayer
from hil.snn.simulated import sizes_of, truth_calibration, wall_chip
from procedures.ifr import IFRCyclingProcedure
from procedures.runner import run_procedure
from procedures.session import device_facts, load_bench, open_bench
from simulated_bench.visa import SimulatedVisaLibrary

SHIPPED = Path(__file__).resolve().parents[1] / "examples" / "benches" / "dw_ifr_neurons.toml"
KIND = "dw_mtj_ifr_neuron"
WIDTH_S = 10e-9


def trigger_line(text: str, line: int) -> str:
    """A bench file's text with the generator's Trigger Out on the 2450's line ``line``."""
    setting = f"generator_trigger_line = {line}"
    if re.search(r"^generator_trigger_line\s*=", text, re.M):
        return re.sub(r"^generator_trigger_line\s*=.*$", setting, text, count=1, flags=re.M)
    return text.replace("trigger_link = true", f"trigger_link = true\n{setting}", 1)


@pytest.fixture(scope="module")
def benches(tmp_path_factory) -> dict[str, str]:
    """The example bench pulse by pulse (Trigger Out not wired) and as trains (line 2)."""
    folder, text = tmp_path_factory.mktemp("bench"), SHIPPED.read_text()
    out = {}
    for plan, line in (("pulses", 0), ("trains", 2)):
        (folder / f"{plan}.toml").write_text(trigger_line(text, line))
        out[plan] = str(folder / f"{plan}.toml")
    return out


@pytest.fixture(scope="module")
def wired(benches) -> str:
    return benches["trains"]


def cycling(path, tmp_path, device, lab=None, **params):
    lab = lab or SimulatedVisaLibrary(path).bench
    with open_bench(path, "sim", visa_library=SimulatedVisaLibrary(lab)) as bench:
        proc = IFRCyclingProcedure(bench=bench, bench_file=path, device=device, **params)
        run_procedure(proc, tmp_path / "ifr.csv")
    return proc.summary, lab


def test_ifr_cycles_as_trains_match_the_truth_at_a_fraction_of_the_bus(wired, tmp_path):
    # W2 at 0.45 of its safe maximum fires after ~11 pulses: the first trains (sized 8) end
    # before the fire and go on
    top = device_facts(load_bench(wired), "chip1/W2").max_level_V
    summary, lab = cycling(wired, tmp_path, "chip1/W2", cycles=80, amplitude=0.45 * top)
    state, i = lab.chip.kind_state[KIND], lab.chip.index("chip1/W2")
    assert summary["state"] == "ok" and summary["fired_cycles"] == 80
    step = dw.mean_step_m(summary["current_density_A_m2"], WIDTH_S, state.jdep_A_m2[i],
                          state.mobility_m3_per_A_s[i])
    expected = float(dw.expected_pulses_to_fire(step, state.mtj_distance_m[i], state.pinning_rel[i]))
    spread = float(dw.pulses_to_fire_sd(step, state.mtj_distance_m[i], state.pinning_rel[i]))
    assert expected > 9
    assert summary["mean_pulses_to_fire"] == pytest.approx(expected, abs=4 * spread / math.sqrt(80))
    assert summary["sd_pulses_to_fire"] == pytest.approx(spread, rel=0.4)
    p_fail, attempts = state.reset_fail_probability[i], summary["reset_attempts"]
    assert 1 - summary["reset_success_rate"] == pytest.approx(p_fail, abs=4 * math.sqrt(p_fail / attempts) + 0.01)
    cost = summary["bench_cost"]
    # pulse by pulse: ~28 round trips and ~25x the floor per cycle (benchmarks/bench_ifr_plan.py)
    assert cost["round_trips"] <= 3.6 * 80
    assert cost["projected_over_floor"] < 6.5


def test_a_failed_reset_is_tried_again_then_stops_the_run(wired, tmp_path):
    lab = SimulatedVisaLibrary(wired).bench
    state, i = lab.chip.kind_state[KIND], lab.chip.index("chip1/M1")
    state.reset_fail_probability[i] = 0.6
    summary, _ = cycling(wired, tmp_path, "chip1/M1", lab=lab, cycles=40, max_reset_tries=2)
    assert summary["state"] == "reset failed" and summary["cycles"] < 40
    assert summary["reset_attempts"] > summary["fired_cycles"]          # retried resets
    assert summary["mean_pulses_to_fire"] == pytest.approx(5.5, abs=1.5)  # no cycle met a stale wall


def snn_spikes(path, names, x):
    config = load_bench(path)
    truth = truth_calibration(wall_chip(config), WIDTH_S)
    own = IFRParameters.from_calibration(truth, names, config)
    with open_bench(path) as bench:
        backend = IFRBenchBackend(bench, IFRParameters.from_calibration(truth, list(dict.fromkeys(names)), config))
        layer = IFRSpikingLayer(backend, names, DensityMapping.from_parameters(own, WIDTH_S), own, WIDTH_S)
        for name in dict.fromkeys(names):  # each device's setup: line resistance, threshold
            backend.prepare(name)
        trips, trains, time_s = backend.round_trips, backend.trains_played, backend.bench_time_s
        with torch.no_grad():
            spikes = layer(x).numpy()
    return spikes, backend, {"trips": backend.round_trips - trips, "time_s": backend.bench_time_s - time_s,
                             "trains": backend.trains_played - trains}


def test_snn_lanes_as_trains_spike_as_pulse_by_pulse(benches):
    wired = benches["trains"]
    names = sizes_of(wall_chip(load_bench(wired)))["N"][:2]
    x = torch.rand((20, 8, 2), generator=torch.Generator().manual_seed(3)) * 1.6 - 0.3
    pulses, slow, before = snn_spikes(benches["pulses"], names, x)
    trains, fast, after = snn_spikes(wired, names, x)
    trips, played = after["trips"], after["trains"]
    assert not slow.trains and fast.trains
    counts, counts_trains = pulses.sum(axis=0), trains.sum(axis=0)     # per lane
    assert counts.sum() > 40
    assert counts_trains.sum() == pytest.approx(counts.sum(), rel=0.08)
    assert np.abs(counts_trains - counts).mean() < 0.6
    assert fast.floor_s == pytest.approx(slow.floor_s, rel=0.08)
    lanes = x.shape[1] * x.shape[2]
    assert played <= 1.25 * (counts_trains.sum() + lanes)      # ~(spikes + 1) trains per lane
    assert trips <= 3 * played + 40      # three messages a train (+ selecting each device)
    assert after["time_s"] < before["time_s"] / 2.8     # 3.5x here; more per lane on a long lane


def test_a_train_is_checked_before_anything_is_sent_and_plays_its_levels(benches):
    wired = benches["trains"]
    lab = SimulatedVisaLibrary(wired).bench
    with open_bench(wired, "sim", visa_library=SimulatedVisaLibrary(lab)) as bench:
        top = device_facts(bench.config, "chip1/N0").max_level_V
        trips = bench.round_trips
        with pytest.raises(ValueError, match="limit"):
            run_train(bench, "chip1/N0", [-0.9 * top, 0.5 * top, 1.2 * top], WIDTH_S, 100e-9)
        assert bench.round_trips == trips
        # a reset, a read-only slot, a write under the 81160A's smallest :VOLT2 (0.05 V: the
        # low-write slot) and one over it, each read
        levels = [-0.95 * top, 0.0, 0.03, 0.4 * top]
        readings = run_train(bench, "chip1/N0", levels, WIDTH_S, 100e-9)
        assert len(readings.resistance_ohm) == 4 and readings.attempts == 1
        assert np.all(readings.resistance_ohm[:2] > 2000)                # after the reset: R_AP
    generator = lab.instrument("pulse")
    played = [(emf, width) for _, emf, width in generator.fired][-3:]  # the emf into high Z ~ level
    assert [round(w * 1e9) for _, w in played] == [100, 10, 10]
    assert np.allclose([e for e, _ in played], levels[:1] + levels[2:], rtol=1e-3)
    assert all(e <= lv * (1 + 1e-4) for (e, _), lv in zip(played[1:], levels[2:]))   # never above
    with open_bench(benches["pulses"]) as bench, pytest.raises(ValueError, match="generator_trigger_line"):
        run_train(bench, "chip1/N0", [0.0], WIDTH_S, 100e-9)
