"""pyvisa's backend by name, ``@spinhil`` (issue 11, part 3): any pyvisa client, pymeasure's
``visa_library="@spinhil"`` included, reaches the simulated bench with no spin-hil import;
one name is one lab (pymeasure makes a ResourceManager per instrument); the project's own
``backend="sim"`` opens a fresh bench through the same door."""

from __future__ import annotations

import subprocess
import sys

import pytest
import pyvisa
from pyvisa.highlevel import get_wrapper_class

from devices.benchfile import default_bench_text
from procedures.session import open_bench
from procedures.variability import survey_chip

DEFAULT_ADDRESSES = {"GPIB0::10::INSTR", "GPIB0::18::INSTR", "GPIB0::24::INSTR",
                     "GPIB0::16::INSTR", "GPIB0::6::INSTR"}
GEN, SMU, SWITCH, MAGNET = "GPIB0::10::INSTR", "GPIB0::18::INSTR", "GPIB0::16::INSTR", "GPIB0::6::INSTR"
READ_CURRENT_A = 1e-5


def test_a_plain_python_lists_the_default_bench_by_name(tmp_path):
    # a fresh interpreter outside the repository: what `pip install` gives a user
    out = subprocess.run(
        [sys.executable, "-c",
         'import pyvisa; print(pyvisa.ResourceManager("@spinhil").list_resources())'],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert set(eval(out.stdout)) == DEFAULT_ADDRESSES


def test_one_name_is_one_lab_and_private_benches_are_not_shared(tmp_path, monkeypatch):
    backend = get_wrapper_class("spinhil")
    default = pyvisa.ResourceManager("@spinhil").visalib
    assert pyvisa.ResourceManager("@spinhil").visalib is default
    assert backend("").bench is default.bench                  # pyvisa calls cls(path) again
    (tmp_path / "lab.toml").write_text(default_bench_text())
    monkeypatch.chdir(tmp_path)
    by_file = pyvisa.ResourceManager(f"{tmp_path / 'lab.toml'}@spinhil").visalib
    assert pyvisa.ResourceManager("lab.toml@spinhil").visalib is by_file   # resolved path
    assert by_file.bench is not default.bench
    mine, yours = backend.private(), backend.private()
    assert mine.bench is not yours.bench and mine.bench is not default.bench


def test_a_missing_bench_file_fails_with_its_name(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(Exception, match="nope.toml.*does not exist"):
        pyvisa.ResourceManager(f"{missing}@spinhil")


def test_pymeasure_instruments_of_one_name_share_the_bench(tmp_path):
    """A pulse from the generator (one ResourceManager) switches the device that a pymeasure
    Keithley2450 (its own ResourceManager, same name) then reads."""
    from pymeasure.instruments.keithley import Keithley2450

    bench_path = tmp_path / "bench.toml"                # a lab of this test's own
    bench_path.write_text(default_bench_text())
    spec = f"{bench_path}@spinhil"
    smu = Keithley2450(SMU, visa_library=spec, timeout=10_000)
    rm = pyvisa.ResourceManager(spec)
    switch, magnet, gen = (rm.open_resource(a, read_termination="\n", write_termination="\n")
                           for a in (SWITCH, MAGNET, GEN))
    switch.write(":ROUT:MULT:CLOS (@2101,2201)")       # chip1/M0: pulse and read rows
    for command in ("FUNC:MODE CURR", "VOLT 36", "CURR 2", "OUTP 1"):
        magnet.write(command)
    assert magnet.query("*OPC?") == "1"
    smu.apply_current(compliance_voltage=2.0)
    smu.measure_voltage(nplc=0.01)
    smu.source_current = READ_CURRENT_A
    smu.enable_source()
    before_ohm = smu.voltage / READ_CURRENT_A
    for command in (":FUNC1 PULS", ":OUTP1:LOAD 50", ":VOLT1:LOW 0", ":VOLT1:HIGH 0.2",
                    ":PULS:PER1 1e-6", ":PULS:WIDT1 20e-9", ":BURS1:STAT ON", ":BURS1:NCYC 1",
                    ":ARM:SOUR1 MAN", ":OUTP1 ON", "*TRG"):
        gen.write(command)
    after_ohm = smu.voltage / READ_CURRENT_A
    lab = get_wrapper_class("spinhil")(str(bench_path)).bench
    chip, idx = lab.device("M0")
    assert chip.magnetization(idx) == pytest.approx(1.0)      # switched down -> up
    assert after_ohm - before_ohm == pytest.approx(2 * chip.r_ahe_ohm[idx], rel=0.2)
    assert [p.device for p in lab.pulse_log] == ["chip1/M0"]
    assert smu.check_errors() == [] and gen.query("SYST:ERR?").startswith("0,")


def test_the_survey_opens_a_fresh_bench_each_time(tmp_path):
    """backend="sim" finds the backend by name but takes a private bench: two surveys in a
    row start from the bench file's seed and give the same numbers (with the shared lab the
    second would start where the first left the devices and the clock)."""
    results = []
    for run in range(2):
        with open_bench() as bench:
            survey = survey_chip(bench, tmp_path / f"run{run}", trials=8, points=6,
                                 devices="M0", coarse_points=8, coarse_trials=4,
                                 reference_trials=16, report=False, print_summary=False)
        fit = survey.devices["chip1/M0"].neel_brown
        results.append((fit.i50_A, survey.round_trips, survey.projected_time_s,
                        (tmp_path / f"run{run}" / "survey.csv").read_text().splitlines()[-8:]))
    assert results[0] == results[1]
    assert results[0][0] == pytest.approx(1.489e-4, rel=0.02)   # M0's I50 at 10 ns
