"""The bench backend converts a neuron's current to a level through the calibration's junction
write path (the survey's measured law) where a device has one: on the MTJ chip the simulated
junction then receives the current asked for (within 1 %; the low-bias line resistance it
replaces overdrives it by 15-40 % at these currents: the barrier's TMR falls with bias); a
SOT device converts through its line resistance exactly as before, with or without a
calibration.
"""

import numpy as np
import pytest

from devices.kinds.mtj import JunctionWritePath
from devices.laws import neel_brown
from drivers.limits import emf_V, level_for_current_V
from hil.backends import BenchBackend
from hil.calibration import calibration_from_chip
from procedures.calibration import CalibrationError, ChipCalibration, neel_brown_curve
from procedures.session import load_bench
from simulated_bench.bench import SimulatedBench

MTJ_BENCH = "examples/benches/mtj_chip.toml"
WIDTH_S = 10e-9
SOURCE_OHM = 50.0


def sent_levels(devices: BenchBackend) -> list:
    """Spy on the levels the backend hands the drivers (one array per device batch)."""
    sent, trials = [], devices.bench.trials

    def recording(name, levels, *args, **kwargs):
        sent.append(np.asarray(levels, dtype=float))
        return trials(name, levels, *args, **kwargs)

    devices.bench.trials = recording
    return sent


def received_current_A(chip, i: int, level_V):
    """The current the simulated pulse drives into the antiparallel (reset) junction
    (as tests/test_proc_mtj.py computes it from the simulator's truth)."""
    chip.up_regions[i] = 0
    out = []
    for level in np.atleast_1d(level_V):
        node = emf_V(level, SOURCE_OHM) / (1 + SOURCE_OHM / chip.write_path_resistance(i))
        out.append(node / chip.write_path_resistance(i, node))
    return np.array(out)


def mtj_calibration(chip, name: str) -> ChipCalibration:
    """A calibration carrying the junction's law with the truth's parameters (what the survey
    measures: tests/test_proc_mtj.py checks it recovers them)."""
    i = chip.names.index(name)
    law = JunctionWritePath(chip.line_resistance_ohm[i], chip.r_offset_ohm[i], chip.r_ahe_ohm[i],
                            chip.params[i]["tmr_half_bias_V"], False)
    curve = neel_brown_curve(chip.ic0_A[i], chip.delta[i], WIDTH_S, chip.tau0_s[i],
                             chip.exponent[i], 1, extra={"junction_write_path": law.to_dict()})
    return ChipCalibration("", chip.name, WIDTH_S, {name: curve}, "truth law")


def test_mtj_levels_follow_the_junction_law_and_sot_is_unchanged():
    chip = SimulatedBench.from_config(load_bench(MTJ_BENCH)).chips["chip1"]
    name = "chip1/M0"
    i = chip.names.index(name)
    i50 = float(neel_brown.current_for_probability(0.5, WIDTH_S, chip.ic0_A[i], chip.delta[i],
                                                   chip.tau0_s[i], chip.exponent[i]))
    wanted = i50 * np.array([0.6, 0.9, 1.1])
    answers = {}
    for calibration in (mtj_calibration(chip, name), None):
        with BenchBackend.open(MTJ_BENCH, calibration=calibration) as devices:
            sent = sent_levels(devices)
            devices.sample(devices.index_of([name]), wanted[:, None], WIDTH_S)
        answers[calibration is None] = received_current_A(chip, i, sent[0]) / wanted
    assert answers[False] == pytest.approx(1.0, abs=0.01)        # through the junction law
    assert np.all(answers[True] > 1.1)             # the low-bias line resistance: overdriven

    # SOT (default bench): a calibration without a law leaves every level as it was
    from hil.simulated import build_chips
    with BenchBackend.open(None) as plain:
        sot = plain.device_names[0]
        truth = calibration_from_chip(build_chips(plain.config)[0], WIDTH_S, [sot])
        current = np.array([[truth[sot].i50_A]] * 3) * np.array([[0.8], [1.0], [1.2]])
        before = sent_levels(plain)
        plain.sample(plain.index_of([sot]), current, WIDTH_S)
        line = plain.line_resistance_ohm(sot)
        ceiling = plain.max_current_of(sot)
    with BenchBackend.open(None, calibration=truth) as calibrated:
        after = sent_levels(calibrated)
        calibrated.sample(calibrated.index_of([sot]), current, WIDTH_S)
        assert calibrated.write_path(sot) == line
        assert calibrated.max_current_of(sot) == ceiling
    assert np.array_equal(before[0], after[0])
    assert np.array_equal(after[0], level_for_current_V(current.ravel(), SOURCE_OHM, line))


def test_a_junction_law_on_a_line_device_is_one_clear_error():
    from hil.simulated import build_chips
    from devices.benchfile import load_bench_file

    bench = load_bench_file(None)
    sot = bench.devices()[0].name
    truth = calibration_from_chip(build_chips(bench)[0], WIDTH_S, [sot])
    curve = truth[sot]
    bad = ChipCalibration("", truth.chip, WIDTH_S, {sot: neel_brown_curve(
        curve.ic0_A, curve.delta, WIDTH_S, curve.tau0_s, curve.exponent, 1,
        extra={"junction_write_path": {"leads_ohm": 1.0}})}, "edited")
    with pytest.raises(CalibrationError, match="junction_write_path of .* has no write-path law"):
        with BenchBackend.open(None, calibration=bad):
            pass
