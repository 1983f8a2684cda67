"""Characterization data is never mixed, duplicated or overwritten; a damaged file is one clear line.

A run is identified by the content of what defines it (the bench file's content and the
procedure's parameters), not by the bench file's path; ``--out`` is locked while a run writes
it; each procedure's summary and report are its own; a calibration names the chip it
measured; a damaged survey CSV, a bad ``--out`` or a missing run folder exits 2 with one line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devices.benchfile import default_bench_text
from procedures.cli import main as cli_main
from procedures.cli import run_characterization
from simhelpers import one_line_error

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["survey", "--devices", "S0", "--points", "6", "--coarse-points", "8", "--trials", "8",
         "--no-width-scan", "--no-progress"]


def bench_copy(path: Path, old: str = "", new: str = "") -> Path:
    text = default_bench_text()
    if old:
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def small_survey(tmp_path_factory) -> Path:
    """A finished one-device survey of the default bench (from a copy of its file)."""
    out = tmp_path_factory.mktemp("survey") / "run"
    bench = bench_copy(out.parent / "bench.toml")
    assert cli_main([*SMALL, "--bench", str(bench), "--out", str(out)]) == 0
    return out


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------- B4: identity
@pytest.mark.parametrize("old, new", [("seed = 20240503", "seed = 7"),
                                      ("delta_rel = 0.08", "delta_rel = 0.2")])
def test_resume_with_an_edited_bench_file_is_refused(small_survey, tmp_path, capsys, old, new):
    out = copy_run(small_survey, tmp_path / "run")
    bench = bench_copy(tmp_path / "bench.toml", old, new)     # same path shape, other chip
    before = (out / "survey.csv").read_bytes()
    assert cli_main([*SMALL, "--bench", str(bench), "--out", str(out), "--resume"]) == 2
    err = one_line_error(capsys)
    assert "bench" in err and "content" in err
    assert (out / "survey.csv").read_bytes() == before


def test_resume_with_the_same_bench_content_at_another_path_finishes(small_survey, tmp_path, capsys):
    out = copy_run(small_survey, tmp_path / "run")
    bench = bench_copy(tmp_path / "moved.toml")
    assert cli_main([*SMALL, "--bench", str(bench), "--out", str(out), "--resume"]) == 0
    assert "0 points measured" in capsys.readouterr().out


# ----------------------------------------------------------------------------- B5: lock on --out
def test_a_second_run_on_a_folder_in_use_is_refused_and_a_killed_runs_lock_is_stale(tmp_path, capsys):
    out = tmp_path / "run"
    csv_path = out / "survey.csv"
    args = ["survey", "--devices", "S", "--trials", "64", "--no-progress", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "procedures.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while not (csv_path.exists() and csv_path.read_text().count("\nchip1/S0,S,coarse") > 2):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        lines = csv_path.read_text().count("\n")
        assert cli_main([*args, "--resume"]) == 2
        err = one_line_error(capsys)
        assert "in use" in err and str(proc.pid) in err
        assert proc.poll() is None          # the first run goes on
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert csv_path.read_text().count("\n") >= lines
    # the killed run's lock is stale: a resume gets past it (and here stops at its parameters)
    assert cli_main([*args, "--trials", "32", "--resume"]) == 2
    err = one_line_error(capsys)
    assert "other parameters" in err and "in use" not in err


# ----------------------------------------------------------------------------- B11: no overwrite
def test_a_second_procedure_into_the_same_out_keeps_the_first_runs_outputs(tmp_path):
    out = tmp_path / "run"
    base = {"bench_file": "default", "backend": "sim"}
    first = run_characterization("rh-loop", {**base, "device": "chip1/L0", "points": 8}, out,
                                 progress=False)
    files = {p: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert json.loads(first["summary_path"].read_text()) == json.loads(
        json.dumps(first["summary"], default=float))
    second = run_characterization("ri-loop", {**base, "device": "chip1/S0", "points": 8}, out,
                                  progress=False)
    assert second["report"] != first["report"] and second["summary_path"] != first["summary_path"]
    for path, content in files.items():
        assert path.read_bytes() == content, f"{path.name} of the first run was overwritten"


# ----------------------------------------------------------------------------- B12: chip identity
def test_a_survey_calibration_names_the_chip_it_measured(small_survey):
    from devices.benchfile import load_bench_file
    from procedures.identity import bench_digest, chip_digest

    data = json.loads((small_survey / "calibration_chip1.json").read_text())
    chip = data["meta"]["chip_identity"]
    bench = load_bench_file(small_survey.parent / "bench.toml")
    assert chip["bench_sha256"] == bench_digest(bench) == bench_digest(load_bench_file(None))
    assert chip["chip_sha256"] == chip_digest(bench)
    assert chip["seed"] == 20240503 and chip["chip"] == "chip1"
    assert chip["devices"] == ["chip1/S0"] and chip["backend"] == "sim"


# ----------------------------------------------------------------------------- resume: no folder
def test_resume_of_a_folder_that_does_not_exist_says_so(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert cli_main([*SMALL, "--out", str(missing), "--resume"]) == 2
    err = one_line_error(capsys)
    assert "does not exist" in err and str(missing) in err
    assert not missing.exists()


# ----------------------------------------------------------------------------- B6: bad data files
def test_out_naming_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("not a folder\n")
    assert cli_main([*SMALL, "--out", str(target)]) == 2
    err = one_line_error(capsys)
    assert str(target) in err and "folder" in err
    assert target.read_text() == "not a folder\n"


def _damage_line(text: str, index: int, new: str) -> str:
    lines = text.splitlines(keepends=True)
    data = [i for i, line in enumerate(lines) if not line.startswith("#")]
    lines[data[index]] = new
    return "".join(lines)


def _field(line: str, column: int, value: str) -> str:
    fields = line.rstrip("\n").split(",")
    fields[column] = value
    return ",".join(fields) + "\n"


DAMAGE = {
    "non-utf8": lambda t: (_damage_line(t, 5, "chip1/S0,S,coarse,\xff\n"), "UTF-8"),
    "non-number": None,             # built in the test: one number field of a row replaced
    "torn-middle": lambda t: (_damage_line(t, 5, "chip1/S0,S,coarse,4,0.17\n"), "torn"),
    "edited-header": lambda t: (t.replace("Switching probability", "P switch"), "columns"),
    "duplicated-row": lambda t: (t + [ln + "\n" for ln in t.splitlines()
                                      if ln.startswith("chip1/S0,S,zoom,3,")][0], "twice"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_survey_csv_is_refused_on_resume(small_survey, tmp_path, capsys, case):
    out = copy_run(small_survey, tmp_path / "run")
    path = out / "survey.csv"
    text = path.read_text()
    if case == "non-number":
        line = [ln for ln in text.splitlines() if ln.startswith("chip1/S0,S,coarse,4,")][0]
        damaged = text.replace(line, _field(line, 9, "lots").rstrip("\n"))
        word = "number"
    else:
        damaged, word = DAMAGE[case](text)
    path.write_bytes(damaged.encode("latin-1") if case == "non-utf8" else damaged.encode())
    bench = small_survey.parent / "bench.toml"
    assert cli_main([*SMALL, "--bench", str(bench), "--out", str(out), "--resume"]) == 2
    err = one_line_error(capsys)
    assert word in err and "survey.csv" in err
