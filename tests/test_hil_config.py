"""The typed experiment config: every setting checked (one line naming it, the value, the
limit), unknown keys refused, TOML / dict round trips, and the checkpoint identity unchanged."""

import argparse
import dataclasses
import re

import pytest

from hil import cli
from hil.config import (DEFAULT_MODES, DEMO_CONFIG, FIELDS, MODES, ExperimentConfig, ExperimentConfigError,
                        add_train_arguments, config_from_args)
from hil.experiment import run_identity

# the identity a checkpoint written before hil.config existed holds for the default settings
# (printed by the dict-based code of commit 647d3e6): a resume compares against exactly this
LEGACY_DEFAULT_IDENTITY = {
    "bench": None, "dataset": "digits", "mnist_path": None, "split_seed": 0,
    "variability": {"low": None, "high": {"delta_rel": 0.25, "ic0_rel": 0.2, "resistance_rel": 0.05}},
    "batch_size": 32, "lr": 0.003, "hidden": 128, "repeats": 4, "eval_repeats": 16,
    "width_s": 1e-08, "calibration": "fit", "calibration_trials": 64, "saturation": 8.0,
    "headroom": 0.9}


def test_defaults_and_identity_keep_the_legacy_keys_and_values():
    # continuous currents keep the legacy identity (those checkpoints resume); the default's
    # 8 current levels are part of it (a continuous checkpoint does not resume as quantized)
    continuous = ExperimentConfig(current_levels=None)
    assert run_identity(continuous) == LEGACY_DEFAULT_IDENTITY
    assert list(run_identity(continuous)) == list(LEGACY_DEFAULT_IDENTITY)
    config = ExperimentConfig()
    assert run_identity(config) == {**LEGACY_DEFAULT_IDENTITY, "current_levels": 8}
    assert config.to_dict() == {
        **LEGACY_DEFAULT_IDENTITY, "current_levels": 8, "sizes": None, "seeds": [0, 1, 2],
        "epochs": 20,
        "modes": list(DEFAULT_MODES), "out_dir": "runs/hil", "resume": False, "checkpoints": True,
        "progress": True, "torch_threads": 1, "bench_projection": True, "nonideal": {"bench": None},
        "trial_time_s": 0.4e-3, "recalibrate_every": 45, "online_memory": 8.0, "online_every": 4,
        "remap": True}
    assert tuple(config.to_dict()) == FIELDS


def _every_field_changed(tmp_path) -> dict:
    calibration = tmp_path / "cal.json"
    calibration.write_text("{}")
    return {"bench": str(tmp_path / "bench.toml"), "dataset": "mnist",
            "mnist_path": str(tmp_path / "mnist"), "split_seed": 5, "sizes": ["S", "L"],
            "variability": {"bench": None, "wide": {"delta_rel": 0.3, "ic0_rel": 0.1}},
            "seeds": [3, 4], "epochs": 7, "batch_size": 16, "lr": 0.01, "hidden": 48,
            "repeats": 2, "eval_repeats": 8, "width_s": 2e-8, "calibration": str(calibration),
            "calibration_trials": 32, "saturation": 6.0, "headroom": 0.8, "current_levels": 6,
            "modes": ["software", "insitu"], "out_dir": str(tmp_path / "out"), "resume": True,
            "checkpoints": False, "progress": False, "torch_threads": 2,
            "bench_projection": False,
            "nonideal": {"bench": None, "drifty": {"preset": "strong", "wear_life_cycles": 1e12}},
            "trial_time_s": 1e-3,
            "recalibrate_every": 10, "online_memory": 4.0, "online_every": 2, "remap": False}


def test_a_toml_file_sets_every_field_and_round_trips_through_a_dict(tmp_path):
    settings = _every_field_changed(tmp_path)
    assert set(settings) == set(FIELDS)
    assert all(settings[k] != v for k, v in ExperimentConfig().to_dict().items())
    lines = [f"{k} = {_toml(v)}" for k, v in settings.items() if k not in ("variability", "nonideal")]
    lines += ["[variability]", 'bench = "bench"',          # TOML has no null: the bench's own
              "[variability.wide]", "delta_rel = 0.3", "ic0_rel = 0.1",
              "[nonideal]", 'bench = "bench"',
              "[nonideal.drifty]", 'preset = "strong"', "wear_life_cycles = 1e12"]
    path = tmp_path / "experiment.toml"
    path.write_text("\n".join(lines) + "\n")

    config = ExperimentConfig.from_toml(path)
    assert config.to_dict() == settings                     # every field, as plain data
    assert config.sizes == ("S", "L") and config.seeds == (3, 4)
    assert config.modes == ("software", "insitu")
    assert config.variability["bench"] is None
    assert dict(config.variability["wide"]) == {"delta_rel": 0.3, "ic0_rel": 0.1}
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    assert ExperimentConfig(**settings) == config
    changed = config.replace(epochs=9)
    assert changed.epochs == 9 and config.epochs == 7
    assert dataclasses.replace(changed, epochs=7) == config


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def test_a_config_is_frozen_down_to_its_variability_levels():
    config = ExperimentConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    with pytest.raises(TypeError):
        config.variability["low"] = {}
    with pytest.raises(TypeError):
        config.variability["high"]["delta_rel"] = 0.9


def test_lists_numbers_and_paths_are_stored_in_one_form(tmp_path):
    import numpy as np

    config = ExperimentConfig(seeds=[np.int64(2)], lr=1, width_s=np.float32(2e-8),
                              out_dir=tmp_path, sizes=["M"], modes=["exsitu"])
    assert config.seeds == (2,) and type(config.seeds[0]) is int
    assert config.lr == 1.0 and type(config.lr) is float and type(config.width_s) is float
    assert config.out_dir == str(tmp_path) and config.sizes == ("M",)


REFUSALS = [
    ({"bench": 3}, r"'bench' \(--bench\) must be a bench file path, a dict, a BenchFile or None"
                   r".*got 3"),
    ({"dataset": "cifar"}, r"'dataset' \(--dataset\) must be 'digits' or 'mnist', got 'cifar'"),
    ({"dataset": "mnist"}, r"'dataset' is 'mnist' but 'mnist_path' is not set.*--mnist PATH"),
    ({"mnist_path": ""}, r"'mnist_path' \(--mnist\) must be a path, got ''"),
    ({"split_seed": -1}, r"'split_seed' must be an integer >= 0, got -1"),
    ({"sizes": "S"}, r"'sizes' \(--sizes\) must be a list of at least one device size.*got 'S'"),
    ({"sizes": []}, r"'sizes' .*at least one device size .*got \[\]"),
    ({"sizes": [1]}, r"'sizes' .*got \[1\]"),
    ({"variability": {}}, r"'variability' .* must be a mapping of at least one level.*got \{\}"),
    ({"variability": [0.1]}, r"'variability' .*got \[0.1\]"),
    ({"variability": {"": None}}, r"'variability' .* must be keyed by non-empty level names, got ''"),
    ({"variability": {"high": [0.1]}}, r"variability level 'high' must be None .*'bench' in TOML"
                                       r".*got \[0.1\]"),
    ({"variability": {"high": {"delta_rel": -0.1}}},
     r"variability level 'high': spread 'delta_rel' must be a finite number >= 0, got -0.1"),
    ({"variability": {"high": {"ic0_rel": float("nan")}}}, r"spread 'ic0_rel' .*got nan"),
    ({"variability": {"high": {"delta": 0.2}}},
     r"variability level 'high': 'delta' is not a spread any device kind draws; known: "
     r".*delta_rel, .*ic0_rel, .*resistance_rel"),
    ({"seeds": []}, r"'seeds' \(--seeds\) must be a list of at least one seed, got \[\]"),
    ({"seeds": "0"}, r"'seeds' .*got '0'"),
    ({"seeds": [0, -1]}, r"'seeds' \(--seeds\) must be integers >= 0, got -1"),
    ({"seeds": [0.5]}, r"'seeds' .* integers >= 0, got 0.5"),
    ({"epochs": 0}, r"'epochs' \(--epochs\) must be an integer >= 1, got 0"),
    ({"epochs": 1.5}, r"'epochs' .* integer >= 1, got 1.5"),
    ({"epochs": True}, r"'epochs' .* integer >= 1, got True"),
    ({"batch_size": 0}, r"'batch_size' \(--batch-size\) must be an integer >= 1, got 0"),
    ({"lr": 0}, r"'lr' \(--lr\) must be a finite number > 0, got 0"),
    ({"lr": float("inf")}, r"'lr' .* > 0, got inf"),
    ({"hidden": 0}, r"'hidden' \(--hidden\) must be an integer >= 1, got 0"),
    ({"repeats": 0}, r"'repeats' \(--repeats\) must be an integer >= 1, got 0"),
    ({"eval_repeats": 0}, r"'eval_repeats' \(--eval-repeats\) must be None or an integer "
                          r">= 1, got 0"),
    ({"width_s": -1e-9}, r"'width_s' \(--width-s\) must be a finite number > 0, got -1e-09"),
    ({"calibration": ""}, r"'calibration' \(--calibration\) must be 'fit', 'truth' or a "
                          r"calibration JSON path, got ''"),
    ({"calibration": "nowhere.json"}, r"'calibration' \(--calibration\): no file 'nowhere.json'; "
                                      r"give 'fit', 'truth' or the path"),
    ({"calibration_trials": 0}, r"'calibration_trials' must be an integer >= 1, got 0"),
    ({"saturation": 0.0}, r"'saturation' must be a finite number > 0, got 0.0"),
    ({"headroom": 1.5}, r"'headroom' must be a finite number in \(0, 1\], got 1.5"),
    ({"headroom": 0}, r"'headroom' .* in \(0, 1\], got 0"),
    ({"current_levels": 1}, r"'current_levels' \(--current-levels\) must be 'continuous' "
                            r"\(None\) or an integer >= 2, got 1"),
    ({"current_levels": 4.0}, r"'current_levels' .*got 4.0"),
    ({"current_levels": True}, r"'current_levels' .*got True"),
    ({"current_levels": "none"}, r"'current_levels' .*got 'none'"),
    ({"modes": []}, r"'modes' \(--modes\) must be a list of at least one of \('software', .*got \[\]"),
    ({"modes": "software"}, r"'modes' .*got 'software'"),
    ({"modes": ["software", "bogus"]}, r"unknown modes \['bogus'\]; choose from \('software'"),
    ({"out_dir": ""}, r"'out_dir' \(--out\) must be a folder path, got ''"),
    ({"resume": "yes"}, r"'resume' \(--resume\) must be true or false, got 'yes'"),
    ({"checkpoints": 1}, r"'checkpoints' must be true or false, got 1"),
    ({"progress": None}, r"'progress' \(--no-progress\) must be true or false, got None"),
    ({"torch_threads": -1}, r"'torch_threads' must be None or an integer >= 0, got -1"),
    ({"bench_projection": "no"}, r"'bench_projection' must be true or false, got 'no'"),
    ({"nonideal": ["chaos"]}, r"'nonideal' \(--nonideal\) must be one of .*got 'chaos'"),
    ({"nonideal": {"x": {"preset": "wild"}}}, r"non-ideality level 'x': \[nonideal.preset\] must be"),
    ({"trial_time_s": 0}, r"'trial_time_s' \(--trial-time-s\) must be a finite number > 0, got 0"),
    ({"recalibrate_every": 0}, r"'recalibrate_every' .* >= 1, got 0"),
    ({"online_memory": -1}, r"'online_memory' .* > 0, got -1"),
    ({"online_every": 0}, r"'online_every' .* >= 1, got 0"),
    ({"remap": "yes"}, r"'remap' \(--no-remap\) must be true or false, got 'yes'"),
    ({"hiden": 3}, r"unknown experiment setting 'hiden' \(did you mean 'hidden'\?\); accepted: "
                   r"bench, dataset, .*, bench_projection, nonideal, .*, remap"),
    ({"nothing_like_it": 3}, r"unknown experiment setting 'nothing_like_it'; accepted: bench,"),
]


@pytest.mark.parametrize("settings, message", REFUSALS)
def test_each_bad_setting_is_refused_in_one_line(settings, message):
    with pytest.raises(ExperimentConfigError) as caught:
        ExperimentConfig.from_dict(settings)
    assert re.search(message, str(caught.value)), str(caught.value)
    assert "\n" not in str(caught.value)


def test_every_field_has_a_refusal_above():
    refused = {k for settings, _ in REFUSALS for k in settings}
    assert set(FIELDS) <= refused


def test_a_bad_toml_file_is_one_line(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("epochs = \n")
    with pytest.raises(ExperimentConfigError, match=r"broken.toml' is not valid TOML .*fix the file"):
        ExperimentConfig.from_toml(broken)
    with pytest.raises(ExperimentConfigError, match=r"missing.toml' cannot be read \(No such file"):
        ExperimentConfig.from_toml(tmp_path / "missing.toml")
    typo = tmp_path / "typo.toml"
    typo.write_text("epoch = 3\n")
    with pytest.raises(ExperimentConfigError, match=r"'epoch' \(did you mean 'epochs'\?\)"):
        ExperimentConfig.from_toml(typo)


def test_cli_layers_defaults_file_demo_and_explicit_options(tmp_path):
    path = tmp_path / "experiment.toml"
    path.write_text('epochs = 3\nhidden = 24\nheadroom = 0.7\nseeds = [1]\n'
                    '[variability]\nlow = "bench"\n')
    parser = add_train_arguments(argparse.ArgumentParser())
    config = config_from_args(parser.parse_args(["--config", str(path), "--hidden", "12"]))
    assert (config.epochs, config.hidden, config.headroom, config.seeds) == (3, 12, 0.7, (1,))
    assert dict(config.variability) == {"low": None}
    assert config.out_dir == ExperimentConfig().out_dir and config.lr == ExperimentConfig().lr
    demo = config_from_args(parser.parse_args(["--config", str(path), "--demo"]))
    assert (demo.epochs, demo.seeds, demo.hidden) == (DEMO_CONFIG["epochs"], (0, 1, 2), 24)
    # --high-variability edits the file's levels (and adds 'high' if the file has none)
    wide = config_from_args(parser.parse_args(["--config", str(path),
                                               "--high-variability", "0.3", "0.1"]))
    assert dict(wide.variability["high"]) == {"delta_rel": 0.3, "ic0_rel": 0.1}
    mnist = config_from_args(parser.parse_args(["--mnist", str(tmp_path)]))
    assert mnist.dataset == "mnist" and mnist.mnist_path == str(tmp_path)
    assert config_from_args(parser.parse_args([])) == ExperimentConfig()


def test_hil_train_with_a_bad_config_file_exits_2_in_one_line(tmp_path, capsys):
    path = tmp_path / "experiment.toml"
    path.write_text("headroom = 2.0\n")
    assert cli.main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err == ("hil train: error: experiment setting 'headroom' must be a finite number in "
                   "(0, 1], got 2.0\n")


def test_current_levels_continuous_spelling_cli_and_identity(tmp_path):
    assert ExperimentConfig(current_levels="continuous").current_levels is None
    path = tmp_path / "k.toml"
    path.write_text('current_levels = "continuous"\n')
    assert ExperimentConfig.from_toml(path).current_levels is None
    parser = add_train_arguments(argparse.ArgumentParser())
    assert config_from_args(parser.parse_args(["--current-levels", "8"])).current_levels == 8
    assert config_from_args(parser.parse_args(["--current-levels", "continuous"])).current_levels is None
    with pytest.raises(ExperimentConfigError, match="got 'eight'"):
        config_from_args(parser.parse_args(["--current-levels", "eight"]))
    # continuous runs keep the legacy identity; any K is part of it (no resume across K)
    assert "current_levels" not in run_identity(ExperimentConfig(current_levels=None))
    assert run_identity(ExperimentConfig(current_levels=8))["current_levels"] == 8
