"""Issue 12 fuzz (hypothesis, derandomized, bounded): every key of the bench file missing,
of the wrong type, NaN, inf, negative, huge or duplicated, and every numeric option of
``hil characterize`` and ``hil train`` out of range: each case is accepted or refused with
one line (exit 2), never a traceback, and no out-of-limit pulse reaches a simulated device."""

from __future__ import annotations

import argparse
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.benchfile import BenchFileError, default_bench_text, parse_bench
from drivers.bench import Bench
from drivers.limits import max_pulse_level_V
from hil.config import ExperimentConfigError, add_train_arguments, config_from_args
from procedures.cli import main as cli_main
from simulated_bench.visa import SimulatedVisaLibrary
from tests.simwatch import assert_within_limits

import tomllib

TEXT = default_bench_text()
LINES = TEXT.splitlines()
ASSIGNMENTS = [i for i, row in enumerate(LINES) if re.match(r"^[a-z_A-Z0-9]+\s*=", row)]
BAD_VALUES = ["nan", "inf", "-inf", "-1", "-1e300", "1e300", "0", "2.5", "7", '""', '"x"',
              "true", "[]", "{}"]
FUZZ = settings(max_examples=80, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def mutate(index: int, how: str) -> str:
    lines = list(LINES)
    key = lines[index].split("=")[0].strip()
    if how == "missing":
        del lines[index]
    elif how == "duplicate":
        lines.insert(index + 1, lines[index])
    else:
        lines[index] = f"{key} = {how}"
    return "\n".join(lines) + "\n"


def load(text: str):
    """The bench file of ``text``, or None after checking its refusal is one line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None                       # a duplicated key: load_bench_file says so in one line
    try:
        return parse_bench(data, text, "fuzz.toml")
    except BenchFileError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("fuzz.toml"), message
        return None


@FUZZ
@given(st.sampled_from(ASSIGNMENTS), st.sampled_from(["missing", "duplicate", *BAD_VALUES]))
def test_bench_file_fuzz_every_key(index, how):
    config = load(mutate(index, how))
    if config is None:
        return
    # accepted: a pulse near the edge of the limits and a read are safe on the simulated chip
    # (at the edge itself the generator's level rounding can land a hair over: refused)
    lib = SimulatedVisaLibrary(config)
    device = config.devices()[0]
    limits = config.limits_for(device)
    with Bench.open(config, visa_library=lib) as bench:
        bench.trial(device, 0.9 * max_pulse_level_V(limits, config.wiring.source_impedance_ohm),
                    max(limits.min_pulse_width_s, 10e-9))
    assert_within_limits(lib.bench, config)


def test_a_duplicated_key_is_one_line_naming_the_line(tmp_path):
    from devices.benchfile import load_bench_file
    path = tmp_path / "dup.toml"
    path.write_text(mutate(ASSIGNMENTS[0], "duplicate"))
    with pytest.raises(BenchFileError, match=r"not valid TOML: .*line 4"):
        load_bench_file(path)


# ------------------------------------------------------------------ hil characterize options
NUMBERS = ["nan", "inf", "-inf", "-1", "0", "2.5", "1e9", "1e300", "1000000000", "3"]
PROCEDURES = {
    "ri-loop": (["--device", "S0", "--points", "3"], ["--points", "--width", "--field",
                                                      "--amplitude"]),
    "endurance": (["--device", "M0", "--cycles", "4", "--block", "2"],
                  ["--cycles", "--block", "--width", "--field", "--amplitude"]),
    "rh-loop": (["--device", "L0", "--points", "3"], ["--points", "--max-field"]),
    "switching": (["--device", "S0", "--trials", "2", "--points", "3", "--coarse-points", "4"],
                  ["--trials", "--points", "--coarse-points", "--width", "--field"]),
}


@settings(FUZZ, max_examples=50)
@given(st.data())
def test_characterize_numeric_options_fuzz(tmp_path_factory, capsys, data):
    name = data.draw(st.sampled_from(sorted(PROCEDURES)))
    base, options = PROCEDURES[name]
    option = data.draw(st.sampled_from(options))
    value = data.draw(st.sampled_from(NUMBERS))
    out = tmp_path_factory.mktemp("fuzz")
    benches = []
    original = SimulatedVisaLibrary.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        benches.append(self.bench)
    SimulatedVisaLibrary.__init__ = record
    try:
        try:
            code = cli_main([name, *base, option, value, "--out", str(out), "--no-progress"])
        except SystemExit as exc:     # argparse: "invalid int value" exits 2 itself
            code = exc.code
    finally:
        SimulatedVisaLibrary.__init__ = original
    err = capsys.readouterr().err.strip()
    assert code in (0, 2), (name, option, value, code, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.splitlines()[-1].startswith(("hil characterize: error:", "usage:",
                                                "python -m procedures.cli: error")), err
    from devices.benchfile import load_bench_file
    for sim in benches:
        assert_within_limits(sim, load_bench_file())


# ------------------------------------------------------------------ hil train options
TRAIN_OPTIONS = ["--epochs", "--seeds", "--hidden", "--repeats", "--eval-repeats",
                 "--batch-size", "--lr", "--width-s", "--high-variability"]


@FUZZ
@given(st.sampled_from(TRAIN_OPTIONS), st.sampled_from(NUMBERS + ["99999999999999999999"]))
def test_train_numeric_options_fuzz(option, value):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_train_arguments(parser)
    values = [value, "0.1"] if option == "--high-variability" else [value]
    try:
        args = parser.parse_args([option, *values])
    except argparse.ArgumentError:
        return                                    # `hil train` prints it and exits 2
    try:
        config = config_from_args(args)
    except ExperimentConfigError as exc:
        assert "\n" not in str(exc) and ("experiment setting" in str(exc)
                                          or "variability" in str(exc)), str(exc)
        return
    # accepted: finite and within the maxima
    for field in ("lr", "width_s"):
        assert 0 < getattr(config, field) <= 10


def test_train_refuses_the_huge_values_it_used_to_crash_on():
    parser = add_train_arguments(argparse.ArgumentParser())
    for argv, pattern in ((["--hidden", "1000000000"], r"'hidden' \(--hidden\) must be at most "
                                                       r"65536 \(the maximum\)"),
                          (["--repeats", "1000000000"], r"'repeats' .* at most 65536"),
                          (["--hidden", "60000"], r"device samples per step is over the maximum "
                                                  r"67108864"),
                          (["--seeds", "99999999999999999999"], r"'seeds' .* at most 4294967295")):
        with pytest.raises(ExperimentConfigError, match=pattern):
            config_from_args(parser.parse_args(argv))
