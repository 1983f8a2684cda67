"""Learning with devices that drift (issue 14): the drifting simulated array, the online curve
estimator, dead-device remapping, deeper device networks, the drift study's settings.

Statistical checks with fixed seeds, bounds tight enough to catch a 20 % regression."""

import numpy as np
import pytest
import torch

from devices import nonideal as table
from devices.laws import neel_brown
from hil import cli
from hil.calibration import calibration_from_chip
from hil.config import ExperimentConfig, ExperimentConfigError, add_train_arguments, config_from_args
from hil.network import HiddenLayerNet
from hil.neuron import DeviceNeuron, round_robin
from hil.online import OnlineCurves
from hil.remap import DeviceWatch, Remapper
from hil.simulated import SimulatedArrayBackend
from simhelpers import one_line_error
from layerhelpers import BENCH, LIMITS, WIDTH_S

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def nonideal(**items) -> dict:
    """A resolved [nonideal] table with only ``items`` on (every kind)."""
    return table.parse(items, None)


def drifting(seed=0, trial_time_s=0.4e-3, **items) -> SimulatedArrayBackend:
    return SimulatedArrayBackend.from_bench(BENCH, seed=seed, nonideal=nonideal(**items),
                                            nonideal_seed=seed, trial_time_s=trial_time_s)


def true_i50(backend, names) -> np.ndarray:
    ic0, delta = backend.drift.parameters(backend.clock_s)
    idx = backend.index_of(names)
    tau0 = np.array([backend.chips[0].tau0_s[i] for i in idx])
    return neel_brown.current_for_probability(0.5, WIDTH_S, ic0[idx], delta[idx], tau0)


# ---------------------------------------------------------------- the drifting backend
def test_off_is_bit_identical_and_on_moves_a_clock():
    plain = SimulatedArrayBackend.from_bench(BENCH, seed=5)
    off = SimulatedArrayBackend.from_bench(BENCH, seed=5, nonideal=table.parse({}, None))
    assert off.drift is None
    current = np.full((64, 24), 0.9, dtype=np.float32) * plain.chips[0].ic0_A.astype(np.float32)
    assert np.array_equal(plain.sample(np.arange(24), current, WIDTH_S, 4),
                          off.sample(np.arange(24), current, WIDTH_S, 4))
    on = drifting(i50_walk_rel_per_sqrt_h=0.03)
    on.sample(np.arange(24), current, WIDTH_S, 4)
    assert on.clock_s == pytest.approx(64 * 24 * 4 * 0.4e-3)


def test_i50_walk_variance_grows_linearly_in_virtual_time():
    """ln Ic0 walks with variance sigma^2 t (the simulator's law), reached by trials: over 24
    devices x 16 chips' streams, var at 1 h and 4 h within 20 % of 0.1^2 x t/h."""
    sigma, per_hour = 0.1, []
    for seed in range(16):
        backend = drifting(seed, trial_time_s=3600.0 / (24 * 16), i50_walk_rel_per_sqrt_h=sigma)
        ic0_start = backend.drift.parameters(0.0)[0]
        current = np.tile(0.5 * ic0_start, (16, 1)).astype(np.float32)
        logs = []
        for _ in range(4):                       # each call: 24 x 16 trials = one virtual hour
            backend.sample(np.arange(24), current, WIDTH_S, 1)
            logs.append(np.log(backend.drift.parameters(backend.clock_s)[0] / ic0_start))
        assert backend.clock_s == pytest.approx(4 * 3600.0)
        per_hour.append(np.array(logs))
    walks = np.concatenate(per_hour, axis=1)     # (hours, devices x seeds)
    var = walks.var(axis=1)
    assert var[0] == pytest.approx(sigma ** 2, rel=0.2)
    assert var[3] == pytest.approx(4 * sigma ** 2, rel=0.2)


def test_dead_stuck_and_worn_devices_answer_regardless_of_current():
    backend = drifting(seed=1, dead_fraction=0.25, stuck_fraction=0.25, wear_life_cycles=3000.0)
    dead, stuck0 = backend.drift.dead.copy(), backend.drift.stuck.copy()
    assert dead.sum() >= 2 and stuck0.sum() >= 2 and not (dead & stuck0).any()
    ic0 = backend.chips[0].ic0_A
    high = np.full((32, 24), 0.98, dtype=np.float32) * ic0.astype(np.float32)
    answer = backend.sample(np.arange(24), high, WIDTH_S, 4)
    healthy = ~dead & ~stuck0
    assert answer[:, dead].max() == 0.0
    assert np.all(answer[:, stuck0] == backend.drift.stuck_answer[stuck0])
    assert answer[:, healthy].mean() > 0.9
    for _ in range(12):                           # 2 cycles per trial: past a 3000-cycle life
        backend.sample(np.arange(24), high, WIDTH_S, 4)
    assert backend.drift.stuck[healthy].mean() > 0.8


# ---------------------------------------------------------------- the online estimator
def test_online_estimator_tracks_a_moving_i50_from_forward_answers():
    """Stage temperature +12 K/h x -0.3 %/K on Ic0 (and Delta ~ 1/T): I50 falls 2.5-3 curve widths
    over the run; the estimate, from the layer's own answers only, stays within 0.5 width."""
    backend = drifting(seed=2, trial_time_s=4e-3, temperature_drift_K_per_h=12.0,
                       ic0_temperature_coeff_per_K=-0.003)
    names = backend.devices_of_size("L")
    truth = calibration_from_chip(backend.chips[0], WIDTH_S)
    layer = DeviceNeuron.from_calibration(backend, truth, round_robin(64, names), LIMITS,
                                          repeats=4, current_levels=8)
    low, high = layer.mapping.bounds_A()
    ranges = [(low[layer.neuron_devices.index(n)], high[layer.neuron_devices.index(n)]) for n in names]
    online = OnlineCurves(truth, names, ranges, backend.device_names, memory_batches=8)
    layer.observers.append(online.observe)
    width = 1.0 / np.array([truth[n].logistic_slope_per_A for n in names])
    start = true_i50(backend, names)
    rng = np.random.default_rng(0)
    for batch in range(1, 161):
        with torch.no_grad():
            layer(torch.from_numpy(rng.normal(0, 2.0, (32, 64)).astype(np.float32)))
        online.step()
        if batch % 4 == 0:
            online.refresh()
            layer.rebuild(calibration=online.calibration())   # centring follows the estimate
    moved = (start - true_i50(backend, names)) / width
    error = (online.i50_A() - true_i50(backend, names)) / width
    assert moved.min() > 2.0
    assert np.abs(error).max() < 0.5, error


# ---------------------------------------------------------------- dead devices remapped
def test_a_dead_device_is_found_from_its_answers_and_its_neurons_move():
    backend = drifting(seed=0, dead_fraction=0.15)
    names = backend.devices_of_size("M")
    dead = [n for n in names if backend.drift.dead[backend.index_of([n])[0]]]
    assert len(dead) == 1
    truth = calibration_from_chip(backend.chips[0], WIDTH_S)
    layers = [DeviceNeuron.from_calibration(backend, truth, round_robin(w, names), LIMITS, repeats=4)
              for w in (32, 16)]
    remapper = Remapper(layers, names, DeviceWatch(backend.device_names))
    rng = np.random.default_rng(1)
    events = []
    for batch in range(1, 6):
        with torch.no_grad():
            for layer in layers:
                layer(torch.from_numpy(rng.normal(0, 2.0, (32, len(layer.neuron_devices)))
                                       .astype(np.float32)))
        events += remapper.after_batch(batch, backend.clock_s)
    assert [e["device"] for e in events] == dead
    assert events[0]["batch"] <= 2 and events[0]["neurons_moved"] == 4 + 2
    assert "stuck at 0" in events[0]["answer"]
    assert all(dead[0] not in layer.neuron_devices for layer in layers)


# ---------------------------------------------------------------- deeper networks
def test_two_hidden_device_layers_share_devices_forward_and_backward():
    backend = SimulatedArrayBackend.from_bench(BENCH, seed=4)
    names = backend.devices_of_size("S")
    truth = calibration_from_chip(backend.chips[0], WIDTH_S)
    layers = [DeviceNeuron.from_calibration(backend, truth, round_robin(w, names), LIMITS, repeats=2)
              for w in (24, 12)]
    net = HiddenLayerNet(64, [24, 12], 10, layers, torch.Generator().manual_seed(0))
    x = torch.randn(16, 64, generator=torch.Generator().manual_seed(1))
    out = net(x)
    assert out.shape == (16, 10)
    out.square().sum().backward()
    for linear in (net.hidden, net.deeper[0], net.readout):
        assert linear.weight.grad.abs().sum() > 0
    assert set(layers[0].neuron_devices) == set(layers[1].neuron_devices) == set(names)
    assert "deeper.0.weight" in net.state_dict() and "hidden.weight" in net.state_dict()
    single = HiddenLayerNet(64, 24, 10, layers[0])
    assert "deeper.0.weight" not in single.state_dict()


# ---------------------------------------------------------------- settings
def test_hidden_list_and_drift_settings_from_the_command_line():
    import argparse

    args = add_train_arguments(argparse.ArgumentParser()).parse_args(
        ["--hidden", "128", "64", "--nonideal", "off", "strong", "--recalibrate-every", "10",
         "--modes", "exsitu_recal", "insitu_online"])
    config = config_from_args(args)
    assert config.hidden == (128, 64)
    assert config.to_dict()["nonideal"] == {"off": {"preset": "off"}, "strong": {"preset": "strong"}}
    assert config.recalibrate_every == 10 and config.modes == ("exsitu_recal", "insitu_online")
    assert config_from_args(add_train_arguments(argparse.ArgumentParser())
                            .parse_args(["--hidden", "32"])).hidden == 32
    with pytest.raises(ExperimentConfigError, match=r"'online_every' .* >= 1, got 0"):
        ExperimentConfig(online_every=0)


@pytest.mark.parametrize("args, message", [
    (["--nonideal", "wobbly"], r"'nonideal' \(--nonideal\) must be one of .*got 'wobbly'"),
    (["--hidden", "64", "0"], r"'hidden' \(--hidden\) must be an integer >= 1, got 0"),
    (["--recalibrate-every", "0"], r"'recalibrate_every' .* >= 1, got 0"),
    (["--online-memory", "-1"], r"'online_memory' .* > 0, got -1"),
])
def test_bad_drift_settings_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    rc = cli.main(["train", "--modes", "software", "--seeds", "0", "--no-progress",
                   "--out", str(tmp_path)] + args)
    assert rc == 2
    assert __import__("re").search(message, one_line_error(capsys))
