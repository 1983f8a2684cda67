"""An interrupted ``insitu_online`` run with a dead device, resumed, repeats the uninterrupted
run exactly: the online estimate, the device watch, the remapped neuron map and the device
events come back from the checkpoint (hil.train's run state), each event reported once. A
checkpoint without that state, or with a damaged one, is one line and exit 2."""

import json

import pytest
import torch

from hil import cli
from hil.train import PLAIN_VERSION, load_checkpoint, save_checkpoint
from simhelpers import one_line_error

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: the S devices of seed 1's chip: one of the eight is dead from the start (dead_fraction 0.1)
SETTINGS = """
modes = ["insitu_online"]
sizes = ["S"]
seeds = [1]
hidden = 16
repeats = 2
eval_repeats = 4
calibration = "truth"
current_levels = "continuous"
bench_projection = false
online_every = 2
[variability.high]
delta_rel = 0.25
ic0_rel = 0.2
resistance_rel = 0.05
[nonideal.dead]
dead_fraction = 0.1
temperature_drift_K_per_h = 12.0
"""
RUN = "insitu_online/S/high/dead/seed1"


def hil_train(config, out, epochs, *extra):
    return cli.main(["train", "--config", str(config), "--out", str(out), "--epochs", str(epochs),
                     "--no-progress", *extra])


def outcome(out) -> dict:
    """What a run reports (results.json less its wall-clock times) and its last run state."""
    results = json.loads((out / "results.json").read_text())
    for row in results["runs"]:
        row.pop("epoch_time_s")
    state = load_checkpoint(out / "checkpoints" / (RUN.replace("/", "_") + ".pt"))
    return {"runs": results["runs"], "curves": results["learning_curves"],
            "events": results["device_events"], "maps": results["neuron_maps"],
            "model": state["model"], "run_state": state["run_state"]}


def same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    return a == b


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("online")
    config = root / "run.toml"
    config.write_text(SETTINGS)
    straight, resumed = root / "straight", root / "resumed"
    assert hil_train(config, straight, 2) == 0
    assert hil_train(config, resumed, 1) == 0
    assert hil_train(config, resumed, 2, "--resume") == 0
    return config, straight, resumed


def test_a_resumed_online_run_with_a_dead_device_repeats_the_uninterrupted_one(runs, capsys):
    config, straight, resumed = runs
    a, b = outcome(straight), outcome(resumed)
    (event,) = a["events"][RUN]                   # the dead device, found once, in epoch 1
    assert event["batch"] <= 45 and event["neurons_moved"] == 2
    assert "stuck at 0" in event["answer"]
    assert event["device"] not in a["maps"][RUN]
    (row,) = a["runs"]
    assert row["online_refreshes"] == 45 and row["remapped_devices"] == 1  # 90 batches / 2
    assert same(a, b)
    # the layers play the estimate's last refresh, not the calibration they started with
    online = b["run_state"]["online_estimate"]["curves"]
    assert online["refreshes"] == 45 and online["base"]["source"].startswith("online estimate")
    assert all(layer["calibration"]["source"] == online["base"]["source"]
               for layer in b["run_state"]["neuron_maps"])
    # a finished run resumed again reports the same, its event still once
    assert hil_train(config, resumed, 2, "--resume") == 0
    assert same(outcome(resumed), a)


def _damaged(out, damage):
    path = out / "checkpoints" / (RUN.replace("/", "_") + ".pt")
    state = load_checkpoint(path)
    damage(state)
    save_checkpoint(path, state)


def _written_before_run_state(state):
    """What a spin-hil of before run state wrote: version 1, no run_state."""
    state["version"] = PLAIN_VERSION
    del state["run_state"]


@pytest.mark.parametrize("damage, message", [
    (lambda s: s["run_state"]["online_estimate"]["curves"].update(
        trials=s["run_state"]["online_estimate"]["curves"]["trials"][:3]),
     r"damaged run_state \(online trials is float64 of shape \(3, 48\), this run needs "
     r"float64 of shape \(8, 48\)\); delete it"),
    (lambda s: s["run_state"]["device_watch"]["watch"]["counts"].fill_(float("nan")),
     r"damaged run_state \(device watch counts: 72 of 72 values not finite\)"),
    (_written_before_run_state, r"\(version 1\) holds no run state, but this run keeps state between batches "
     r"\(device_watch, neuron_maps, online_estimate\): resuming would start it over"),
], ids=["truncated estimate", "watch not finite", "version 1"])
def test_a_checkpoint_without_or_with_a_damaged_run_state_is_one_line(runs, tmp_path, capsys,
                                                                      damage, message):
    import re
    import shutil

    config, _, resumed = runs
    out = tmp_path / "copy"
    shutil.copytree(resumed, out)
    _damaged(out, damage)
    assert hil_train(config, out, 3, "--resume") == 2
    err = one_line_error(capsys)
    assert re.search(message, err), err


def test_a_version_1_checkpoint_of_an_in_situ_run_on_steady_devices_resumes_as_before(tmp_path):
    """No online estimate, devices that do not drift: a checkpoint written before run state was
    kept still resumes, and exactly (a watch on devices that neither die nor stick finds
    nothing)."""
    config = tmp_path / "steady.toml"
    config.write_text(SETTINGS.split("[nonideal.dead]")[0].replace("insitu_online", "insitu")
                      .replace("hidden = 16", "hidden = 8"))
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert hil_train(config, straight, 2) == 0
    assert hil_train(config, resumed, 1) == 0
    run = "insitu_S_high_seed1.pt"
    path = resumed / "checkpoints" / run
    _written_before_run_state(state := load_checkpoint(path))
    save_checkpoint(path, state)
    assert hil_train(config, resumed, 2, "--resume") == 0
    curves = [json.loads((out / "results.json").read_text())["learning_curves"]
              for out in (straight, resumed)]
    assert len(curves[0]["insitu/S/high/seed1"]) == 2 and curves[0] == curves[1]
    assert load_checkpoint(path)["version"] == 2     # written again with its run state
