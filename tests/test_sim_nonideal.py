"""Non-idealities of the simulated switches ([nonideal]): schema, independence of the streams,
and one statistical test with a fixed seed per effect."""

from __future__ import annotations

import numpy as np
import pytest
import tomllib

from devices.benchfile import BenchFileError, default_bench_text, parse_bench
from devices.laws import neel_brown
from simulated_bench.bench import SimulatedBench
from simulated_bench.nonideal import NonIdeal
from simulated_bench.visa import SimulatedVisaLibrary
from tests.simhelpers import connect_device

FIELD_T = 0.01
WIDTH_S = 10e-9


def bench(nonideal: dict | None = None, seed: int = 3) -> SimulatedBench:
    data = tomllib.loads(default_bench_text())
    data["seed"] = seed
    if nonideal is not None:
        data["nonideal"] = nonideal
    return SimulatedBench.from_config(data)


class _ManyDevices:
    """A stand-in chip of many identical switches, for statistics over devices."""

    def __init__(self, n: int, kind: str = "mtj"):
        self.kind = np.array([kind] * n, dtype=object)
        self.params = {i: {"temperature_K": 300.0} for i in range(n)}
        self.delta = np.full(n, 40.0)
        self.ic0_A = np.full(n, 100e-6)
        self.hk_T = np.full(n, 0.06)

    def __len__(self):
        return len(self.kind)


def state(n: int, seed: int = 1, kind: str = "mtj", **items) -> NonIdeal:
    data = tomllib.loads(default_bench_text())
    data["nonideal"] = items
    resolved = parse_bench(data).nonideal
    return NonIdeal(_ManyDevices(n, kind), resolved, seed, 0)


def test_off_by_default_and_presets_resolve_per_kind():
    assert all(chip.nonideal is None for chip in bench().chips.values())
    assert all(chip.nonideal is None for chip in bench({"preset": "off"}).chips.values())
    data = tomllib.loads(default_bench_text())
    data["nonideal"] = {"preset": "strong", "c2c_ic0_rel": 0.01, "mtj": {"wear_life_cycles": 7.0}}
    resolved = parse_bench(data).nonideal
    assert resolved["mtj"]["wear_life_cycles"] == 7.0
    assert resolved["sot_hall_bar"]["wear_life_cycles"] == 1e6
    assert resolved["mtj"]["c2c_ic0_rel"] == resolved["sot_hall_bar"]["c2c_ic0_rel"] == 0.01
    assert resolved["mtj"]["i50_walk_rel_per_sqrt_h"] == 0.15


@pytest.mark.parametrize("table, words", [
    ({"walk": 1}, "nonideal.walk is not a non-ideality"),
    ({"preset": "wild"}, "nonideal.preset must be one of"),
    ({"mtj": {"c2c_ic0_rel": float("nan")}}, "nonideal.mtj.c2c_ic0_rel must be a finite number"),
    ({"dead_fraction": 2}, "nonideal.dead_fraction must be a finite number in [0, 1]"),
    ({"read_disturb": 1}, "nonideal.read_disturb must be true or false"),
    ({"dw": {}}, "nonideal.dw is not a non-ideality"),
])
def test_bad_nonideal_table_is_one_line(table, words):
    data = tomllib.loads(default_bench_text())
    data["nonideal"] = table
    with pytest.raises(BenchFileError, match=None) as error:
        parse_bench(data)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_turning_one_on_shifts_no_other_draw():
    base = bench()
    strong = bench({"preset": "strong"})
    assert np.array_equal(base.chip.delta, strong.chip.delta)       # D2D draws untouched
    walk = state(500, i50_walk_rel_per_sqrt_h=0.1)
    both = state(500, i50_walk_rel_per_sqrt_h=0.1, telegraph_fraction=0.5, telegraph_rel=0.05,
                 c2c_ic0_rel=0.05, dead_fraction=0.1)
    walk.advance(3600.0)
    both.advance(3600.0)
    assert np.array_equal(walk.log_walk, both.log_walk)


def test_i50_random_walk_variance_grows_linearly_in_time():
    sigma = 0.05
    walk = state(20000, i50_walk_rel_per_sqrt_h=sigma)
    chip = _ManyDevices(20000)
    variances = []
    for hours in (1.0, 4.0, 9.0):
        # stepped through many small advances: the step pattern must not matter
        for t in np.linspace(walk.time_s, hours * 3600.0, 50)[1:]:
            walk.advance(t)
        ic0, _ = walk.parameters(chip, hours * 3600.0)
        i50 = neel_brown.current_for_probability(0.5, WIDTH_S, ic0, chip.delta, 1e-9, 2.0)
        variances.append(np.var(np.log(i50)))
    assert np.allclose(variances, sigma ** 2 * np.array([1.0, 4.0, 9.0]), rtol=0.2)


def test_telegraph_jumps_on_a_fraction_with_the_dwell_time():
    tel = state(20000, telegraph_fraction=0.25, telegraph_rel=0.04, telegraph_dwell_s=10.0)
    assert tel.has_telegraph.mean() == pytest.approx(0.25, abs=0.02)
    before = tel.telegraph.copy()
    tel.advance(5.0)
    flipped = (tel.telegraph != before)[tel.has_telegraph].mean()
    assert flipped == pytest.approx(0.5 * (1 - np.exp(-2 * 5.0 / 10.0)), rel=0.1)
    ic0, _ = tel.parameters(_ManyDevices(20000), 5.0)
    assert set(np.round(ic0[tel.has_telegraph] / 100e-6, 6)) == {0.96, 1.04}
    assert np.all(ic0[~tel.has_telegraph] == 100e-6)


def test_temperature_drift_moves_i50_by_the_predicted_amount():
    """Through the pulses: P_sw at t = 0's I50 after 10 h at +1 K/h matches the law with
    Delta = Delta0 T0 / T and Ic0 (1 + c_T dT)."""
    sim = bench({"temperature_drift_K_per_h": 1.0, "ic0_temperature_coeff_per_K": -0.003})
    chip = sim.chip
    idx = chip.index("chip1/S0")
    i50 = float(neel_brown.current_for_probability(0.5, WIDTH_S, chip.ic0_A[idx], chip.delta[idx],
                                                   chip.tau0_s[idx], chip.exponent[idx]))
    rng = np.random.default_rng(0)
    hits = {}
    for t in (0.0, 36000.0):
        n = 0
        for _ in range(3000):
            chip.set_state(idx, -1)
            chip.apply_pulse(idx, i50, WIDTH_S, FIELD_T, rng, time_s=t)
            n += chip.magnetization(idx) > 0
        hits[t] = n / 3000
    delta_hot = chip.delta[idx] * 300.0 / 310.0
    ic0_hot = chip.ic0_A[idx] * (1 - 0.003 * 10.0)
    expected = float(neel_brown.probability(i50, WIDTH_S, ic0_hot, delta_hot, chip.tau0_s[idx],
                                            chip.exponent[idx]))
    assert hits[0.0] == pytest.approx(0.5, abs=0.03)
    assert expected > 0.8 and hits[36000.0] == pytest.approx(expected, abs=0.03)
    assert sim.stage_temperature_K() == pytest.approx(300.0)


def test_cycle_to_cycle_noise_has_the_stated_spread():
    sim = bench({"c2c_ic0_rel": 0.05, "c2c_delta_rel": 0.1})
    chip = sim.chip
    draws = np.array([chip.nonideal.pulse_parameters(chip, 0, 1e-9, 0.0, FIELD_T) for _ in range(4000)])
    assert np.std(draws[:, 0]) / chip.ic0_A[0] == pytest.approx(0.05, rel=0.1)
    assert np.std(draws[:, 1]) / chip.delta[0] == pytest.approx(0.1, rel=0.1)
    assert np.mean(draws[:, 0]) / chip.ic0_A[0] == pytest.approx(1.0, abs=0.005)


def test_worn_device_shifts_i50_then_ends_stuck_after_its_life():
    sim = bench({"sot_hall_bar": {"wear_life_cycles": 200.0, "wear_i50_shift_rel": 0.2}})
    chip = sim.chip
    idx = chip.index("chip1/S1")
    rng = np.random.default_rng(0)
    strong = 3 * chip.ic0_A[idx]
    switched = []
    for k in range(260):
        before = chip.magnetization(idx)
        chip.apply_pulse(idx, strong if k % 2 == 0 else -strong, WIDTH_S, FIELD_T, rng, time_s=k * 1e-3)
        switched.append(chip.magnetization(idx) != before)
    assert all(switched[:200]) and not any(switched[200:])
    assert chip.nonideal.stuck[idx] and chip.nonideal.cycles[idx] == 201
    ic0, _ = chip.nonideal.parameters(chip, 1.0)
    assert ic0[idx] / chip.ic0_A[idx] == pytest.approx(1.2)
    assert not chip.nonideal.stuck[chip.index("chip1/S2")]


def test_read_disturb_rate_rises_with_read_current():
    """Reads alone (the read current for the integration time) flip a small device more
    often at a larger read current."""
    sim = bench({"read_disturb": True})
    chip = sim.chip
    idx = chip.index("chip1/S0")
    i50 = float(neel_brown.current_for_probability(0.5, WIDTH_S, chip.ic0_A[idx], chip.delta[idx],
                                                   chip.tau0_s[idx], chip.exponent[idx]))
    rng = np.random.default_rng(0)
    rates = []
    for fraction in (0.66, 0.70, 0.74):      # of I50 at 10 ns; Delta ~ 34: S0 is small
        flips = 0
        for _ in range(1000):
            chip.set_state(idx, -1)
            chip.apply_pulse(idx, fraction * i50, 2e-4, FIELD_T, rng)   # a 0.01-NPLC read
            flips += chip.magnetization(idx) > 0
        rates.append(flips / 1000)
    assert rates[0] < rates[1] < rates[2] and rates[2] > 0.2


def test_read_current_adds_to_a_pulse_when_read_disturb_is_on():
    def p_switch(read_disturb: bool) -> float:
        lib = SimulatedVisaLibrary(bench({"read_disturb": read_disturb, "c2c_ic0_rel": 0.0,
                                          "temperature_swing_K": 0.1}))
        sim = lib.bench
        connect_device(lib, 1, 1)
        chip = sim.chip
        idx = chip.index("chip1/S0")
        smu = sim.instruments["GPIB0::18::INSTR"]
        i50 = float(neel_brown.current_for_probability(0.5, WIDTH_S, chip.ic0_A[idx], chip.delta[idx],
                                                       chip.tau0_s[idx], chip.exponent[idx]))
        emf = i50 * (50.0 + chip.write_path_resistance(idx))
        smu.source_function, smu.output_on = "CURR", True
        smu.level["CURR"] = 0.1 * i50
        n = 0
        for _ in range(1500):
            chip.set_state(idx, -1)
            sim.deliver_pulse(0.0, emf, WIDTH_S)
            n += chip.magnetization(idx) > 0
        return n / 1500

    off, on = p_switch(False), p_switch(True)
    assert off == pytest.approx(0.5, abs=0.05) and on > off + 0.2


def test_dead_and_stuck_devices_from_the_start():
    sim = bench({"dead_fraction": 0.25, "stuck_fraction": 0.25}, seed=5)
    chip = sim.chip
    dead = chip.broken == "open"
    stuck = chip.nonideal.stuck_at_start
    assert 2 <= dead.sum() <= 11 and 2 <= stuck.sum() <= 11 and not (dead & stuck).any()
    rng = np.random.default_rng(0)
    for idx in np.flatnonzero(stuck):
        before = chip.magnetization(idx)
        for sign in (1, -1, 1, -1):
            chip.apply_pulse(idx, sign * 3 * chip.ic0_A[idx], WIDTH_S, FIELD_T, rng)
            assert chip.magnetization(idx) == before
    assert chip.read_resistance(int(np.flatnonzero(dead)[0]), rng) >= 1e12
