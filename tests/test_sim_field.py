"""The magnet field in the simulator: easy-axis (z) reversal by thermal activation over the
time a field is applied, and the hard-axis (x) saturation with its random fall back."""

from __future__ import annotations

import numpy as np
import pytest

from simulated_bench import physics

from simhelpers import MAGNET, bench_with

HK_T = 0.06          # default-bench SOT anisotropy field 2 Ku / Ms


def z_bench(T_per_A=0.005, **wiring):
    import tomllib

    from devices.benchfile import default_bench_text
    data = tomllib.loads(default_bench_text())
    return bench_with(models=("KepcoBOP",), wiring={**data["wiring"], "magnet_axis": "z",
                                                     "magnet_T_per_A": T_per_A, **wiring})


def sweep_coercive_fields(chip, rate_T_per_s, rng, points=400):
    """Field at which each device's m_z crosses 0 in a linear sweep -Hk -> +Hk (devices
    start down), from the chip's own field physics: dwell = step / rate."""
    chip.set_state(slice(None), -1)
    fields = np.linspace(-HK_T, HK_T, points)
    dwell_s = (fields[1] - fields[0]) / rate_T_per_s
    hc = np.full(len(chip), np.nan)
    for h in fields:
        chip.expose_to_field([h], [dwell_s], "z", rng)
        newly = np.isnan(hc) & (chip.magnetization() >= 0)
        hc[newly] = h
    return hc


def test_easy_axis_sweep_gives_a_fraction_of_hk_smaller_for_small_devices():
    bench = z_bench()
    chip = bench.chip
    rng = np.random.default_rng(1)
    hc = sweep_coercive_fields(chip, 0.05, rng)
    assert np.all(np.isfinite(hc)), "every device reverses before +Hk"
    predicted = physics.coercive_field_T(0.05, chip.hk_T, chip.delta, chip.tau0_s)
    by_size = {s: hc[chip.size == s] for s in ("S", "M", "L")}
    # multi-domain bars (hundreds of regions) switch at the median: close to the estimate
    big = chip.size == "L"
    assert np.allclose(hc[big], predicted[big], rtol=0.1)
    # a fraction of Hk, as on a real film (Hc ~ 0.2-0.4 Hk at Delta 30-40, 50 mT/s)
    for size, values in by_size.items():
        assert 0.15 * HK_T < values.mean() < 0.45 * HK_T, (size, values)
    # smaller devices: smaller barrier -> smaller coercive field
    assert by_size["S"].mean() < by_size["M"].mean() - 0.003
    assert by_size["S"].mean() < by_size["L"].mean() - 0.003


def test_slower_sweep_gives_a_smaller_coercive_field():
    bench = z_bench()
    chip, rng = bench.chip, np.random.default_rng(2)
    fast = sweep_coercive_fields(chip, 0.5, rng)
    slow = sweep_coercive_fields(chip, 0.005, rng)
    big = chip.size == "L"
    assert np.all(slow[big] < fast[big] - 0.003)
    assert slow.mean() < fast.mean() - 0.003
    ratio = physics.coercive_field_T(0.005, HK_T, 40.0) / physics.coercive_field_T(0.5, HK_T, 40.0)
    assert np.median(slow[big] / fast[big]) == pytest.approx(float(ratio), rel=0.1)


def set_current(bench, amps):
    magnet = bench.instruments[MAGNET]
    for command in ("FUNC:MODE CURR", "VOLT 36", f"CURR {amps}", "OUTP 1"):
        magnet.handle(command)
    return magnet


def test_a_held_field_acts_over_virtual_time():
    bench = z_bench()
    chip = bench.chip
    big = np.flatnonzero(chip.size == "L")
    # a field at which tau(H) ~ 1 s for the L bars' regions (from the law itself)
    delta = float(np.median(chip.delta[big]))
    h_T = HK_T * (1.0 - np.sqrt(np.log(1.0 / 1e-9) / delta))
    magnet = set_current(bench, h_T / 0.005)
    bench.clock.advance_to(magnet.ramp_done_s())
    bench.update_field_exposure()
    tau_s = 1e-9 * np.exp(chip.delta[big] * (1.0 - bench.field_T() / HK_T) ** 2)
    m = chip.magnetization(big).copy()
    for dt_s in (0.05, 0.5, 3.0):
        bench.clock.advance(dt_s)
        bench.update_field_exposure()
        # each region reverses with P = 1 - exp(-t / tau): the down fraction decays
        expected = 1.0 - (1.0 - m) * np.exp(-dt_s / tau_s)
        m = chip.magnetization(big).copy()
        assert np.all(np.abs(m - expected) < 0.12), (dt_s, m, expected)
    assert np.sum(m > 0.8) >= len(big) // 2       # most followed the field within seconds


def test_history_is_the_same_however_often_it_is_looked_at():
    """A ramp through the coercive field integrated in one update or in many agrees."""
    results = []
    for updates in (1, 200):
        bench = z_bench()
        magnet = set_current(bench, 8.0)            # 0 -> 40 mT at 10 A/s
        end_s = magnet.ramp_done_s()
        for t in np.linspace(0, end_s, updates + 1)[1:]:
            bench.clock.advance_to(t)
            bench.update_field_exposure()
        chip = bench.chip
        results.append(chip.magnetization(chip.size == "L"))
    once, often = results
    assert np.all(np.abs(once - often) < 0.15)
    assert 0.0 < once.mean() <= 1.0


def test_no_field_no_reversal_and_reads_update_devices():
    bench = z_bench()
    chip = bench.chip
    before = chip.up_regions.copy()
    bench.clock.advance(1000.0)
    bench.update_field_exposure()
    assert np.array_equal(chip.up_regions, before)


def test_in_plane_saturation_falls_up_or_down_at_random():
    bench = bench_with(models=("KepcoBOP",), wiring={"magnet_T_per_A": 0.01})  # axis x
    chip = bench.chip
    chip.set_state(slice(None), +1)
    magnet = set_current(bench, 4.0)                 # 40 mT < Hk: only a tilt
    bench.clock.advance_to(magnet.ramp_done_s() + 1.0)
    bench.update_field_exposure()
    assert np.all(chip.magnetization() == 1.0) and not chip.in_plane.any()
    magnet.handle("CURR 7")                          # 70 mT > Hk: in plane
    bench.clock.advance_to(magnet.ramp_done_s() + 0.1)
    bench.update_field_exposure()
    assert chip.in_plane.all()
    magnet.handle("CURR 0")
    bench.clock.advance_to(magnet.ramp_done_s() + 0.1)
    bench.update_field_exposure()
    assert not chip.in_plane.any()
    m = chip.magnetization()
    big = chip.size == "L"                           # ~800 regions: demagnetized, m ~ 0
    assert np.all(np.abs(m[big]) < 0.15)
    small = chip.size == "S"                         # macrospin: each lands at +-1
    assert set(np.unique(m[small])) <= {-1.0, 1.0}
    # 50/50 over many saturations of the 8 small devices
    ups = 0
    for _ in range(25):
        magnet.handle("CURR 7")
        bench.clock.advance_to(magnet.ramp_done_s())
        magnet.handle("CURR 0")
        bench.clock.advance_to(magnet.ramp_done_s())
        bench.update_field_exposure()
        ups += int(np.sum(chip.magnetization()[small] > 0))
    assert 0.35 < ups / (25 * small.sum()) < 0.65


def test_sot_pulses_need_an_in_plane_field():
    """With a z magnet an SOT bar sees no in-plane bias: a pulse does not switch it."""
    bench = z_bench()
    magnet = set_current(bench, 4.0)
    bench.clock.advance_to(magnet.ramp_done_s())
    assert bench.in_plane_field_T() == 0.0 and bench.field_T() == pytest.approx(0.02)
