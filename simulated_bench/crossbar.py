"""A passive crossbar of two-terminal junctions behind the 7709 matrix: the circuit.

Geometry. Row line r (on the card in ``row_slot``, card column r + 1) and column line c (on
the card in ``column_slot``, card column c + 1) cross at junction (r, c). There is no access
device: a junction conducts whenever its two lines differ in potential. Each line is a
chain of ``cell`` resistors (one per junction pitch); a row line enters at its column-0 end,
a column line at its last-row end, each through ``access`` ohms (card trace, cable, pad) to
the 7709 crosspoints.

Matrix. Each 7709 row is a bus cabled to one instrument across the cards (row R of every
card meets the same instrument), so two lines closed onto one row are tied together there.
What a bus carries comes from the instrument on it, at the moment of the event
(:func:`bus_sources`): the pulse generator (its EMF behind the 50 ohm source, the idle 0 V
while its output is on, nothing while off), a source meter (its programmed voltage behind
``SMU_OHM``, or its programmed current; nothing with its output off), the ground row
(``wiring.ground_row``: 0 V behind ``GROUND_OHM``) or nothing (a floating bus). Every node
leaks ``LEAK_S`` to ground (relay and board insulation), which also fixes the potential of a
line that nothing drives.

Solution. Nodal analysis: the node voltages of both line chains and the buses, one dense
solve (2 R C + 6 nodes). The junction conductances depend on the state and on the bias (the
antiparallel TMR falls with |V|), so the solve is repeated with the conductances at the
last solution's junction voltages (``BIAS_ITERATIONS``). Unselected floating lines give the
sneak paths of a passive array; the line resistance gives the IR drop along the lines.

Events. A pulse (or a reading's integration time, for read disturb) puts every junction's
voltage on it for its duration; the kind's truth (``apply_voltages``: switching, breakdown)
does the rest. The chip finds its crossbars in its kinds' state (``crossbars``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

MATRIX_ROWS = 6
SMU_OHM = 0.5          # a source meter's force path: output stage and cable
GROUND_OHM = 0.5       # the shorting plug of the ground row and its cable
LEAK_S = 1e-10         # every node to ground: relay / board insulation, 10 Gohm
BIAS_ITERATIONS = 4
BIAS_RTOL = 1e-5       # the junction voltages' change at which the bias iteration stops
MIN_CELL_OHM = 1e-3


@dataclass(frozen=True)
class Source:
    """What an instrument holds its bus at: a voltage behind ``resistance_ohm``, or (with
    ``voltage_V`` None) a current ``current_A`` pushed into the bus."""

    voltage_V: float | None
    resistance_ohm: float = SMU_OHM
    current_A: float = 0.0


@dataclass
class Solution:
    junction_V: np.ndarray            # (rows, cols): row line minus column line at the junction
    bus_V: np.ndarray                 # (6,): the potential of each matrix row's bus
    source_current_A: dict            # matrix row -> current out of its instrument into the bus


class CrossbarNetwork:
    """One crossbar group's lines and junctions (``junctions``: the chip's device index of
    junction (r, c))."""

    def __init__(self, junctions: np.ndarray, row_slot: int, column_slot: int,
                 cell_ohm: float, access_ohm: float):
        self.junctions = np.asarray(junctions, dtype=np.int64)
        self.rows, self.cols = self.junctions.shape
        self.row_slot, self.column_slot = int(row_slot), int(column_slot)
        self.cell_ohm = max(float(cell_ohm), MIN_CELL_OHM)
        self.access_ohm = float(access_ohm)
        rows, cols = self.rows, self.cols
        self._n_lines = 2 * rows * cols
        self._n = self._n_lines + MATRIX_ROWS
        row_node = np.arange(rows * cols).reshape(rows, cols)
        col_node = rows * cols + np.arange(rows * cols).reshape(rows, cols)
        self._row_node, self._col_node = row_node, col_node
        buses = self._n_lines + np.arange(MATRIX_ROWS)
        # each line enters at one end: row lines at column 0, column lines at the last row
        ends = np.concatenate([row_node[:, 0], col_node[-1, :]])
        # every branch the circuit can have, (a, b) with b = -1 for a branch to ground; the
        # sparsity pattern is fixed, so a solve only fills in the conductances
        cells = [(row_node[:, :-1], row_node[:, 1:]), (col_node[:-1, :], col_node[1:, :])]
        a = [x.ravel() for x, _ in cells] + [np.arange(self._n), row_node.ravel(),
                                              np.repeat(ends, MATRIX_ROWS), buses]
        b = [y.ravel() for _, y in cells] + [np.full(self._n, -1), col_node.ravel(),
                                              np.tile(buses, ends.size), np.full(MATRIX_ROWS, -1)]
        a, b = np.concatenate(a), np.concatenate(b)
        n_cells = sum(x.size for x, _ in cells)
        self._fixed_g = np.concatenate([np.full(n_cells, 1.0 / self.cell_ohm),
                                        np.full(self._n, LEAK_S)])
        self._n_junctions = rows * cols
        self._n_access = ends.size * MATRIX_ROWS
        # the nodal matrix's entries of every branch: (a, a) and (b, b) +g, (a, b) and (b, a) -g
        to_node = b >= 0
        branch = np.arange(a.size)
        i = np.concatenate([a, b[to_node], a[to_node], b[to_node]])
        j = np.concatenate([a, b[to_node], b[to_node], a[to_node]])
        self._entry_branch = np.concatenate([branch, branch[to_node], branch[to_node], branch[to_node]])
        self._entry_sign = np.concatenate([np.ones(a.size), np.ones(to_node.sum()),
                                           -np.ones(to_node.sum()), -np.ones(to_node.sum())])
        keys, self._entry_slot = np.unique(j * self._n + i, return_inverse=True)   # CSC order
        self._indices = (keys % self._n).astype(np.int32)
        self._indptr = np.searchsorted(keys // self._n, np.arange(self._n + 1)).astype(np.int32)
        self._row_channels = [[self.row_slot * 1000 + m * 100 + r for r in range(1, rows + 1)]
                              for m in range(MATRIX_ROWS + 1)]
        self._column_channels = [[self.column_slot * 1000 + m * 100 + c for c in range(1, cols + 1)]
                                 for m in range(MATRIX_ROWS + 1)]

    # ------------------------------------------------------------ wiring
    def lines_on(self, closed: set[int], matrix_row: int) -> tuple[np.ndarray, np.ndarray]:
        """Which row lines and which column lines are closed onto ``matrix_row``."""
        return (np.array([c in closed for c in self._row_channels[matrix_row]], dtype=bool),
                np.array([c in closed for c in self._column_channels[matrix_row]], dtype=bool))

    def touches(self, closed: set[int], matrix_row: int) -> bool:
        rows, cols = self.lines_on(closed, matrix_row)
        return bool(rows.any() or cols.any())

    # ------------------------------------------------------------ the circuit
    def solve(self, conductance_S, closed: set[int], sources: dict[int, Source]) -> Solution:
        """Node voltages with every bus driven as ``sources`` says (a bus not in it floats).
        ``conductance_S(junction_V)`` gives the (rows, cols) junction conductances at a bias."""
        b = np.zeros(self._n)
        stamped = {}
        access = np.zeros((self.rows + self.cols, MATRIX_ROWS))    # line end x bus
        bus_g = np.zeros(MATRIX_ROWS)
        for m in range(1, MATRIX_ROWS + 1):
            on = np.concatenate(self.lines_on(closed, m))
            access[on, m - 1] = 1.0 / (self.access_ohm + self.cell_ohm)
            source = sources.get(m)
            if source is None or not on.any():
                continue                      # a source on a bus with no line: no current
            stamped[m] = source
            bus = self._n_lines + m - 1
            if source.voltage_V is None:
                b[bus] += source.current_A
            else:
                bus_g[m - 1] = 1.0 / source.resistance_ohm
                b[bus] += source.voltage_V / source.resistance_ohm
        junction_V = np.zeros((self.rows, self.cols))
        for _ in range(BIAS_ITERATIONS):
            g = np.concatenate([self._fixed_g, np.asarray(conductance_S(junction_V), dtype=float).ravel(),
                                access.ravel(), bus_g])
            data = np.bincount(self._entry_slot, weights=self._entry_sign * g[self._entry_branch],
                               minlength=self._indices.size)
            matrix = sparse.csc_matrix((data, self._indices, self._indptr), shape=(self._n, self._n))
            v = spsolve(matrix, b)
            new_V = v[self._row_node] - v[self._col_node]
            converged = np.allclose(new_V, junction_V, rtol=BIAS_RTOL, atol=1e-9)
            junction_V = new_V
            if converged:
                break
        bus_V = v[self._n_lines:]
        currents = {}
        for m, source in stamped.items():
            if source.voltage_V is None:
                currents[m] = source.current_A
            else:
                currents[m] = (source.voltage_V - bus_V[m - 1]) / source.resistance_ohm
        return Solution(junction_V, bus_V, currents)


# ---------------------------------------------------------------- the bench's side
def networks_of(chip) -> list[CrossbarNetwork]:
    """The crossbars on a chip (its kinds' state objects that hold ``crossbars``)."""
    return [net for state in chip.kind_state.values() for net in getattr(state, "crossbars", ())]


def junction_indices(chip) -> set[int]:
    """The chip's devices that sit in a crossbar (reached through their lines only)."""
    return {int(i) for net in networks_of(chip) for i in net.junctions.ravel()}


def bus_sources(bench, override: dict[int, Source] | None = None) -> dict[int, Source]:
    """What each instrument holds its matrix row's bus at now (``override``: the instrument
    of that row acting at this moment, e.g. a pulse or the reading being taken)."""
    wiring = bench.config.wiring
    sources: dict[int, Source] = {}
    for entry in bench.config.instruments:
        inst = bench.instruments.get(entry.address)
        if entry.role == "pulse":
            channel = inst.channels.get(wiring.pulse_channel)
            if channel is not None and channel.output:      # idle level: 0 V behind 50 ohm
                sources[wiring.pulse_row] = Source(0.0, wiring.source_impedance_ohm)
        elif entry.role in ("read_smu", "aux_smu") and getattr(inst, "output_on", False):
            row = wiring.read_row if entry.role == "read_smu" else wiring.aux_row
            function, level = _smu_source(inst)
            sources[row] = Source(level) if function == "VOLT" else Source(None, current_A=level)
    if wiring.ground_row:
        sources[wiring.ground_row] = Source(0.0, GROUND_OHM)
    sources.update(override or {})
    return sources


def _smu_source(inst) -> tuple[str, float]:
    """(function, level) a simulated source meter is programmed to (2450 or 2400)."""
    if hasattr(inst, "level"):                               # Keithley 2450
        return inst.source_function, float(inst.level[inst.source_function])
    function = inst.settings["source_function"]              # Keithley 2400
    key = "source_voltage_V" if function == "VOLT" else "source_current_A"
    return function, float(inst.settings[key])


def drive(bench, override: dict[int, Source], duration_s: float, time_s: float,
          touching_row: int) -> list[tuple[object, CrossbarNetwork, Solution]]:
    """Solve every crossbar with lines on ``touching_row`` under the instruments' present
    sources (and ``override``), and let its junctions live through their voltages for
    ``duration_s`` (0: breakdown only). Returns (chip, network, solution) per crossbar."""
    switch = bench.instruments.get(bench.config.address_of("switch"))
    closed = switch.closed_channels() if switch is not None else set()
    out = []
    sources = None
    for chip in bench.chips.values():
        for net in networks_of(chip):
            if not net.touches(closed, touching_row):
                continue
            if sources is None:
                sources = bus_sources(bench, override)
            truth = chip.truth(int(net.junctions[0, 0]))
            solution = net.solve(lambda v, c=chip, n=net, t=truth: t.conductances_S(c, n.junctions, v),
                                 closed, sources)
            truth.apply_voltages(chip, net.junctions, solution.junction_V, duration_s,
                                 bench.switch_rng, time_s)
            out.append((chip, net, solution))
    return out


def selected_junctions(bench, net: CrossbarNetwork, row: int) -> list[tuple[int, int]]:
    """The junctions a pulse on matrix row ``row`` selects: row line on it, column line on a
    driven bus (every other junction it reaches is half-selected or a sneak path)."""
    switch = bench.instruments.get(bench.config.address_of("switch"))
    closed = switch.closed_channels() if switch is not None else set()
    rows, _ = net.lines_on(closed, row)
    driven = np.zeros(net.cols, dtype=bool)
    for m in bus_sources(bench):
        if m != row:
            driven |= net.lines_on(closed, m)[1]
    return [(r, c) for r in np.flatnonzero(rows) for c in np.flatnonzero(driven)]
