"""The synapse and neuron kinds: their laws (numpy and torch alike, the curves' ends and
inverses), their simulated truth straight on a chip (fixed seeds): steps per pulse as the
law says, no step below threshold, the write noise's size, the notch chain's statistics,
the CeLU output, damage; and the drivers' arrays through the instruments (safety first,
bursts, counters)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from devices.benchfile import DeviceGroup
from devices.laws import celu, notched_wall, synapse_conductance as law
from drivers.limits import LimitViolation
from drivers.synapse import NeuronArray, ProgrammingError, SynapseArray
from procedures.session import open_bench
from simulated_bench.bench import SimulatedBench
from simulated_bench.chip import build_chip
from simulated_bench.kinds import ferrimagnet_synapse as ferri_truth
from simulated_bench.kinds import dw_quantized_synapse as notch_truth

BENCHES = Path(__file__).resolve().parents[1] / "examples" / "benches"


def chip_of(kind, seed=3, width_m=1e-6, **params):
    group = DeviceGroup("c", "F", kind, 1, 1, width_m, params)
    return build_chip("c", [group], {}, np.random.default_rng(seed))


def test_ltp_ltd_law_ends_inverse_linear_limit_and_torch():
    p = np.arange(0, 61, 5.0)
    g = law.ltp_conductance(p, 1e-4, 3e-4, 2.0, 50)
    assert g[0] == pytest.approx(1e-4) and g[10] == pytest.approx(3e-4) and g[-1] == pytest.approx(3e-4)
    assert np.all(np.diff(g[:11]) > 0) and np.all(np.diff(np.diff(g[:11])) < 0)   # concave
    np.testing.assert_allclose(law.pulse_coordinate(g[:11], 1, 1e-4, 3e-4, 2.0, 50), p[:11], atol=1e-9)
    d = law.ltd_conductance(p, 1e-4, 3e-4, 2.0, 50)
    np.testing.assert_allclose(law.pulse_coordinate(d[:11], -1, 1e-4, 3e-4, 2.0, 50), p[:11], atol=1e-9)
    # nu -> 0 is the straight line; numpy and torch agree
    np.testing.assert_allclose(law.ltp_conductance(p[:11], 1e-4, 3e-4, 0.0, 50), 1e-4 + 2e-4 * p[:11] / 50)
    np.testing.assert_allclose(law.ltp_conductance(torch.tensor(p), 1e-4, 3e-4, 2.0, 50).numpy(), g, rtol=1e-12)
    assert float(law.pulse_steps(1.5e10, 20e-9, 2e10, 5e10, 20e-9)) == 0.0
    assert float(law.pulse_steps(-8e10, 10e-9, 2e10, 5e10, 20e-9)) == pytest.approx(1.0)
    assert float(law.density_for_steps(1.0, 10e-9, 2e10, 5e10, 20e-9)) == pytest.approx(8e10)


def test_celu_law_and_its_slope():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(celu.celu(x, 1.0), [np.expm1(-3.0), np.expm1(-1.0), 0.0, 0.5, 2.0])
    t = torch.tensor(x, requires_grad=True)
    celu.celu(t, 1.0).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), celu.celu_slope(x, 1.0), rtol=1e-12)
    np.testing.assert_allclose(celu.celu(torch.tensor(x), 0.7).numpy(),
                               torch.nn.functional.celu(torch.tensor(x), 0.7).numpy(), rtol=1e-12)


def test_ferrimagnet_truth_steps_as_the_law_and_noise_of_its_size():
    chip = chip_of("ferrimagnet_synapse", write_noise=0.0)
    s = chip.kind_state["ferrimagnet_synapse"]
    current = 5e10 * chip.cross_section_m2[0]
    rng = np.random.default_rng(1)
    g = []
    for _ in range(60):
        chip.apply_pulse(0, current, 20e-9, 0.0, rng)
        g.append(s.g_S[0])
    np.testing.assert_allclose(g, law.ltp_conductance(np.arange(1, 61), 2e-4, 4e-4, 1.0, 50), rtol=1e-9)
    before = s.g_S[0]
    chip.apply_pulse(0, 1.9e10 * chip.cross_section_m2[0], 1e-6, 0.0, rng)    # below threshold
    assert s.g_S[0] == before
    for _ in range(60):
        chip.apply_pulse(0, -current, 20e-9, 0.0, rng)
    assert s.g_S[0] == pytest.approx(2e-4)
    # write noise: the spread of one step from the middle is write_noise x the mean step
    noisy = chip_of("ferrimagnet_synapse", write_noise=0.2)
    ns = noisy.kind_state["ferrimagnet_synapse"]
    steps = []
    for _ in range(400):
        ferri_truth.set_conductance(noisy, 0, 3e-4)
        noisy.apply_pulse(0, current, 20e-9, 0.0, rng)
        steps.append(ns.g_S[0] - 3e-4)
    assert np.std(steps) / (2e-4 / 50) == pytest.approx(0.2, rel=0.12)


def test_notched_wall_moves_with_p_and_overshoots():
    chip = chip_of("dw_quantized_synapse", width_m=200e-9, levels=5, overshoot_probability=0.1)
    s = chip.kind_state["dw_quantized_synapse"]
    rng = np.random.default_rng(2)
    density = 9.3e10
    p = float(notched_wall.depinning_probability(density, 20e-9, 1e11, 40.0))
    moves = []
    for _ in range(1500):
        notch_truth.set_level(chip, 0, 1)
        chip.apply_pulse(0, density * chip.cross_section_m2[0], 20e-9, 0.0, rng)
        moves.append(int(s.level[0]) - 1)
    moves = np.array(moves)
    assert np.mean(moves > 0) == pytest.approx(p, abs=0.04)
    assert np.mean(moves == 2) / np.mean(moves > 0) == pytest.approx(0.1, abs=0.03)
    # the chain's mean after n pulses from 0 matches the law's exact chain
    finals = []
    for _ in range(600):
        notch_truth.set_level(chip, 0, 0)
        for _ in range(3):
            chip.apply_pulse(0, density * chip.cross_section_m2[0], 20e-9, 0.0, rng)
        finals.append(int(s.level[0]))
    assert np.mean(finals) == pytest.approx(notched_wall.mean_level_after(3, 0, 5, p, 0.1)[-1], abs=0.1)
    # the end stop holds; a reverse pulse steps back; far over the limit the line opens
    notch_truth.set_level(chip, 0, 4)
    chip.apply_pulse(0, 2 * 1e11 * chip.cross_section_m2[0], 20e-9, 0.0, rng)
    assert int(s.level[0]) == 4
    chip.apply_pulse(0, -2 * 1e11 * chip.cross_section_m2[0], 20e-9, 0.0, rng)
    assert int(s.level[0]) in (2, 3)
    chip.apply_pulse(0, 4e11 * chip.cross_section_m2[0], 20e-9, 0.0, rng)
    assert chip.broken[0] == "open"


def test_arrays_program_in_bursts_check_limits_first_and_count():
    with open_bench(BENCHES / "ferrimagnet_synapses.toml") as bench:
        array = SynapseArray(bench)
        assert array.names[0] == "chip1/F0" and len(array.names) == 16
        g0 = array.read_conductance(["F0"])[0]
        trips = array.round_trips
        array.program("F0", 20, +1)
        burst_trips = array.round_trips - trips
        g1 = array.read_conductance(["F0"])[0]
        assert g1 > g0 + 0.2 * (4e-4 - 2e-4)          # 20 of 50 steps of a ~0.2 mS range
        trips = array.round_trips
        array.program("F0", 1, +1)
        assert array.round_trips - trips <= burst_trips   # 20 pulses cost no more than one
        with pytest.raises(LimitViolation):
            array.program("F1", 5, -1, amplitude=2.0)   # over max_pulse_voltage_V
        with pytest.raises(ProgrammingError, match="polarity"):
            array.program_many([("F1", 2, +1), ("F2", 2, 0)])
        truth = SimulatedBench.from_config(bench.config).chip      # the same draws, untouched
        f1 = truth.kind_state["ferrimagnet_synapse"].gmin_S[truth.index("chip1/F1")]
        assert array.read_conductance(["F1"])[0] == pytest.approx(f1, rel=0.01)   # nothing sent
        assert array.floor_s > 21 * 20e-9 and array.projected_bench_time_s > 0
    with open_bench(BENCHES / "celu_neurons.toml") as bench:
        neurons = NeuronArray(bench, ["N0"], nplc=1.0)
        out = neurons.transfer("N0", [-1e-3, 1e-3])
        n = SimulatedBench.from_config(bench.config).chip.kind_state["ferrimagnet_celu_neuron"]
        swing = float(celu.celu(1e-3, n.alpha_A[0]) - celu.celu(-1e-3, n.alpha_A[0]))
        assert out[1] - out[0] == pytest.approx(n.gain_ohm_per_A[0] * swing, rel=0.05)
        with pytest.raises(ProgrammingError, match="not a synapse"):
            SynapseArray(bench, ["N0"])
