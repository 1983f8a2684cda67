"""One bench of a multi-bench run: it opens its instruments, holds its replica of the device
layer, and answers gradient steps and evaluations for the shards the driver sends it.

:class:`BenchWorker` is a plain class: in process it is a local object, on Ray the body of an
actor (``ray.remote(BenchWorker)``), so both run the same code. It owns its bench: it opens it
(:func:`procedures.session.open_bench`, which puts every output in its safe state first) when
it is built, and turns every output off when it closes: on :meth:`close`, when it is
garbage-collected (a finalizer), when its process exits (``atexit``), on SIGTERM (Ray stopping the
actor), and from a watchdog thread when the driver has not called for ``watchdog_s`` (a
driver that hangs). A process killed with SIGKILL runs none of these: the driver then turns
that bench's outputs off through a fresh connection (:func:`safe_off_bench`); when the driver
itself is killed, the bench's guardian process does (:mod:`hil.multibench.guardian`).

The forward pass of a step is the device layer of :mod:`hil.experiment` (``device_layer``):
on a real bench (``forward = "bench"``) through :class:`hil.backends.BenchBackend`, every trial
a pulse; on a simulated bench (``forward = "array"``, its default) through the simulated array
of the same chip the bench simulates (:func:`hil.simulated.build_chips`), with the bench cost
of one shard measured through its opened instruments (:func:`hil.experiment.measure_batch_cost`)
and charged per step, as a one-bench ``hil train`` projects it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import socket
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np

FORWARDS = ("array", "bench")


def _driver_call(method):
    """A call from the driver: refused on a closed bench; the watchdog counts from its end."""
    @functools.wraps(method)
    def call(self, *args):
        if self._closed:
            raise RuntimeError(f"bench {self.job.label!r} is closed")
        self._busy = True
        try:
            return method(self, *args)
        finally:
            self._last_call, self._busy = time.monotonic(), False
    return call


@dataclass(frozen=True)
class BenchJob:
    """How a worker reaches its bench (plain data: it travels to a Ray actor)."""

    bench: object                       # a BenchFile (the driver loaded and checked it)
    label: str                          # how messages name it: its file, or "default"
    backend: str = "sim"                # procedures.session backends: "sim" | "visa"
    visa_library: str | None = None
    addresses: dict = field(default_factory=dict)
    forward: str = "array"              # "array" (simulated benches) | "bench"
    #: an actor's outputs go off (and it exits) when the driver is silent this long; None: no
    #: watchdog (a worker in the driver's own process dies with it)
    watchdog_s: float | None = 600.0


@dataclass(frozen=True)
class RunSpec:
    """One training run on every bench: the experiment's settings (an ExperimentConfig as a
    dict), the device size, the seed, the network's shape and this bench's place."""

    settings: dict
    size: str
    seed: int
    index: int                          # this bench's place in --benches
    n_features: int
    n_classes: int


def outlives_worker(job: BenchJob) -> bool:
    """Whether the bench's instruments outlive its worker's process (real instruments, a served
    simulated bench), not a simulated bench inside that process."""
    return not (job.backend == "sim" and job.visa_library is None)


def safe_off_bench(job: BenchJob) -> str:
    """Turn a bench's outputs off through a fresh connection (its worker died). Opening a bench
    already turns every output off and checks it; a simulated bench in process died with its
    worker, so nothing can be on. Returns one line on what was done."""
    from procedures.session import open_bench

    if not outlives_worker(job):
        return "its simulated instruments died with it"
    try:
        with open_bench(job.bench, job.backend, job.visa_library, job.addresses):
            pass
    except Exception as exc:   # noqa: BLE001 - said in the run's one-line error
        return f"its outputs could NOT be turned off ({type(exc).__name__}: {exc}); turn them off by hand"
    return "its outputs were turned off through a fresh connection"


class BenchWorker:
    """A bench and its replica of the in-situ network (see the module docstring)."""

    def __init__(self, job: BenchJob):
        import torch

        from procedures.session import open_bench

        if job.forward not in FORWARDS:
            raise ValueError(f"forward must be one of {FORWARDS}, got {job.forward!r}")
        torch.set_num_threads(1)        # small shards: one thread, and N benches on N cores
        self.job = job
        self._stack = contextlib.ExitStack()
        self.bench = self._stack.enter_context(
            open_bench(job.bench, job.backend, job.visa_library, job.addresses))
        self._closed = False
        self._lock = threading.Lock()
        self._last_call = time.monotonic()
        self._busy = False
        self.net = None
        # garbage-collected: the stack closes; at exit: close() runs before pyvisa's own exit
        # hooks (registered earlier, run later) tear the sessions down
        self._finalizer = weakref.finalize(self, _close_stack, self._stack)
        self._finalizer.atexit = False
        atexit.register(_close_at_exit, weakref.ref(self))
        if job.watchdog_s:              # a worker of its own process (an actor) only; in
            # the driver's process the bench's own SIGTERM handler unwinds the run instead
            if threading.current_thread() is threading.main_thread():
                with contextlib.suppress(ValueError):
                    signal.signal(signal.SIGTERM, self._on_sigterm)
            threading.Thread(target=self._watch, name="bench-watchdog", daemon=True).start()

    # ------------------------------------------------------------------ life
    def pid(self) -> int:
        return os.getpid()

    def host(self) -> str:
        return socket.gethostname()

    def outputs_on(self) -> bool:
        """Whether the opened bench is open (its outputs are only on while it is)."""
        return not self._closed

    def close(self) -> None:
        """Every output off, every instrument closed; safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._finalizer()               # the stack's close, once

    def _on_sigterm(self, signum, frame):
        self.close()
        raise SystemExit(128 + signum)

    def _watch(self) -> None:
        # idle time only: a long call (a whole test set on a slow bench) is not silence
        while not self._closed:
            time.sleep(min(5.0, self.job.watchdog_s / 4))
            if not self._busy and time.monotonic() - self._last_call > self.job.watchdog_s:
                self.close()            # the driver is gone: no bench left on
                os._exit(3)

    # ------------------------------------------------------------------ one run
    @_driver_call
    def prepare(self, run: RunSpec, weights: dict, x_probe: np.ndarray) -> dict:
        """Build this bench's device layer for ``run`` (its calibration, its forward backend)
        and, on a simulated forward, measure what a shard costs on the bench: ``x_probe`` (this
        bench's shard of the first batch) through the initial ``weights``. Returns that cost."""
        import torch
        from torch import nn

        from hil.config import ExperimentConfig
        from hil.experiment import device_layer, measure_batch_cost, typical_calibration
        from hil.network import HiddenLayerNet
        from hil.safety import device_current_limits

        cfg = ExperimentConfig.from_dict(run.settings)
        bench = self.bench.config
        limits = device_current_limits(bench)
        first_chip = bench.groups[0].chip
        names = [d.name for d in bench.devices()
                 if d.size == run.size and d.name.startswith(f"{first_chip}/")]
        if not names:
            raise ValueError(f"bench {self.job.label!r} has no device of size {run.size!r} on "
                             f"chip {first_chip!r}")
        backend, calibration, bench_backend, truth = self._devices(cfg, run, names, limits)
        typical = typical_calibration(calibration, names, calibration[names[0]].n_domains or 1)
        layer = device_layer(cfg, backend, calibration, names, limits, typical)
        self.net = HiddenLayerNet(run.n_features, cfg.hidden, run.n_classes, layer)
        self.loss = nn.CrossEntropyLoss()
        self.cost_per_step = None
        if bench_backend is None and cfg.bench_projection:   # measure one shard on the bench
            from hil.backends import BenchBackend

            measuring = BenchBackend(self.bench, n_domains={n: truth[n].n_domains for n in names})
            probe = device_layer(cfg, measuring, truth, names, limits)
            self._load(weights)
            with torch.no_grad():
                pre = self.net.hidden(torch.from_numpy(x_probe))
                self.cost_per_step = measure_batch_cost(measuring, probe, pre)
        self.bench_backend = bench_backend
        return self.cost_per_step or {"setup_round_trips": 0, "setup_bench_time_s": 0.0}

    def _devices(self, cfg, run: RunSpec, names, limits):
        """(forward backend, calibration, the BenchBackend when the forward is the bench, the
        simulated truth when there is one)."""
        from hil.calibration import calibrate_backend, calibration_from_chip
        from hil.experiment import _stable_seed

        trials_seed = _stable_seed("multibench", run.seed, run.index, run.size)
        truth = None
        if self.job.forward == "array" or cfg.calibration == "truth":
            from hil.simulated import SimulatedArrayBackend, build_chips

            chips = build_chips(self.bench.config)   # the chip this bench simulates
            truth = calibration_from_chip(chips[0], cfg.width_s, names)
        if self.job.forward == "array":
            backend = SimulatedArrayBackend(chips, limits, seed=trials_seed,
                                            name=f"simulated array of bench {self.job.label!r}")
            bench_backend = None
        else:
            from hil.backends import BenchBackend

            domains = {n: truth[n].n_domains for n in names} if truth is not None else None
            backend = bench_backend = BenchBackend(self.bench, n_domains=domains)
        if cfg.calibration == "truth":
            calibration = truth
        else:       # "fit": through the forward backend (the bench itself on a real bench)
            if self.job.forward == "array":
                meter = SimulatedArrayBackend(chips, limits, seed=_stable_seed("calibrate", trials_seed))
            else:
                meter = backend
            calibration = calibrate_backend(meter, limits, cfg.width_s,
                                            trials=cfg.calibration_trials, names=names)
        return backend, calibration, bench_backend, truth

    def _load(self, weights: dict) -> None:
        import torch

        own = self.net.state_dict()
        with torch.no_grad():
            for name, value in weights.items():
                own[name].copy_(torch.from_numpy(value))

    @_driver_call
    def step(self, weights: dict, x: np.ndarray, y: np.ndarray) -> dict:
        """Forward on the devices and backward for one shard, with the driver's ``weights``:
        the gradient of the shard's mean loss per parameter, the shard's loss and hits, and
        what the shard cost on the bench."""
        import torch

        self._load(weights)
        self.net.train()
        self.net.zero_grad(set_to_none=True)
        marks = self._marks()
        logits = self.net(torch.from_numpy(x))
        loss = self.loss(logits, torch.from_numpy(y))
        loss.backward()
        grads = {name: p.grad.numpy().copy() for name, p in self.net.named_parameters()
                 if p.grad is not None}
        return {"grads": grads, "loss": float(loss.detach()), "rows": int(len(x)),
                "correct": int((logits.argmax(1) == torch.from_numpy(y)).sum()),
                **self._cost_since(marks)}

    @_driver_call
    def evaluate(self, weights: dict, x: np.ndarray, y: np.ndarray) -> int:
        """Test samples the network gets right on this bench (eval mode: ``eval_repeats``)."""
        import torch

        self._load(weights)
        self.net.eval()
        with torch.no_grad():
            correct = 0
            for start in range(0, len(x), 512):
                logits = self.net(torch.from_numpy(x[start:start + 512]))
                correct += int((logits.argmax(1) == torch.from_numpy(y[start:start + 512])).sum())
        return correct

    def _marks(self):
        b = self.bench_backend
        return None if b is None else (b.round_trips, b.bench_time_s, b.floor_s)

    def _cost_since(self, marks) -> dict:
        """A step's bench cost: measured on the bench forward, else the measured shard's."""
        if marks is None:
            c = self.cost_per_step
            if c is None:               # bench_projection off: not measured
                return {"round_trips": 0, "bench_time_s": 0.0, "floor_s": 0.0, "measured": False}
            return {"round_trips": c["round_trips_per_batch"],
                    "bench_time_s": c["bench_time_s_per_batch"],
                    "floor_s": c["floor_s_per_batch"], "measured": True}
        b = self.bench_backend
        return {"round_trips": b.round_trips - marks[0], "bench_time_s": b.bench_time_s - marks[1],
                "floor_s": b.floor_s - marks[2], "measured": True}


def _close_stack(stack: contextlib.ExitStack) -> None:
    stack.close()


def _close_at_exit(ref: weakref.ref) -> None:
    worker = ref()
    if worker is not None:
        worker.close()


__all__ = ["FORWARDS", "BenchJob", "BenchWorker", "RunSpec", "outlives_worker", "safe_off_bench"]
