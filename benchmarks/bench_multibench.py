"""Multi-bench in-situ training: 1 vs 2 vs 4 simulated benches side by side.

    .venv/bin/python benchmarks/bench_multibench.py [--epochs 5] [--hidden 32] [--seeds 0 1 2]
        [--ray --workers 2] [--kill]

Benches: examples/benches/lab_bench_{1..4}.toml (the default bench, each with its own chip).
For N = 1, 2, 4 benches (the first N) and each seed: the test accuracy (the test set split over
the benches) and its mean over seeds, the projected real-bench time of the training (the
benches in parallel) and per batch, against one bench, and the wall time of the driver in
process. ``--ray``: the same runs with one Ray actor per bench (a local Ray of ``--workers``
CPUs), checked to give the in-process numbers digit for digit, wall times side by side.
``--kill``: 4 benches on Ray, bench 3's instruments served over TCP by this process, its actor
killed with SIGKILL mid-run: prints the run's one line and that bench's outputs after.
Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from hil.config import ExperimentConfig
from hil.multibench import MultiBenchError, load_jobs, run_multibench

BENCHES = [str(Path(__file__).resolve().parent.parent / "examples" / "benches" /
               f"lab_bench_{k}.toml") for k in range(1, 5)]


def config(args, out: str) -> ExperimentConfig:
    return ExperimentConfig(epochs=args.epochs, hidden=args.hidden, seeds=tuple(args.seeds),
                            sizes=("S",), calibration="truth", progress=False, out_dir=out)


def side_by_side(args, out: str) -> bool:
    counts = [n for n in (1, 2, 4) if n <= len(BENCHES)]
    rows, same = {}, True
    startup_s = None
    if args.ray:        # started once, timed apart (run_multibench leaves a running Ray alone)
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        startup_s = time.perf_counter() - started
    for n in counts:
        jobs = load_jobs(BENCHES[:n])
        started = time.perf_counter()
        local = run_multibench(config(args, out), jobs)
        rows[n] = {"local": local, "wall": time.perf_counter() - started}
        if args.ray:
            started = time.perf_counter()
            remote = run_multibench(config(args, out), jobs, ray=True, num_cpus=args.workers)
            rows[n]["ray_wall"] = time.perf_counter() - started
            keys = [(r.test_acc, r.per_bench_acc, r.curve, r.projected_bench_time_s) for r in local.runs]
            same &= keys == [(r.test_acc, r.per_bench_acc, r.curve, r.projected_bench_time_s)
                             for r in remote.runs]
    base = rows[1]["local"].runs
    print(f"in-situ training, size S, hidden {args.hidden}, {args.epochs} epochs, seeds "
          f"{args.seeds}; the benches: {', '.join(Path(b).stem for b in BENCHES[:max(counts)])}")
    head = (f"{'benches':>8}{'test acc % per seed':>24}{'mean':>7}{'bench time':>12}"
            f"{'per batch':>11}{'vs 1':>6}{'trips/batch':>12}{'floor':>9}{'wall in process':>17}")
    if args.ray:
        head += f"{f'wall, Ray {args.workers} CPUs':>20}"
    print(head)
    for n in counts:
        runs = rows[n]["local"].runs
        accs = [100 * r.test_acc for r in runs]
        per_batch = statistics.mean(r.bench_time_s_per_batch for r in runs)
        line = (f"{n:>8}{' '.join(f'{a:.1f}' for a in accs):>24}{statistics.mean(accs):>7.1f}"
                f"{statistics.mean(r.projected_bench_time_s for r in runs):>10.0f} s"
                f"{1e3 * per_batch:>9.0f}ms"
                f"{per_batch / statistics.mean(r.bench_time_s_per_batch for r in base):>6.2f}"
                f"{statistics.mean(r.round_trips_per_batch for r in runs):>12.0f}"
                f"{1e3 * statistics.mean(r.floor_s_per_batch for r in runs):>7.0f}ms"
                f"{rows[n]['wall']:>15.1f} s")
        if args.ray:
            line += f"{rows[n]['ray_wall']:>18.1f} s"
        print(line)
    if args.ray:
        print(f"Ray actors give the in-process numbers digit for digit: {same} (the Ray wall "
              f"includes starting the actors; Ray's own start-up, {startup_s:.1f} s, apart)")
    return same


def kill_demo(args, out: str) -> None:
    """Bench 3 of 4 served over TCP (its instruments outlive its actor, as a real bench's do),
    its actor killed with SIGKILL at batch 5 of epoch 1."""
    from simulated_bench.bench import SimulatedBench   # the demo serves a simulated bench
    from simulated_bench.server import serve

    from hil.multibench.worker import BenchJob

    jobs = load_jobs(BENCHES)
    victim = jobs[2]
    served = SimulatedBench(victim.bench)
    magnet = served.instruments[victim.bench.address_of("magnet")]
    with serve(served) as handle:
        jobs[2] = BenchJob(victim.bench, victim.label + " (served)", "visa", "@py",
                           dict(handle.addresses), "bench")
        before = {}

        def kill(epoch, batch, pool):
            if batch == 4:
                with handle.lock:
                    before["magnet"] = magnet.output_on
                os.kill(pool.pids[2], signal.SIGKILL)

        try:
            run_multibench(config(args, out).replace(epochs=1, seeds=[0]), jobs, ray=True,
                           num_cpus=args.workers, on_batch=kill)
        except MultiBenchError as exc:
            print(f"hil train: error: {exc}")
        with handle.lock:
            print(f"bench 3's magnet output: {'on' if before.get('magnet') else 'off'} before the "
                  f"kill, {'on' if magnet.output_on else 'off'} after")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ray", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill", action="store_true")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as out:
        same = side_by_side(args, out)
        if args.kill:
            kill_demo(args, out)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
