"""Training with devices in the loop: learns, is reproducible, checkpoints and resumes."""

import pytest
import torch

from devices.benchfile import load_bench_file
from hil.simulated import SimulatedArrayBackend
from hil.calibration import calibrate_backend
from hil.data import load_digits_split
from hil.experiment import run_experiment
from hil.network import HiddenLayerNet
from hil.neuron import DeviceNeuron, round_robin
from hil.safety import device_current_limits
from hil.train import CheckpointError, TrainConfig, evaluate, load_checkpoint, train

BENCH = load_bench_file(None)
LIMITS = device_current_limits(BENCH)
DATA = load_digits_split()
# checkpoint / resume tests need the mechanics, not the accuracy: a 256-sample slice
SMALL = type(DATA)(DATA.x_train[:256], DATA.y_train[:256], DATA.x_test[:100], DATA.y_test[:100],
                   DATA.n_classes, "digits-slice")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def calibration():
    return calibrate_backend(SimulatedArrayBackend.from_bench(BENCH, seed=1), LIMITS, 10e-9)


def _net(calibration, size="S", seed=0, hidden=64):
    backend = SimulatedArrayBackend.from_bench(BENCH, seed=seed)
    names = backend.devices_of_size(size)
    layer = DeviceNeuron.from_calibration(backend, calibration, round_robin(hidden, names),
                                          LIMITS, repeats=2, eval_repeats=8)
    return HiddenLayerNet(64, hidden, 10, layer, torch.Generator().manual_seed(seed))


def test_learns_well_above_chance_on_the_simulated_array(calibration):
    net = _net(calibration, "S")
    history = train(net, DATA, TrainConfig(epochs=3, seed=0, progress=False))
    assert history.test_acc[-1] > 0.85          # chance is 0.10
    assert history.train_loss[-1] < history.train_loss[0]


def test_same_seed_same_numbers(calibration):
    runs = [train(_net(calibration, "M"), SMALL, TrainConfig(epochs=2, seed=4, progress=False))
            for _ in range(2)]
    assert runs[0].train_loss == runs[1].train_loss
    assert runs[0].test_acc == runs[1].test_acc
    other = train(_net(calibration, "M", seed=1), SMALL, TrainConfig(epochs=2, seed=4, progress=False))
    assert other.train_loss != runs[0].train_loss


def test_resume_continues_exactly(tmp_path, calibration):
    straight = train(_net(calibration), SMALL, TrainConfig(epochs=2, seed=0, progress=False))
    path = tmp_path / "run.pt"
    first = train(_net(calibration), SMALL, TrainConfig(epochs=1, seed=0, progress=False,
                                                       checkpoint=str(path)))
    assert load_checkpoint(path)["epoch"] == 0 and len(first.test_acc) == 1
    resumed = train(_net(calibration), SMALL, TrainConfig(epochs=2, seed=0, progress=False,
                                                         checkpoint=str(path), resume=True))
    assert resumed.train_loss == straight.train_loss
    assert resumed.test_acc == straight.test_acc


def test_checkpoint_loads_with_weights_only(tmp_path, calibration):
    path = tmp_path / "c.pt"
    train(_net(calibration), SMALL, TrainConfig(epochs=1, seed=0, progress=False, checkpoint=str(path)))
    state = torch.load(path, weights_only=True)
    assert state["version"] == 1 and "hidden.weight" in state["model"]
    assert state["neuron_rng"]["bit_generator"] == "PCG64"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_a_clear_error_naming_the_file(tmp_path, calibration, damage):
    path = tmp_path / "broken.pt"
    train(_net(calibration), SMALL, TrainConfig(epochs=1, seed=0, progress=False, checkpoint=str(path)))
    raw = path.read_bytes()
    path.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"\x00not a checkpoint" * 10,
                      "empty": b""}[damage])
    with pytest.raises(CheckpointError, match=r"broken\.pt.*corrupt or truncated"):
        train(_net(calibration), SMALL, TrainConfig(epochs=2, seed=0, progress=False,
                                                   checkpoint=str(path), resume=True))


def test_checkpoint_of_another_model_is_refused(tmp_path, calibration):
    path = tmp_path / "c.pt"
    train(_net(calibration, hidden=64), SMALL, TrainConfig(epochs=1, progress=False, checkpoint=str(path)))
    with pytest.raises(CheckpointError, match="does not fit this model"):
        train(_net(calibration, hidden=32), SMALL, TrainConfig(epochs=2, progress=False,
                                                              checkpoint=str(path), resume=True))


def test_eval_after_deploying_on_other_devices_keeps_the_weights(calibration):
    net = _net(calibration, "L")
    train(net, DATA, TrainConfig(epochs=2, seed=0, progress=False))
    weights = net.hidden.weight.detach().clone()
    backend = SimulatedArrayBackend.from_bench(BENCH, seed=9, chip_seed=123)
    other = calibrate_backend(backend, LIMITS, 10e-9)
    net.swap_neurons(DeviceNeuron.from_calibration(
        backend, other, round_robin(64, backend.devices_of_size("L")), LIMITS, eval_repeats=8))
    assert evaluate(net, DATA.x_test, DATA.y_test) > 0.85
    assert torch.equal(net.hidden.weight, weights)


def test_tiny_experiment_writes_table_csv_and_png_and_resumes(tmp_path):
    # continuous currents: the bench figures below count one slot per trial current
    config = {"seeds": [0], "epochs": 1, "sizes": ["S"], "hidden": 32,
              "variability": {"low": None}, "out_dir": str(tmp_path), "progress": False,
              "calibration": "truth", "current_levels": None}
    result = run_experiment(config)
    modes = {row["mode"] for row in result.runs}
    assert modes == {"software", "ideal_stochastic", "exsitu_uncalibrated", "exsitu", "insitu"}
    assert all(0.3 < row["test_acc"] <= 1.0 for row in result.runs)
    for name in ("runs.csv", "summary.csv", "results.json", "learning_curves.png",
                 "accuracy_vs_size.png", "table.txt"):
        assert (tmp_path / name).stat().st_size > 100
    assert "in-situ" in (tmp_path / "table.txt").read_text()
    # the in-situ row carries the bench cost: one batch measured through the BenchBackend
    (insitu,) = [r for r in result.runs if r["mode"] == "insitu"]
    projection = result.bench_projection["S"]
    assert projection["batch"] == [32, 32] and projection["devices"] == 8
    # O(runs) per device, not per trial: the bias field 5, per device its line resistance 13
    # and one batch of 32 x 4 currents + 2 calibration slots = 130 slots, 11 trigger-model runs
    # of <= 12 slots (a 10 ns trial with a 0.01 NPLC read is ~20 000 samples of the 81160A's
    # 262 144): 17 round trips for the first run, 9 for each further one (waveform and its
    # levels, sync, trigger model, fetch), +10 for the bench's first batch (its setup)
    # now (generator as master): each device's 130 distinct currents in one generator
    # message, one LogicTrigger start and one fetch, 12 round trips per device and batch (975
    # was the slot plan's figure); the bench's one-time setup (bias field, line resistances,
    # waveforms) is measured apart, from the first of two batches: 132
    assert projection["round_trips_per_batch"] == 96 and projection["setup_round_trips"] == 132
    assert projection["floor_s_per_batch"] < projection["bench_time_s_per_batch"]
    assert insitu["round_trips_per_batch"] == pytest.approx((132 + 45 * 96) / 45)
    assert insitu["bench_time_s"] == pytest.approx(
        projection["setup_bench_time_s"] + 45 * projection["bench_time_s_per_batch"])
    # a resumed run finds every run's last checkpoint and reports the same numbers
    resumed = run_experiment({**config, "resume": True, "bench_projection": False})
    assert [r["test_acc"] for r in resumed.runs] == [r["test_acc"] for r in result.runs]


def test_experiment_reads_a_characterization_file_for_the_benchs_own_chip(tmp_path):
    from hil.calibration import calibration_from_chip
    from procedures.calibration import save_calibration
    from simulated_bench.bench import SimulatedBench

    chip = SimulatedBench.from_config(BENCH).chip
    path = save_calibration(calibration_from_chip(chip, 10e-9, source="survey"), tmp_path / "cal.json")
    result = run_experiment({"seeds": [0], "epochs": 1, "sizes": ["S"], "hidden": 16,
                             "modes": ["insitu"], "variability": {"low": None},
                             "calibration": str(path), "out_dir": str(tmp_path / "out"),
                             "progress": False})
    (row,) = result.runs
    assert row["mode"] == "insitu" and row["test_acc"] > 0.5
    assert "simulated array of the bench's chip" in result.mappings[row["run"]]


def test_cli_options_become_an_experiment_config(tmp_path):
    import argparse

    from hil.config import DEMO_CONFIG, add_train_arguments, config_from_args

    parser = add_train_arguments(argparse.ArgumentParser())
    config = config_from_args(parser.parse_args(
        ["--epochs", "3", "--seeds", "4", "5", "--sizes", "S", "--modes", "insitu",
         "--high-variability", "0.3", "0.2", "--out", str(tmp_path), "--no-progress"]))
    assert config.epochs == 3 and config.seeds == (4, 5) and config.sizes == ("S",)
    assert config.modes == ("insitu",)
    assert dict(config.variability["high"]) == {"delta_rel": 0.3, "ic0_rel": 0.2,
                                                "resistance_rel": 0.05}
    assert config.variability["low"] is None
    assert config.progress is False and config.out_dir == str(tmp_path)
    demo = config_from_args(parser.parse_args(["--demo", "--seeds", "7"]))
    assert demo.epochs == DEMO_CONFIG["epochs"] == 6 and demo.seeds == (7,)
    assert demo.out_dir == DEMO_CONFIG["out_dir"]
    # an explicit option wins over the demo's, even when it equals the default
    assert config_from_args(parser.parse_args(["--demo", "--epochs", "20"])).epochs == 20
