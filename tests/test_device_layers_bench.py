"""The bench backend of the device-backed layers: a small layer programmed and read through
the instruments (drivers.synapse over the simulated bench's VISA library) answers with the
statistics of the simulated array of the same chip, and reports its bench cost."""

import pytest
import torch

from hil.synapses.bench import BenchSynapseBackend, measure_costs
from hil.synapses.configs import WeightConfig
from hil.synapses.layers import DeviceLinear, bind_devices
from hil.synapses.simulated import bench_synapses, typical_synapse

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BENCH = "examples/benches/ferrimagnet_synapses.toml"


def _program(layer, backend, steps):
    """The same sequence on either backend: program from reset, then in-situ moves."""
    layer.program_from_shadow()
    reads = [layer.tile.read_weights()]
    for shift in steps:
        with torch.no_grad():
            layer.weight.add_(shift * float(layer.tile.levels[1] - layer.tile.levels[0]))
        layer.tile.follow(layer.weight)
        reads.append(layer.tile.read_weights())
    return torch.stack(reads)


def test_bench_layer_matches_the_simulated_array_of_the_same_chip():
    device = typical_synapse(BENCH, "F")
    names = [f"F{i}" for i in range(8)]
    steps = (6, -10)           # levels up, then down (the LTD curve on the way back)

    def layer():
        return DeviceLinear(2, 2, WeightConfig(device), generator=torch.Generator().manual_seed(4))

    with BenchSynapseBackend.open(BENCH, device, names) as bench:
        on_bench = layer()
        bind_devices(on_bench, bench)
        read_bench = _program(on_bench, bench, steps)
        assert bench.pulses_sent == on_bench.tile.pulses > 0
        assert bench.round_trips > 0 and bench.bench_time_s > bench.floor_s > 0
        costs = measure_costs(bench)
    simulated = bench_synapses(BENCH, "F", seed=1)
    on_array = layer()
    bind_devices(on_array, simulated)
    read_sim = _program(on_array, simulated, steps)
    assert simulated.pulses_sent == on_array.tile.pulses == on_bench.tile.pulses
    # same chip, same pulses: the two differ by c2c write noise only. Each weight is a pair
    # of devices, ~25 nominal steps each of sigma 0.15 mean steps
    step_w = 2 * on_array.tile.w_max / device.pulses_end_to_end
    diff = (read_bench - read_sim) / step_w                 # in weight levels
    assert float(diff.mean().abs()) < 0.6                  # no bias (20 values, sigma ~1)
    assert 0.3 < float(diff[1:].std()) < 2.5               # noise of the expected size
    # the means move together by the steps asked for
    moved_bench = (read_bench[1] - read_bench[0]).mean() / step_w
    moved_sim = (read_sim[1] - read_sim[0]).mean() / step_w
    assert float(moved_sim) == pytest.approx(float(moved_bench), abs=1.0)
    assert 4.0 < float(moved_sim) < 8.0
    # the priced operations: a read and a burst cost bus time well over their floors
    assert costs.read_s > costs.read_floor_s > 0 and costs.burst_s > 0
    run = costs.project(reads=100, bursts=10, pulses=50)
    assert run["bench_time_s"] > run["floor_s"] > 0 and run["round_trips"] > 100
