"""Backends and the calibration format."""

import dataclasses
import json

import numpy as np
import pytest

from devices.benchfile import load_bench_file
from hil.backends import BenchBackend, CalibratedModelBackend, DeviceBackend
from hil.simulated import SimulatedArrayBackend
from hil.calibration import calibrate_backend, calibration_from_chip
from procedures.calibration import (CalibrationError, load_calibration, parse_calibration,
                                    save_calibration)
from hil.safety import CurrentLimitError, device_current_limits

BENCH = load_bench_file(None)
LIMITS = device_current_limits(BENCH)
WIDTH_S = 10e-9


@pytest.fixture(scope="module")
def backend():
    return SimulatedArrayBackend.from_bench(BENCH, seed=5)


@pytest.fixture(scope="module")
def truth(backend):
    return calibration_from_chip(backend.chips[0], WIDTH_S)


def test_backends_satisfy_the_protocol(backend, truth):
    assert isinstance(backend, DeviceBackend)
    assert isinstance(CalibratedModelBackend(truth), DeviceBackend)
    assert backend.round_trips == 0 and backend.bench_time_s is None


@pytest.mark.parametrize("size, tolerance", [("S", 0.012), ("M", 0.012), ("L", 0.006)])
def test_simulated_array_switches_with_the_true_probability(backend, truth, size, tolerance):
    names = backend.devices_of_size(size)
    idx = backend.index_of(names)
    # per device: I50 and I50 + 1/k (P ~ 0.73 for a logistic)
    currents = np.array([[truth[n].i50_A for n in names],
                         [truth[n].i50_A + 1 / truth[n].logistic_slope_per_A for n in names]])
    expected = np.stack([truth[n].probability(currents[:, j]) for j, n in enumerate(names)], axis=1)
    batch = np.repeat(currents, 2000, axis=0)
    answer = backend.sample(idx, batch, WIDTH_S, repeats=1).reshape(2, 2000, len(names))
    np.testing.assert_allclose(answer.mean(axis=1), expected, atol=tolerance * 3)
    n_domains = backend.n_domains_of(names[0])
    assert n_domains == {"S": 1, "M": 32, "L": 796}[size]
    if size == "S":   # macrospin: every answer is 0 or 1
        assert set(np.unique(answer)) == {0.0, 1.0}
    else:             # multi-domain: switched fractions k / N
        assert np.allclose(answer * n_domains, np.rint(answer * n_domains), atol=1e-3)


def test_repeats_average_trials(backend, truth):
    names = backend.devices_of_size("S")
    idx = backend.index_of(names)
    current = np.array([[truth[n].i50_A for n in names]] * 500)
    answer = backend.sample(idx, current, WIDTH_S, repeats=8)
    assert set(np.unique(answer * 8).astype(int)) <= set(range(9))
    assert answer.std() == pytest.approx(np.sqrt(0.25 / 8), rel=0.1)


def test_sampling_is_reproducible_with_a_seed():
    a = SimulatedArrayBackend.from_bench(BENCH, seed=11)
    b = SimulatedArrayBackend.from_bench(BENCH, seed=11)
    current = np.full((64, 24), 1e-5)
    current[:, 8:16] = 1.5e-4
    current[:, 16:] = 7.5e-4
    idx = np.arange(24)
    np.testing.assert_array_equal(a.sample(idx, current, WIDTH_S, 2), b.sample(idx, current, WIDTH_S, 2))


def test_on_the_fly_calibration_recovers_the_true_curves(backend, truth):
    # 256 trials a point: the fitted slope's spread is ~3 %, so the worst of 24 devices stays
    # well inside 12 % whatever the trial stream (at 64 trials it is ~6 %, and the worst of
    # the 8 S devices lands near 12 % for many seeds)
    fitted = calibrate_backend(SimulatedArrayBackend(backend.chips, LIMITS, seed=1), LIMITS,
                               WIDTH_S, trials=256)
    for name in backend.device_names:
        assert fitted[name].i50_A == pytest.approx(truth[name].i50_A, rel=0.01)
        assert fitted[name].logistic_slope_per_A == pytest.approx(
            truth[name].logistic_slope_per_A, rel=0.12)
    assert fitted["chip1/L3"].n_domains == 796


def test_calibrated_model_backend_follows_its_curves(truth):
    model = CalibratedModelBackend(truth, seed=2)
    names = ["chip1/S0", "chip1/M0"]
    idx = model.index_of(names)
    current = np.array([[truth[n].i50_A for n in names]] * 4000)
    assert model.sample(idx, current, WIDTH_S).mean(axis=0) == pytest.approx([0.5, 0.5], abs=0.03)


def test_calibration_json_round_trip(tmp_path, truth):
    path = save_calibration(truth, tmp_path / "cal.json")
    loaded = load_calibration(path)
    assert loaded.names() == truth.names()
    assert len({truth[n].i50_A for n in truth.names()}) == 24       # 24 different curves
    for f in dataclasses.fields(truth):
        if f.name != "devices":
            assert getattr(loaded, f.name) == getattr(truth, f.name), f.name
    for name in truth.names():                 # every field of every curve, exactly
        for f in dataclasses.fields(truth[name]):
            assert getattr(loaded[name], f.name) == getattr(truth[name], f.name), (name, f.name)
    assert loaded["chip1/M2"].n_domains == 32


def test_reads_the_procedures_calibration_file_layout(tmp_path):
    # the layout procedures/calibration.py writes: extra keys (size, errors, R) are ignored
    data = {"format": "spin-hil-calibration", "version": 1, "bench": "default", "chip": "chip1",
            "width_s": 1e-8, "source": "survey",
            "devices": {"chip1/S0": {"size": "S", "model": "neel_brown", "ic0_A": 2.3e-05,
                                     "ic0_err_A": 5e-08, "delta": 28.9, "delta_err": 0.6,
                                     "tau0_s": 1e-09, "exponent": 1.0, "i50_A": 2.08e-05,
                                     "logistic_slope_per_A": 1.6e+06, "line_resistance_ohm": 5507.0}}}
    (tmp_path / "c.json").write_text(json.dumps(data))
    curve = load_calibration(tmp_path / "c.json")["chip1/S0"]
    assert curve.i50_A == pytest.approx(2.08e-05, rel=0.01)
    assert curve.logistic_slope_per_A == pytest.approx(1.6e6, rel=0.1)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["devices"]["a"].pop("delta"), "needs 'delta'"),
    (lambda d: d["devices"]["a"].update(model="spline"), "model 'spline'"),
    (lambda d: d["devices"]["a"].update(ic0_A=-1.0), "ic0_A must be > 0, got -1.0"),
    (lambda d: d.update(version=7), "version 7"),
    (lambda d: d.update(devices={}), "non-empty"),
])
def test_bad_calibration_is_refused_with_the_device_and_value(mutate, message):
    data = {"width_s": 1e-8, "devices": {"a": {"model": "neel_brown", "ic0_A": 2e-5, "delta": 30.0}}}
    mutate(data)
    with pytest.raises(CalibrationError, match=message):
        parse_calibration(data, "test.json")


def test_missing_and_broken_calibration_files(tmp_path):
    with pytest.raises(CalibrationError, match="does not exist"):
        load_calibration(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{\"devices\": ")
    with pytest.raises(CalibrationError, match="bad.json.*not valid JSON"):
        load_calibration(tmp_path / "bad.json")


def test_one_tiny_batch_through_the_bench_backend():
    """Device neurons on the simulated bench through drivers + VISA: a forward and a backward."""
    import torch

    from hil.neuron import DeviceNeuron
    from simulated_bench.bench import SimulatedBench

    truth = calibration_from_chip(SimulatedBench.from_config(BENCH).chip, WIDTH_S)
    names = [f"chip1/S{i}" for i in range(4)]
    with BenchBackend.open(BENCH, n_domains={n: 1 for n in names}) as devices:
        layer = DeviceNeuron.from_calibration(devices, truth, names, LIMITS, repeats=2)
        x = torch.tensor([[-6.0, -6.0, 6.0, 6.0], [6.0, 0.0, -6.0, 0.0]], requires_grad=True)
        answer = layer(x)
        answer.sum().backward()
        trips, bench_time_s = devices.round_trips, devices.bench_time_s
    # far below I50 rarely switches (S1 at x = -6: P ~ 0.01 over 200 trials, one of these
    # two trials does), far above always does; 0.5-steps from 2 trials
    assert answer[0].tolist() == [0.0, 0.5, 1.0, 1.0]
    assert answer[1, 0] == 1.0 and answer[1, 2] == 0.0
    assert set((answer * 2).flatten().tolist()) <= {0.0, 1.0, 2.0}
    assert x.grad.shape == (2, 4) and bool(torch.all(x.grad >= 0)) and x.grad[1, 1] > 0.1
    # O(1) round trips per device per batch: the bias field 5, then per device its line
    # resistance 13 (read once, for its current ceiling) and one batch of 4 trials as level
    # runs, 91 for the four (2 levels + 2 calibration levels, two trips each, + select,
    # output on and error queues; the first batch also sets up the read SMU's source and
    # loads the generator's waveform pair). Before level runs: 135 trips, 1.0951 s; as level
    # runs 148. Now the generator is the master (one message for all levels, one
    # LogicTrigger model and one fetch per device): 71 for the four batches.
    assert trips == 5 + 4 * 13 + 71                                 # 128
    # virtual clock, deterministic: 0.56236 s before the 2450's datasheet reading time
    # (0.167 ms overhead a reading; the line-resistance reads at NPLC 1 too)
    assert bench_time_s == pytest.approx(0.75498, rel=1e-3)


def test_survey_readout_decides_how_the_bench_backend_answers(tmp_path):
    """A survey's calibration file says which devices answer 0/1 (S) and which a switched
    fraction (M, L); the bench backend built from it answers the same way."""
    from procedures.session import open_bench
    from procedures.variability import survey_chip

    names = ["chip1/S0", "chip1/M0", "chip1/L0"]
    with open_bench(BENCH) as bench:
        survey = survey_chip(bench, tmp_path, trials=32, points=12, width_s=WIDTH_S,
                             devices=",".join(names), width_scan=False, coarse_points=16,
                             coarse_trials=6, reference_trials=96, report=False,
                             print_summary=False)
    cal = load_calibration(survey.paths["calibration"])
    assert [cal[n].readout for n in names] == ["binary", "fraction", "fraction"]
    assert [cal[n].n_domains for n in names] == [1, None, None]
    with BenchBackend.open(BENCH, readout=cal) as devices:
        assert devices.readout == dict(zip(names, ["binary", "fraction", "fraction"]))
        idx = devices.index_of(names[:2])
        current = np.array([[cal[n].i50_A for n in names[:2]]] * 24)
        answer = devices.sample(idx, current, WIDTH_S, repeats=1)
    assert set(np.unique(answer[:, 0])) <= {0.0, 1.0}
    assert np.any((answer[:, 1] > 0.05) & (answer[:, 1] < 0.95))
    with pytest.raises(ValueError, match="no n_domains"):
        CalibratedModelBackend(cal)


def test_bench_backend_refuses_currents_over_the_limit_before_sending():
    with BenchBackend.open(BENCH) as devices:
        before = devices.round_trips
        with pytest.raises(CurrentLimitError):
            devices.sample(devices.index_of(["chip1/S0"]), np.array([[7e-5]]), WIDTH_S)
        assert devices.round_trips == before


def test_from_bench_draws_the_simulated_benchs_own_chip():
    from simulated_bench.bench import SimulatedBench

    bench_chip = SimulatedBench.from_config(BENCH).chip
    array_chip = SimulatedArrayBackend.from_bench(BENCH).chips[0]
    np.testing.assert_array_equal(array_chip.ic0_A, bench_chip.ic0_A)
    np.testing.assert_array_equal(array_chip.delta, bench_chip.delta)
    other = SimulatedArrayBackend.from_bench(BENCH, chip_seed=1).chips[0]
    assert not np.array_equal(other.ic0_A, bench_chip.ic0_A)
