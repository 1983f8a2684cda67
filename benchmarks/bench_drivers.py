"""Naive vs batched write-read trials, in process and over ``hil serve``, in one run.

    .venv/bin/python benchmarks/bench_drivers.py [--naive 200] [--batched 5000] [--device M1]

For each transport (the simulated VISA library in process; pyvisa-py over the loopback SCPI
server) and each way (``Bench.trial`` in a loop: reset pulse, write pulse, read, each a few
bus round trips; ``Bench.trials``: one arbitrary waveform + one SMU trigger model for the
batch), it reports:

- trials/s of this computer (wall clock),
- bus round trips per trial (counted by the drivers at the resource level),
- projected real-bench time per trial and trials/s, from the simulated bench's virtual clock
  (bus transaction times, NPLC integration, pulse and settling times of real instruments),

then the batched / naive ratios. Not a timed test: run it by hand.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.bench import Bench  # noqa: E402
from simulated_bench.bench import SimulatedBench  # noqa: E402
from simulated_bench.server import serve  # noqa: E402
from simulated_bench.visa import SimulatedVisaLibrary  # noqa: E402


def measure(bench: Bench, how: str, device: str, levels, repeats: int, width_s: float) -> dict:
    start_wall = time.perf_counter()
    start_rt, start_t = bench.round_trips, bench.projected_time_s
    if how == "naive":
        for level in levels:
            for _ in range(repeats):
                bench.trial(device, float(level), width_s, nplc=0.01)
    else:
        bench.trials(device, levels, width_s, repeats=repeats, nplc=0.01)
    trials = len(levels) * repeats
    wall = time.perf_counter() - start_wall
    bench_s = bench.projected_time_s - start_t
    return {"trials": trials, "wall_s": wall, "trials_per_s": trials / wall,
            "round_trips": bench.round_trips - start_rt,
            "rt_per_trial": (bench.round_trips - start_rt) / trials,
            "bench_s_per_trial": bench_s / trials, "bench_trials_per_s": trials / bench_s}


def run_transport(transport: str, args) -> dict:
    rows = {}
    if transport == "in process":
        lib = SimulatedVisaLibrary()
        context, closer = Bench.open(visa_library=lib), (lambda: None)
    else:
        sim = SimulatedBench.from_config(None)
        handle = serve(sim)
        context = Bench.open(visa_library="@py", addresses=handle.addresses,
                             time_source=lambda: sim.clock.now_s)
        closer = handle.close
    try:
        with context as bench:
            bench.field.set_field(0.02)
            top = -bench.default_reset_V(args.device)
            levels = np.linspace(0.2, 1.0, args.levels) * top
            bench.trials(args.device, levels, args.width, repeats=1)       # warm up
            for how, total in (("naive", args.naive), ("batched", args.batched)):
                repeats = max(1, total // len(levels))
                rows[how] = measure(bench, how, args.device, levels, repeats, args.width)
    finally:
        closer()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--naive", type=int, default=200, help="naive trials per transport")
    parser.add_argument("--batched", type=int, default=5000, help="batched trials per transport")
    parser.add_argument("--levels", type=int, default=5, help="pulse amplitudes per batch")
    parser.add_argument("--device", default="M1")
    parser.add_argument("--width", type=float, default=20e-9, help="write pulse width (s)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)

    results = {t: run_transport(t, args) for t in ("in process", "hil serve")}
    header = (f"{'transport':<11} {'mode':<8} {'trials':>7} {'trials/s':>10} {'rt/trial':>9} "
              f"{'bench ms/trial':>15} {'bench trials/s':>15}")
    print(f"device {args.device}, {args.levels} amplitudes, width {args.width:g} s, NPLC 0.01")
    print(header)
    print("-" * len(header))
    for transport, rows in results.items():
        for how, r in rows.items():
            print(f"{transport:<11} {how:<8} {r['trials']:>7d} {r['trials_per_s']:>10.1f} "
                  f"{r['rt_per_trial']:>9.3f} {1e3 * r['bench_s_per_trial']:>15.3f} "
                  f"{r['bench_trials_per_s']:>15.1f}")
    print()
    print("batched / naive:")
    for transport, rows in results.items():
        n, b = rows["naive"], rows["batched"]
        print(f"  {transport:<11} trials/s x{b['trials_per_s'] / n['trials_per_s']:.0f}, "
              f"round trips per trial / {n['rt_per_trial'] / b['rt_per_trial']:.0f}, "
              f"projected bench time per trial / "
              f"{n['bench_s_per_trial'] / b['bench_s_per_trial']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
