"""Statistical tests of the simulated device physics (fixed seeds, fast).

Each test samples switch events and fits them the way a characterization would, then
compares the fit with the simulated truth: the Neel-Brown law in width and in current, the
size dependence of Delta, the device-to-device spread, seeding, and damage.
"""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from devices.benchfile import DeviceGroup, default_bench_text
from devices.laws import neel_brown
from simulated_bench import physics
from simulated_bench.bench import SimulatedBench
from simulated_bench.chip import OPEN_OHM, build_chip, nominal_parameters
from simulated_bench.kinds.sot_hall_bar import DEFAULTS as SOT_DEFAULTS

SWITCH, SMU = "GPIB0::16::INSTR", "GPIB0::24::INSTR"


def bench_data(models=("Keithley2400", "Keithley2750", "KepcoBOP"), seed=None) -> dict:
    data = tomllib.loads(default_bench_text())
    data["instrument"] = [i for i in data["instrument"] if i["model"] in models]
    if seed is not None:
        data["seed"] = seed
    return data


@pytest.fixture(scope="module")
def chip():
    return SimulatedBench.from_config(bench_data()).chip


def device_params(chip, name):
    idx = chip.index(name)
    return dict(ic0_A=chip.ic0_A[idx], delta=chip.delta[idx], tau0_s=chip.tau0_s[idx],
                exponent=chip.exponent[idx]), int(chip.n_domains[idx])


def fit_tau_from_widths(widths_s, switched, trials):
    """Maximum-likelihood tau of P = 1 - exp(-t/tau) from switch counts at several widths."""
    def nll(log_tau):
        p = -np.expm1(-widths_s / np.exp(log_tau))
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -np.sum(switched * np.log(p) + (trials - switched) * np.log1p(-p))
    guess = np.log(np.median(widths_s))
    return float(np.exp(minimize_scalar(nll, bounds=(guess - 10, guess + 10),
                                        method="bounded").x))


def tau_vs_current(rng, params, n_domains, currents_A, trials):
    """tau estimated at each current, each with a width near its own tau (p ~ 0.6)."""
    true_tau = neel_brown.relaxation_time(currents_A, params["ic0_A"], params["delta"],
                                       params["tau0_s"], params["exponent"])
    widths = true_tau.copy()
    fraction = physics.sample_switch_events(
        rng, np.repeat(currents_A[:, None], trials, 1), widths[:, None], params["ic0_A"],
        params["delta"], params["tau0_s"], params["exponent"],
        None if n_domains == 1 else n_domains)
    p_hat = fraction.mean(axis=1, dtype=np.float64)
    return -widths / np.log1p(-p_hat)


# ---------------------------------------------------------------- the law in width
def test_switching_probability_vs_width_follows_one_minus_exp(chip):
    params, _ = device_params(chip, "chip1/S0")
    current = 0.75 * params["ic0_A"]
    tau = neel_brown.relaxation_time(current, **params)
    widths = tau * np.array([0.05, 0.2, 0.5, 1.0, 2.0, 4.0])
    trials = 4000
    rng = np.random.default_rng(11)
    events = physics.sample_switch_events(rng, np.full((widths.size, trials), current),
                                          widths[:, None], **params)
    switched = events.sum(axis=1, dtype=np.float64)
    tau_fit = fit_tau_from_widths(widths, switched, trials)
    assert tau_fit == pytest.approx(tau, rel=0.04)
    # every point on the curve, within 4 sigma of binomial noise
    p = -np.expm1(-widths / tau_fit)
    sigma = np.sqrt(p * (1 - p) / trials)
    assert np.all(np.abs(switched / trials - p) < 4 * sigma + 1e-3)


def test_a_device_on_the_chip_follows_the_same_law(chip):
    """Reset-then-write through Chip.apply_pulse (the path the bench's pulses take)."""
    work = copy.deepcopy(chip)
    idx = work.index("chip1/S1")
    params, _ = device_params(work, "chip1/S1")
    current = 0.8 * params["ic0_A"]
    width = neel_brown.relaxation_time(current, **params)          # p = 1 - 1/e
    rng = np.random.default_rng(5)
    trials, switched = 3000, 0
    for _ in range(trials):
        work.set_state(idx, -1)
        work.apply_pulse(idx, current, width, field_T=0.01, rng=rng)
        switched += work.magnetization(idx) > 0
    assert switched / trials == pytest.approx(1 - np.exp(-1), abs=4 * np.sqrt(0.23 / trials))
    # a pulse toward the state the device already holds changes nothing
    work.set_state(idx, +1)
    work.apply_pulse(idx, current, 100 * width, field_T=0.01, rng=rng)
    assert work.magnetization(idx) == 1.0
    # the bias-field sign sets the target: negative field, positive current -> down
    work.apply_pulse(idx, 2 * params["ic0_A"], 1e-6, field_T=-0.01, rng=rng)
    assert work.magnetization(idx) == -1.0


# ---------------------------------------------------------------- the law in current
def test_ln_tau_is_linear_in_current_with_slope_minus_delta_over_ic0(chip):
    params, _ = device_params(chip, "chip1/S2")
    currents = params["ic0_A"] * np.linspace(0.45, 0.9, 10)
    tau_hat = tau_vs_current(np.random.default_rng(3), params, 1, currents, trials=3000)
    slope, intercept = np.polyfit(currents, np.log(tau_hat), 1)
    residuals = np.log(tau_hat) - (slope * currents + intercept)
    assert np.max(np.abs(residuals)) < 0.1                     # a straight line in ln(tau)
    assert slope == pytest.approx(-params["delta"] / params["ic0_A"], rel=0.04)
    assert intercept == pytest.approx(np.log(params["tau0_s"]) + params["delta"], rel=0.02)


def fitted_delta(chip, name, seed):
    params, n_domains = device_params(chip, name)
    currents = params["ic0_A"] * np.linspace(0.5, 0.9, 8)
    tau_hat = tau_vs_current(np.random.default_rng(seed), params, n_domains, currents,
                             trials=2000 if n_domains == 1 else 200)
    slope, intercept = np.polyfit(currents, np.log(tau_hat), 1)
    return intercept - np.log(params["tau0_s"]), -slope * params["ic0_A"]


def test_fitted_delta_tracks_device_area(chip):
    fits = {size: fitted_delta(chip, f"chip1/{size}0", seed)
            for seed, size in enumerate(("S", "M", "L"))}
    for size, (from_intercept, from_slope) in fits.items():
        truth = chip.delta[chip.index(f"chip1/{size}0")]
        assert from_intercept == pytest.approx(truth, rel=0.05), size
        assert from_slope == pytest.approx(truth, rel=0.05), size
    # Delta = Ku V / kT with V = min(area, nucleation area) x t_FM: the 60 nm bar is below
    # the 80 nm nucleation size, so it has the smaller barrier; M and L regions are capped.
    a_nuc = np.pi / 4 * SOT_DEFAULTS["nucleation_diameter_m"] ** 2
    idx = {size: chip.index(f"chip1/{size}0") for size in "SML"}
    drawn = {size: chip.delta[i] / np.mean(chip.delta[chip.size == size]) for size, i in idx.items()}
    ratio = (fits["S"][0] / drawn["S"]) / (fits["M"][0] / drawn["M"])
    assert ratio == pytest.approx(min(60e-9 ** 2, a_nuc) / a_nuc, rel=0.06)
    assert fits["S"][0] < 0.85 * fits["M"][0]
    assert fits["L"][0] / drawn["L"] == pytest.approx(fits["M"][0] / drawn["M"], rel=0.06)
    # and bigger bars hold more independently reversing regions: gradual, not a jump
    assert chip.n_domains[idx["S"]] == 1 < chip.n_domains[idx["M"]] < chip.n_domains[idx["L"]]


def test_multi_domain_bars_switch_gradually(chip):
    params, n_domains = device_params(chip, "chip1/L0")
    current = neel_brown.current_for_probability(0.5, 10e-9, **params)
    fraction = physics.sample_switch_events(np.random.default_rng(2), np.full(400, current),
                                            10e-9, n_domains=n_domains, **params)
    assert 0.4 < fraction.mean() < 0.6
    assert np.mean((fraction > 0.1) & (fraction < 0.9)) > 0.95   # partial reversal


# ---------------------------------------------------------------- variability
def test_measured_d2d_spread_matches_the_configured_sigma():
    variability = {"delta_rel": 0.10, "ic0_rel": 0.06, "resistance_rel": 0.03}
    groups = [DeviceGroup("chipX", size, "sot_hall_bar", 99, slot, 60e-9)
              for slot, size in ((1, "A"), (2, "B"), (3, "C"))]
    chip = build_chip("chipX", groups, variability, np.random.default_rng(2024))
    nominal = nominal_parameters(groups[0])
    for values, nominal_value, rel in (
            (chip.delta, nominal["delta"], 0.10), (chip.ic0_A, nominal["ic0_A"], 0.06),
            (chip.line_resistance_ohm, nominal["line_resistance_ohm"], 0.03)):
        assert np.mean(values) == pytest.approx(nominal_value, rel=0.03)
        assert np.std(values, ddof=1) / np.mean(values) == pytest.approx(rel, rel=0.15)

    # "measured": the I50 of each device from sampled events (what a survey reports)
    width = 10e-9
    currents = np.linspace(0.5, 1.2, 71) * nominal["ic0_A"]
    trials = 200
    rng = np.random.default_rng(9)
    events = physics.sample_switch_events(
        rng, np.broadcast_to(currents[None, :, None], (len(chip), currents.size, trials)),
        width, chip.ic0_A[:, None, None], chip.delta[:, None, None])
    p_hat = events.mean(axis=2, dtype=np.float64)
    i50_measured = np.array([np.interp(0.5, p, currents) for p in np.maximum.accumulate(p_hat, 1)])
    i50_truth = neel_brown.current_for_probability(0.5, width, chip.ic0_A, chip.delta)
    assert np.max(np.abs(i50_measured / i50_truth - 1)) < 0.03
    spread_measured = np.std(i50_measured, ddof=1) / np.mean(i50_measured)
    spread_truth = np.std(i50_truth, ddof=1) / np.mean(i50_truth)
    assert spread_measured == pytest.approx(spread_truth, rel=0.1)
    assert spread_truth > 0.05                                   # the D2D spread shows


# ---------------------------------------------------------------- seeds
def run_bench_session(seed: int):
    bench = SimulatedBench.from_config(bench_data(seed=seed))
    bench.instruments[SWITCH].handle(":ROUT:MULT:CLOS (@1101)")
    chip, idx = bench.device("S0")
    emf_V = 0.95 * chip.ic0_A[idx] * (chip.write_path_resistance(idx) + 50.0)
    states = []
    for k in range(200):
        bench.instruments["GPIB0::6::INSTR"].handle(
            "FUNC:MODE CURR;VOLT 10;CURR 1;OUTP 1" if k == 0 else "*WAI")
        bench.deliver_pulse(bench.clock.now_s, emf_V if k % 2 == 0 else -emf_V, 20e-9)
        states.append(chip.magnetization(idx))
    sampled = physics.sample_switch_events(bench.switch_rng, np.full(1000, 2e-5), 10e-9,
                                           2.4e-5, 28.7)
    return chip.delta.copy(), chip.ic0_A.copy(), np.array(states), sampled


def test_same_seed_same_numbers_different_seed_different_numbers():
    first, again, other = run_bench_session(7), run_bench_session(7), run_bench_session(8)
    for a, b in zip(first, again):
        assert np.array_equal(a, b)
    assert not np.array_equal(first[0], other[0])               # other devices drawn
    assert not np.array_equal(first[2], other[2])               # other switching history
    assert not np.array_equal(first[3], other[3])
    assert 0 < np.mean(first[2] > 0) < 1                        # the pulses did switch


# ---------------------------------------------------------------- damage
def test_an_over_limit_pulse_destroys_a_device_visibly():
    bench = SimulatedBench.from_config(bench_data())
    chip, idx = bench.device("S4")
    switch, smu = bench.instruments[SWITCH], bench.instruments[SMU]
    switch.handle(":ROUT:MULT:CLOS (@1105,1305)")               # pulse row + aux-SMU row
    smu.handle(":SOUR:FUNC CURR;:SOUR:CURR 2e-6;:SENS:VOLT:PROT 1;:SENS:FUNC 'VOLT';:OUTP ON")
    healthy = [float(v) for v in smu.handle(":READ?").split(",")]
    assert not int(healthy[4]) & 8

    limit_A = chip.damage_limit[idx] * chip.cross_section_m2[idx]
    emf_V = 1.5 * limit_A * (chip.write_path_resistance(idx) + 50.0)
    bench.deliver_pulse(bench.clock.now_s, emf_V, 50e-9)

    assert chip.broken[idx] == "open"
    assert bench.damaged_devices() == ["chip1/S4"]
    event = chip.damage_log[0]
    assert event.name == "chip1/S4" and "electromigration" in event.cause
    assert chip.write_path_resistance(idx) == OPEN_OHM
    broken = [float(v) for v in smu.handle(":READ?").split(",")]
    assert int(broken[4]) & 8 and broken[0] == pytest.approx(1.0)   # reads open: compliance
    # its neighbours are untouched, and a later pulse does not log it twice
    bench.deliver_pulse(bench.clock.now_s, emf_V, 50e-9)
    assert len(chip.damage_log) == 1
    assert all(chip.broken[i] == "" for i in range(len(chip)) if i != idx)


def test_an_over_voltage_pulse_shorts_an_mtj():
    data = bench_data()
    data["chip"][0]["group"].append(
        {"size": "J", "kind": "mtj", "count": 2, "slot": 4, "width_m": 60e-9})
    data["limits"]["J"] = dict(data["limits"]["S"])
    bench = SimulatedBench.from_config(data)
    chip, idx = bench.device("J1")
    bench.instruments[SWITCH].handle(":ROUT:MULT:CLOS (@4102)")
    bench.deliver_pulse(0.0, 6.0, 10e-9)
    assert chip.broken[idx] == "short"
    assert "MgO breakdown" in chip.damage_log[-1].cause
