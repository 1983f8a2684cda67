"""The benches of a run, in process or as Ray actors: one interface, ``call(method, args)``.

:class:`LocalPool` holds one :class:`~hil.multibench.worker.BenchWorker` per bench in this
process and calls them one after the other; :class:`RayPool` makes each one a Ray actor (its
own process, on a local Ray or a cluster) and calls them all at once, so the benches work in
parallel. A worker's own error (a limit, a calibration that fails) comes back as itself; a Ray
actor that dies (killed, out of memory, its node lost) raises :class:`BenchLost` naming it.
``close()`` turns every bench's outputs off (the workers close their instruments) and stops
the actors.
"""

from __future__ import annotations

import dataclasses
import os
import socket

from hil.multibench.worker import BenchJob, BenchWorker, outlives_worker


class MultiBenchError(RuntimeError):
    """A multi-bench run that cannot go on, or cannot start: one line, what and what to do."""


class BenchLost(Exception):
    """The worker of bench ``index`` died (its process is gone)."""

    def __init__(self, index: int, reason: str):
        super().__init__(index, reason)
        self.index, self.reason = index, reason


class LocalPool:
    """Every bench's worker in this process (the default: nothing to start)."""

    parallel = False

    def __init__(self, jobs: list[BenchJob]):
        self.jobs = list(jobs)
        self.workers: list[BenchWorker] = []
        try:
            for job in self.jobs:      # no watchdog: they die with this process
                self.workers.append(BenchWorker(dataclasses.replace(job, watchdog_s=None)))
            self.guardians = _guardians(self.jobs, [os.getpid()] * len(self.jobs))
        except BaseException:
            self.close()
            raise

    def call(self, method: str, args: list[tuple | None], shared=None) -> list:
        """``worker.method(shared, *args[i])`` on every worker whose ``args[i]`` is not None
        (without ``shared`` when it is None); their answers in bench order (None: not called)."""
        lead = () if shared is None else (shared,)
        return [None if a is None else getattr(w, method)(*lead, *a)
                for w, a in zip(self.workers, args)]

    def close(self) -> None:
        errors = []
        for worker in self.workers:
            try:
                worker.close()
            except Exception as exc:    # noqa: BLE001 - close the others first
                errors.append(exc)
        _dismiss(getattr(self, "guardians", []))
        if errors:
            raise errors[0]


class RayPool:
    """One Ray actor per bench, each owning its instruments; called all at once."""

    parallel = True

    def __init__(self, ray, jobs: list[BenchJob], cpus_per_bench: float = 1.0):
        self.ray = ray
        self.jobs = list(jobs)
        actor = ray.remote(num_cpus=cpus_per_bench, max_restarts=0,
                           max_task_retries=0)(BenchWorker)
        self.actors = [actor.remote(job) for job in self.jobs]
        try:
            self.pids = self.call("pid", [()] * len(self.actors))   # every bench opened
            here = socket.gethostname()
            hosts = self.call("host", [()] * len(self.actors))
            self.guardians = _guardians(self.jobs, [pid if host == here else None
                                                    for pid, host in zip(self.pids, hosts)])
        except BaseException:
            self.close()
            raise

    def call(self, method: str, args: list[tuple | None], shared=None) -> list:
        ray = self.ray
        lead = () if shared is None else (ray.put(shared),)    # sent once to every bench
        refs = [None if a is None else getattr(actor, method).remote(*lead, *a)
                for actor, a in zip(self.actors, args)]
        out = []
        for index, ref in enumerate(refs):
            out.append(None if ref is None else self._get(index, ref))
        return out

    def _get(self, index: int, ref):
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:     # the worker's own error, as itself
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise
        except ray.exceptions.RayActorError as exc:
            if getattr(exc, "actor_init_failed", False):   # it could not open its bench
                lines = [line.strip() for line in str(getattr(exc, "error_msg", exc)).splitlines()]
                why = next((line for line in reversed(lines) if line), "unknown error")
                raise MultiBenchError(f"bench {index + 1} ({self.jobs[index].label!r}) could not "
                                      f"start: {why}") from None
            raise BenchLost(index, _first_line(exc)) from None

    def close(self) -> None:
        ray = self.ray
        pending = []
        for actor in self.actors:
            try:
                pending.append(actor.close.remote())
            except Exception:   # noqa: BLE001 - a dead actor has nothing left to close
                pass
        for ref in pending:
            try:
                ray.get(ref, timeout=60)
            except Exception:   # noqa: BLE001 - dead: see BenchLost; the rest still close
                pass
        for actor in self.actors:
            try:
                ray.kill(actor)
            except Exception:   # noqa: BLE001
                pass
        _dismiss(getattr(self, "guardians", []))


def _guardians(jobs: list[BenchJob], worker_pids: list) -> list:
    """A guardian per bench that outlives its worker (:mod:`hil.multibench.guardian`): its
    outputs go off even when this driver is killed."""
    from hil.multibench.guardian import start_guardian

    return [start_guardian(job, pid) for job, pid in zip(jobs, worker_pids) if outlives_worker(job)]


def _dismiss(guardians: list) -> None:
    from hil.multibench.guardian import dismiss

    for guardian in guardians:
        dismiss(guardian)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


__all__ = ["BenchLost", "LocalPool", "MultiBenchError", "RayPool"]
