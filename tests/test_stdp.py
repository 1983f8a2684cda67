"""Stochastic binary STDP on STT-MTJ synapses (hil/stdp): the switching statistics follow the
calibrated P_sw, the WTA layer and its adaptive thresholds, a tiny run that separates two
patterns, and the CLI's one-line errors."""

import numpy as np
import pytest

from hil.stdp.inputs import pattern_task
from hil.stdp.learning import learn, score
from hil.stdp.network import WTALayer, WTAParams, held_pattern
from hil.stdp.synapse import TO_AP, TO_P, SynapseModelError, typical_model
from hil.stdp.synapses import AnalogSynapses, DeviceSynapses, PulseRule
from simhelpers import one_line_error


def _switch_fraction(model, rule, direction, n=20_000, seed=3):
    """Fraction of junctions one rule pulse switches: all start in the state the pulse leaves."""
    syn = DeviceSynapses(model, n, 1, rule, np.random.default_rng(seed),
                         initial_p_fraction=0.0 if direction == TO_P else 1.0)
    syn.update(0, np.full(n, direction == TO_P))
    moved = syn.state[:, 0] if direction == TO_P else ~syn.state[:, 0]
    return moved.mean(), syn


@pytest.mark.parametrize("direction,p", [(TO_P, 0.10), (TO_AP, 0.05)])
def test_switching_follows_the_calibrated_probability(direction, p):
    model = typical_model()
    rule = PulseRule(ltp_probability=p, ltd_probability=p, width_s=100e-9)
    # the amplitude the rule plays gives exactly p on the typical junction ...
    v = model.pulse(direction, p, rule.width_s)
    assert model.law(direction).probability(v, rule.width_s) == pytest.approx(p, rel=1e-9)
    # ... and the junctions switch with it: without spread at p (4 sigma of 20 000 draws) ...
    flat = type(model)(model.to_p, model.to_ap, model.g_p_S, model.g_ap_S, spreads={})
    fraction, _ = _switch_fraction(flat, rule, direction)
    assert abs(fraction - p) < 4 * np.sqrt(p * (1 - p) / 20_000)
    # ... with D2D spread at the mean of their own P_sw (which the spread pulls away from p)
    fraction, syn = _switch_fraction(model, rule, direction)
    own = (syn.p_ltp if direction == TO_P else syn.p_ltd)[:, 0]
    assert abs(fraction - own.mean()) < 4 * np.sqrt(own.mean() * (1 - own.mean()) / 20_000)
    # steeper than linear in V: 10 % more amplitude switches far more often (n = 2 law)
    assert model.law(direction).probability(1.1 * v, rule.width_s) > 2.5 * p


def test_a_pulse_over_the_bench_limit_is_refused_before_use():
    with pytest.raises(SynapseModelError, match="above the bench's 0.3 V pulse limit"):
        typical_model().pulse(TO_AP, 0.5, 100e-9, max_amplitude_V=0.3)


def _fixed_layer(weights, **params):
    syn = AnalogSynapses(weights.shape[0], weights.shape[1], PulseRule(), np.random.default_rng(0))
    syn.weights()[:] = weights
    return WTALayer(WTAParams(n_out=weights.shape[1], **params), syn), syn


def test_one_winner_and_the_threshold_rises_with_its_spikes():
    # two neurons with the same weights: the lateral inhibition leaves one winner per step
    layer, _ = _fixed_layer(np.ones((4, 2)), steps=40, threshold=6.0, theta_plus=0.5,
                            theta_decay=1.0)
    spikes = held_pattern(np.ones(4), 40)
    counts = layer.present(spikes, learn=False)
    assert counts[0] > 0 and counts[1] == 0
    # learning: every spike raises its neuron's threshold by theta_plus, so the other wins too
    counts = layer.present(spikes, learn=True)
    assert counts.min() > 0
    np.testing.assert_allclose(layer.theta, 0.5 * counts)
    # the batched answer of the frozen layer is the per-sample one
    batch = np.stack([spikes, spikes])
    np.testing.assert_array_equal(layer.respond(batch), [layer.present(spikes, False)] * 2)


def test_a_tiny_binary_run_separates_two_patterns():
    rng = np.random.default_rng(5)
    task = pattern_task(8, 2, 12, 20, 0.05, rng)
    params = WTAParams(n_out=4, steps=20)
    syn = DeviceSynapses(typical_model(), 8, 4, PulseRule(0.1, 0.1), rng)
    layer = WTALayer(params, syn)
    encode = lambda x, scale, r: held_pattern(x, params.steps)  # noqa: E731
    learn(layer, task.x_train, 2, rng, encode)
    result = score(layer, task.x_train, task.y_train, task.x_test, task.y_test, 2, rng, encode)
    assert result.accuracy >= 0.95
    assert set(result.labels[result.labels >= 0]) == {0, 1}      # each pattern owns a neuron
    assert syn.switches > 0 and syn.pulses == 8 * layer.post_spikes


@pytest.mark.parametrize("argv,expected", [
    (["--ltp-probability", "1.5"], "'ltp_probability' (--ltp-probability): 1.5 must lie in (0, 1)"),
    (["--rate-max", "2"], "'rate_max' (--rate-max): 2.0 must lie in (0, 1]"),
    (["--neurons", "0"], "'neurons' (--neurons): 0 must be an integer in [1, 10000]"),
])
def test_cli_bad_option_is_one_line_and_exit_2(argv, expected, capsys, tmp_path):
    from hil.cli import main

    assert main(["train", "--network", "stdp", "--out", str(tmp_path / "x"), *argv]) == 2
    assert expected in one_line_error(capsys)


def test_the_model_of_a_calibration_file_is_its_median_junction_and_spread(tmp_path):
    import json

    from hil.stdp.calibrated import model_from_calibration

    rng = np.random.default_rng(1)
    vc_ap, vc_p = 0.9 * (1 + 0.05 * rng.standard_normal(64)), 0.65 * (1 + 0.05 * rng.standard_normal(64))
    devices = {f"xbar/W{i}": {"model": "stt_synapse", "vc_p_to_ap_V": vc_ap[i], "vc_ap_to_p_V": vc_p[i],
                              "delta": 44.0, "exponent": 2.0, "tau0_s": 1e-9, "g_p_S": 2.8e-4,
                              "g_ap_S": 1.1e-4} for i in range(64)}
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"format": "spin-hil-calibration", "version": 1, "width_s": 1e-7,
                                "devices": devices}))
    model = model_from_calibration(path)
    assert model.to_ap.vc_V == pytest.approx(np.median(vc_ap)) and model.to_p.exponent == 2.0
    assert model.spreads["vc_rel"] == pytest.approx(0.05, rel=0.2)
    assert model.spreads["delta_rel"] == 0.0 and "64 junctions" in model.source


def test_the_crossbar_drive_is_its_junction_states_in_weight_units():
    """In situ: a 4 x 4 cut of the example crossbar, through the instruments. After the
    physical random start, each column's read current with every row on, in weight units, is
    the number of its P junctions (read one by one), and an STDP event is one pulse per row."""
    import tomllib

    from drivers.crossbar import Crossbar
    from hil.stdp.config import DEFAULT_BENCH
    from hil.stdp.crossbar import CrossbarSynapses
    from procedures.session import open_bench

    with open(DEFAULT_BENCH, "rb") as handle:
        bench_file = tomllib.load(handle)
    bench_file["chip"][0]["group"][0].update(count=4, columns=4)
    with open_bench(bench_file) as bench:
        synapses = CrossbarSynapses(Crossbar(bench), typical_model(), PulseRule(0.2, 0.2))
        synapses.randomize()
        states = synapses.states()
        assert 0 < states.sum() < 16                       # a random start, not all one state
        drive = synapses.drive(np.ones(4))
        np.testing.assert_allclose(drive, states.sum(axis=0), atol=0.35)
        pulses, trips = synapses.pulses, synapses.round_trips
        synapses.update(1, np.array([True, False, True, False]))
        assert synapses.pulses - pulses == 4 and synapses.round_trips > trips


def test_a_run_writes_its_results_and_refuses_to_overwrite_them(tmp_path, capsys):
    import json

    from hil.cli import main

    argv = ["train", "--network", "stdp", "--dataset", "patterns", "--modes", "binary", "analog",
            "--seeds", "0", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "binary  patterns3x8" in table and "analog  patterns3x8" in table
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["mode"] for r in results["runs"]} == {"binary", "analog"}
    binary = next(r for r in results["runs"] if r["mode"] == "binary")
    assert binary["pulses"] == 8 * binary["post_spikes"] and 0 <= binary["test_acc"] <= 1
    assert main(argv) == 2
    assert "holds the results of an earlier run" in one_line_error(capsys)
