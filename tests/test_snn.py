"""The DW-MTJ spiking layer: forward statistics against the domain-wall law, reset failures,
the surrogate gradient, the safety ceiling, and the bench path through the drivers."""

import numpy as np
import pytest
import torch

from devices.benchfile import load_bench_file
from devices.laws import domain_wall
from hil.neuron import round_robin
from hil.safety import CurrentLimitError
from hil.snn.config import EXAMPLE_BENCH
from hil.snn.devices import IFRParameters
from hil.snn.layer import DensityMapping, IFRSpikingLayer, LIFLayer
from hil.snn.simulated import sizes_of, truth_backend, truth_calibration, wall_chip

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BENCH = load_bench_file(EXAMPLE_BENCH)
CHIP = wall_chip(BENCH)
WIDTH_S = 20e-9
TRUTH = truth_calibration(CHIP, WIDTH_S)


def _layer(size="M", seed=1, neurons=None, backend=None):
    names = neurons or sizes_of(CHIP)[size]
    own = IFRParameters.from_calibration(TRUTH, names, BENCH)
    mapping = DensityMapping.from_parameters(own, WIDTH_S)
    return IFRSpikingLayer(backend or truth_backend(CHIP, BENCH, seed), names, mapping, own, WIDTH_S), own


def _first_spike(spikes: np.ndarray) -> np.ndarray:
    """Pulses to the first fire of each lane (steps, lanes, neurons) -> (lanes, neurons)."""
    assert spikes.any(axis=0).all(), "every lane must fire within the steps"
    return spikes.argmax(axis=0) + 1.0


@pytest.mark.parametrize("x", [0.35, 1.2])
def test_pulses_to_fire_follow_the_law_per_device(x):
    layer, own = _layer()
    with torch.no_grad():
        spikes = layer(torch.full((40, 1500, len(own.names)), x)).numpy()
    measured = _first_spike(spikes).mean(axis=0)
    density = (layer.mapping.centre + layer.mapping.span * np.tanh(x)).double().numpy()
    step = domain_wall.mean_step_m(density, WIDTH_S, own.jdep_A_m2, own.mobility_m3_per_A_s)
    law = domain_wall.expected_pulses_to_fire(step, own.distance_m, own.pinning_rel)
    assert np.all(np.isfinite(law)) and law.min() >= 1.0
    np.testing.assert_allclose(measured, law, rtol=0.03)


def test_a_failed_reset_is_a_spike_at_the_next_step_at_the_devices_rate():
    layer, own = _layer()
    with torch.no_grad():    # ~4 pulses to fire: a spike right after a spike is a failed reset
        spikes = layer(torch.full((40, 800, len(own.names)), 0.3)).numpy().astype(bool)
    after = spikes[1:] & spikes[:-1]
    rate = after.sum(axis=(0, 1)) / spikes[:-1].sum(axis=(0, 1))
    law_n = own.mean_pulses_to_fire(float(layer.mapping.centre[0]), WIDTH_S)
    assert law_n.min() > 3
    expected = own.reset_fail_probability
    assert abs(rate.mean() - expected.mean()) < 0.2 * expected.mean()
    assert np.corrcoef(rate, expected)[0, 1] > 0.8          # device-dependent, as drawn


def test_no_drive_no_spike_and_the_mapping_stays_under_the_safe_ceiling():
    layer, own = _layer("W")
    with torch.no_grad():
        assert layer(torch.full((10, 50, len(own.names)), -2.0)).sum() == 0
        top = layer.mapping(torch.full((1, len(own.names)), 50.0)).double().numpy()
    assert np.all(top <= 0.9 * own.max_density_A_m2 * (1 + 1e-5))
    assert layer.mapping.narrowed            # W needs more than the limit allows at 20 ns
    too_much = np.full((2, 1, len(own.names)), 1.01 * own.max_density_A_m2)
    with pytest.raises(CurrentLimitError, match="safe maximum"):
        layer.backend.run(layer.device_index, too_much, WIDTH_S, 1e-6)


def test_surrogate_gradient_flows_through_the_calibrated_model():
    layer, own = _layer(neurons=round_robin(16, sizes_of(CHIP)["N"]))
    x = torch.linspace(-1.0, 2.0, 16).repeat(12, 4, 1).requires_grad_(True)
    spikes = layer(x)
    assert set(torch.unique(spikes).tolist()) <= {0.0, 1.0}
    spikes.sum().backward()
    grad = x.grad
    assert torch.isfinite(grad).all()
    assert (grad[x > 0.05] > 0).float().mean() > 0.9      # driven neurons get a slope
    assert (grad[x <= 0] == 0).all()                      # no pulse: the wall does not move
    lif_x = torch.randn(12, 4, 16, requires_grad=True)
    LIFLayer()(lif_x).sum().backward()
    assert torch.isfinite(lif_x.grad).all() and lif_x.grad.abs().sum() > 0


def test_the_bench_path_plays_the_lanes_through_the_drivers():
    from hil.snn.bench import IFRBenchBackend
    from procedures.session import open_bench

    names = sizes_of(CHIP)["N"][:2]
    params = IFRParameters.from_calibration(TRUTH, names, BENCH)
    with open_bench(BENCH) as bench:
        backend = IFRBenchBackend(bench, params)
        layer, own = _layer(neurons=names, backend=backend)
        with torch.no_grad():
            spikes = layer(torch.full((10, 2, 2), 0.5)).numpy()
        trips = backend.round_trips
        with pytest.raises(CurrentLimitError, match="safe maximum"):
            backend.run(layer.device_index, np.full((1, 1, 2), 1.01 * params.max_density_A_m2),
                        WIDTH_S, 1e-6)
        assert backend.round_trips == trips          # refused before any command
    law = own.mean_pulses_to_fire((layer.mapping.centre + layer.mapping.span * np.tanh(0.5)).double().numpy(),
                                  WIDTH_S)
    first = _first_spike(spikes)
    assert np.all(np.abs(first - law) <= 3)
    assert backend.lanes == 4 and backend.steps == 40
    assert 0 < backend.floor_s < backend.bench_time_s and backend.round_trips > 40
