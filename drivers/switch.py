"""``SwitchMatrix`` over a Keithley 2750 mainframe with 7709 matrix cards.

Uses pymeasure's :class:`~pymeasure.instruments.keithley.Keithley2750` as it is: its
``close`` sends ``:ROUTe:MULTiple:CLOSe (@<list>)``, which accepts a comma-separated list, so
connecting a device's two crosspoints is one command. ``connect`` opens every crosspoint
first: a device receives pulses only while its row-1 crosspoint is closed, and two
devices on the pulse row at once would share the pulse in a way no limit check models.
``connect(..., hot=True)`` (the crossbar's line changes) opens and closes only the
crosspoints that differ, in one message with the ``:ROUTe:CLOSe?`` that confirms it.

The matrix knows what it connected (``connected``) and tells the bench through
``on_change`` so that the pulse and read roles check against the limits of the device that
is really on their row.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from pymeasure.instruments.keithley import Keithley2750

from drivers.faults import GarbledReply

log = logging.getLogger(__name__)


class SwitchError(RuntimeError):
    """The matrix did not end up in the state that was asked for."""


class Keithley2750Matrix:
    """Role ``SwitchMatrix``: connect one device (its crosspoints), disconnect all."""

    def __init__(self, instrument: Keithley2750, verify: bool = True,
                 on_change: Callable[[frozenset[int] | None], None] | None = None):
        self.instrument = instrument
        self.verify = verify
        self.on_change = on_change
        #: crosspoints this role closed; None = unknown (e.g. after a failed command)
        self.connected: frozenset[int] | None = None

    def _set_connected(self, channels: frozenset[int] | None) -> None:
        self.connected = channels
        if self.on_change is not None:
            self.on_change(channels)

    def connect(self, channels: Sequence[int], hot: bool = False) -> None:
        """Close exactly ``channels``. ``hot``: change only the crosspoints that differ, in one
        message that also asks the matrix what it holds (one round trip, one relay settle per
        open and per close), telling ``on_change`` what comes first (``upcoming``) so that it
        disarms only the sources the new connection's limits refuse; an unknown state falls
        back to the full change (every crosspoint opened first)."""
        channels = sorted({int(c) for c in channels})
        for channel in channels:
            if not 1000 <= channel <= 9999:
                raise ValueError(f"7709 channel {channel} is not an SRCC number (e.g. 1101 = "
                                 "slot 1, row 1, column 01)")
        if hot and self.connected is not None:
            self._change(frozenset(channels))
            return
        self._set_connected(None)
        self.instrument.open_all()
        if channels:
            self.instrument.close(",".join(str(c) for c in channels))
        if self.verify:
            closed = sorted(self.closed_channels())
            if closed != channels:
                raise SwitchError(
                    f"the 7709 matrix reports closed crosspoints {closed} after closing "
                    f"{channels}; check the card slots (*OPT?) against the bench file's "
                    "[[chip.group]] slot numbers")
        self._set_connected(frozenset(channels))

    def _change(self, channels: frozenset[int]) -> None:
        opened, closed = self.connected - channels, channels - self.connected
        if not opened and not closed:
            return
        if self.on_change is not None:
            self.on_change(None, channels)
        self.connected = None
        parts = [f":ROUTe:MULTiple:OPEN (@{','.join(map(str, sorted(opened)))})"] if opened else []
        if closed:
            parts.append(f":ROUTe:MULTiple:CLOSe (@{','.join(map(str, sorted(closed)))})")
        reply = self.instrument.ask(";".join(parts + [":ROUTe:CLOSe?"])).strip()
        report = self._parse_closed(reply)
        if report != sorted(channels):
            raise SwitchError(
                f"the 7709 matrix reports closed crosspoints {report} after changing to "
                f"{sorted(channels)}; check the card slots (*OPT?) against the bench file's "
                "[[chip.group]] slot numbers")
        self._set_connected(channels)

    def disconnect_all(self) -> None:
        try:
            self._set_connected(None)
        except Exception as exc:  # noqa: BLE001 - opening everything is safe regardless
            log.warning("before opening the matrix: %s", exc)
        self.instrument.open_all()
        self._set_connected(frozenset())

    def closed_channels(self) -> list[int]:
        """The closed crosspoints as the matrix reports them (``(@1101,1201)``, ``(@)``)."""
        return self._parse_closed(self.instrument.ask(":ROUTe:CLOSe?").strip())

    @staticmethod
    def _parse_closed(reply: str) -> list[int]:
        # only the list's own "(@" and ")" go: a stray '@' inside is a garbled reply, not
        # a separator ("(@11@1)" must not read as channel 111)
        body = reply[2:-1] if reply.startswith("(@") and reply.endswith(")") else None
        items = [] if body is None else [c.strip() for c in body.split(",") if c.strip()]
        if body is None or not all(c.isdigit() for c in items):
            raise GarbledReply(f"the 7709 matrix answered :ROUTe:CLOSe? with {reply!r}, "
                               "which is not a channel list")
        return sorted(int(c) for c in items)

    def identity(self) -> str:
        """The mainframe's ``*IDN?`` reply (one query)."""
        return self.instrument.id

    def output_off(self) -> None:
        """Open every crosspoint (no device connected to any instrument), confirmed."""
        self.disconnect_all()
        closed = self.closed_channels()
        if closed:
            raise SwitchError(f"the 7709 matrix still reports closed crosspoints {closed}")
