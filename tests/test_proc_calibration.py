"""Calibration file: round trip, validation naming the key, readable by hil's reader."""

import dataclasses
import json
import math

import pytest

from procedures.calibration import (
    CalibrationFileError,
    ChipCalibration,
    DeviceCalibration,
    load_calibration,
    save_calibration,
)


def example() -> ChipCalibration:
    dev = DeviceCalibration(size="S", ic0_A=2.3e-5, delta=28.9, tau0_s=1e-9, exponent=1.0,
                            i50_A=2.08e-5, logistic_slope_per_A=1.6e6, line_resistance_ohm=5507.0,
                            ic0_err_A=5e-8, delta_err=0.6, i50_err_A=2e-8,
                            logistic_slope_err_per_A=4e4, n_domains=1,
                            extra={"relative_width": 0.12})
    return ChipCalibration("default", "chip1", 1e-8, {"chip1/S0": dev}, "test")


def full_example() -> ChipCalibration:
    """Every field of the format set away from its default (a field the writer or the reader
    drops, or mixes up with another, changes the loaded file)."""
    s0 = DeviceCalibration(size="S", ic0_A=2.3e-5, delta=28.9, tau0_s=2e-9, exponent=2.0,
                           i50_A=1.9e-5, logistic_slope_per_A=1.6e6, line_resistance_ohm=5507.0,
                           model="neel_brown", ic0_err_A=5e-8, delta_err=0.6, i50_err_A=2e-8,
                           logistic_slope_err_per_A=4e4, n_domains=1, readout="binary",
                           width_s=2e-8, extra={"relative_width": 0.12})
    l3 = DeviceCalibration(size="L", i50_A=1.1e-3, logistic_slope_per_A=2.5e4,
                           line_resistance_ohm=310.0, model="logistic", i50_err_A=3e-6,
                           logistic_slope_err_per_A=900.0, n_domains=796, readout="fraction",
                           extra={"note": "bar"})
    return ChipCalibration("bench7", "chip2", 1e-8, {"chip2/S0": s0, "chip2/L3": l3},
                           "survey 2024-05-01", {"operator": "ab", "trials": 64})


def test_round_trip(tmp_path):
    path = save_calibration(example(), tmp_path / "cal.json")
    back = load_calibration(path)
    assert back == example()
    assert back.devices["chip1/S0"].extra == {"relative_width": 0.12}
    assert list(back.by_size()) == ["S"]


def test_round_trip_keeps_every_field(tmp_path):
    original = full_example()
    # the example exercises every field, including ones added later
    s0 = original.devices["chip2/S0"]
    for f in dataclasses.fields(DeviceCalibration):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        assert getattr(s0, f.name) != default or f.name in ("model",), f.name
    for f in dataclasses.fields(ChipCalibration):
        assert getattr(original, f.name), f.name
    back = load_calibration(save_calibration(original, tmp_path / "cal.json"))
    for f in dataclasses.fields(ChipCalibration):
        if f.name != "devices":
            assert getattr(back, f.name) == getattr(original, f.name), f.name
    assert list(back.devices) == list(original.devices)
    for name, dev in original.devices.items():
        for f in dataclasses.fields(DeviceCalibration):
            assert getattr(back.devices[name], f.name) == getattr(dev, f.name), (name, f.name)
    assert back.by_size() == {"S": {"chip2/S0": s0}, "L": {"chip2/L3": original.devices["chip2/L3"]}}


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d.pop("width_s"), "'width_s'"),
    (lambda d: d["devices"]["chip1/S0"].pop("ic0_A"), "'ic0_A'"),
    (lambda d: d["devices"]["chip1/S0"].__setitem__("delta", -3), "'delta'"),
    (lambda d: d["devices"]["chip1/S0"].__setitem__("i50_err_A", "x"), "'i50_err_A'"),
    (lambda d: d["devices"]["chip1/S0"].__setitem__("model", "magic"), "'model'"),
    (lambda d: d["devices"]["chip1/S0"].__setitem__("n_domains", 0), "'n_domains'"),
    (lambda d: d.__setitem__("devices", {}), "'devices'"),
    (lambda d: d["devices"]["chip1/S0"].__setitem__("readout", "analog"), "'readout'"),
    (lambda d: d["devices"]["chip1/S0"].__setitem__("readout", "fraction"), "'readout'"),
])
def test_malformed_file_names_the_key(tmp_path, mutate, key):
    data = example().to_dict()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CalibrationFileError) as info:
        load_calibration(path)
    assert key in str(info.value) and str(path) in str(info.value)


def test_not_json_and_missing_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(CalibrationFileError, match="not valid JSON"):
        load_calibration(bad)
    with pytest.raises(CalibrationFileError, match="does not exist"):
        load_calibration(tmp_path / "missing.json")


def test_hil_reader_accepts_the_file(tmp_path):
    """hil's view of the same file: every curve field, a Neel-Brown curve's I50 and slope
    derived from its (Ic0, Delta, tau0, n) at its own width, a logistic curve as written."""
    hil_load = load_calibration

    loaded = hil_load(save_calibration(full_example(), tmp_path / "cal.json"))
    assert loaded.names() == ["chip2/S0", "chip2/L3"]
    assert (loaded.width_s, loaded.source, loaded.meta) == (1e-8, "survey 2024-05-01",
                                                            {"operator": "ab", "trials": 64})
    s0, l3 = loaded["chip2/S0"], loaded["chip2/L3"]
    assert (s0.model, s0.width_s, s0.ic0_A, s0.delta, s0.tau0_s, s0.exponent, s0.n_domains,
            s0.readout) == ("neel_brown", 2e-8, 2.3e-5, 28.9, 2e-9, 2.0, 1, "binary")
    # Neel-Brown at P = 0.5: t / tau = ln 2, so Delta (1 - I50/Ic0)^n = ln(t / (tau0 ln 2));
    # the logistic slope is 4 dP/dI there = 2 ln2 Delta n (1 - I50/Ic0)^(n-1) / Ic0
    below = (math.log(2e-8 / (2e-9 * math.log(2))) / 28.9) ** (1 / 2.0)
    assert s0.i50_A == pytest.approx(2.3e-5 * (1 - below), rel=1e-9)
    assert s0.logistic_slope_per_A == pytest.approx(2 * math.log(2) * 28.9 * 2.0 * below / 2.3e-5,
                                                    rel=1e-6)
    assert (l3.model, l3.width_s, l3.i50_A, l3.logistic_slope_per_A, l3.n_domains,
            l3.readout) == ("logistic", 1e-8, 1.1e-3, 2.5e4, 796, "fraction")
