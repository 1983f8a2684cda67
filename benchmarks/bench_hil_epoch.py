"""One training epoch with device neurons (simulated array) vs the same network with software
sigmoid neurons, in the same run, on two networks side by side: the digits network of the
experiments (64-128-10, goal: device epoch <= 1.3x the sigmoid epoch), where the fixed cost
per batch weighs, and a larger one (784-512-10 on MNIST-shaped synthetic data), where sampling
dominates. Prints the times and their ratios.

    python benchmarks/bench_hil_epoch.py [--hidden 128] [--repeats 4] [--sizes S M L] [--epochs 5]
        [--current-levels K | continuous] [--large-hidden 512] [--large-samples 2048]

Each configuration is timed over ``--epochs`` epochs after one warm-up epoch, alternating the
configurations so drifts of the machine hit all of them alike. Reported: the median epoch of
each, and the ratio as the median of the per-round ratios (each device epoch over the sigmoid
epoch of the same round, measured seconds apart), which load on a shared machine moves far
less than a ratio of medians, with the middle half of those ratios (their quartiles). ``SPIN_HIL_NUMBA=0`` times the numpy path instead of the
compiled kernels (hil/_fused.py).

Then the bench path: ``--bench-batches`` small batches (``--bench-shape`` samples x neurons on
the S devices) go through the BenchBackend (drivers + simulated VISA, in process) and through
the simulated array; it prints the wall time of both, their ratio, the bus round trips per
batch (and per device) and the bench's projected time per batch (virtual clock).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from devices.benchfile import load_bench_file
from hil import _fused
from hil.config import CONTINUOUS, ExperimentConfig
from hil.simulated import SimulatedArrayBackend
from hil.calibration import calibrate_backend
from hil.data import Split, load_digits_split
from hil.network import HiddenLayerNet
from hil.neuron import DeviceNeuron, round_robin
from hil.safety import device_current_limits
from hil.train import TrainConfig, train


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sizes", nargs="+", default=["S", "M", "L"])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both networks (default 1; 0 = torch's default)")
    parser.add_argument("--bench-batches", type=int, default=3,
                        help="batches through the BenchBackend (0 = skip the bench path)")
    parser.add_argument("--bench-shape", type=int, nargs=2, default=[8, 16],
                        metavar=("SAMPLES", "NEURONS"))
    default_levels = ExperimentConfig().current_levels
    parser.add_argument("--current-levels", default=default_levels,
                        type=lambda v: None if v == CONTINUOUS else int(v),
                        help=f"write-current levels per device, or {CONTINUOUS!r} (default: the "
                             f"experiment's, {default_levels or CONTINUOUS})")
    parser.add_argument("--large-hidden", type=int, default=512,
                        help="hidden neurons of the larger network (0 = skip it)")
    parser.add_argument("--large-samples", type=int, default=2048,
                        help="training samples of the MNIST-shaped synthetic set")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    bench = load_bench_file(None)
    limits = device_current_limits(bench)
    backend = SimulatedArrayBackend.from_bench(bench, seed=0)
    calibration = calibrate_backend(backend, limits, 10e-9)
    networks = [("digits 64-128-10", load_digits_split(), args.hidden)]
    if args.large_hidden:
        networks.append((f"MNIST-shaped 784-{args.large_hidden}-10",
                         mnist_shaped(args.large_samples), args.large_hidden))
    print(f"batch {args.batch_size}, {args.repeats} trials per answer, write currents "
          f"{'continuous' if args.current_levels is None else f'{args.current_levels} levels per device'}, "
          f"torch threads {torch.get_num_threads()}, {args.epochs} rounds; device-layer kernels: "
          f"{'numba' if _fused.ENABLED else 'numpy (numba missing or SPIN_HIL_NUMBA=0)'}")
    print(f"{'network':<26} {'neurons':<26} {'epoch (ms)':>10} {'ratio':>7}")
    for label, data, hidden in networks:
        worst = epoch_table(args, label, data, hidden, backend, calibration, limits)
        goal = " (goal <= 1.3)" if label.startswith("digits") else ""
        print(f"{'':<26} worst ratio {worst:.2f}{goal}")
    print("bus round trips per batch: 0 (simulated array)")
    if args.bench_batches:
        bench_path(args, bench, limits)
    return 0


def mnist_shaped(samples: int, seed: int = 0) -> Split:
    """Synthetic 28x28 images (784 features, 10 classes): a smooth random template per class
    plus pixel noise, standardized; timing only, the accuracy means nothing."""
    rng = np.random.default_rng(seed)
    templates = rng.random((10, 784)) > 0.7
    labels = rng.integers(0, 10, samples + 256)
    x = templates[labels] + rng.normal(0.0, 0.5, (len(labels), 784))
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    tensor = torch.tensor(x, dtype=torch.float32)
    y = torch.tensor(labels, dtype=torch.int64)
    return Split(tensor[:samples], y[:samples], tensor[samples:], y[samples:], 10, "mnist-shaped")


def epoch_table(args, label, data, hidden, backend, calibration, limits) -> float:
    """Time one network's epoch with sigmoid and with device neurons of each size; print the
    rows; return the worst device / sigmoid ratio."""

    def make(kind: str) -> HiddenLayerNet:
        if kind == "sigmoid":
            neurons = nn.Sigmoid()
        else:
            names = backend.devices_of_size(kind)
            neurons = DeviceNeuron.from_calibration(backend, calibration,
                                                    round_robin(hidden, names), limits,
                                                    repeats=args.repeats,
                                                    current_levels=args.current_levels)
        return HiddenLayerNet(data.n_features, hidden, data.n_classes, neurons,
                              torch.Generator().manual_seed(0))

    kinds = ["sigmoid"] + list(args.sizes)
    nets = {k: make(k) for k in kinds}
    # time the training epoch only (no test evaluation): an empty test split
    timing_data = type(data)(data.x_train, data.y_train, data.x_test[:0], data.y_test[:0],
                             data.n_classes, data.name)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for round_ in range(args.epochs + 1):
        for kind in kinds:
            started = time.perf_counter()
            train(nets[kind], timing_data, TrainConfig(epochs=1, batch_size=args.batch_size,
                                                       seed=round_, progress=False))
            if round_ > 0:  # round 0 warms up
                times[kind].append(time.perf_counter() - started)
    n_batches = -(-len(data.x_train) // args.batch_size)
    base = statistics.median(times["sigmoid"])
    print(f"{label}: {len(data.x_train)} samples, {n_batches} batches")
    print(f"{'':<26} {'software sigmoid':<26} {base * 1e3:10.1f} {1.0:7.2f}")
    worst = 0.0
    for kind in args.sizes:
        t = statistics.median(times[kind])
        rounds = [d / s for d, s in zip(times[kind], times["sigmoid"])]
        ratio = statistics.median(rounds)
        worst = max(worst, ratio)
        # the middle half of the per-round ratios: how much the machine's load moved them
        q1, _, q3 = statistics.quantiles(rounds, n=4, method="inclusive") if len(rounds) > 1 else (ratio,) * 3
        print(f"{'':<26} {f'devices {kind} (simulated array)':<26} {t * 1e3:10.1f} {ratio:7.2f}"
              f"  (rounds' middle half {q1:.2f}-{q3:.2f})")
    return worst


def bench_path(args, bench_file, limits) -> None:
    from hil.backends import BenchBackend
    from hil.calibration import calibration_from_chip
    from simulated_bench.bench import SimulatedBench

    n_samples, n_neurons = args.bench_shape
    truth = calibration_from_chip(SimulatedBench.from_config(bench_file).chip, 10e-9)
    names = [d.name for d in bench_file.devices() if d.size == "S"]
    neurons = round_robin(n_neurons, names)
    x = torch.randn(n_samples, n_neurons, generator=torch.Generator().manual_seed(0))
    with BenchBackend.open(bench_file, n_domains={n: truth[n].n_domains for n in names}) as devices:
        layer = DeviceNeuron.from_calibration(devices, truth, neurons, limits, repeats=args.repeats,
                                              current_levels=args.current_levels)
        layer(x)  # warm-up: bias field, line resistances, first selections
        trips0, time0 = devices.round_trips, devices.bench_time_s
        started = time.perf_counter()
        for _ in range(args.bench_batches):
            layer(x).sum()
        wall = (time.perf_counter() - started) / args.bench_batches
        trips = (devices.round_trips - trips0) / args.bench_batches
        projected = (devices.bench_time_s - time0) / args.bench_batches
    array = SimulatedArrayBackend.from_bench(bench_file, seed=0)
    fast = DeviceNeuron.from_calibration(array, truth, neurons, limits, repeats=args.repeats,
                                         current_levels=args.current_levels)
    started = time.perf_counter()
    for _ in range(args.bench_batches):
        fast(x)
    wall_array = (time.perf_counter() - started) / args.bench_batches
    used = len(set(neurons))
    print(f"bench path, batch of {n_samples} samples x {n_neurons} neurons on {used} S devices, "
          f"{args.repeats} trials each ({n_samples * n_neurons * args.repeats} trials):")
    print(f"  BenchBackend (drivers + simulated VISA): {wall * 1e3:.1f} ms wall per batch, "
          f"{trips:.0f} round trips per batch ({trips / used:.1f} per device), "
          f"projected bench time {projected:.2f} s per batch")
    print(f"  simulated array: {wall_array * 1e3:.3f} ms per batch; bench/array wall ratio "
          f"{wall / wall_array:.0f}x")


if __name__ == "__main__":
    raise SystemExit(main())
