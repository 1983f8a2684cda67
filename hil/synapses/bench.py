"""The bench backend of the device-backed layers: synapses programmed and read through the
instruments (:class:`drivers.synapse.SynapseArray` over VISA; the simulated bench in process by
default, ``hil serve`` or a real bench otherwise).

:class:`BenchSynapseBackend` answers the array interface of :mod:`hil.synapses.array` (a
layer bound to it runs unchanged): ``program`` sends every device's signed pulse count as one
burst of its nominal programming pulse (``program_many``: all checked against the safety
limits before the first is sent), ``read`` reads each device's conductance. Its counters are
the bench's: ``round_trips``, ``bench_time_s`` (projected, the virtual clock on a simulated
bench), ``floor_s`` (the pulses' widths and the reads' integration), counted from creation.

:func:`measure_costs` plays a small set of bursts and reads to price them, so a run on the
fast simulated array can report what it would cost on the bench: :class:`BenchCosts`
``project(reads, bursts, pulses)``.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import numpy as np
import torch

from drivers.synapse import SynapseArray
from hil.synapses.array import DTYPE
from hil.synapses.configs import SynapseDevice


class BenchSynapseBackend:
    """The devices ``names`` of an open bench (``drivers.bench.Bench``), as one array."""

    def __init__(self, bench, device: SynapseDevice, names, nplc: float = 0.1):
        self.synapses = SynapseArray(bench, names, nplc=nplc)
        self.device = device
        self.names = list(self.synapses.names)
        self.n_devices = len(self.names)
        self.pulses_sent = 0
        self.device_reads = 0
        self.bursts = 0
        self._trips0 = self.synapses.round_trips
        self._time0 = self.synapses.projected_bench_time_s
        self._floor0 = self.synapses.floor_s

    @classmethod
    def open(cls, bench_file, device: SynapseDevice, names, backend: str = "sim", **kwargs):
        """``with BenchSynapseBackend.open(bench_file, device, names) as devices:`` (outputs off
        and instruments closed on exit, whatever happens)."""
        from procedures.session import open_bench

        @contextlib.contextmanager
        def _opened():
            with open_bench(bench_file, backend) as bench:
                yield cls(bench, device, names, **kwargs)

        return _opened()

    @property
    def round_trips(self) -> int:
        return self.synapses.round_trips - self._trips0

    @property
    def bench_time_s(self) -> float:
        return self.synapses.projected_bench_time_s - self._time0

    @property
    def floor_s(self) -> float:
        return self.synapses.floor_s - self._floor0

    def program(self, index: torch.Tensor, pulses: torch.Tensor) -> None:
        index = torch.as_tensor(index).tolist()
        pulses = torch.as_tensor(pulses, dtype=torch.int64).tolist()
        requests = [(self.names[i], abs(p), 1 if p > 0 else -1) for i, p in zip(index, pulses) if p]
        self.synapses.program_many(requests)
        self.pulses_sent += sum(r[1] for r in requests)
        self.bursts += len(requests)

    def read(self, index: torch.Tensor) -> torch.Tensor:
        names = [self.names[i] for i in torch.as_tensor(index).tolist()]
        g = self.synapses.read_conductance(names)
        self.device_reads += len(names)
        return torch.as_tensor(np.asarray(g, dtype=float), dtype=DTYPE)

    def describe(self) -> str:
        return f"{self.n_devices} synapses through the instruments ({self.device.kind})"


@dataclass(frozen=True)
class BenchCosts:
    """What one read, one burst and one pulse cost on a bench (measured by :func:`measure_costs`)."""

    read_s: float
    burst_s: float
    pulse_s: float
    read_round_trips: float
    burst_round_trips: float
    read_floor_s: float
    pulse_floor_s: float

    def project(self, reads: int, bursts: int, pulses: int) -> dict:
        """A run's projected bench time, round trips and physical floor from its counts."""
        return {"bench_time_s": reads * self.read_s + bursts * self.burst_s + pulses * self.pulse_s,
                "round_trips": int(round(reads * self.read_round_trips
                                         + bursts * self.burst_round_trips)),
                "floor_s": reads * self.read_floor_s + pulses * self.pulse_floor_s}

    def as_dict(self) -> dict:
        return asdict(self)


def measure_costs(backend: BenchSynapseBackend, pulses: int = 4) -> BenchCosts:
    """Price the bench's operations on ``backend``'s devices: after a first burst (which also
    measures each write line, a one-time setup), one read of each, one burst of 1 and one of
    ``1 + pulses`` pulses each, then down again (the devices end near where they started).
    The burst's fixed cost and the per-pulse cost come from the two bursts."""
    n = backend.n_devices
    every = torch.arange(n)

    def cost(action):
        t, trips, floor = backend.bench_time_s, backend.round_trips, backend.floor_s
        action()
        return (backend.bench_time_s - t, backend.round_trips - trips, backend.floor_s - floor)

    backend.program(every, torch.ones(n, dtype=torch.int64))   # setup: write lines measured once
    read_t, read_trips, read_floor = cost(lambda: backend.read(every))
    one_t, one_trips, one_floor = cost(lambda: backend.program(every, torch.ones(n, dtype=torch.int64)))
    many_t, _, many_floor = cost(lambda: backend.program(every, torch.full((n,), 1 + pulses)))
    backend.program(every, torch.full((n,), -(3 + pulses)))
    pulse_s = max((many_t - one_t) / (n * pulses), 0.0)
    return BenchCosts(read_s=read_t / n, burst_s=max(one_t / n - pulse_s, 0.0), pulse_s=pulse_s,
                      read_round_trips=read_trips / n, burst_round_trips=one_trips / n,
                      read_floor_s=read_floor / n, pulse_floor_s=(many_floor - one_floor) / (n * pulses))
