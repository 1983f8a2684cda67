"""Fit recovery: events sampled from the simulator's own law, fixed seeds, stated tolerances."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procedures import fits
from devices.laws import neel_brown
from simulated_bench import physics

WIDTH_S = 10e-9


def sweep(rng, ic0, delta, exponent=1.0, n_domains=None, trials=200, points=24, width=WIDTH_S):
    lo = neel_brown.current_for_probability(0.02, width, ic0, delta, 1e-9, exponent)
    hi = neel_brown.current_for_probability(0.98, width, ic0, delta, 1e-9, exponent)
    current = np.linspace(lo, hi, points)
    events = physics.sample_switch_events(rng, np.repeat(current[:, None], trials, 1), width,
                                          ic0, delta, 1e-9, exponent, n_domains)
    return current, events.sum(axis=1), trials


# (Ic0, Delta, exponent, n_domains, relative tolerance on Delta) - S, M, L bars and an MTJ
CASES = [
    (23e-6, 28.9, 1.0, None, 0.08),
    (160e-6, 40.0, 1.0, 32, 0.04),
    (760e-6, 40.0, 1.0, 796, 0.02),
    (30e-6, 60.0, 2.0, None, 0.12),
]


@pytest.mark.parametrize("ic0, delta, exponent, n_domains, delta_tol", CASES)
@pytest.mark.parametrize("seed", [1, 2])
def test_neel_brown_fit_recovers_truth(ic0, delta, exponent, n_domains, delta_tol, seed):
    rng = np.random.default_rng(seed)
    current, switched, trials = sweep(rng, ic0, delta, exponent, n_domains)
    fit = fits.fit_neel_brown(current, switched, trials, WIDTH_S, 1e-9, exponent)
    i50 = neel_brown.current_for_probability(0.5, WIDTH_S, ic0, delta, 1e-9, exponent)
    # stated tolerances: Ic0 within 1.5 %, Delta within delta_tol, I50 within 0.5 %
    assert abs(fit.ic0_A / ic0 - 1) < 0.015
    assert abs(fit.delta / delta - 1) < delta_tol
    assert abs(fit.i50_A / i50 - 1) < 0.005
    # and the errors are honest: truth within 4 sigma
    assert abs(fit.ic0_A - ic0) < 4 * fit.ic0_err_A + 1e-12
    assert abs(fit.delta - delta) < 4 * fit.delta_err + 1e-9
    assert fit.ic0_err_A > 0 and fit.delta_err > 0 and fit.i50_err_A > 0


@pytest.mark.parametrize("seed", [3, 4])
def test_logistic_fit_gives_i50_and_slope(seed):
    rng = np.random.default_rng(seed)
    ic0, delta = 23e-6, 28.9
    current, switched, trials = sweep(rng, ic0, delta)
    fit = fits.fit_logistic(current, switched, trials)
    i50 = neel_brown.current_for_probability(0.5, WIDTH_S, ic0, delta)
    # the Neel-Brown curve is slightly asymmetric: the logistic offset lies within 1 % of I50
    assert abs(fit.i50_A / i50 - 1) < 0.01
    true_width = (neel_brown.current_for_probability(0.9, WIDTH_S, ic0, delta)
                  - neel_brown.current_for_probability(0.1, WIDTH_S, ic0, delta))
    assert abs(fit.width_10_90_A / true_width - 1) < 0.12
    assert fit.i50_err_A > 0 and fit.slope_err_per_A > 0
    np.testing.assert_allclose(fit.probability(fit.i50_A), 0.5)


def test_tau_from_p_vs_width_and_tau_curve():
    rng = np.random.default_rng(7)
    ic0, delta, trials = 160e-6, 40.0, 200
    widths = np.geomspace(1e-9, 1e-7, 12)
    taus = []
    for p_target in (0.2, 0.5, 0.8):
        current = neel_brown.current_for_probability(p_target, WIDTH_S, ic0, delta)
        events = physics.sample_switch_events(
            rng, np.full((widths.size, trials), current), np.repeat(widths[:, None], trials, 1),
            ic0, delta)
        tau = fits.fit_tau(widths, events.sum(1), trials, current)
        truth = neel_brown.relaxation_time(current, ic0, delta)
        assert abs(tau.tau_s / truth - 1) < 0.12
        assert abs(tau.tau_s - truth) < 4 * tau.tau_err_s
        taus.append(tau)
    curve = fits.fit_tau_curve(taus)
    assert abs(curve.ic0_A / ic0 - 1) < 0.02
    assert abs(curve.delta / delta - 1) < 0.12


def test_global_fit_over_amplitudes_and_widths():
    rng = np.random.default_rng(11)
    ic0, delta, trials = 23e-6, 28.9, 150
    rows = []
    for width in (5e-9, 20e-9, 80e-9):
        current, switched, _ = sweep(rng, ic0, delta, trials=trials, points=12, width=width)
        rows += [(c, s, width) for c, s in zip(current, switched)]
    current, switched, width = (np.array(v) for v in zip(*rows))
    fit = fits.fit_neel_brown(current, switched, trials, width)
    assert abs(fit.ic0_A / ic0 - 1) < 0.015
    assert abs(fit.delta / delta - 1) < 0.06


def test_sweep_that_misses_the_transition_is_refused():
    current = np.linspace(1e-6, 5e-6, 10)
    with pytest.raises(fits.FitError, match="misses the switching transition"):
        fits.fit_neel_brown(current, np.zeros(10), 50, WIDTH_S)
    with pytest.raises(fits.FitError, match="switched must lie"):
        fits.fit_logistic(current, np.full(10, 60), 50)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(ic0=st.floats(5e-6, 2e-3), delta=st.floats(20.0, 80.0), exponent=st.sampled_from([1.0, 2.0]),
       width=st.sampled_from([5e-9, 1e-8, 1e-7]), seed=st.integers(0, 2**16))
def test_i50_recovered_for_any_device(ic0, delta, exponent, width, seed):
    rng = np.random.default_rng(seed)
    current, switched, trials = sweep(rng, ic0, delta, exponent, trials=400, width=width)
    fit = fits.fit_neel_brown(current, switched, trials, width, 1e-9, exponent)
    i50 = neel_brown.current_for_probability(0.5, width, ic0, delta, 1e-9, exponent)
    assert abs(fit.i50_A / i50 - 1) < 0.01
    assert abs(fit.ic0_A / ic0 - 1) < 0.05


def _two_width_sweep(seed, widths, ic0=23e-6, delta=28.9, trials=200, points=12):
    rng = np.random.default_rng(seed)
    rows = []
    for width in widths:
        current, switched, _ = sweep(rng, ic0, delta, trials=trials, points=points, width=width)
        rows += [(c, s, width) for c, s in zip(current, switched)]
    return (np.array(v) for v in zip(*rows))


@pytest.mark.parametrize("widths", [(10e-9, 20e-9), (10e-9, 100e-9), (100e-9, 10e-9)])
def test_global_fit_on_an_even_split_of_widths_uses_a_measured_width(widths):
    # the median of an even split lies between the two widths: it used to select every point
    # (10/20 ns: width_s = 15 ns, a width not in the data) or none (10/100 ns: ValueError)
    ic0, delta = 23e-6, 28.9
    current, switched, width = _two_width_sweep(5, widths)
    fit = fits.fit_neel_brown(current, switched, 200, width)
    assert fit.width_s in set(width.tolist())
    assert fit.width_s == min(widths)              # a tie goes to the smallest width
    i50 = neel_brown.current_for_probability(0.5, fit.width_s, ic0, delta)
    assert abs(fit.i50_A / i50 - 1) < 0.01
    assert abs(fit.ic0_A / ic0 - 1) < 0.015
    assert abs(fit.delta / delta - 1) < 0.06


def test_global_fit_reference_width_is_the_most_common_one():
    current, switched, width = _two_width_sweep(6, (5e-9, 20e-9, 80e-9), points=10)
    # three more points at 20 ns (rounding noise in the width is still 20 ns)
    rng = np.random.default_rng(6)
    c, s, _ = sweep(rng, 23e-6, 28.9, trials=200, points=3, width=20e-9)
    current = np.concatenate([current, c])
    switched = np.concatenate([switched, s])
    width = np.concatenate([width, np.full(3, 20e-9 * (1 + 1e-13))])
    fit = fits.fit_neel_brown(current, switched, 200, width)
    assert fit.width_s == pytest.approx(20e-9, rel=1e-12)
    i50 = neel_brown.current_for_probability(0.5, 20e-9, 23e-6, 28.9)
    assert abs(fit.i50_A / i50 - 1) < 0.01


@pytest.mark.parametrize("trials, match", [
    (np.nan, "trials must be a finite number.*nan"),
    (np.inf, "trials must be a finite number.*inf"),
    (0, "trials must be > 0"),
    (-5, "trials must be > 0"),
])
def test_non_finite_or_non_positive_trials_are_refused(trials, match):
    current = np.linspace(18e-6, 23e-6, 10)
    switched = np.linspace(0, 10, 10)
    with pytest.raises(fits.FitError, match=match):
        fits.fit_logistic(current, switched, trials)
    with pytest.raises(fits.FitError, match=match):
        fits.fit_neel_brown(current, switched, trials, WIDTH_S)
    per_point = np.full(10, 50.0)
    per_point[3] = trials
    with pytest.raises(fits.FitError, match=match):
        fits.fit_logistic(current, switched, per_point)


@pytest.mark.parametrize("switched, trials, match", [
    ([5, 10, 20], [0, 40, 40], "trials must be > 0"),
    ([5, 10, 20], [-40, 40, 40], "trials must be > 0"),
    ([5, 10, 20], [40, np.nan, 40], "trials must be a finite number.*nan"),
    ([5, 10, 20], np.inf, "trials must be a finite number.*inf"),
    ([5, 50, 20], 40, "switched must lie"),
    ([5, -1, 20], 40, "switched must lie"),
    ([5, np.nan, 20], 40, "switched must be finite"),
])
def test_fit_tau_checks_its_counts(switched, trials, match):
    widths = [2e-9, 10e-9, 50e-9]
    with pytest.raises(fits.FitError, match=match):
        fits.fit_tau(widths, switched, trials, 20e-6)


@pytest.mark.parametrize("widths", [[0.0, 10e-9, 50e-9], [2e-9, np.nan, 50e-9], [2e-9, 10e-9, np.inf]])
def test_non_finite_or_non_positive_widths_are_refused(widths):
    with pytest.raises(fits.FitError, match="pulse widths must be finite and > 0"):
        fits.fit_tau(widths, [5, 10, 20], 40, 20e-6)
    with pytest.raises(fits.FitError, match="pulse widths must be finite and > 0"):
        fits.fit_neel_brown([19e-6, 20e-6, 21e-6], [5, 10, 20], 40, widths)


def test_fit_tau_accepts_valid_fractional_counts():
    # a multi-domain bar's switched fraction x trials need not be an integer
    fit = fits.fit_tau([2e-9, 10e-9, 50e-9], [4.5, 15.25, 36.75], 40, 20e-6)
    assert fit.tau_s > 0 and np.isfinite(fit.tau_err_s)


@pytest.mark.parametrize("ic0, delta, n_domains", [(23e-6, 28.9, None), (160e-6, 40.0, 32)])
def test_logistic_errors_with_the_noise_dispersion_match_the_scatter(ic0, delta, n_domains):
    # the logistic's own dispersion holds its lack of fit to Neel-Brown data, so its default
    # errors overstate the scatter of repeated measurements (documented); scaled by the
    # Neel-Brown fit's dispersion (the noise alone) they match it
    i50s, slopes, err_default, err_noise, slope_err_noise = [], [], [], [], []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        current, switched, trials = sweep(rng, ic0, delta, 1.0, n_domains)
        nb = fits.fit_neel_brown(current, switched, trials, WIDTH_S)
        default = fits.fit_logistic(current, switched, trials)
        noise = fits.fit_logistic(current, switched, trials, noise_dispersion=nb.dispersion)
        # same estimates, same reported dispersion: only the errors change
        assert noise.i50_A == default.i50_A and noise.slope_per_A == default.slope_per_A
        assert noise.dispersion == default.dispersion
        i50s.append(noise.i50_A)
        slopes.append(noise.slope_per_A)
        err_default.append(default.i50_err_A)
        err_noise.append(noise.i50_err_A)
        slope_err_noise.append(noise.slope_err_per_A)
    scatter = np.std(i50s, ddof=1)
    assert 0.6 < np.median(err_noise) / scatter < 1.6
    assert 0.6 < np.median(slope_err_noise) / np.std(slopes, ddof=1) < 1.6
    assert np.median(err_default) / scatter > (1.2 if n_domains is None else 3.0)


def test_logistic_noise_dispersion_is_checked_and_floored_for_binary_data():
    rng = np.random.default_rng(8)
    current, switched, trials = sweep(rng, 23e-6, 28.9)
    low = fits.fit_logistic(current, switched, trials, noise_dispersion=0.25)
    one = fits.fit_logistic(current, switched, trials, noise_dispersion=1.0)
    assert low.i50_err_A == one.i50_err_A          # binary events: never less noise than binomial
    frac = fits.fit_logistic(current, switched + 0.5 * (switched < trials), trials,
                             noise_dispersion=0.25)
    frac_one = fits.fit_logistic(current, switched + 0.5 * (switched < trials), trials,
                                 noise_dispersion=1.0)
    assert frac.i50_err_A == pytest.approx(0.5 * frac_one.i50_err_A, rel=1e-9)
    se = np.full(current.size, 0.02)
    wls = fits.fit_logistic(current, switched, trials, std_err=se)
    wls_noise = fits.fit_logistic(current, switched, trials, std_err=se, noise_dispersion=1.0)
    assert wls_noise.i50_err_A == pytest.approx(wls.i50_err_A / np.sqrt(wls.dispersion), rel=1e-9)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(fits.FitError, match="noise_dispersion must be"):
            fits.fit_logistic(current, switched, trials, noise_dispersion=bad)


def test_a_fit_that_ends_on_no_physical_curve_is_refused():
    """Noisy counts with no rising transition: the likelihood's best Neel-Brown curve has a
    barrier so low that it switches half the time at zero current (I50 < 0). The fit must
    refuse rather than return a curve a survey would record (such a device failed a whole
    survey's calibration file)."""
    current = np.array([12.317e-6, 20.321e-6, 22.470e-6])
    with pytest.raises(fits.FitError, match="no physical curve"):
        fits.fit_neel_brown(current, [7, 12, 5], 15, 10e-9)
