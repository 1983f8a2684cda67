"""Calibration file: round trip, validation naming the key, readable by hil's reader."""

import json

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


def test_round_trip(tmp_path):
    path = save_calibration(example(), tmp_path / "cal.json")
    back = load_calibration(path)
    assert back.to_dict() == example().to_dict()
    assert back.devices["chip1/S0"].extra == {"relative_width": 0.12}
    assert list(back.by_size()) == ["S"]


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
    hil_cal = pytest.importorskip("hil.calibration")
    if not hasattr(hil_cal, "load_calibration"):
        pytest.skip("hil.calibration has no load_calibration yet")
    path = save_calibration(example(), tmp_path / "cal.json")
    loaded = hil_cal.load_calibration(path)
    assert "chip1/S0" in loaded.names() if hasattr(loaded, "names") else loaded.devices
