"""``Crossbar``: a bench-file crossbar of binary synapses, read and written through the matrix.

.. code-block:: python

    from procedures.session import open_bench
    from drivers.crossbar import Crossbar

    with open_bench("examples/benches/stt_synapse_crossbar.toml") as bench:
        xbar = Crossbar(bench)                       # the bench file's crossbar group
        xbar.write(2, 5, "P", amplitude_V=0.55, width_s=100e-9)   # one stochastic pulse
        currents_A = xbar.read_columns([1, 0, 1, 1, 0, 0, 0, 0])  # physical VMM, A per column
        bits = xbar.read_states()                    # (rows, cols) of 0 / 1: AP = 0, P = 1
        print(xbar.round_trips, xbar.projected_bench_time_s, xbar.floor_s)

The group (``[[chip.group]]`` with ``columns`` / ``column_slot``, :mod:`devices.benchfile`):
``rows`` row lines on one 7709 card, ``cols`` column lines on another; junction (r, c) is
``names[r * cols + c]``. Matrix rows: ``wiring.pulse_row`` (pulse generator),
``read_row`` (read SMU, 2450), ``aux_row`` (aux SMU, 2400), ``ground_row`` (a grounded row).

Read (a vector-matrix multiply, :meth:`read_columns`): the read SMU drives the rows of the
active inputs at V_read; the aux SMU holds one column at 0 V and measures its summed current
I_j = V_read sum_i x_i G_ij (minus the IR drop of the lines); every other line goes to the
ground row (``unselected="ground"``: no sneak path; the other columns at 0 V take their own
currents) or floats (``"float"``: the passive array's sneak paths add to I_j). One column
is measured at a time (one SMU measures): per column one hot line change (one 2750 message
opening the last column's two crosspoints, closing the next one's, and confirming them) and
one 2400 reading; the SMUs stay on, the settings are written once (``columns``: read only
those). Currents are returned positive for a positive V_read.

Hot line changes (``SwitchMatrix.connect(..., hot=True)``, :meth:`drivers.bench.Bench._matrix_changed`):
a source meter stays on through a line change only when its programmed source passes the
limits of what the change puts on its row, checked before the matrix command is sent; the
pulse generator is always turned off before a change and on again only to fire (its armed
pulse was checked against the junction first). What the relays switch hot is a read level
(<= ``max_compliance_V``, here 0.1 V, < 5 mA) or 0 V, never a pulse.

Write (:meth:`write`): the junction's row line on the pulse row, its column line on the
ground row (or on the aux SMU held at 0 V: ``write_return="aux"``, and a bench without a
ground row; the reading of that junction then keeps the write lines closed, generator off,
so that a pulse-and-read trial costs one relay close and one open), every other line
floating, and one pulse of ``amplitude_V`` whose sign the target state sets
(:data:`devices.kinds.stt_mtj_synapse.POLARITY`: + row-to-column = P -> AP). Half-select
disturb: through the floating lines the other junctions of the selected row and column see
about n / (2n - 1) ~ 0.47 V per volt of the pulse in an 8 x 8 array (the unselected ones
~0.07 V): negligible for pulses near V50, but pulses near Vc disturb the selected lines.
Every pulse is checked against the group's safety limits before anything is sent; a pulse is
not retried on a bus fault (it may have switched the junction). :meth:`write_many` sends
equal consecutive pulses on a junction as one burst (the generator's trigger count) and the
pulses of one level together (:func:`write_plan`).

The floor of this wiring: every line change is one relay open and one close (3 ms each on a
7709), which no bus plan removes while one SMU measures one column at a time: 48 ms of an
8-column VMM read (~81 ms projected, 1.6 ms of integration), 6 ms of a write (~11 ms).

Cost: ``round_trips`` and ``projected_bench_time_s`` count from this object's creation (the
bench's counters); ``floor_s`` is the physical floor of what it did: per column reading the
SMU's integration, per pulse its width (the bench's ``floor_s`` gets the same).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from devices.benchfile import DeviceGroup
from devices.kinds import stt_mtj_synapse as synapse
from drivers.limits import check_pulse, check_source_voltage

STATES = tuple(synapse.POLARITY)
UNSELECTED = ("ground", "float")
WRITE_RETURNS = ("ground", "aux")


class CrossbarError(ValueError):
    """A crossbar request that cannot run (bad index, state, scheme); nothing was sent."""


class Crossbar:
    """The crossbar group ``size`` (the only one when None) of an open :class:`drivers.bench.Bench`."""

    def __init__(self, bench, size: str | None = None, v_read_V: float = 0.1,
                 nplc: float = 0.01, compliance_A: float | None = None,
                 unselected: str = "ground", write_return: str = "ground"):
        self.bench = bench
        config = bench.config
        groups = [g for g in config.groups if g.columns]
        if size is not None:
            groups = [g for g in groups if g.size == size]
        if len(groups) != 1:
            have = [g.size for g in config.groups if g.columns]
            raise CrossbarError(
                f"{config.source}: {'no' if not groups else 'more than one'} crossbar group"
                f"{'' if size is None else f' of size {size!r}'} (crossbar groups: {have or 'none'}); "
                "a crossbar is a [[chip.group]] with columns and column_slot")
        self.group: DeviceGroup = groups[0]
        self.rows, self.cols = self.group.count, self.group.columns
        prefix = f"{self.group.chip}/{self.group.size}"
        self.names = [f"{prefix}{i}" for i in range(self.rows * self.cols)]
        self.limits = config.limits[self.group.size]
        if unselected not in UNSELECTED:
            raise CrossbarError(f"unselected {unselected!r} is not one of {UNSELECTED}")
        if unselected == "ground" and not config.wiring.ground_row:
            raise CrossbarError(f"{config.source}: unselected lines to ground need "
                                "[wiring] ground_row (a 7709 row tied to ground); or use "
                                "unselected='float'")
        self.unselected = unselected
        if write_return not in WRITE_RETURNS:
            raise CrossbarError(f"write_return {write_return!r} is not one of {WRITE_RETURNS}")
        #: what holds a written junction's column at 0 V: the ground row, or the aux SMU
        #: (the bench without a ground row has only that)
        self.write_return = write_return if config.wiring.ground_row else "aux"
        self.nplc = float(nplc)
        self.compliance_A = self.limits.max_read_current_A if compliance_A is None \
            else float(compliance_A)
        self.v_read_V = float(v_read_V)
        check_source_voltage(self.v_read_V, self.compliance_A, self.limits, prefix)
        g_p, g_ap = synapse.design_conductances_S(self.group)
        #: P / AP decision level of a read conductance: the geometric mean of the design values
        self.threshold_S = float(np.sqrt(g_p * g_ap))
        self._aux_delay_off = False
        self.pulses = 0          # write pulses sent
        self.readings = 0        # column readings taken
        self.floor_s = 0.0
        self._trips0 = bench.round_trips
        self._time0 = bench.projected_time_s

    # ------------------------------------------------------------ accounting
    @property
    def round_trips(self) -> int:
        return self.bench.round_trips - self._trips0

    @property
    def projected_bench_time_s(self) -> float:
        return self.bench.projected_time_s - self._time0

    @property
    def measure_s(self) -> float:
        """One column reading's integration time (the floor of a reading)."""
        return self.nplc / self.bench.line_frequency_Hz

    def _add_floor(self, seconds: float) -> None:
        self.floor_s += seconds
        self.bench.add_floor_s(seconds)

    # ------------------------------------------------------------ channels
    def _row_channel(self, r: int, matrix_row: int) -> int:
        return self.group.slot * 1000 + matrix_row * 100 + r + 1

    def _column_channel(self, c: int, matrix_row: int) -> int:
        return self.group.column_slot * 1000 + matrix_row * 100 + c + 1

    def _connect(self, channels: list[int]) -> None:
        """Close exactly ``channels`` (nothing sent when the matrix already holds them)."""
        switch = self.bench.role_for_step("switch")
        if switch.connected == frozenset(channels):
            return
        self.bench.retry.run(lambda: switch.connect(channels, hot=True), self.bench.recover,
                             "connect crossbar lines")

    def junction(self, row: int, col: int) -> str:
        """The name of junction (row, col)."""
        self._check_index(row, col)
        return self.names[row * self.cols + col]

    def _check_index(self, row, col) -> None:
        for what, value, count in (("row", row, self.rows), ("col", col, self.cols)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or not 0 <= value < count:
                raise CrossbarError(f"{what} {value!r} is not a {what} index of the "
                                    f"{self.rows} x {self.cols} crossbar (0..{count - 1}); "
                                    "nothing was sent")

    # ------------------------------------------------------------ read
    def read_columns(self, active_rows: Sequence[bool], v_read: float | None = None,
                     columns: Sequence[int] | None = None) -> np.ndarray:
        """The summed current of every column (A, shape (cols,)) with the ``active_rows``
        driven at ``v_read`` (default ``v_read_V``); ``columns``: only those are read (the
        others answer 0). No active row: zeros, nothing sent."""
        active = np.asarray(active_rows)
        if active.shape != (self.rows,) or not np.isin(active, (0, 1)).all():
            raise CrossbarError(f"active_rows must be {self.rows} booleans (one per row line), "
                                f"got shape {active.shape}; nothing was sent")
        active = active.astype(bool)
        v = self.v_read_V if v_read is None else v_read
        check_source_voltage(v, self.compliance_A, self.limits, self.names[0].rsplit("/", 1)[0])
        out = np.zeros(self.cols)
        if not active.any():
            return out
        wiring = self.bench.config.wiring
        rows = [self._row_channel(r, wiring.read_row) for r in np.flatnonzero(active)]
        if self.unselected == "ground":
            rows += [self._row_channel(r, wiring.ground_row) for r in np.flatnonzero(~active)]
        wanted = range(self.cols) if columns is None else sorted({int(c) for c in columns})
        for c in wanted:
            self._check_index(0, c)
        for c in wanted:
            channels = rows + [self._column_channel(c, wiring.aux_row)]
            if self.unselected == "ground":
                channels += [self._column_channel(k, wiring.ground_row)
                             for k in range(self.cols) if k != c]
            out[c] = -self._column_reading(channels, float(v))
        return out

    def _column_reading(self, channels: list[int], v_read: float) -> float:
        self._connect(channels)
        bench = self.bench
        read, aux = bench.role_for_step("read_smu"), bench.role_for_step("aux_smu")

        def step() -> float:
            read.source_voltage(v_read, self.compliance_A, self.nplc)
            read.enable()
            aux.source_voltage(0.0, self.compliance_A, self.nplc)
            if not self._aux_delay_off:
                # the column sits at 0 V throughout and the 2750 answers after its relays
                # settle: the 2400's auto source delay (~1 ms per reading) has nothing to wait for
                aux.instrument.source_delay = 0.0
                self._aux_delay_off = True
            aux.enable()
            return aux.measure()[1]
        current = bench.retry.run(step, bench.recover, "crossbar column reading")
        self.readings += 1
        self._add_floor(self.measure_s)
        return float(current)

    def read_junction(self, row: int, col: int, v_read: float | None = None) -> float:
        """One junction's read conductance (S): its row driven, its column measured (one
        reading; every other line as ``unselected`` says)."""
        self._check_index(row, col)
        v = self.v_read_V if v_read is None else float(v_read)
        check_source_voltage(v, self.compliance_A, self.limits, self.junction(row, col))
        wiring = self.bench.config.wiring
        channels = [self._row_channel(row, wiring.read_row), self._column_channel(col, wiring.aux_row)]
        if self.write_return == "aux":      # the junction's write lines stay closed (generator off)
            channels.append(self._row_channel(row, wiring.pulse_row))
        if self.unselected == "ground":
            channels += [self._row_channel(r, wiring.ground_row) for r in range(self.rows) if r != row]
            channels += [self._column_channel(k, wiring.ground_row) for k in range(self.cols) if k != col]
        return -self._column_reading(channels, v) / v

    def read_state(self, row: int, col: int) -> int:
        """One junction's state as a bit (AP = 0, P = 1), from one reading."""
        return int(self.read_junction(row, col) > self.threshold_S)

    def conductances(self, v_read: float | None = None) -> np.ndarray:
        """Each junction's read conductance (S, shape (rows, cols)): one row driven at a
        time, every column read."""
        v = self.v_read_V if v_read is None else float(v_read)
        g = np.zeros((self.rows, self.cols))
        for r in range(self.rows):
            g[r] = self.read_columns(np.arange(self.rows) == r, v) / v
        return g

    def read_states(self) -> np.ndarray:
        """Each junction's state (rows, cols) as 0 / 1: AP = 0, P = 1 (the larger conductance),
        decided at ``threshold_S``."""
        return (self.conductances() > self.threshold_S).astype(np.int64)

    # ------------------------------------------------------------ write
    def _plan(self, row, col, to_state, amplitude_V, width_s) -> tuple[int, int, float, float]:
        """A pulse checked against the limits (raises before anything is sent)."""
        self._check_index(row, col)
        if to_state not in STATES:
            raise CrossbarError(f"to_state {to_state!r} is not one of {STATES}; nothing was sent")
        if not (isinstance(amplitude_V, (int, float, np.floating)) and amplitude_V > 0):
            raise CrossbarError(f"amplitude_V {amplitude_V!r} must be a positive magnitude (the "
                                "target state sets the polarity); nothing was sent")
        level = synapse.POLARITY[to_state] * float(amplitude_V)
        name = self.junction(row, col)
        wiring = self.bench.config.wiring
        check_pulse(level, width_s, self.limits, wiring.source_impedance_ohm, device=name)
        self.bench.role_for_step("pulse").plan_pulse(level, width_s, self.limits, name)
        return int(row), int(col), level, float(width_s)

    def write(self, row: int, col: int, to_state: str, amplitude_V: float, width_s: float) -> None:
        """One pulse on junction (row, col) toward ``to_state`` ("P" or "AP")."""
        self._pulse(*self._plan(row, col, to_state, amplitude_V, width_s))

    def write_many(self, pulses: Iterable[tuple[int, int, str, float, float]]) -> None:
        """Pulses (row, col, to_state, amplitude_V, width_s), every one checked before the
        first is sent, in the plan of :func:`write_plan`: each junction gets its pulses in
        their order, equal consecutive ones as one burst (the generator's trigger count),
        and the pulses of one level are sent together (one level setting, then one matrix
        change and one trigger per junction)."""
        for row, col, level, width, count in write_plan([self._plan(*p) for p in pulses]):
            self._pulse(row, col, level, width, count)

    def _pulse(self, row: int, col: int, level_V: float, width_s: float, count: int = 1) -> None:
        wiring = self.bench.config.wiring
        channels = [self._row_channel(row, wiring.pulse_row)]
        if self.write_return == "ground":
            channels.append(self._column_channel(col, wiring.ground_row))
        else:
            channels.append(self._column_channel(col, wiring.aux_row))
        self._connect(channels)
        if self.write_return == "aux":      # the aux SMU is the column's return: 0 V
            aux = self.bench.role_for_step("aux_smu")
            self.bench.retry.run(lambda: (aux.source_voltage(0.0, self.compliance_A, self.nplc),
                                          aux.enable()), self.bench.recover, "crossbar return")
        self.bench.role_for_step("pulse").pulse(level_V, width_s, count)
        self.pulses += count
        self._add_floor(count * width_s)


def write_plan(pulses) -> list[tuple[int, int, float, float, int]]:
    """Checked pulses (row, col, level_V, width_s) as bursts (row, col, level_V, width_s,
    count) in the order they are sent: equal consecutive pulses on one junction merge into
    one burst; a junction's k-th burst goes after its (k-1)-th, and among the k-th bursts of
    all junctions those of one (level, width) go together, in their first-come order. A pulse
    reaches the other junctions of its row and column only as the half-select, ~0.47 of its
    level, far below switching: so only the order on each junction is the request's."""
    bursts: list[list] = []
    last: dict[tuple[int, int], list] = {}
    for row, col, level, width in pulses:
        prev = last.get((row, col))
        if prev is not None and prev is bursts[-1] and prev[2:4] == [level, width]:
            prev[4] += 1
            continue
        burst = [row, col, level, width, 1, 0 if prev is None else prev[5] + 1]
        bursts.append(burst)
        last[(row, col)] = burst
    groups: dict[tuple, int] = {}
    for burst in bursts:
        groups.setdefault((burst[5], burst[2], burst[3]), len(groups))
    order = sorted(range(len(bursts)),
                   key=lambda i: (bursts[i][5], groups[(bursts[i][5], *bursts[i][2:4])], i))
    return [tuple(bursts[i][:5]) for i in order]


__all__ = ["Crossbar", "CrossbarError", "STATES", "UNSELECTED", "WRITE_RETURNS", "write_plan"]
