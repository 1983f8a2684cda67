"""Sweep throughput: the same spec in process and on a local Ray with N workers, side by side.

    .venv/bin/python benchmarks/bench_sweep.py [--points 200] [--workers 2] [--kill]

Each point is a tiny survey (2 devices of size S, few trials) of its own seeded chip, or with
``--work train`` a small in-situ network (16 hidden neurons, 1 epoch) on it. Checks
that both modes give identical metrics for every point, and prints points per second and the
wall-time ratio. ``--kill``: the same sweep as ``hil sweep`` in a child process (on the local
Ray of ``--workers`` CPUs, or ``--kill-in-process``), killed with SIGKILL once a third of its
points are written, then run again: checks that the second run wrote exactly the missing
points (the first run's files byte for byte as they were) and that the results are the
in-process ones. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hil.sweep import parse_spec, run_sweep


#: what each point does: a tiny survey, or a small in-situ network (16 hidden, 1 epoch)
WORK = {"survey": {"survey": {"trials": 16, "points": 6, "coarse_points": 6,
                              "reference_trials": 8, "devices": "S0,S1"}},
        "train": {"train": {"epochs": 1, "hidden": 16, "sizes": ["S"], "modes": ["insitu"],
                            "calibration": "truth"}}}


def spec_data(points: int, work: str = "survey") -> dict:
    return {"name": "bench_sweep", "axes": {"variability.delta_rel": [0.05, 0.3],
                                            "seed": list(range((points + 1) // 2))}, **WORK[work]}


def spec(points: int, work: str = "survey"):
    return parse_spec(spec_data(points, work))


def _toml(data: dict) -> str:
    """The spec as TOML (flat values and one level of tables: what spec_data holds)."""
    def value(v):
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines = [f"{k} = {value(v)}" for k, v in data.items() if k not in tables]
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{json.dumps(k)} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def kill_and_resume(points: int, work: str, workers: int, on_ray: bool, reference) -> bool:
    """``hil sweep`` killed with SIGKILL a third of the way, then run again (see the module
    docstring); prints what each run did. True when nothing was repeated and the results are
    ``reference``'s (the in-process sweep's records)."""
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "spec.toml", Path(tmp) / "out"
        path.write_text(_toml(spec_data(points, work)))
        argv = [sys.executable, "-m", "hil.cli", "sweep", str(path), "--out", str(out),
                "--no-progress", "--no-plot"] + (["--ray", "--workers", str(workers)] if on_ray else [])
        first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        n = len(spec(points, work).points)
        while len(list((out / "points").glob("*.json"))) < n // 3 and first.poll() is None:
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)       # the driver and, on Ray, what it started
        first.wait()
        kept = {p.name: p.read_bytes() for p in (out / "points").glob("*.json")}
        started = time.perf_counter()
        second = subprocess.run(argv, capture_output=True, text=True)
        wall = time.perf_counter() - started
        records = [json.loads(p.read_text()) for p in (out / "points").glob("*.json")]
        unchanged = all((out / "points" / name).read_bytes() == data for name, data in kept.items())
        by_first = {f"{r['id']}.json" for r in records if r["pid"] == first.pid}
        summary = [line for line in second.stdout.splitlines() if " points (" in line]
        by_id = {r["id"]: r for r in records}
        same = all(_outcome(by_id.get(r["id"], {})) == _outcome(r) for r in reference)
        print(f"kill -9 {'on Ray' if on_ray else 'in process'}: {len(kept)} of {n} points written "
              f"before the kill; the second run ({wall:.1f} s): {summary[-1] if summary else second.stderr[-200:]}")
        ok = (second.returncode == 0 and len(records) == n and unchanged and by_first == set(kept)
              and same)
        print(f"  first run's files unchanged: {unchanged}; second run wrote only the "
              f"{n - len(kept)} missing: {by_first == set(kept) and len(records) == n}; results "
              f"identical to the in-process sweep's: {same}")
        return ok


def _outcome(record: dict):
    """What must agree between the modes: the metrics, or the error of a failed point."""
    return record.get("metrics", record.get("error"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", choices=sorted(WORK), default="survey")
    parser.add_argument("--kill", action="store_true", help="also: kill -9 and resume")
    parser.add_argument("--kill-in-process", action="store_true",
                        help="the kill -9 run in process instead of on Ray")
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
    if args.kill:
        same &= kill_and_resume(args.points, args.work, args.workers, not args.kill_in_process,
                                first.records)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
