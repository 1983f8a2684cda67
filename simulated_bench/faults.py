"""Bus faults the simulated VISA library injects, seeded, so drivers can prove their retries.

A real bench loses a reply now and then: a GPIB timeout, a reply with a flipped byte, an
instrument that refuses a command, a LAN link that drops. ``FaultInjector`` decides, for each
*query reply* a client asks for, whether one of those happens instead of a clean answer.

Where faults strike, and what was executed
------------------------------------------
Faults are drawn only when a client reads the reply of a query (a program message with a
``?`` header). The simulated VISA library holds such a message until the read, so a fault
can strike before the instrument has seen it. Set-only messages (no reply) never fault.

==================  ============================================  ==================
fault               what the client sees                          command executed?
==================  ============================================  ==================
``TIMEOUT``         ``VisaIOError(VI_ERROR_TMO)``; the clock       no
                    advances by the session timeout
``INSTRUMENT_ERROR`` ``VisaIOError(VI_ERROR_TMO)`` and an entry    no
                    (``-200`` / ``-363``) in the instrument's
                    error queue, read by ``SYST:ERR?``
``CONNECTION_LOST`` ``VisaIOError(VI_ERROR_CONN_LOST)``; every      no
                    later call on that session raises it too,
                    until the resource is opened again
``GARBLED``         the reply with a few bytes replaced by         **yes**
                    ``@#$%&!~^`` characters (never a number)
==================  ============================================  ==================

So retrying a query after a timeout, an instrument error or a lost connection is always
safe: the instrument never saw it. After a *garbled* reply the query did run: retrying a
pure query (``*IDN?``, ``SYST:ERR?``, ``:TRAC:DATA?``) is safe, but a retried ``:READ?``
takes a new reading (one more read current through the device, clock advanced), and a
compound message such as ``:INIT;*WAI;:TRAC:DATA? ...`` has run its trigger model. Drivers
must re-issue only the query part in that case.
"""

from __future__ import annotations

import enum
from collections import Counter

import numpy as np

from simulated_bench.scpi import EXECUTION_ERROR, INPUT_BUFFER_OVERRUN


class FaultKind(enum.Enum):
    TIMEOUT = "timeout"
    GARBLED = "garbled"
    INSTRUMENT_ERROR = "instrument_error"
    CONNECTION_LOST = "connection_lost"


#: whether the instrument executed the query when this fault struck
EXECUTED = {
    FaultKind.TIMEOUT: False,
    FaultKind.GARBLED: True,
    FaultKind.INSTRUMENT_ERROR: False,
    FaultKind.CONNECTION_LOST: False,
}

#: errors an instrument pushes when it refuses a message (INSTRUMENT_ERROR faults)
INSTRUMENT_ERRORS = (EXECUTION_ERROR, INPUT_BUFFER_OVERRUN)

#: bytes that replace reply bytes in a garbled reply: none is a digit, sign, dot or letter,
#: so a garbled number never parses as another number
GARBAGE = b"@#$%&!~^"


class FaultInjector:
    """Seeded fault decisions. ``rate`` is the probability that a query reply faults;
    ``weights`` (per :class:`FaultKind`, default equal) choose which fault it is."""

    def __init__(self, rate: float = 0.0, rng: np.random.Generator | None = None,
                 weights: dict[FaultKind, float] | None = None):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be a probability in [0, 1], got {rate!r}")
        self.rate = float(rate)
        self.rng = rng if rng is not None else np.random.default_rng()
        weights = weights or {kind: 1.0 for kind in FaultKind}
        unknown = set(weights) - set(FaultKind)
        if unknown or any(w < 0 for w in weights.values()) or not sum(weights.values()) > 0:
            raise ValueError(f"fault weights must be non-negative numbers per FaultKind with a "
                             f"positive sum, got {weights!r}")
        self.kinds = list(weights)
        total = float(sum(weights.values()))
        self.probabilities = [weights[k] / total for k in self.kinds]
        #: how many faults of each kind were injected
        self.counts: Counter[FaultKind] = Counter()
        #: how many replies were considered
        self.draws = 0

    def draw(self) -> FaultKind | None:
        """Decide the fate of one query reply: ``None`` (clean) or the fault to inject."""
        self.draws += 1
        if self.rate <= 0.0 or self.rng.random() >= self.rate:
            return None
        kind = self.kinds[int(self.rng.choice(len(self.kinds), p=self.probabilities))]
        self.counts[kind] += 1
        return kind

    def instrument_error(self) -> tuple[int, str]:
        return INSTRUMENT_ERRORS[int(self.rng.integers(len(INSTRUMENT_ERRORS)))]

    def garble(self, reply: bytes) -> bytes:
        """Replace 1-3 bytes of ``reply`` (not its termination) with garbage characters."""
        body = bytearray(reply.rstrip(b"\r\n"))
        tail = reply[len(body):]
        if not body:
            return bytes(GARBAGE[:1]) + tail
        count = min(len(body), int(self.rng.integers(1, 4)))
        for position in self.rng.choice(len(body), size=count, replace=False):
            body[int(position)] = GARBAGE[int(self.rng.integers(len(GARBAGE)))]
        return bytes(body) + tail
