"""Device-backed weight layers (hil.synapses): in-situ programming by pulses with a noise
margin, quantization to the device's levels, the device step statistics, the CeLU neuron
layer, a tiny in-situ training, and the bench path against the simulated array."""

import numpy as np
import pytest
import torch

from devices.laws import notched_wall
from hil.synapses.array import DeviceArray
from hil.synapses.configs import (CeLUNeuronDevice, SynapseConfigError, WeightConfig,
                                  dw_quantized_synapse, ferrimagnet_synapse)
from hil.synapses.layers import DeviceLinear, bind_devices, devices_needed, program_from_shadow
from hil.synapses.neurons import CeLUDeviceActivation

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _layer(device, margin=0.2, shape=(3, 4), seed=0):
    layer = DeviceLinear(shape[1], shape[0], WeightConfig(device, margin=margin),
                         generator=torch.Generator().manual_seed(seed))
    array = DeviceArray.draw(device, devices_needed(layer), seed=seed)
    bind_devices(layer, array)
    return layer, array


def test_in_situ_programming_respects_the_margin_and_counts_every_pulse():
    device = ferrimagnet_synapse(n_pulses=4, nu_ltp=0.0, nu_ltd=0.0).ideal()   # 5 linear levels
    layer, array = _layer(device, margin=0.25)
    tile = layer.tile
    with torch.no_grad():
        layer.weight.fill_(float(tile.levels[2]))             # every weight at level 2 (w = 0)
    sent = program_from_shadow(layer)
    assert sent == array.pulses_sent == 12 * (device.n_states - 1)   # k + (N-1-k) per pair
    gap = float(tile.levels[3] - tile.levels[2])
    mid = float(tile.midpoints[2])
    with torch.no_grad():
        layer.weight.fill_(mid + 0.2 * gap)                   # past the midpoint, inside the margin
    assert tile.follow(layer.weight) == 0
    with torch.no_grad():
        layer.weight.fill_(mid - 0.2 * gap)                   # and back: still no pulse
    assert tile.follow(layer.weight) == 0
    with torch.no_grad():
        layer.weight.fill_(mid + 0.3 * gap)                   # past the margin: one level up
        layer.weight[0, 0] = float(tile.levels[4])           # one weight two levels up
    before = array.pulses_sent
    sent = tile.follow(layer.weight)
    assert sent == 2 * 11 + 2 * 2 == array.pulses_sent - before == tile.pulses - 12 * 4
    assert torch.equal(tile.level[0, 0], torch.tensor(4)) and int(tile.level[1, 1]) == 3
    # the devices now read the new levels (ideal device: exactly)
    assert torch.allclose(layer.tile.read_weights()[1], tile.levels[3].expand(4), atol=1e-9)


@pytest.mark.parametrize("levels", [2, 3, 5])
def test_weights_quantize_to_the_devices_levels(levels):
    device = dw_quantized_synapse(levels).ideal()
    layer, _ = _layer(device, shape=(16, 16), seed=levels)
    with torch.no_grad():                                     # shadows across the whole range
        layer.weight.copy_(torch.linspace(-1.2, 1.2, 256).reshape(16, 16) * layer.tile.w_max)
    program_from_shadow(layer)
    read = layer.tile.read_weights()
    values = torch.unique(torch.round(read * 1e9) / 1e9)
    assert len(values) == levels
    assert torch.allclose(values, layer.tile.levels, atol=1e-8)
    assert torch.allclose(read, layer.tile.quantized(layer.weight).double(), atol=1e-9)
    # the ex-situ model of an ideal device is the quantization itself
    model = layer.tile.model_weights(layer.tile.nearest_level(layer.weight))
    assert torch.allclose(model, read, atol=1e-9)


def test_notched_wall_steps_follow_the_law_on_average():
    device = dw_quantized_synapse(5, d2d={})                  # p = 0.7, overshoot 0.03
    array = DeviceArray.draw(device, 4000, seed=1)
    index = torch.arange(4000)
    array.program(index, torch.full((4000,), 2, dtype=torch.int64))
    mean = float(array.state.mean())
    law = notched_wall.mean_level_after(2, 0, 5, 0.7, 0.03)[-1]
    assert abs(mean - law) < 0.05 and array.pulses_sent == 8000
    # the ferrimagnet's c2c noise: the spread of G after n pulses grows as sqrt(n) steps
    ferri = ferrimagnet_synapse(d2d={})
    arr = DeviceArray.draw(ferri, 4000, seed=2)
    arr.program(index, torch.full((4000,), 9, dtype=torch.int64))
    step = (ferri.g_max_S - ferri.g_min_S) / ferri.pulses_end_to_end
    spread = float(arr.conductance(index).std()) / step
    assert 0.8 * 0.15 * 3 < spread < 1.2 * 0.15 * 3


def test_celu_neuron_layer_statistics():
    neuron = CeLUNeuronDevice(alpha_A=3e-4, gain_ohm_per_A=1e3, read_noise_ohm=0.03)
    alpha = np.array([1.5e-4, 3e-4, 6e-4])
    gain = np.array([800.0, 1000.0, 1300.0])
    layer = CeLUDeviceActivation(6, neuron, alpha, gain, seed=0)  # channels round-robin
    x = torch.linspace(-3, 2, 50).repeat(400, 6, 1).requires_grad_(True)   # (400, 6, 50)
    y = layer(x)
    mean, std = y.detach().mean(0), y.detach().std(0)
    a = torch.tensor(np.tile(alpha, 2) / 3e-4, dtype=torch.float32)[:, None]
    g = torch.tensor(np.tile(gain, 2) / 1e3, dtype=torch.float32)[:, None]
    xs = x[0].detach()
    expected = g * torch.where(xs >= 0, xs, a * torch.expm1(xs.clamp(max=0) / a))
    assert torch.allclose(mean, expected, atol=0.025)        # 5 sigma of 400 reads
    assert float(std.mean()) == pytest.approx(0.1, rel=0.1)    # 0.03 ohm / (1e3 ohm/A x 3e-4 A)
    y.sum().backward()                                          # backward: the calibrated slope
    slope = g * torch.where(xs >= 0, torch.ones_like(xs), torch.exp(xs.clamp(max=0) / a))
    assert torch.allclose(x.grad[0], slope, atol=1e-5)
    layer.set_mode("software")
    assert torch.allclose(layer(xs[None]), torch.nn.functional.celu(xs[None]))


def test_tiny_in_situ_training_improves():
    from hil.data import Split, load_dataset
    from hil.synapses.networks import SynapseMLP, set_network_mode
    from hil.train import TrainConfig, evaluate, train

    full = load_dataset("digits")
    data = Split(full.x_train[:800], full.y_train[:800], full.x_test, full.y_test, 10, "digits800")
    neuron = CeLUNeuronDevice(read_noise_ohm=0.01)
    net = SynapseMLP(64, 10, WeightConfig(dw_quantized_synapse(3)),
                     lambda c: CeLUDeviceActivation.drawn(c, neuron, seed=c), hidden=16, seed=0)
    array = DeviceArray.draw(dw_quantized_synapse(3), devices_needed(net), seed=3)
    bind_devices(net, array)
    program_from_shadow(net)
    set_network_mode(net, "devices", "devices", in_situ=True)
    start = evaluate(net, data.x_test, data.y_test)
    first = array.pulses_sent
    history = train(net, data, TrainConfig(epochs=3, batch_size=32, lr=1e-2, progress=False))
    assert start < 0.35 and history.test_acc[-1] > 0.75
    assert array.pulses_sent > first


def test_bad_device_settings_are_refused_in_one_line():
    with pytest.raises(SynapseConfigError, match=r"n_states = 1 must be an integer in \[2"):
        dw_quantized_synapse(1)
    with pytest.raises(SynapseConfigError, match=r"margin = 0.6 is outside \[0, 0.49\]"):
        WeightConfig(ferrimagnet_synapse(), margin=0.6)
    with pytest.raises(SynapseConfigError, match="D2D spread"):
        ferrimagnet_synapse(d2d={"delta_rel": 0.1})
