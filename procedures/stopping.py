"""Stopping a run promptly: a stop request takes effect before the next bench operation.

pymeasure's abort (``Worker.stop``) and the runner's ``stop`` event only set a flag that the
procedure reads through ``should_stop()``; a procedure that checked it only between devices
or blocks would run the current sweep to its end. So a running
:class:`~procedures.base.BenchProcedure` sees its bench through a :class:`StopCheckingBench`:
every bench operation (``bench.select``, ``bench.trials``, ``bench.read_resistance``, ...)
and every method of a role (``bench.pulse.pulse``, ``bench.field.set_field``, ...) first
asks whether a stop was requested and, if so, raises :class:`RunAborted` instead of talking
to an instrument. ``RunAborted`` is a ``KeyboardInterrupt``: pymeasure's Worker records the
run as *aborted* (not *failed*), the runner returns an aborted outcome, and the procedure's
``shutdown`` leaves the ``open_bench`` context, where the drivers turn every output off.

A batch already on the bus is not cut: a stop lands between bus operations, so no point is
half measured and no SCPI exchange is torn. Methods that only make the bench safer
(``safe_off``, ``output_off``, ``disarm``, ...) are never refused.

:func:`stop_on_signals` turns Ctrl-C and SIGTERM of a command-line run into such a stop
request (a second signal interrupts at once).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable


class RunAborted(KeyboardInterrupt):
    """A requested stop (Abort button, the runner's stop event, Ctrl-C / SIGTERM of the CLI),
    raised at the running procedure's next bench operation."""


#: bench and role methods that move toward the safe state: allowed after a stop request
SAFE_METHODS = frozenset({"safe_off", "output_off", "disarm", "close", "abort",
                          "disconnect_all", "forget_state"})
#: attributes of a drivers Bench that are roles (their methods are operations too)
ROLE_ATTRIBUTES = frozenset({"pulse", "read", "aux", "switch", "field"})


class StopCheckingBench:
    """A bench (or one of its roles) as a running procedure sees it.

    Attributes pass through (``config``, ``round_trips``, ``projected_time_s``...); a method
    call first calls ``should_stop()`` and raises :class:`RunAborted` when it is true. The
    view has no public names of its own, so it shadows nothing of the bench.
    """

    def __init__(self, target, should_stop: Callable[[], bool],
                 roles: frozenset[str] = ROLE_ATTRIBUTES):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_should_stop", should_stop)
        object.__setattr__(self, "_roles", roles)     # a role's own methods are no roles

    def _check_stop(self) -> None:
        if self._should_stop():
            raise RunAborted("stop requested: the run ends before its next bench operation; "
                             "the bench outputs are being turned off")

    def __getattr__(self, name):
        value = getattr(self._target, name)
        if name.startswith("_") or name in SAFE_METHODS:
            return value
        if name in self._roles:
            return StopCheckingBench(value, self._should_stop, frozenset())
        if not callable(value):
            return value

        def checked(*args, **kwargs):
            self._check_stop()
            return value(*args, **kwargs)
        checked.__name__ = name
        checked.__doc__ = getattr(value, "__doc__", None)
        return checked

    def __setattr__(self, name, value):
        setattr(self._target, name, value)

    def __repr__(self) -> str:
        return f"<stop-checking {self._target!r}>"


def unwrap(bench):
    """The bench behind a :class:`StopCheckingBench` (any other object as it is)."""
    return bench._target if isinstance(bench, StopCheckingBench) else bench


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event | None = None,
                    signals=(signal.SIGINT, signal.SIGTERM)):
    """``with stop_on_signals() as stop:`` Ctrl-C / SIGTERM set ``stop`` (hand it to
    :func:`procedures.runner.run_procedure`): the run ends cleanly before its next bench
    operation. A second signal raises ``KeyboardInterrupt`` at once (a bench that hangs).

    Install it inside the bench's ``with`` block: the drivers' ``Bench`` puts its own
    SIGTERM handler in place while it is open, and this one must sit above it. Outside
    the main thread (where Python allows no handlers) it only yields the event.
    """
    stop = stop if stop is not None else threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, _frame):
        if stop.is_set():
            raise KeyboardInterrupt(f"signal {signum} again: interrupting at once")
        stop.set()

    previous = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, handler)
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


__all__ = ["RunAborted", "StopCheckingBench", "stop_on_signals", "unwrap"]
