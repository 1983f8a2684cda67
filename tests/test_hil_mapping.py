"""The input -> write-current mapping stays within the safety limits by construction."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.benchfile import load_bench_file
from hil.simulated import SimulatedArrayBackend
from hil.calibration import calibration_from_chip
from procedures.calibration import neel_brown_curve
from hil.neuron import CurrentMapping, DeviceNeuron, round_robin
from hil.safety import CurrentLimitError, device_current_limits, max_write_current_A

BENCH = load_bench_file(None)
LIMITS = device_current_limits(BENCH)
BACKEND = SimulatedArrayBackend.from_bench(BENCH, seed=0)
TRUTH = calibration_from_chip(BACKEND.chips[0], 10e-9)


def test_max_write_current_of_the_default_bench():
    # S: min(2e11 A/m^2 x 3e-16 m^2, 0.5 V / (50 + 1400) ohm) = 6e-5 A (density-bound)
    assert max_write_current_A(BENCH.limits["S"], 50.0) == pytest.approx(6e-5)
    assert max_write_current_A(BENCH.limits["M"], 50.0) == pytest.approx(4e-4)
    assert max_write_current_A(BENCH.limits["L"], 50.0) == pytest.approx(2e-3)
    assert LIMITS["chip1/S3"] == pytest.approx(6e-5)


finite_or_not = st.floats(allow_nan=False, allow_infinity=True, width=32)


@settings(max_examples=60, deadline=None)
@given(size=st.sampled_from(["S", "M", "L"]),
       saturation=st.floats(0.5, 200.0), headroom=st.floats(0.3, 1.0),
       x=st.lists(finite_or_not, min_size=1, max_size=16))
def test_current_never_exceeds_the_limit(size, saturation, headroom, x):
    names = BACKEND.devices_of_size(size)
    neurons = round_robin(16, names)
    try:
        mapping = CurrentMapping.from_curves([TRUTH[n] for n in neurons],
                                             [LIMITS[n] for n in neurons], neurons,
                                             saturation=saturation, headroom=headroom)
    except CurrentLimitError as exc:   # refusing is allowed; it must say why
        assert "safe maximum" in str(exc)
        return
    inputs = torch.tensor(x, dtype=torch.float32)
    inputs = torch.nn.functional.pad(inputs, (0, 16 - len(x)))[None, :]
    current = mapping(inputs).double().numpy()[0]
    ceiling = np.array([LIMITS[n] for n in neurons])
    assert np.all(current <= headroom * ceiling * (1 + 1e-5))
    assert np.all(current >= 0.0)


def test_mapping_centres_each_neuron_on_its_device_i50():
    names = BACKEND.devices_of_size("M")
    mapping = CurrentMapping.from_curves([TRUTH[n] for n in names], [LIMITS[n] for n in names], names)
    current = mapping(torch.zeros(1, len(names))).double().numpy()[0]
    np.testing.assert_allclose(current, [TRUTH[n].i50_A for n in names], rtol=1e-6)


def test_configuration_over_the_limit_is_refused_with_numbers():
    with pytest.raises(CurrentLimitError) as info:
        CurrentMapping(centre_A=[5e-5], span_A=[2e-5], gain_A=[1e-6], max_current_A=[6e-5],
                       device_names=["chip1/S0"])
    message = str(info.value)
    assert "chip1/S0" in message and "7e-05" in message and "6e-05" in message


def test_negative_currents_are_refused():
    with pytest.raises(CurrentLimitError, match=">= 0 A"):
        CurrentMapping(centre_A=[1e-5], span_A=[2e-5], gain_A=[1e-6], max_current_A=[6e-5],
                       device_names=["chip1/S0"])


def test_device_whose_i50_is_beyond_the_limit_is_refused():
    hot = neel_brown_curve(1e-4, 30.0, 10e-9)  # I50 ~ 9e-5 A, over the S ceiling of 6e-5 A
    with pytest.raises(CurrentLimitError, match="cannot be driven through"):
        CurrentMapping.from_curves([hot], [6e-5], ["chip1/S0"])


def test_backend_refuses_over_limit_and_nan_currents_and_applies_nothing():
    idx = BACKEND.index_of(["chip1/S0"])
    state = BACKEND.rng_state()
    with pytest.raises(CurrentLimitError, match="exceeds its safe maximum"):
        BACKEND.sample(idx, np.array([[7e-5]]), 10e-9)
    with pytest.raises(CurrentLimitError):
        BACKEND.sample(idx, np.array([[np.nan]]), 10e-9)
    assert BACKEND.rng_state() == state  # no trial was drawn


def test_neuron_map_is_explicit_and_reported():
    names = BACKEND.devices_of_size("S")
    layer = DeviceNeuron.from_calibration(BACKEND, TRUTH, round_robin(20, names), LIMITS)
    mapping = layer.device_map()
    assert mapping[0] == (0, "chip1/S0") and mapping[9] == (9, "chip1/S1")
    assert mapping[19] == (19, "chip1/S3")
    report = layer.report()
    assert report.startswith("20 neurons on 8 devices")
    assert "chip1/S0: 3 neurons" in report and "chip1/S7: 2 neurons" in report


@settings(max_examples=30, deadline=None)
@given(size=st.sampled_from(["S", "M", "L"]),
       x=st.lists(finite_or_not, min_size=8, max_size=8))
def test_layer_forward_never_trips_the_backend_limit_check(size, x):
    names = BACKEND.devices_of_size(size)
    layer = DeviceNeuron.from_calibration(BACKEND, TRUTH, names, LIMITS, repeats=2)
    answer = layer(torch.tensor([x], dtype=torch.float32))  # would raise CurrentLimitError
    assert answer.shape == (1, 8) and bool(((answer >= 0) & (answer <= 1)).all())
