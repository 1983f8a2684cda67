"""Regressions: the layer plays the width its curves describe, a resume keeps its settings,
and experiment settings are checked up front (one clear error, ``hil train`` exits 2)."""

import numpy as np
import pytest
import torch

from devices.benchfile import load_bench_file
from hil import cli
from hil.simulated import SimulatedArrayBackend
from hil.calibration import calibration_from_chip
from procedures.calibration import (CalibrationError, ChipCalibration, logistic_curve,
                                    save_calibration)
from hil.data import load_digits_split
from hil.experiment import ExperimentConfigError, run_experiment
from hil.network import HiddenLayerNet
from hil.neuron import DeviceNeuron, StochasticSigmoidNeuron, round_robin
from hil.safety import device_current_limits
from hil.train import CheckpointError, TrainConfig, train

BENCH = load_bench_file(None)
LIMITS = device_current_limits(BENCH)


# ---------------------------------------------------------------- 1. the width actually played
def test_layer_rebuilds_neel_brown_curves_at_the_width_it_plays():
    backend = SimulatedArrayBackend.from_bench(BENCH, seed=0)
    names = backend.devices_of_size("M")
    at_20ns = calibration_from_chip(backend.chips[0], 20e-9, names)
    at_10ns = calibration_from_chip(backend.chips[0], 10e-9, names)
    neurons = round_robin(64, names)
    layer = DeviceNeuron.from_calibration(backend, at_20ns, neurons, LIMITS, width_s=10e-9,
                                          repeats=1, eval_repeats=64)
    reference = DeviceNeuron.from_calibration(backend, at_10ns, neurons, LIMITS, repeats=1,
                                              eval_repeats=64)
    assert layer.width_s == 10e-9
    assert torch.allclose(layer.mapping.centre_A, reference.mapping.centre_A)
    assert torch.allclose(layer.mapping.gain_A, reference.mapping.gain_A)
    zeros = torch.zeros(64, 64)
    assert torch.allclose(layer.expected(zeros), torch.full_like(zeros, 0.5), atol=1e-3)
    layer.eval()
    with torch.no_grad():
        p = float(layer(zeros).mean())
    assert abs(p - 0.5) < 0.05          # was 0.29: centred on the 20 ns I50


def test_a_logistic_curve_at_another_width_is_refused():
    cal = ChipCalibration("", "", 20e-9, {"d": logistic_curve(40e-6, 1e6, 20e-9)}, "survey.json")
    backend = type("B", (), {"device_names": ["d"]})()
    with pytest.raises(CalibrationError, match=r"logistic curve of device 'd'.*20 ns|fitted at "
                                               r"width_s=2e-08 s.*1e-08 s wide"):
        DeviceNeuron.from_calibration(backend, cal, ["d"], {"d": 80e-6}, width_s=10e-9)
    with pytest.raises(CalibrationError, match="--width-s 2e-08"):
        cal.at_width(10e-9)
    assert cal.at_width(20e-9) is cal


def test_experiment_moves_a_calibration_file_to_the_width_played(tmp_path, capsys):
    from simulated_bench.bench import SimulatedBench

    chip = SimulatedBench.from_config(BENCH).chip
    path = save_calibration(calibration_from_chip(chip, 20e-9), tmp_path / "survey.json")
    result = run_experiment({"seeds": [0], "epochs": 1, "sizes": ["M"], "hidden": 16,
                             "variability": {"low": None}, "out_dir": str(tmp_path / "run"),
                             "progress": False, "calibration": str(path), "modes": ["insitu"],
                             "width_s": 10e-9, "bench_projection": False, "checkpoints": False})
    assert "width 1e-08 s" in result.mappings["insitu/M/low/seed0"]
    # a logistic survey only holds at its own width: refused, one line, exit 2
    logistic = ChipCalibration("", "", 20e-9, {n: logistic_curve(40e-6, 1e6, 20e-9) for n in chip.names},
                           "logistic survey")
    path = save_calibration(logistic, tmp_path / "logistic.json")
    rc = cli.main(["train", "--modes", "insitu", "--seeds", "0", "--epochs", "1", "--sizes", "M",
                   "--no-progress", "--calibration", str(path), "--width-s", "1e-8",
                   "--out", str(tmp_path / "run2")])
    err = capsys.readouterr().err
    assert rc == 2 and "fitted at width_s=2e-08 s" in err and "--width-s 2e-08" in err


def test_a_calibration_missing_a_device_names_it_and_the_devices_it_has():
    cal = ChipCalibration("", "", 10e-9, {"chip1/S0": logistic_curve(40e-6, 1e6, 10e-9)},
                          "survey.json")
    with pytest.raises(CalibrationError, match=r"survey.json.*'chip1/M3'.*\['chip1/S0'\]"):
        cal["chip1/M3"]


# ---------------------------------------------------------------- 2. resume keeps its settings
DATA = load_digits_split()
SMALL = type(DATA)(DATA.x_train[:128], DATA.y_train[:128], DATA.x_test[:64], DATA.y_test[:64],
                   DATA.n_classes, "digits-slice")


def _net():
    return HiddenLayerNet(64, 16, 10, StochasticSigmoidNeuron(2, seed=0),
                          torch.Generator().manual_seed(0))


def _cfg(path, **kw):
    return TrainConfig(**{"epochs": 2, "seed": 0, "progress": False, "checkpoint": str(path),
                          "resume": True, **kw})


def test_resume_with_other_training_settings_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    train(_net(), SMALL, _cfg(path, epochs=1, run={"width_s": 1e-8, "repeats": 4}))
    for change, key in (({"lr": 1e-2}, "lr"), ({"batch_size": 16}, "batch_size"),
                        ({"seed": 3}, "seed"),
                        ({"run": {"width_s": 2e-8, "repeats": 4}}, "width_s"),
                        ({"run": {"width_s": 1e-8, "repeats": 1}}, "repeats")):
        kw = {"run": {"width_s": 1e-8, "repeats": 4}, **change}
        with pytest.raises(CheckpointError, match=rf"{key}: checkpoint .*another --out"):
            train(_net(), SMALL, _cfg(path, **kw))
    # more epochs, another progress / description: fine
    history = train(_net(), SMALL, _cfg(path, epochs=2, desc="again",
                                        run={"width_s": 1e-8, "repeats": 4}))
    assert len(history.test_acc) == 2


def test_resume_past_the_requested_epochs_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    done = train(_net(), SMALL, _cfg(path, epochs=2))
    with pytest.raises(CheckpointError, match="already trained 2 epochs.*--epochs 2"):
        train(_net(), SMALL, _cfg(path, epochs=1))
    assert train(_net(), SMALL, _cfg(path, epochs=2)).test_acc == done.test_acc


def test_experiment_resume_with_other_settings_exits_2(tmp_path, capsys):
    out = str(tmp_path / "run")
    base = ["train", "--modes", "software", "--seeds", "0", "--epochs", "1", "--hidden", "8",
            "--no-progress", "--out", out]
    assert cli.main(base) == 0
    capsys.readouterr()
    assert cli.main(base + ["--resume", "--lr", "0.01"]) == 2
    err = capsys.readouterr().err
    assert "lr: checkpoint 0.003, now 0.01" in err and "--out" in err
    assert cli.main(base + ["--resume", "--width-s", "2e-8"]) == 2
    assert "width_s" in capsys.readouterr().err
    assert cli.main(base + ["--resume", "--epochs", "2"]) == 0


# ---------------------------------------------------------------- 3. settings checked up front
@pytest.mark.parametrize("args, message", [
    (["--repeats", "0"], r"'repeats' \(--repeats\) must be an integer >= 1, got 0"),
    (["--eval-repeats", "0"], r"'eval_repeats' .* >= 1, got 0"),
    (["--epochs", "0"], r"'epochs' \(--epochs\) must be an integer >= 1, got 0"),
    (["--width-s", "-1"], r"'width_s' \(--width-s\) must be a finite number > 0, got -1"),
    (["--hidden", "0"], r"'hidden' \(--hidden\) must be an integer >= 1, got 0"),
    (["--batch-size", "0"], r"'batch_size' .* >= 1, got 0"),
    (["--lr", "nan"], r"'lr' .* > 0, got nan"),
    (["--sizes", "XL"], r"'sizes' \(--sizes\): \['XL'\] not on chip .*allowed: \["),
])
def test_bad_settings_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    rc = cli.main(["train", "--modes", "software", "--seeds", "0", "--no-progress",
                   "--out", str(tmp_path)] + args)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("hil train: error: ") and err.count("\n") == 1
    assert __import__("re").search(message, err), err


def test_config_errors_are_value_errors_and_name_the_setting():
    with pytest.raises(ExperimentConfigError, match="headroom.*in \\(0, 1\\]"):
        run_experiment({"headroom": 1.5})
    with pytest.raises(ValueError, match="unknown experiment setting 'hiden'"):
        run_experiment({"hiden": 3})
    with pytest.raises(ValueError, match="repeats must be an integer >= 1, got 0"):
        StochasticSigmoidNeuron(repeats=0)


def test_a_calibration_file_missing_a_device_exits_2(tmp_path, capsys):
    from simulated_bench.bench import SimulatedBench

    chip = SimulatedBench.from_config(BENCH).chip
    path = save_calibration(calibration_from_chip(chip, 10e-9, chip.names[:1]),
                            tmp_path / "one.json")
    rc = cli.main(["train", "--modes", "insitu", "--seeds", "0", "--epochs", "1", "--sizes", "M",
                   "--no-progress", "--calibration", str(path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "has no device 'chip1/M" in err and repr(chip.names[0]) in err


def test_a_calibration_of_another_model_kind_is_one_line(tmp_path, capsys):
    import json

    from hil.cli import main

    path = tmp_path / "dw.json"
    path.write_text(json.dumps({
        "format": "spin-hil-calibration", "version": 1, "width_s": 2e-8,
        "devices": {"chip1/S0": {"model": "domain_wall", "jdep_A_m2": 3e10,
                                 "mobility_m3_per_A_s": 6e-10, "distance_m": 1e-6,
                                 "pinning_rel": 0.1, "cross_section_m2": 1e-15}}}))
    code = main(["train", "--calibration", str(path), "--epochs", "1", "--seeds", "0",
                 "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert "'chip1/S0' as a domain_wall model" in err and "needs neel_brown or logistic" in err
