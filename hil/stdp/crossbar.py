"""The pattern task learned in situ on a bench crossbar (:class:`drivers.crossbar.Crossbar`).

The crossbar's rows are the inputs, its columns the output neurons' synapses. A neuron's drive
is its column's measured current with the active rows at V_read (a physical vector-matrix
multiply), turned into weight units with the calibrated conductances: (I / V_read - n_active
G_AP) / (G_P - G_AP). Every STDP event is one write pulse per row of that column, sent through
the instruments (``write_many``: the whole column's pulses checked against the junctions'
limits before the first is sent, those of one level together); the junctions switch, or not,
by their own physics. The neurons themselves (leak, threshold, WTA) are software.

Reads: an input is read once (every column), and after an STDP event only the column its
pulses were sent down is read again (``reread="written"``, one line change and one reading
instead of eight): the other columns' junctions saw only the pulses' half-select, ~0.47 of
their level (at the rule's 0.41 / 0.56 V and 100 ns the typical junction's P_sw of that is
~3e-8 per pulse, < 1e-5 even at 0.6 of the level), so their last reading stands.
``reread="all"`` reads every column again.
"""

from __future__ import annotations

import time

import numpy as np

from hil.stdp.config import DEFAULT_BENCH, StdpConfig
from hil.stdp.synapse import TO_AP, TO_P, SynapseModel
from hil.stdp.synapses import PulseRule


REREADS = ("written", "all")


class CrossbarSynapses:
    """A :class:`drivers.crossbar.Crossbar` as the network's synapse array (see the module doc)."""

    binary = True
    in_memory = False             # every drive is a measurement

    def __init__(self, crossbar, model: SynapseModel, rule: PulseRule, reread: str = "written"):
        if reread not in REREADS:
            raise ValueError(f"reread {reread!r} is not one of {REREADS}")
        self.crossbar = crossbar
        self.reread = reread
        self._held: tuple[np.ndarray, np.ndarray] | None = None   # (input, its column currents)
        self._written: set[int] = set()                           # columns pulsed since then
        self.model, self.rule = model, rule
        self.n_in, self.n_out = crossbar.rows, crossbar.cols
        # the rule's amplitudes, refused before anything is sent when above the junctions' limit
        self.ltp_V, self.ltd_V = rule.amplitudes(model, crossbar.limits.max_pulse_voltage_V)
        self.pulses = 0
        self.reads = 0

    def randomize(self, p_fraction: float = 0.5, reset_probability: float = 0.99) -> None:
        """The random start the simulated array has, written physically: a reset pulse toward
        AP on every junction (switching with ``reset_probability``), then one toward P that
        switches with ``p_fraction``: about that fraction starts P, each junction by chance."""
        width, limit = self.rule.width_s, self.crossbar.limits.max_pulse_voltage_V
        reset_V = self.model.pulse(TO_AP, reset_probability, width, limit)
        set_V = self.model.pulse(TO_P, p_fraction, width, limit)
        cells = [(r, c) for r in range(self.n_in) for c in range(self.n_out)]
        self.crossbar.write_many([(r, c, TO_AP, reset_V, width) for r, c in cells]
                                 + [(r, c, TO_P, set_V, width) for r, c in cells])
        self.pulses += 2 * len(cells)
        self._held = None

    def drive(self, active: np.ndarray) -> np.ndarray:
        on = np.asarray(active) > 0.5
        if not on.any():
            return np.zeros(self.n_out)
        if self._held is not None and np.array_equal(self._held[0], on) and self.reread == "written":
            currents_A = self._held[1].copy()
            if self._written:
                cols = sorted(self._written)
                currents_A[cols] = self.crossbar.read_columns(on, columns=cols)[cols]
                self.reads += 1
        else:
            currents_A = self.crossbar.read_columns(on)
            self.reads += 1
        self._held, self._written = (on, currents_A.copy()), set()
        g = currents_A / self.crossbar.v_read_V
        return (g - on.sum() * self.model.g_ap_S) / (self.model.g_p_S - self.model.g_ap_S)

    def update(self, col: int, potentiate: np.ndarray) -> None:
        width = self.rule.width_s
        self.crossbar.write_many([(r, col, TO_P, self.ltp_V, width) if potentiate[r]
                                  else (r, col, TO_AP, self.ltd_V, width)
                                  for r in range(self.n_in)])
        self.pulses += self.n_in
        self._written.add(int(col))

    def states(self) -> np.ndarray:
        """The junctions' states (rows, cols), 0 / 1: read through the instruments."""
        return self.crossbar.read_states()

    @property
    def round_trips(self) -> int:
        return self.crossbar.round_trips

    @property
    def projected_bench_time_s(self) -> float:
        return self.crossbar.projected_bench_time_s

    @property
    def floor_s(self) -> float:
        return self.crossbar.floor_s


def run_on_bench(config: StdpConfig, seed: int, model: SynapseModel) -> dict:
    """Learn the pattern task on the bench's crossbar (the simulated bench unless the bench
    file's addresses say otherwise): train, label, test; the run's row with its bench cost and
    the learned junction states."""
    from drivers.crossbar import Crossbar
    from hil.stdp.experiment import pulse_rule, run_mode
    from hil.stdp.inputs import pattern_task, patterns
    from procedures.session import open_bench

    started = time.perf_counter()
    with open_bench(config.bench or DEFAULT_BENCH) as bench:
        crossbar = Crossbar(bench)
        synapses = CrossbarSynapses(crossbar, model, pulse_rule(config, "patterns"))
        task = pattern_task(crossbar.rows, config.patterns, config.pattern_presentations, 20,
                            config.pattern_flip, np.random.default_rng([seed, 7]))
        # the run's cost: the random start, training, labelling and test; the two read-outs
        # of every junction's state (for the report) are left out
        cost0 = _cost(crossbar)
        synapses.randomize()
        cost1 = _cost(crossbar)
        before = synapses.states()
        cost2 = _cost(crossbar)
        row = run_mode(config, task, "bench", seed, model, synapses)
        trips, bench_s, floor_s = np.subtract(cost1, cost0) + np.subtract(_cost(crossbar), cost2)
        after = synapses.states()
    row.update({"round_trips": int(trips), "projected_bench_time_s": bench_s, "floor_s": floor_s,
                "column_reads": synapses.reads, "column_readings": crossbar.readings,
                "crossbar": f"{crossbar.rows}x{crossbar.cols}",
                "patterns": patterns(crossbar.rows, config.patterns).astype(int).tolist(),
                "states_before": before.tolist(), "states_after": after.tolist(),
                "wall_s": time.perf_counter() - started})
    return row


def _cost(crossbar) -> tuple[float, float, float]:
    return crossbar.round_trips, crossbar.projected_bench_time_s, crossbar.floor_s
