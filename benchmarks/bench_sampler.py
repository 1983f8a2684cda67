"""Throughput of the vectorized switching sampler against the floor it is judged by.

    python benchmarks/bench_sampler.py [--devices N] [--amplitudes M] [--repeats R]

Prints samples/s of ``simulated_bench.physics.sample_switch_events`` (many macrospin devices
x many pulse amplitudes, one reset-then-write trial each) beside a plain "draw one uniform
number per sample and compare it with a given probability" loop of the same shape, measured
in the same run, and their ratio. The plain loop is the floor of any sampler (it gets the
probabilities for free); the goal is a ratio >= 0.6.

A benchmark, not a test: numbers depend on the machine, so nothing here asserts.
"""

from __future__ import annotations

import argparse
import time

import sys
from pathlib import Path

import numpy as np

try:
    from devices.laws import neel_brown
from simulated_bench import physics
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from simulated_bench import physics

GOAL_RATIO = 0.6


def _timings_s(functions, repeats: int) -> list[list[float]]:
    """Wall times of each function, run interleaved (round robin) so that load from other
    processes hits all of them alike; ``times[f][r]`` is function f in round r."""
    for fn in functions:
        fn()                               # warm up (allocations, caches)
    times = [[] for _ in functions]
    for _ in range(repeats):
        for i, fn in enumerate(functions):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return times


def run(devices: int = 1024, amplitudes: int = 1024, repeats: int = 15, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    # a chip's worth of macrospin devices (S-size figures, 8 % / 6 % D2D spread)
    delta = (28.7 * rng.lognormal(0.0, 0.08, devices))[:, None]
    ic0_A = (2.4e-5 * rng.lognormal(0.0, 0.06, devices))[:, None]
    width_s = 10e-9
    lo = neel_brown.current_for_probability(0.01, width_s, 2.4e-5, 28.7)
    hi = neel_brown.current_for_probability(0.99, width_s, 2.4e-5, 28.7)
    current_A = np.linspace(lo, hi, amplitudes)[None, :]
    p_given = neel_brown.probability(current_A, width_s, ic0_A, delta)
    shape = p_given.shape
    samples = shape[0] * shape[1]

    sample_rng = np.random.default_rng(seed + 1)
    plain_rng = np.random.default_rng(seed + 2)

    def sampler():
        return physics.sample_switch_events(sample_rng, current_A, width_s, ic0_A, delta)

    def plain():
        return plain_rng.random(shape) < p_given

    t_sampler, t_plain = _timings_s([sampler, plain], repeats)
    paired = np.array(t_plain) / np.array(t_sampler)     # same round: same machine load
    check = sampler()
    return {
        "shape": shape,
        "samples": samples,
        "sampler_samples_per_s": samples / min(t_sampler),
        "plain_samples_per_s": samples / min(t_plain),
        "ratio": float(np.median(paired)),
        "ratio_of_best": min(t_plain) / min(t_sampler),
        "mean_abs_error_vs_p": float(abs(check.mean() - p_given.mean())),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1024)
    parser.add_argument("--amplitudes", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    r = run(args.devices, args.amplitudes, args.repeats)
    print(f"shape {r['shape'][0]} devices x {r['shape'][1]} amplitudes = {r['samples']:,} samples "
          f"({args.repeats} interleaved rounds; rates are the best round)")
    print(f"sample_switch_events : {r['sampler_samples_per_s'] / 1e6:8.1f} M samples/s")
    print(f"plain uniform < p    : {r['plain_samples_per_s'] / 1e6:8.1f} M samples/s")
    verdict = "meets" if r["ratio"] >= GOAL_RATIO else "BELOW"
    print(f"ratio                : {r['ratio']:8.2f}x  median of per-round ratios "
          f"({verdict} the {GOAL_RATIO}x goal); best/best {r['ratio_of_best']:.2f}x")
    print(f"|mean(events) - mean(p)| = {r['mean_abs_error_vs_p']:.2e} (sanity)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
