"""Where points run: in this process (the default, nothing started) or as Ray tasks.

Both yield ``(point, outcome)`` as points finish; the caller writes each result at once. A
point's numbers come from its config only (:func:`hil.sweep.point.run_point`), so the two give
the same results. Ray is imported only by :func:`ray_runtime`: the in-process path needs none of
it (an optional extra, ``pip install 'spin-hil[ray]'``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from hil.sweep.point import run_point
from hil.sweep.spec import Point, SweepError


def local_points(points: list[Point]) -> Iterator[tuple[Point, dict]]:
    for point in points:
        yield point, run_point(point.config)


def import_ray():
    try:
        import ray
    except ImportError:
        raise SweepError("--ray needs Ray, an optional extra: pip install 'spin-hil[ray]' "
                         "(or run without --ray, in process)") from None
    return ray


@contextlib.contextmanager
def ray_runtime(address: str | None = None, num_cpus: int | None = None):
    """``with ray_runtime(...) as ray:`` Ray, started here unless already running: a local
    Ray with ``num_cpus`` (default: this machine's cores), or the cluster at ``address``.
    What was started here is shut down on the way out (an interrupt included). Shared by
    ``hil sweep --ray`` and ``hil train --benches ... --ray``."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                     log_to_driver=False)
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()


def ray_points(points: list[Point], address: str | None = None,
               num_cpus: int | None = None) -> Iterator[tuple[Point, dict]]:
    """Run the points as Ray tasks (one CPU each) on :func:`ray_runtime`'s Ray. Ray is shut
    down at the end, also when the caller stops early (an interrupt cancels the tasks left)."""
    with ray_runtime(address, num_cpus) as ray:
        yield from _ray_stream(ray, points)


def _ray_stream(ray, points: list[Point]) -> Iterator[tuple[Point, dict]]:
    remote = ray.remote(num_cpus=1, max_retries=0)(run_point)
    pending = {remote.remote(point.config): point for point in points}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                point = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:   # the worker died: recorded like any failure
                    outcome = {"status": "error",
                               "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
                yield point, outcome
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)


__all__ = ["import_ray", "local_points", "ray_points", "ray_runtime"]
