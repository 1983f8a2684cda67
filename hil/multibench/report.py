"""A multi-bench run's table and results file."""

from __future__ import annotations

from pathlib import Path


def format_runs(result) -> str:
    where = "Ray actors" if result.parallel else "in process"
    lines = [f"in situ on {len(result.labels)} bench(es) ({where}): {', '.join(result.labels)}",
             f"{'size':<5}{'seed':>5}{'test acc %':>11}{'per bench %':>24}{'bench time':>12}"
             f"{'per batch':>11}{'floor':>9}{'trips/batch':>12}"]
    for r in result.runs:
        each = " ".join(f"{100 * a:.1f}" for a in r.per_bench_acc)
        cost = (f"{_duration(r.projected_bench_time_s):>12}{1e3 * r.bench_time_s_per_batch:>9.1f}ms"
                f"{1e3 * r.floor_s_per_batch:>7.1f}ms{r.round_trips_per_batch:>12.0f}"
                if r.measured else f"{'not measured (bench_projection off)':>44}")
        lines.append(f"{r.size:<5}{r.seed:>5}{100 * r.test_acc:>11.1f}{each:>24}{cost}")
    lines.append("bench time: projected real-bench time of the training (the benches in "
                 "parallel: per batch the slowest shard, plus the one-time setup); floor: the "
                 "physical floor of that shard (trials x (read + pulses)); test acc: the test "
                 "set split over the benches; per bench: the whole test set on each chip")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.1f} s"


def write_results(result, out: Path) -> Path:
    from hil.sweep.store import write_json_atomic

    path = Path(out) / "results.json"
    write_json_atomic(path, result.as_dict())
    return path


__all__ = ["format_runs", "write_results"]
