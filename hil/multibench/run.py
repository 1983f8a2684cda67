"""A multi-bench run from start to end: check the benches, open them (in process or as Ray
actors), train, and on every way out turn every bench's outputs off.

A bench lost mid-run (its worker's process died: killed, out of memory, its node gone) stops
the run: the lost bench's outputs are turned off through a fresh connection
(:func:`~hil.multibench.worker.safe_off_bench`), every other bench closes its instruments
(outputs off), and the run ends with one line (:class:`MultiBenchError`) naming the bench, the
epoch and batch, and what was done. It does not go on with the benches left: the batch split
and the projected time would silently change under the user, and a bench that died is a
bench to look at before training on it again.
"""

from __future__ import annotations

from pathlib import Path

from hil.config import ExperimentConfig
from hil.multibench.pool import BenchLost, LocalPool, MultiBenchError, RayPool
from hil.multibench.worker import BenchJob, safe_off_bench


def load_jobs(paths: list[str], backend: str = "sim", visa_library: str | None = None,
              forward: str | None = None, watchdog_s: float = 600.0) -> list[BenchJob]:
    """One job per bench file (``"default"``: the built-in bench), each file read and checked
    here, before anything opens. The same file twice, or (on real instruments) two benches that
    share an instrument address, is refused: two workers must never drive one instrument."""
    from procedures.session import load_bench

    if len(paths) < 1:
        raise MultiBenchError("--benches needs at least one bench file")
    # "array" trains on the chip the bench file simulates: a simulated bench, in process or
    # served (hil serve, reached over VISA); a real bench's forward is its instruments
    forward = forward or ("array" if backend == "sim" else "bench")
    seen: dict[str, str] = {}
    jobs = []
    for path in paths:
        key = str(Path(path).resolve()) if path != "default" else "default"
        if key in seen:
            raise MultiBenchError(f"--benches names {path!r} twice; give each bench once")
        seen[key] = path
        bench = load_bench(None if path == "default" else path)
        jobs.append(BenchJob(bench, path, backend, visa_library, {}, forward, watchdog_s))
    if backend != "sim":
        owner: dict[str, str] = {}
        for job in jobs:
            for entry in job.bench.instruments:
                if entry.address in owner:
                    raise MultiBenchError(
                        f"benches {owner[entry.address]!r} and {job.label!r} both use the "
                        f"instrument at {entry.address}; each bench needs its own instruments")
                owner[entry.address] = job.label
    return jobs


def bench_sizes(config: ExperimentConfig, jobs: list[BenchJob]) -> tuple[str, ...]:
    """The sizes to train (``config.sizes`` or every size of the first bench's first chip);
    each must be on the first chip of every bench."""
    def sizes_of(bench):
        first = bench.groups[0].chip
        return [g.size for g in bench.groups if g.chip == first]

    from hil.experiment import require_switching_neurons

    sizes = tuple(config.sizes or sizes_of(jobs[0].bench))
    for job in jobs:
        missing = [s for s in sizes if s not in sizes_of(job.bench)]
        if missing:
            raise MultiBenchError(f"bench {job.label!r} has no size {missing[0]!r} on its first "
                                  f"chip (it has {sizes_of(job.bench)}); choose --sizes every "
                                  f"bench has")
        require_switching_neurons(job.bench, sizes)   # a synapse bench trains no neuron net
    return sizes


def run_multibench(config: ExperimentConfig, jobs: list[BenchJob], ray: bool = False,
                   ray_address: str | None = None, num_cpus: int | None = None,
                   on_batch=None):
    """Train ``config`` (in situ) on the benches of ``jobs``, in process or on Ray (one actor
    per bench); returns the :class:`~hil.multibench.dataparallel.MultiBenchResult`."""
    from hil.multibench.dataparallel import train_on_benches

    if not isinstance(config.hidden, int):
        raise MultiBenchError(f"--benches trains one hidden layer of device neurons: give one "
                              f"--hidden width, got {list(config.hidden)}")
    config = config.replace(sizes=list(bench_sizes(config, jobs)), modes=["insitu"])
    labels = [job.label for job in jobs]
    if not (ray or ray_address):
        pool = LocalPool(jobs)
        return _guarded(pool, jobs, lambda: train_on_benches(config, pool, labels, on_batch))
    from hil.sweep.execute import ray_runtime

    with ray_runtime(ray_address, num_cpus) as ray_module:
        cpus = ray_module.cluster_resources().get("CPU", 1.0)
        pool = RayPool(ray_module, jobs, cpus_per_bench=min(1.0, cpus / len(jobs)))
        return _guarded(pool, jobs, lambda: train_on_benches(config, pool, labels, on_batch))


def _guarded(pool, jobs, train):
    """``train()``, then every bench closed (outputs off), whatever happened; a lost bench is
    turned off through a fresh connection and the run ends in one line."""
    lost = None
    try:
        return train()
    except BenchLost as exc:
        lost = exc
    finally:
        pool.close()
    job = jobs[lost.index]
    what = safe_off_bench(job)
    where = f" at {lost.where}" if getattr(lost, "where", None) else ""
    raise MultiBenchError(
        f"bench {lost.index + 1} of {len(jobs)} ({job.label!r}) was lost{where} ({lost.reason}); "
        f"{what}; the other benches' outputs are off. The run stopped (nothing written): look at "
        f"that bench, then run again") from None


__all__ = ["bench_sizes", "load_jobs", "run_multibench"]
