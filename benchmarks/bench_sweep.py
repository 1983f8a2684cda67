"""Sweep throughput: the same spec in process and on a local Ray with N workers, side by side.

    .venv/bin/python benchmarks/bench_sweep.py [--points 200] [--workers 2]

Each point is a tiny survey (2 devices of size S, few trials) of its own seeded chip, or with
``--work train`` a small in-situ network (16 hidden neurons, 1 epoch) on it. Checks
that both modes give identical metrics for every point, and prints points per second and the
wall-time ratio. Not a timed test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hil.sweep import parse_spec, run_sweep


#: what each point does: a tiny survey, or a small in-situ network (16 hidden, 1 epoch)
WORK = {"survey": {"survey": {"trials": 16, "points": 6, "coarse_points": 6,
                              "reference_trials": 8, "devices": "S0,S1"}},
        "train": {"train": {"epochs": 1, "hidden": 16, "sizes": ["S"], "modes": ["insitu"],
                            "calibration": "truth"}}}


def spec(points: int, work: str = "survey"):
    return parse_spec({"name": "bench_sweep",
                       "axes": {"variability.delta_rel": [0.05, 0.3],
                                "seed": list(range((points + 1) // 2))}, **WORK[work]})


def _outcome(record: dict):
    """What must agree between the modes: the metrics, or the error of a failed point."""
    return record.get("metrics", record.get("error"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", choices=sorted(WORK), default="survey")
    args = parser.parse_args(argv)
    sweep = spec(args.points, args.work)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for label, kwargs in (("in process", {}),
                              (f"Ray, {args.workers} workers", {"ray": True,
                                                               "num_cpus": args.workers})):
            if kwargs:          # Ray's start-up timed apart from the points
                import ray
                started = time.perf_counter()
                ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
                startup_s = time.perf_counter() - started
            started = time.perf_counter()
            results[label] = run_sweep(sweep, Path(tmp) / label.replace(" ", "_"),
                                       progress=False, plot=False, **kwargs)
            rows.append((label, time.perf_counter() - started))
        ray.shutdown()
        first, second = results.values()
        same = [_outcome(a) for a in first.records] == [_outcome(b) for b in second.records]
        failed = len(first.failed)
    n = len(sweep.points)
    print(f"{n} points ({args.work}: {WORK[args.work]}, {failed} recorded as failed fits); identical results in "
          f"both modes: {same}")
    print(f"{'mode':<18}{'wall (s)':>10}{'points/s':>10}")
    for label, wall in rows:
        print(f"{label:<18}{wall:>10.1f}{n / wall:>10.2f}")
    print(f"wall-time ratio in process / Ray: {rows[0][1] / rows[1][1]:.2f} (Ray's start-up, "
          f"{startup_s:.1f} s, not included)")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
