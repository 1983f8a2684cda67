"""A survey killed with SIGKILL keeps readable results; --resume completes it exactly once."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymeasure.experiment import Results

from procedures.cli import main as cli_main
from procedures.runner import point_key, read_points

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["survey", "--devices", "S0,S1,S2,L0,L1,L2", "--trials", "16", "--points", "8",
        "--coarse-points", "16", "--no-progress"]
DEVICES = [f"chip1/{s}{i}" for s in "SL" for i in range(3)]
EXPECTED = {(d, "line", 0) for d in DEVICES} | {(d, "coarse", i) for d in DEVICES for i in range(16)} \
    | {(d, "zoom", i) for d in DEVICES for i in range(16)} \
    | {(d, "levels", i) for d in DEVICES for i in range(2)} | {(d, "fine", i) for d in DEVICES for i in range(8)} \
    | {(d, f"width{k}", i) for d in ("chip1/S0", "chip1/L0") for k in (1, 2, 3) for i in range(8)}


def same(a: dict, b: dict) -> bool:
    """Row equality with NaN == NaN (empty cells of the line-resistance rows)."""
    return a.keys() == b.keys() and all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        for x, y in ((a[k], b[k]) for k in a))


def data_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line and not line.startswith("#")) - 1


@pytest.mark.parametrize("kill_at", [0.3, 0.9])   # mid-survey; during the width scans
def test_kill_9_then_resume(tmp_path, kill_at):
    out = tmp_path / "run"
    csv_path = out / "survey.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "procedures.cli", *ARGS, "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while data_lines(csv_path) < int(kill_at * len(EXPECTED)):
            assert proc.poll() is None, f"survey ended before the kill: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "survey made no progress"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # the killed run left a readable pymeasure Results file holding part of the survey
    before = csv_path.read_text()
    results = Results.load(str(csv_path))
    assert 0 < len(results.data) < len(EXPECTED)
    _, rows_before = read_points(csv_path)
    complete_before = {point_key(r, ("Device", "Phase", "Point")): r for r in rows_before}

    # the same command with --resume finishes it
    assert cli_main([*ARGS, "--out", str(out), "--resume"]) == 0
    _, rows = read_points(csv_path)
    keys = [point_key(r, ("Device", "Phase", "Point")) for r in rows]
    assert len(keys) == len(set(keys)), "a point was recorded twice"
    assert set(keys) == EXPECTED, "a point is missing"
    # nothing that was on disk before the kill was changed (a torn last line aside)
    kept = before if before.endswith("\n") else before[: before.rfind("\n") + 1]
    assert csv_path.read_text().startswith(kept)
    for key, row in complete_before.items():
        assert same(rows[keys.index(key)], row), key
    assert (out / "calibration_chip1.json").stat().st_size > 0
    assert (out / "report.md").stat().st_size > 0


def test_resume_refuses_other_parameters(tmp_path, capsys):
    out = tmp_path / "run"
    small = ["survey", "--devices", "S0", "--points", "6", "--coarse-points", "8",
             "--no-width-scan", "--no-progress", "--out", str(out)]
    assert cli_main([*small, "--trials", "8"]) == 0
    assert cli_main([*small, "--trials", "9", "--resume"]) == 2
    assert "other parameters" in capsys.readouterr().err
    # the same parameters: nothing left to measure
    assert cli_main([*small, "--trials", "8", "--resume"]) == 0
    assert "0 points measured" in capsys.readouterr().out
