"""hil train never overwrites or mixes runs: checkpoints, calibrations and bad files.

A run's checkpoints are refused without ``--resume`` and for another run (its run id and the
bench file's content); a calibration from another chip is refused; a damaged calibration or
checkpoint, an ``--out`` naming a file or a resume of a missing folder exits 2 with one line;
a pulse too short for any device says to use a longer one, with units and no numpy repr.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from devices.benchfile import default_bench_text
from hil.cli import main as hil_main
from hil.experiment import run_experiment
from hil.train import CheckpointError, TrainConfig, load_checkpoint, save_checkpoint, train
from hil.data import load_digits_split
from procedures.calibration import CalibrationFileError, load_calibration
from simhelpers import one_line_error

SOFTWARE = ["train", "--modes", "software", "--seeds", "0", "--epochs", "1", "--hidden", "8",
            "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def checkpoints(out):
    return {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}


@pytest.fixture(scope="module")
def software_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    assert hil_main([*SOFTWARE, "--seeds", "0", "1", "--out", str(out)]) == 0
    return out


# ----------------------------------------------------------------------------- B11
def test_train_without_resume_on_a_folder_with_checkpoints_is_refused(software_run, tmp_path,
                                                                      capsys):
    out = shutil.copytree(software_run, tmp_path / "run")
    kept = checkpoints(out)
    assert hil_main([*SOFTWARE, "--epochs", "2", "--out", str(out)]) == 2
    err = one_line_error(capsys)
    assert "--resume" in err and "checkpoint" in err
    assert checkpoints(out) == kept


# ----------------------------------------------------------------------------- run id
def test_a_checkpoint_copied_over_another_runs_is_refused(software_run, tmp_path, capsys):
    out = shutil.copytree(software_run, tmp_path / "run")
    ckpt = out / "checkpoints"
    shutil.copy(ckpt / "software_seed0.pt", ckpt / "software_seed1.pt")
    assert hil_main([*SOFTWARE, "--seeds", "0", "1", "--epochs", "2", "--resume",
                     "--out", str(out)]) == 2
    err = one_line_error(capsys)
    assert "software/seed0" in err and "software/seed1" in err


def test_train_run_id_is_kept_in_the_checkpoint(tmp_path):
    data = load_digits_split()
    small = type(data)(data.x_train[:64], data.y_train[:64], data.x_test[:32], data.y_test[:32],
                       data.n_classes, "slice")
    net = torch.nn.Sequential(torch.nn.Linear(64, 10))
    path = tmp_path / "a.pt"
    train(net, small, TrainConfig(epochs=1, checkpoint=str(path), progress=False, run_id="a/1"))
    assert load_checkpoint(path)["config"]["run_id"] == "a/1"
    with pytest.raises(CheckpointError, match="run_id: checkpoint 'a/1', now 'b/2'"):
        train(net, small, TrainConfig(epochs=2, checkpoint=str(path), resume=True,
                                      progress=False, run_id="b/2"))
    # a checkpoint missing a key is a CheckpointError naming it, not a KeyError
    state = load_checkpoint(path)
    del state["shuffle_rng"]
    save_checkpoint(path, state)
    with pytest.raises(CheckpointError, match="shuffle_rng"):
        train(net, small, TrainConfig(epochs=2, checkpoint=str(path), resume=True,
                                      progress=False, run_id="a/1"))


def test_resume_with_an_edited_bench_file_is_refused(tmp_path, capsys):
    bench = tmp_path / "bench.toml"
    bench.write_text(default_bench_text())
    out = tmp_path / "run"
    assert hil_main([*SOFTWARE, "--bench", str(bench), "--out", str(out)]) == 0
    bench.write_text(default_bench_text().replace("seed = 20240503", "seed = 7"))
    assert hil_main([*SOFTWARE, "--bench", str(bench), "--epochs", "2", "--resume",
                     "--out", str(out)]) == 2
    assert "bench_sha256" in one_line_error(capsys)


def test_resume_of_a_folder_that_does_not_exist_says_so(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert hil_main([*SOFTWARE, "--resume", "--out", str(missing)]) == 2
    err = one_line_error(capsys)
    assert "does not exist" in err and str(missing) in err


# ----------------------------------------------------------------------------- B12
def _calibration_from(tmp_path, bench_text: str):
    """A calibration as a survey of the bench ``bench_text`` writes it (chip identity in meta)."""
    from devices.benchfile import parse_bench
    import tomllib

    from procedures.calibration import neel_brown_curve, save_calibration, ChipCalibration
    from procedures.identity import chip_identity

    bench = parse_bench(tomllib.loads(bench_text), bench_text, "bench.toml")
    names = [d.name for d in bench.devices()]
    curve = neel_brown_curve(2.4e-5, 32.0, 10e-9)
    cal = ChipCalibration("default", "chip1", 10e-9, {n: curve for n in names}, "survey",
                          {"chip_identity": chip_identity(bench, "chip1", names, "sim")})
    return save_calibration(cal, tmp_path / "cal.json")


def test_a_calibration_of_another_chip_is_refused(tmp_path, capsys):
    other = _calibration_from(tmp_path, default_bench_text().replace("seed = 20240503", "seed = 7"))
    assert hil_main([*SOFTWARE, "--calibration", str(other), "--out", str(tmp_path / "a")]) == 2
    err = one_line_error(capsys)
    assert "another chip" in err and str(other) in err and "seed 7" in err
    same = _calibration_from(tmp_path, default_bench_text())
    assert hil_main([*SOFTWARE, "--calibration", str(same), "--out", str(tmp_path / "b")]) == 0


# ----------------------------------------------------------------------------- B6
@pytest.mark.parametrize("kind", ["random-bytes", "directory"])
def test_a_calibration_that_is_no_json_file_is_one_line(tmp_path, capsys, kind):
    path = tmp_path / "cal.json"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(bytes(range(256)) * 4)
    assert hil_main([*SOFTWARE, "--calibration", str(path), "--out", str(tmp_path / "o")]) == 2
    assert str(path) in one_line_error(capsys)
    with pytest.raises(CalibrationFileError, match="folder" if kind == "directory" else "UTF-8"):
        load_calibration(path)          # the reader itself, as hil characterize and scripts use it


def test_out_naming_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    assert hil_main([*SOFTWARE, "--out", str(target)]) == 2
    err = one_line_error(capsys)
    assert str(target) in err and "folder" in err


# ----------------------------------------------------------------------------- B9
def test_a_too_short_pulse_advises_a_longer_one_with_units(tmp_path, capsys):
    assert hil_main(["train", "--modes", "insitu", "--sizes", "S", "--seeds", "0", "--epochs",
                     "1", "--calibration", "truth", "--width-s", "1e-12", "--no-progress",
                     "--out", str(tmp_path / "o")]) == 2
    err = one_line_error(capsys)
    assert "longer pulse" in err and "shorter" not in err
    assert "np.float64" not in err and " A" in err and "1e-12 s" in err

