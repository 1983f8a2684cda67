"""The domain-wall MTJ integrate-fire-reset neuron: its law (numpy and torch alike) and its
simulated truth (fixed seeds): pulses to fire and their spread vs amplitude as the law says,
no motion below depinning, the reset failure rate, the leak, damage, and a bench of switch
kinds drawing exactly as before when a DW group joins it."""

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from devices.benchfile import DeviceGroup, default_bench_text
from devices.laws import domain_wall as dw
from hil.benchinfo import describe_bench
from simulated_bench.bench import SimulatedBench
from simulated_bench.chip import OPEN_OHM, build_chip
from simulated_bench.kinds import dw_mtj_ifr_neuron as truth

BENCH = Path(__file__).resolve().parents[1] / "examples" / "benches" / "dw_ifr_neurons.toml"
KIND = "dw_mtj_ifr_neuron"


def one_device_chip(seed=7, **params):
    group = DeviceGroup("c", "M", KIND, 1, 1, 300e-9, {"track_length_m": 2e-6, **params})
    return build_chip("c", [group], {}, np.random.default_rng(seed))


def pulses_to_fire(chip, rng, density_A_m2, cycles, width_s=10e-9, period_s=0.0):
    """Counts of a reset-at-start, pulse-until-fired loop run straight on the chip."""
    state, current = chip.kind_state[KIND], density_A_m2 * chip.cross_section_m2[0]
    counts, now = [], 0.0
    for _ in range(cycles):
        truth.set_position(chip, 0, 0.0)
        n = 0
        while not state.fired(0) and n < 200:
            chip.apply_pulse(0, current, width_s, 0.0, rng, now)
            now += period_s
            n += 1
        counts.append(n)
    return np.array(counts)


def test_law_numpy_and_torch_agree_and_ceil_without_noise():
    step = np.array([0.2e-6, 0.31e-6, 0.5e-6])
    args = (1.8e-6, 0.15, 0.9)
    for fn in (dw.expected_pulses_to_fire, dw.pulses_to_fire_sd):
        np.testing.assert_allclose(fn(torch.tensor(step), *args).numpy(), fn(step, *args), rtol=1e-10)
    np.testing.assert_allclose(dw.mean_step_m(torch.tensor([1e10, 8e10, -8e10], dtype=torch.float64), 1e-8, 3e10, 6e-10).numpy(),
                               [0.0, 0.3e-6, -0.3e-6], rtol=1e-12)
    # no pinning noise: N = ceil(D / m), and with a leak the closed form of the leaky sum
    assert dw.expected_pulses_to_fire(0.31e-6, 1.8e-6, 0.0) == 6.0 == dw.deterministic_pulses_to_fire(0.31e-6, 1.8e-6)
    a = 0.9
    n = dw.deterministic_pulses_to_fire(0.31e-6, 1.8e-6, a)
    assert 0.31e-6 * (1 - a ** n) / (1 - a) >= 1.8e-6 > 0.31e-6 * (1 - a ** (n - 1)) / (1 - a)
    assert dw.expected_pulses_to_fire(0.31e-6, 1.8e-6, 1e-9, a) == pytest.approx(n)
    # a leak that holds the wall short of the MTJ, and no step at all: never fires
    assert math.isinf(dw.expected_pulses_to_fire(0.1e-6, 1.8e-6, 0.1, 0.9))
    assert math.isinf(dw.expected_pulses_to_fire(0.0, 1.8e-6, 0.1))


@pytest.mark.parametrize("density", [6e10, 8e10, 1.2e11])
def test_pulses_to_fire_mean_and_spread_follow_the_law(density):
    chip = one_device_chip()
    state = chip.kind_state[KIND]
    counts = pulses_to_fire(chip, np.random.default_rng(11), density, 600)
    step = dw.mean_step_m(density, 10e-9, state.jdep_A_m2[0], state.mobility_m3_per_A_s[0])
    expected = dw.expected_pulses_to_fire(step, state.mtj_distance_m[0], state.pinning_rel[0])
    spread = dw.pulses_to_fire_sd(step, state.mtj_distance_m[0], state.pinning_rel[0])
    assert counts.mean() == pytest.approx(float(expected), abs=4 * spread / math.sqrt(600))
    assert counts.std() == pytest.approx(float(spread), rel=0.12)


def test_amplitude_encoding_and_no_motion_below_depinning():
    chip = one_device_chip()
    rng = np.random.default_rng(3)
    means = [pulses_to_fire(chip, rng, j, 100).mean() for j in (5e10, 7e10, 1e11, 1.5e11)]
    assert means[0] > 1.9 * means[2] and np.all(np.diff(means) < 0)    # stronger: fewer pulses
    jdep = chip.kind_state[KIND].jdep_A_m2[0]
    assert (pulses_to_fire(chip, rng, 0.95 * jdep, 3) == 200).all()    # pinned: never fires
    assert chip.kind_state[KIND].position_m[0] == 0.0


def test_the_mtj_reads_ap_then_p_and_the_reset_fails_at_the_device_rate():
    chip = one_device_chip(reset_fail_probability=0.05)
    state, rng = chip.kind_state[KIND], np.random.default_rng(5)
    r_p, tmr = chip.r_offset_ohm[0], chip.r_ahe_ohm[0]
    assert chip.read_resistance(0, rng) == pytest.approx(r_p * (1 + tmr), abs=30)
    reset_A = -1.3e11 * chip.cross_section_m2[0]
    failures = 0
    for _ in range(2000):
        truth.set_position(chip, 0, 0.0)
        chip.apply_pulse(0, 2e11 * chip.cross_section_m2[0], 200e-9, 0.0, rng)   # fire and eject
        assert state.ejected[0] and chip.read_resistance(0, rng) == pytest.approx(r_p, abs=30)
        chip.apply_pulse(0, reset_A, 200e-9, 0.0, rng)
        failures += state.fired(0)
        if not state.fired(0):
            assert state.position_m[0] == 0.0     # driven back to the start notch
    assert failures / 2000 == pytest.approx(0.05, abs=4 * math.sqrt(0.05 * 0.95 / 2000))
    # a reverse pulse under the nucleation density cannot reset an ejected track
    chip.apply_pulse(0, 2e11 * chip.cross_section_m2[0], 200e-9, 0.0, rng)
    chip.apply_pulse(0, -0.8e11 * chip.cross_section_m2[0], 200e-9, 0.0, rng)
    assert state.ejected[0]


def test_the_leak_relaxes_the_wall_and_slows_firing_as_the_law_says():
    tau = 500e-9
    chip = one_device_chip(leak_time_s=tau, pinning_rel=0.0)
    state, rng = chip.kind_state[KIND], np.random.default_rng(1)
    truth.set_position(chip, 0, 1.0e-6)
    state.last_time_s[0] = 0.0
    chip.apply_pulse(0, 1e-9, 1e-9, 0.0, rng, time_s=1000e-9)    # far below depinning: only the leak acts
    assert state.position_m[0] == pytest.approx(1.0e-6 * math.exp(-2.0), rel=1e-9)
    period = 40e-9                                                # pulse start to pulse start
    state.last_time_s[0] = 0.0
    counts = pulses_to_fire(chip, rng, 8e10, 5, period_s=period)
    step = dw.mean_step_m(8e10, 10e-9, state.jdep_A_m2[0], state.mobility_m3_per_A_s[0])
    leak = dw.leak_factor(period - 10e-9, tau)                    # the gap between pulses
    assert (counts == dw.deterministic_pulses_to_fire(step, state.mtj_distance_m[0], leak)).all()
    assert counts[0] > dw.deterministic_pulses_to_fire(step, state.mtj_distance_m[0])


def test_electromigration_opens_the_track():
    chip = one_device_chip()
    chip.apply_pulse(0, 3.5e11 * chip.cross_section_m2[0], 10e-9, 0.0, np.random.default_rng(0))
    assert chip.broken[0] == "open" and "electromigration of the track" in chip.damage_log[0].cause
    assert chip.read_resistance(0, np.random.default_rng(0)) == OPEN_OHM


def test_a_dw_group_leaves_the_switch_devices_draws_unchanged():
    data = tomllib.loads(default_bench_text())
    before = SimulatedBench.from_config(data).chip
    data["chip"][0]["group"].append({"size": "D", "kind": KIND, "count": 8, "slot": 4, "width_m": 300e-9})
    data["limits"]["D"] = dict(data["limits"]["M"])
    after = SimulatedBench.from_config(data).chip
    n = len(before)
    for column in ("delta", "ic0_A", "line_resistance_ohm", "r_offset_ohm", "r_ahe_ohm"):
        np.testing.assert_array_equal(getattr(after, column)[:n], getattr(before, column))
    assert np.isnan(after.kind_state[KIND].jdep_A_m2[:n]).all()


def test_the_example_bench_shows_each_tracks_truth():
    bench = SimulatedBench.from_config(BENCH)
    state = bench.chip.kind_state[KIND]
    assert [g.size for g in bench.config.groups] == ["N", "M", "W"] and len(bench.chip) == 24
    # D2D spread drawn at the bench file's sigmas (24 devices: loose bounds, seeded)
    assert 0.04 < np.std(state.jdep_A_m2) / np.mean(state.jdep_A_m2) < 0.13
    text = describe_bench(BENCH)
    i = bench.chip.index("chip1/W3")
    assert f"{state.jdep_A_m2[i]:.3e}" in text and f"{state.mtj_distance_m[i] * 1e6:.3f}" in text
    assert "devices of kind dw_mtj_ifr_neuron" in text and "chip1/W3     dw_mtj_ifr_neuron" in text
