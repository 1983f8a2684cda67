"""Fault handling: classify bus faults, retry idempotent steps a bounded number of times.

Four kinds of fault happen on a real bench and are injected by the simulated one:

==================  =====================================  ================================
fault               how it shows                           recovery before the retry
==================  =====================================  ================================
timeout             ``VisaIOError`` VI_ERROR_TMO            device clear, flush the buffers
garbled reply       a reply that does not parse             device clear, flush the buffers
                    (:class:`GarbledReply`)
instrument error    ``SYST:ERR?`` not ``0`` after a step    ``*CLS`` (queue read out)
                    (:class:`InstrumentError`)
dropped connection  ``VisaIOError`` CONN_LOST / INV_OBJECT  reopen the resource
                    or an ``OSError`` / ``ConnectionError``
==================  =====================================  ================================

:class:`RetryPolicy` runs a *step* (a function with no lasting effect when repeated, e.g. a
whole batched trial sequence, which starts by resetting every device it pulses) and, when one
of these faults is raised, calls the recovery and runs the step again, at most
``max_attempts`` times. A :class:`~drivers.limits.LimitViolation` or a programming error is
never retried. The result of a step is used only when the step completed, so a retried batch
is recorded once; a batch that fails every attempt raises :class:`FaultError` (nothing is
recorded silently). :class:`FaultCounters` counts every fault and retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Callable, TypeVar

import pyvisa
from pyvisa.constants import StatusCode

from drivers.limits import LimitViolation

log = logging.getLogger(__name__)
T = TypeVar("T")


class GarbledReply(RuntimeError):
    """An instrument reply that does not parse (wrong count, not a number, ...)."""


class InstrumentError(RuntimeError):
    """An instrument reported errors in its SCPI error queue (``SYST:ERR?``)."""

    def __init__(self, instrument: str, errors: list[tuple[int, str]]):
        self.instrument = instrument
        self.errors = errors
        listed = "; ".join(f"{code},{message!r}" for code, message in errors)
        super().__init__(f"{instrument} reported: {listed}")


class FaultError(RuntimeError):
    """A step failed on every allowed attempt; nothing of it was recorded."""


_DROPPED = {StatusCode.error_connection_lost, StatusCode.error_invalid_object,
            StatusCode.error_resource_not_found}


def classify(exc: BaseException) -> str | None:
    """``timeout``, ``garbled``, ``instrument_error``, ``dropped``, ``io`` or None (not a bus fault)."""
    if isinstance(exc, LimitViolation):
        return None
    if isinstance(exc, pyvisa.errors.VisaIOError):
        if exc.error_code == StatusCode.error_timeout:
            return "timeout"
        if exc.error_code in _DROPPED:
            return "dropped"
        return "io"
    if isinstance(exc, pyvisa.errors.InvalidSession):
        return "dropped"
    if isinstance(exc, GarbledReply):
        return "garbled"
    if isinstance(exc, InstrumentError):
        return "instrument_error"
    if isinstance(exc, (ConnectionError, BrokenPipeError, EOFError)):
        return "dropped"
    if isinstance(exc, OSError):
        return "io"
    return None


@dataclass
class FaultCounters:
    timeout: int = 0
    garbled: int = 0
    instrument_error: int = 0
    dropped: int = 0
    io: int = 0
    retries: int = 0
    reconnects: int = 0
    failed_steps: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def faults(self) -> int:
        return self.timeout + self.garbled + self.instrument_error + self.dropped + self.io


@dataclass
class RetryPolicy:
    """Bounded retries of idempotent steps."""

    max_attempts: int = 5
    counters: FaultCounters = None  # type: ignore[assignment]

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.counters is None:
            self.counters = FaultCounters()

    def run(self, step: Callable[[], T], recover: Callable[[str, BaseException], None],
            what: str = "step") -> T:
        """Run ``step``; on a bus fault call ``recover(kind, exc)`` and run it again."""
        last: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                return step()
            except BaseException as exc:  # noqa: BLE001 - classified below, others re-raised
                kind = classify(exc)
                if kind is None:
                    raise
                last = exc
                setattr(self.counters, kind, getattr(self.counters, kind) + 1)
                log.warning("%s: %s on attempt %d/%d: %s", what, kind, attempt,
                            self.max_attempts, exc)
                if attempt == self.max_attempts:
                    break
                self.counters.retries += 1
                try:
                    recover(kind, exc)
                except BaseException as rexc:  # noqa: BLE001
                    if classify(rexc) is None:
                        raise
                    log.warning("%s: recovery after %s failed: %s", what, kind, rexc)
        self.counters.failed_steps += 1
        raise FaultError(
            f"{what} failed {self.max_attempts} times (last fault: {classify(last)}: {last}); "
            "nothing of it was recorded. Check the cables and the instruments' front panels; "
            "raise max_attempts only if the faults are known to be transient."
        ) from last


def parse_error_reply(reply: str) -> tuple[int, str]:
    """``-113,"Undefined header"`` -> (-113, 'Undefined header'); garbled -> GarbledReply."""
    code, _, message = reply.strip().partition(",")
    try:
        return int(float(code)), message.strip().strip('"')
    except ValueError:
        raise GarbledReply(f"SYST:ERR? answered {reply!r}") from None


def parse_floats(reply: str, expected: int | None = None, what: str = "reply") -> list[float]:
    """Comma-separated numbers; wrong count or a non-number -> :class:`GarbledReply`."""
    try:
        values = [float(v) for v in reply.strip().split(",") if v.strip() != ""]
    except ValueError:
        raise GarbledReply(f"{what}: {reply[:80]!r} is not a list of numbers") from None
    if expected is not None and len(values) != expected:
        raise GarbledReply(f"{what}: expected {expected} numbers, got {len(values)}")
    return values


def output_is_on(instrument, query: str, what: str) -> bool:
    """Ask ``query`` (an output-state query, one round trip): True for on, False for 0."""
    reply = instrument.ask(query).strip()
    try:
        return float(reply) != 0
    except ValueError:
        raise GarbledReply(f"{what}: {query} answered {reply!r}") from None


def confirm_off(instrument, query: str, what: str) -> None:
    """Ask ``query`` (an output-state query) and insist on 0: the answer also proves that
    every message sent before it was executed (writes are not ordered across a LAN)."""
    if output_is_on(instrument, query, what):
        raise RuntimeError(f"{what} still reports its output on ({query} answered non-zero)")
