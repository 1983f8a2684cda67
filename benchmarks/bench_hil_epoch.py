"""One training epoch with device neurons (simulated array) vs the same network with software
sigmoid neurons, in the same run. Prints both times and their ratio (goal: <= 1.3x).

    python benchmarks/bench_hil_epoch.py [--hidden 128] [--repeats 4] [--sizes S M L] [--epochs 5]

Each configuration is timed over ``--epochs`` epochs after one warm-up epoch, alternating the
configurations so drifts of the machine hit all of them alike; the median epoch is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from drivers.benchfile import load_bench_file
from hil.backends import SimulatedArrayBackend
from hil.calibration import calibrate_backend
from hil.data import load_digits_split
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
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both networks (default 1; 0 = torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    bench = load_bench_file(None)
    limits = device_current_limits(bench)
    data = load_digits_split()
    backend = SimulatedArrayBackend.from_bench(bench, seed=0)
    calibration = calibrate_backend(backend, limits, 10e-9)

    def make(kind: str) -> HiddenLayerNet:
        if kind == "sigmoid":
            neurons = nn.Sigmoid()
        else:
            names = backend.devices_of_size(kind)
            neurons = DeviceNeuron.from_calibration(backend, calibration,
                                                    round_robin(args.hidden, names), limits,
                                                    repeats=args.repeats)
        return HiddenLayerNet(data.n_features, args.hidden, data.n_classes, neurons,
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
    print(f"digits train split: {len(data.x_train)} samples, batch {args.batch_size} "
          f"({n_batches} batches), {args.hidden} hidden neurons, torch threads "
          f"{torch.get_num_threads()}")
    print(f"{'neurons':<34} {'epoch (ms)':>10} {'ratio':>7}")
    print(f"{'software sigmoid':<34} {base * 1e3:10.1f} {1.0:7.2f}")
    worst = 0.0
    for kind in args.sizes:
        t = statistics.median(times[kind])
        worst = max(worst, t / base)
        label = f"devices {kind} (simulated array, K={args.repeats})"
        print(f"{label:<34} {t * 1e3:10.1f} {t / base:7.2f}")
    print(f"worst ratio {worst:.2f} (goal <= 1.3); bus round trips per batch: 0 (simulated array)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
