"""Device kinds: every kind the bench file accepts has its law and its simulator truth, and the
one Neel-Brown law answers alike in numpy (simulator, fits) and torch (surrogate)."""

import math
import tomllib

import numpy as np
import pytest
import torch

from devices import kinds
from devices.benchfile import BenchFileError, default_bench_text, parse_bench
from devices.laws import (celu, domain_wall, neel_brown, notched_wall, stt_switching,
                          synapse_conductance)
from simulated_bench.kinds import truth

TRUTH_FACE = ("DEFAULTS", "nominal_parameters", "switch_target", "damage",
              "write_path_resistance", "read_resistance", "describe", "DESCRIBE_NOTE")


def test_the_known_kinds_are_the_modules_of_devices_kinds():
    laws = {"dw_mtj_ifr_neuron": domain_wall, "dw_quantized_synapse": notched_wall,
            "ferrimagnet_celu_neuron": celu, "ferrimagnet_synapse": synapse_conductance,
            "mtj": neel_brown, "sot_hall_bar": neel_brown, "stt_mtj_synapse": stt_switching}
    assert kinds.names() == tuple(sorted(laws))
    for name in kinds.names():
        kind = kinds.kind(name)
        assert kind.name == name and kind.law is laws[name] and kind.summary


@pytest.mark.parametrize("name", kinds.names())
def test_every_kind_has_its_simulator_truth(name):
    module = truth(name)
    missing = [face for face in TRUTH_FACE if not hasattr(module, face)]
    assert not missing, f"simulated_bench.kinds.{name} lacks {missing}"


def test_an_unknown_kind_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"'ferrimagnet' is not one of \('dw_mtj_ifr_neuron', "
                                         r"'dw_quantized_synapse', .*'sot_hall_bar', "
                                         r"'stt_mtj_synapse'\)"):
        kinds.kind("ferrimagnet")
    with pytest.raises(ValueError, match="ferrimagnet"):
        truth("ferrimagnet")


def test_the_law_answers_alike_in_numpy_and_torch():
    current = np.linspace(0.0, 3e-5, 61)
    args = (10e-9, 2.4e-5, 28.7, 1e-9)
    for n in (1.0, 2.0):
        p_np = neel_brown.probability(current, *args, n)
        p_torch = neel_brown.probability(torch.tensor(current), *args, n).numpy()
        np.testing.assert_allclose(p_torch, p_np, rtol=1e-12, atol=1e-300)
        slope_np = neel_brown.probability_slope(current, *args, n)
        slope_torch = neel_brown.probability_slope(torch.tensor(current), *args, n).numpy()
        np.testing.assert_allclose(slope_torch, slope_np, rtol=1e-12, atol=1e-300)


def test_the_law_inverse_and_slope_at_i50():
    width, ic0, delta = 10e-9, 2.4e-5, 28.7
    i50 = float(neel_brown.current_for_probability(0.5, width, ic0, delta))
    assert float(neel_brown.probability(i50, width, ic0, delta)) == pytest.approx(0.5, abs=1e-12)
    # closed form for n = 1: Delta (1 - I50/Ic0) = ln(t / (tau0 ln 2))
    assert i50 == pytest.approx(ic0 * (1 - math.log(width / (1e-9 * math.log(2))) / delta), rel=1e-12)
    k = neel_brown.logistic_slope_at_i50(width, ic0, delta)
    assert k / 4 == pytest.approx(float(neel_brown.probability_slope(i50, width, ic0, delta)), rel=1e-9)
    # above Ic0 the barrier is gone: tau = tau0, P = 1 - exp(-t/tau0), and the slope is 0
    assert float(neel_brown.probability(2 * ic0, width, ic0, delta)) == pytest.approx(-math.expm1(-10))
    assert float(neel_brown.probability_slope(2 * ic0, width, ic0, delta)) == 0.0


def test_the_linear_form_is_the_law_at_n_1():
    form = neel_brown.LinearForm.of(10e-9, np.array([2.4e-5, 1.6e-4]), np.array([28.7, 40.0]))
    current = np.array([[1e-5, 1.2e-4], [2.6e-5, 1.7e-4]])
    expected = neel_brown.log_rate(current, 10e-9, np.array([2.4e-5, 1.6e-4]), np.array([28.7, 40.0]))
    np.testing.assert_allclose(form.log_rate(current), expected, rtol=1e-12)
    per_t, at_t0 = form.folded(np.array([2e-5, 1.4e-4]), np.array([5e-6, 3e-5]))
    t = np.array([-1.0, 0.3])
    np.testing.assert_allclose(np.minimum(at_t0 + per_t * t, form.ceiling),
                               form.log_rate(np.array([2e-5, 1.4e-4]) + np.array([5e-6, 3e-5]) * t),
                               rtol=1e-12)


def test_a_bench_file_with_an_unknown_kind_names_the_line_and_the_kinds():
    text = default_bench_text().replace('kind = "sot_hall_bar"', 'kind = "ferrimagnet"', 1)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "ferrimagnet" in row)
    with pytest.raises(BenchFileError, match=rf"k.toml line {line}: chip\[0\].group\[0\].kind "
                                             r"must be one of .*'mtj'.*'sot_hall_bar'.*, got "
                                             r"'ferrimagnet'"):
        parse_bench(tomllib.loads(text), text, "k.toml")
