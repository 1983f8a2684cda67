"""The virtual clock of a simulated bench: time that a real bench would have taken.

Every bus transaction, integration, relay closure and pulse advances it. Instruments that
run in the background on a real bench (a triggered pulse train, a buffered SMU sweep)
schedule their events on it; advancing the clock runs them in time order, so a reading
taken between two pulses sees exactly the state those pulses left.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Callable

# Typical figures of a GPIB / LAN bench (seconds); a bench file may override them.
BUS_WRITE_S = 0.5e-3
BUS_QUERY_S = 1.5e-3
RELAY_SETTLE_S = 3e-3
LINE_FREQUENCY_HZ = 50.0
#: per byte of a transfer (about 1 MB/s on GPIB): a 256 k-point waveform costs ~0.5 s
BUS_BYTE_S = 1e-6


def bus_write_s(nbytes: int) -> float:
    """Bus time of one write of ``nbytes`` (the command reaches the instrument after it)."""
    return BUS_WRITE_S + nbytes * BUS_BYTE_S


def bus_read_s(nbytes: int) -> float:
    """Bus time of reading one reply of ``nbytes``: a query (write + read) costs
    ``BUS_QUERY_S`` plus its bytes."""
    return (BUS_QUERY_S - BUS_WRITE_S) + nbytes * BUS_BYTE_S


@dataclass(order=True)
class _Event:
    time_s: float
    order: int
    action: Callable[[float], None] = field(compare=False)


class VirtualClock:
    """Monotonic simulated time with an ordered queue of scheduled events."""

    def __init__(self, start_s: float = 0.0):
        self._now = start_s
        self._queue: list[_Event] = []
        self._counter = itertools.count()

    @property
    def now_s(self) -> float:
        return self._now

    def schedule(self, time_s: float, action: Callable[[float], None]) -> None:
        """Run ``action(time_s)`` when the clock passes ``time_s`` (never in the past)."""
        heapq.heappush(self._queue, _Event(max(time_s, self._now), next(self._counter), action))

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"time cannot run backwards ({seconds} s)")
        return self.advance_to(self._now + seconds)

    def advance_to(self, time_s: float) -> float:
        """Move to ``time_s``, running every event scheduled up to then, in order."""
        while self._queue and self._queue[0].time_s <= time_s:
            event = heapq.heappop(self._queue)
            self._now = max(self._now, event.time_s)
            event.action(event.time_s)
        self._now = max(self._now, time_s)
        return self._now

    def pending(self) -> int:
        return len(self._queue)
