"""The all-spin CNN (hil.synapses.networks) and ``hil train --network cnn | synapse-mlp``'s
bad input: one line and exit 2, nothing trained."""

import json

import pytest
import torch

from hil.cli import main
from hil.synapses.array import DeviceArray
from hil.synapses.configs import CeLUNeuronDevice, WeightConfig, ferrimagnet_synapse
from hil.synapses.layers import bind_devices, devices_needed, program_from_shadow, pulses_of
from hil.synapses.networks import AllSpinCNN, set_network_mode
from hil.synapses.neurons import CeLUDeviceActivation
from simhelpers import one_line_error

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_all_spin_cnn_runs_on_devices_and_in_software():
    device = ferrimagnet_synapse(n_pulses=8)
    neuron = CeLUNeuronDevice(read_noise_ohm=0.01)
    net = AllSpinCNN((1, 8, 8), 10, WeightConfig(device),
                     lambda c: CeLUDeviceActivation.drawn(c, neuron, seed=c), channels=(2, 3))
    assert devices_needed(net) == 2 * (2 * 9 + 3 * 2 * 9 + 3 * 4 * 10)
    x = torch.randn(5, 64)
    set_network_mode(net, "software", "software")
    soft = net(x)
    array = DeviceArray.draw(device, devices_needed(net), seed=0)
    bind_devices(net, array)
    sent = program_from_shadow(net)
    assert sent == pulses_of(net) == array.pulses_sent == devices_needed(net) // 2 * 8
    set_network_mode(net, "devices", "devices", in_situ=True)
    out = net(x)
    assert out.shape == soft.shape == (5, 10) and torch.isfinite(out).all()
    out.sum().backward()          # gradients reach every shadow weight through the devices
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert array.device_reads == devices_needed(net)


@pytest.mark.parametrize("argv, message", [
    (["--margin", "0.7"], "--margin 0.7: must be a number in [0, 0.49]"),
    (["--bench", "examples/benches/mtj_chip.toml"], "no synapse group (kind ferrimagnet_synapse"),
    (["--sizes", "Q"], "--sizes ['Q']: not synapse groups"),
    (["--dataset", "cifar10"], "needs --data FOLDER"),
    (["--dataset", "cifar10", "--data", "/nonexistent/cifar"], "CIFAR-10 folder '/nonexistent/cifar' does not exist"),
    (["--mnist", "/nonexistent/mnist"], "MNIST folder '/nonexistent/mnist' does not exist"),
    (["--seeds", "1", "1"], "--seeds [1, 1]: must be distinct"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    code = main(["train", "--network", "cnn", "--epochs", "1", "--out", str(tmp_path / "run"), *argv])
    assert code == 2
    assert message in one_line_error(capsys)
    assert not (tmp_path / "run" / "results.json").exists()


def test_an_earlier_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"earlier": True}))
    code = main(["train", "--network", "synapse-mlp", "--epochs", "1", "--out", str(out)])
    assert code == 2 and "holds the results.json of an earlier run" in one_line_error(capsys)
    assert json.loads((out / "results.json").read_text()) == {"earlier": True}


def test_cifar10_from_local_batches_feeds_the_cnn(tmp_path):
    import pickle

    import numpy as np

    from hil.data import DatasetError
    from hil.synapses.images import CIFAR_TEST, CIFAR_TRAIN, load_images

    rng = np.random.default_rng(0)
    for name in CIFAR_TRAIN + (CIFAR_TEST,):
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                 b"labels": list(rng.integers(0, 10, 4))}
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    split, shape = load_images("cifar10", tmp_path)
    assert shape == (3, 32, 32) and split.x_train.shape == (20, 3072) and len(split.x_test) == 4
    channels = split.x_train.reshape(20, 3, -1)
    assert torch.allclose(channels.mean((0, 2)), torch.zeros(3), atol=1e-4)   # per channel
    net = AllSpinCNN(shape, 10, WeightConfig(ferrimagnet_synapse(n_pulses=8)),
                     lambda c: CeLUDeviceActivation.drawn(c, CeLUNeuronDevice(), seed=c),
                     channels=(2, 2))
    set_network_mode(net, "software", "software")
    assert net(split.x_test).shape == (4, 10)
    (tmp_path / CIFAR_TEST).write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="is not a CIFAR-10 python batch"):
        load_images("cifar10", tmp_path)


def test_a_calibration_that_serves_no_group_of_the_run_is_one_line(tmp_path, capsys):
    import json

    from hil.cli import main

    path = tmp_path / "dw.json"
    path.write_text(json.dumps({
        "format": "spin-hil-calibration", "version": 1, "width_s": 2e-8,
        "devices": {"chip1/N0": {"model": "domain_wall", "size": "N", "jdep_A_m2": 3e10,
                                 "mobility_m3_per_A_s": 6e-10, "distance_m": 1e-6,
                                 "pinning_rel": 0.1, "cross_section_m2": 1e-15}}}))
    code = main(["train", "--network", "synapse-mlp", "--bench",
                 "examples/benches/ferrimagnet_synapses.toml", "--sizes", "F",
                 "--calibration", str(path), "--epochs", "1", "--seeds", "0",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert "holds domain_wall size 'N', none of this run's synapse groups ['F']" in err
