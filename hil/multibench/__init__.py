"""Several benches at once: ``hil train --benches A.toml B.toml ...``.

A bench (simulated, or real through its bench file and VISA library) is a
:class:`~hil.multibench.worker.BenchWorker` that owns its instruments: in process by default
(:class:`~hil.multibench.pool.LocalPool`), or one Ray actor each
(:class:`~hil.multibench.pool.RayPool`, ``--ray`` / ``--ray-address``). In-situ training is
data parallel over them (:mod:`hil.multibench.dataparallel`): each batch split over the N
benches, each returns its shard's gradient, the driver averages them and keeps one optimizer;
the benches work at once, so the projected bench time is about 1/N of one bench's.
:mod:`hil.multibench.run` opens and closes them (every output off on every way out; a bench
lost mid-run stops the run in one line).
"""

from hil.multibench.pool import MultiBenchError
from hil.multibench.run import load_jobs, run_multibench

__all__ = ["MultiBenchError", "load_jobs", "run_multibench"]
