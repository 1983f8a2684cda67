"""Keithley 2750 switch system with 7709 6x8 matrix cards.

What the simulator honours (the subset a characterization and
``pymeasure.instruments.keithley.Keithley2750`` use):

- ``:ROUTe:MULTiple:CLOSe <clist>`` / ``:ROUTe:MULTiple:OPEN <clist>``: close / open the
  listed crosspoints and leave every other one as it is;
- ``:ROUTe:CLOSe <ch>``: close that one crosspoint and open all others;
- ``:ROUTe:OPEN:ALL`` and ``*RST``: open everything;
- ``:ROUTe:CLOSe?`` / ``:ROUTe:MULTiple:CLOSe?``: the closed crosspoints, ascending, in the
  instrument's list format ``(@1101,2201)``; ``(@)`` when none is closed;
- ``*OPT?``: the card in each of the 5 slots (``7709`` or ``NONE``).

Channel lists: ``(@1101)``, ``(@1101,1203)`` and ranges ``(@1101:1108)``. A range selects
the rectangle of rows and columns between its two corners on one card
(``(@1101:2103)`` = rows 1-2 x columns 1-3), which for a single row is the plain run of
columns. Channels are SRCC: slot S, row R (1-6), two-digit column CC (01-08).

Errors: a list that is not a channel list -> ``-224 Illegal parameter value``; a channel with
no 7709 card in its slot, a row outside 1-6 or a column outside 1-8 ->
``-222 Data out of range``. A command with any bad channel changes nothing.

Timing: every close / open command takes the relay settle time (``RELAY_SETTLE_S``) on the
virtual clock; the crosspoints of one command switch together.
"""

from __future__ import annotations

import re

from simulated_bench.clock import RELAY_SETTLE_S
from simulated_bench.scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    MISSING_PARAMETER,
    ScpiError,
    ScpiInstrument,
)

SLOTS = range(1, 6)
MATRIX_ROWS = range(1, 7)      # 7709: 6 rows
MATRIX_COLUMNS = range(1, 9)   # 7709: 8 columns
_CHANNEL = re.compile(r"^\d{4}$")


class Keithley2750(ScpiInstrument):
    """A 2750 mainframe whose slots hold the 7709 cards that the bench file wires."""

    IDN = "KEITHLEY INSTRUMENTS INC.,MODEL 2750,0000000,A13 /A02"
    CARD_MODEL = "7709"

    def __init__(self, lab, address: str):
        super().__init__(lab, address)
        #: slots that hold a 7709 card: one per device group of the bench file (a crossbar
        #: group has two: its row lines and its column lines)
        self.card_slots: set[int] = {slot for group in lab.config.groups
                                     for slot in (group.slot, group.column_slot) if slot}
        self._closed: set[int] = set()
        #: seconds one close / open command takes (relays settle)
        self.relay_settle_s = RELAY_SETTLE_S
        self.add("ROUTe:MULTiple:CLOSe", on_set=self._close_multiple, on_query=self._closed_list)
        self.add("ROUTe:MULTiple:OPEN", on_set=self._open_multiple)
        self.add("ROUTe:CLOSe", on_set=self._close_exclusive, on_query=self._closed_list)
        self.add("ROUTe:CLOSe:STATe", on_query=self._closed_list)
        self.add("ROUTe:OPEN:ALL", on_set=self._open_all)
        self.add("*OPT", on_query=lambda: ",".join(
            self.CARD_MODEL if slot in self.card_slots else "NONE" for slot in SLOTS))

    # ------------------------------------------------------------ the bench asks this
    def closed_channels(self) -> set[int]:
        """The closed crosspoints (SRCC numbers), as the wiring needs them."""
        return set(self._closed)

    # ------------------------------------------------------------ behaviour
    def reset(self) -> None:
        super().reset()
        if self._closed:
            self._closed.clear()
            self.lab.clock.advance(self.relay_settle_s)

    def _close_multiple(self, *args):
        channels = self.parse_channel_list(args)
        self._closed |= channels
        self.lab.clock.advance(self.relay_settle_s)

    def _open_multiple(self, *args):
        channels = self.parse_channel_list(args)
        self._closed -= channels
        self.lab.clock.advance(self.relay_settle_s)

    def _close_exclusive(self, *args):
        channels = self.parse_channel_list(args)
        if len(channels) != 1:
            raise ScpiError(ILLEGAL_PARAMETER,
                            f":ROUT:CLOS takes one channel, got {len(channels)} "
                            f"({self._format_list(channels)}); use :ROUT:MULT:CLOS for several")
        self._closed = set(channels)
        self.lab.clock.advance(self.relay_settle_s)

    def _open_all(self):
        self._closed.clear()
        self.lab.clock.advance(self.relay_settle_s)

    def _closed_list(self, *args):
        return self._format_list(self._closed)

    @staticmethod
    def _format_list(channels) -> str:
        return "(@" + ",".join(str(c) for c in sorted(channels)) + ")"

    # ------------------------------------------------------------ channel lists
    def parse_channel_list(self, args) -> set[int]:
        """``(@1101,1203,1301:1308)`` -> the set of channel numbers, all validated."""
        if not args:
            raise ScpiError(MISSING_PARAMETER, "expected a channel list such as (@1101)")
        text = ",".join(args).replace(" ", "")
        if not (text.startswith("(@") and text.endswith(")")):
            raise ScpiError(ILLEGAL_PARAMETER,
                            f"{text!r} is not a channel list; write it as (@1101) or (@1101:1108)")
        body = text[2:-1]
        if not body:
            raise ScpiError(ILLEGAL_PARAMETER, "empty channel list (@)")
        channels: set[int] = set()
        for item in body.split(","):
            first, sep, last = item.partition(":")
            if sep:
                channels |= self._channel_range(first, last)
            else:
                channels.add(self._channel(first))
        return channels

    def _channel(self, text: str) -> int:
        if not _CHANNEL.match(text):
            raise ScpiError(ILLEGAL_PARAMETER,
                            f"channel {text!r} is not a 4-digit SRCC number "
                            f"(slot, row, two-digit column, e.g. 1101)")
        number = int(text)
        slot, row, column = number // 1000, number // 100 % 10, number % 100
        if slot not in self.card_slots:
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"channel {number}: no 7709 card in slot {slot} "
                            f"(cards in slots {sorted(self.card_slots)})")
        if row not in MATRIX_ROWS:
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"channel {number}: row {row} outside the 7709's rows 1-6")
        if column not in MATRIX_COLUMNS:
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"channel {number}: column {column} outside the 7709's columns 1-8")
        return number

    def _channel_range(self, first_text: str, last_text: str) -> set[int]:
        first, last = self._channel(first_text), self._channel(last_text)
        if first // 1000 != last // 1000:
            raise ScpiError(ILLEGAL_PARAMETER,
                            f"range {first}:{last} spans two cards; give one range per slot")
        slot = first // 1000
        rows = sorted((first // 100 % 10, last // 100 % 10))
        columns = sorted((first % 100, last % 100))
        return {slot * 1000 + r * 100 + c
                for r in range(rows[0], rows[1] + 1)
                for c in range(columns[0], columns[1] + 1)}
