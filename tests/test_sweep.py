"""hil sweep: spec refusals, an in-process sweep, resume after kill -9, a failing point, --ray
without Ray (a sweep on Ray: tests/test_sweep_ray.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hil.cli import main
from hil.sweep import load_spec, parse_spec, run_sweep
from hil.sweep.run import read_records

# two devices of size S, few trials: ~0.2 s a point
SURVEY = '[survey]\ntrials = 16\npoints = 6\ncoarse_points = 6\nreference_trials = 8\ndevices = "S0,S1"\n'


def _spec(tmp_path, body: str, name="spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


@pytest.mark.parametrize("body, message", [
    ('nmae = "x"\n' + SURVEY, "spec.toml:1: unknown sweep spec key 'nmae' (did you mean 'name'?)"),
    ('[axes]\n"variability.delta_rel" = [0.1]\n[survey]\ntrails = 8\n',
     "spec.toml:4: unknown survey parameter 'trails' (did you mean 'trials'?)"),
    ('[axes]\n"size.XL.width_m" = [1e-6]\n' + SURVEY, "names size 'XL', which the bench does not have"),
    ('[axes]\n"train.hiden" = [16]\n', "unknown experiment setting 'hiden' (did you mean 'hidden'?)"),
    ('[axes]\n"variability.delta_rel" = [-0.1]\n' + SURVEY, "delta_rel"),
    ('[axes]\n"variability.delta_rel" = [nan]\n' + SURVEY, "is not finite"),
    ('[axes]\nseed = [0]\n', "neither surveys nor trains"),
    ('[axes]\nseed = [0]\n[train]\nout_dir = "x"\n', "'out_dir' is set by the sweep"),
    ('[axes]\nseed = [0]\n[train]\nhidden = 0\n', "'hidden'"),
    ('mode = "random"\nsamples = 3\n[axes]\n"variability.delta_rel" = {min = 0.3, max = 0.1}\n' + SURVEY,
     "needs finite min < max"),
])
def test_spec_refusals_are_one_line_and_exit_2(tmp_path, capsys, body, message):
    path = _spec(tmp_path, body)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hil sweep: error: ") and len(err.splitlines()) == 1
    assert message in err
    assert not (tmp_path / "out").exists()        # nothing ran


def test_points_carry_explicit_seeds_and_ids_from_the_spec_only(tmp_path):
    spec = load_spec(_spec(tmp_path, '[axes]\n"variability.delta_rel" = [0.05, 0.2]\nseed = [3, 4]\n'
                           + SURVEY))
    assert [p.coords for p in spec.points] == [
        {"variability.delta_rel": 0.05, "seed": 3}, {"variability.delta_rel": 0.05, "seed": 4},
        {"variability.delta_rel": 0.2, "seed": 3}, {"variability.delta_rel": 0.2, "seed": 4}]
    assert [p.config["bench"]["seed"] for p in spec.points] == [3, 4, 3, 4]
    assert spec.points[2].config["bench"]["variability"]["delta_rel"] == 0.2
    assert len({p.id for p in spec.points}) == 4
    again = load_spec(tmp_path / "spec.toml")
    assert [p.id for p in again.points] == [p.id for p in spec.points]
    # a random sample is drawn from the spec's seed: the same points every time
    data = {"mode": "random", "samples": 5, "seed": 2,
            "axes": {"size.S.width_m": {"min": 40e-9, "max": 120e-9, "log": True}},
            "survey": {}}
    first, second = parse_spec(data), parse_spec(data)
    assert [p.id for p in first.points] == [p.id for p in second.points]
    widths = [p.coords["size.S.width_m"] for p in first.points]
    assert all(40e-9 <= w <= 120e-9 for w in widths) and len(set(widths)) == 5
    assert len({p.config["seed"] for p in first.points}) == 5


def test_in_process_sweep_writes_every_point_and_the_table(tmp_path, capsys):
    path = _spec(tmp_path, '[axes]\n"variability.delta_rel" = [0.05, 0.3]\nseed = [0, 1]\n' + SURVEY)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "4 points (4 run now, 0 failed)" in printed
    records = read_records(out)
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    assert all(r["metrics"]["survey.S.fitted"] >= 1 for r in records)   # 4 points: a fit may fail
    rows = json.loads((out / "table.json").read_text())["rows"]
    width = {r["variability.delta_rel"]: r for r in rows if r["metric"] == "survey.S.relative_width"}
    assert set(width) == {0.05, 0.3} and all(r["n"] == 2 for r in width.values())
    for spread, row in width.items():
        values = [r["metrics"]["survey.S.relative_width"] for r in records
                  if r["coords"]["variability.delta_rel"] == spread]
        assert row["mean"] == pytest.approx(sum(values) / 2)
        assert row["p10"] <= row["p50"] <= row["p90"]
    assert (out / "table.csv").read_text().startswith("variability.delta_rel,metric,n,failed,mean")
    assert (out / "sweep.png").stat().st_size > 5000
    # run again: nothing left to do, the same table
    assert main(["sweep", str(path), "--out", str(out), "--no-progress"]) == 0
    assert "4 points (0 run now, 0 failed)" in capsys.readouterr().out


def test_a_failing_point_is_recorded_and_the_rest_completes(tmp_path):
    # a chip of one S device has no S1: that point's survey fails when it runs
    spec = load_spec(_spec(tmp_path, '[axes]\n"size.S.count" = [1, 2]\n' + SURVEY))
    result = run_sweep(spec, tmp_path / "out", progress=False, plot=False)
    bad, good = result.records
    assert bad["status"] == "error" and "S1" in bad["error"] and bad["coords"] == {"size.S.count": 1}
    assert good["status"] == "ok" and good["metrics"]["survey.S.fitted"] == 2
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())["failed"]
    assert [f["id"] for f in failures] == [bad["id"]]
    # the failure stays recorded (not rerun) unless asked
    again = run_sweep(spec, tmp_path / "out", progress=False, plot=False)
    assert again.ran == []
    retried = run_sweep(spec, tmp_path / "out", progress=False, plot=False, retry_failed=True)
    assert retried.ran == [bad["id"]]


_RUN = """
import sys
from hil.cli import main
code = main(sys.argv[1:])
assert "ray" not in sys.modules, "the in-process sweep imported ray"
sys.exit(code)
"""


def test_resume_after_kill_9_finishes_only_the_missing_points(tmp_path):
    path = _spec(tmp_path, '[axes]\nseed = [0, 1, 2, 3, 4, 5]\n' + SURVEY)
    out = tmp_path / "out"
    argv = [sys.executable, "-c", _RUN, "sweep", str(path), "--out", str(out), "--no-progress",
            "--no-plot"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list((out / "points").glob("*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    kept = {p.name: p.read_bytes() for p in (out / "points").glob("*.json")}
    assert 2 <= len(kept) < 6, "the kill must land mid-sweep"
    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    # (a tiny survey may fail a fit: such a point is recorded too, and counts as done)
    assert f"6 points ({6 - len(kept)} run now, " in second.stdout
    records = read_records(out)
    assert len(records) == 6
    for name, content in kept.items():        # not repeated: the files of the first run, as written
        assert (out / "points" / name).read_bytes() == content
    by_first = {f"{r['id']}.json" for r in records if r["pid"] == first.pid}
    assert by_first == set(kept)              # the second run wrote only the missing ones
    assert len({r["pid"] for r in records if r["pid"] != first.pid}) == 1


def test_ray_missing_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)     # import ray -> ImportError
    path = _spec(tmp_path, '[axes]\nseed = [0]\n' + SURVEY)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--ray", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("hil sweep: error: --ray needs Ray, an optional extra: pip install "
                   "'spin-hil[ray]' (or run without --ray, in process)")


def test_limits_and_group_axes_reach_the_points_bench(tmp_path):
    spec = parse_spec({"axes": {"size.S.width_m": [50e-9], "limits.S.max_pulse_voltage_V": [0.4],
                                "train.hidden": [16]}, "train": {"epochs": 1}})
    (point,) = spec.points
    bench = point.config["bench"]
    assert bench["limits"]["S"]["max_pulse_voltage_V"] == 0.4
    assert [g["width_m"] for g in bench["chip"][0]["group"] if g["size"] == "S"] == [50e-9]
    assert point.config["train"]["hidden"] == 16 and point.config["train"]["epochs"] == 1
    assert point.config["survey"] is None
    with pytest.raises(Exception, match="names size 'XL'"):
        parse_spec({"axes": {"limits.XL.max_pulse_voltage_V": [0.4]}, "survey": {}})
