"""Integrate-fire-reset characterization of a domain-wall MTJ neuron through the instruments.

One *IFR cycle*: write pulses of one amplitude, each followed by a read of the MTJ, until the
reading drops below the firing threshold (the wall passed under the MTJ: R_AP -> R_P) or
``max_pulses`` went by (a *stuck* cycle); after a fire, ``eject_pulses`` more pulses (one
burst) push the wall out at the track end; then a reverse reset pulse, read, and tried again
up to ``max_reset_tries`` times while the MTJ still reads fired (a failed reset).

- :class:`IFRCyclingProcedure` (``hil characterize ifr``): ``cycles`` cycles at one amplitude:
  the pulses-to-fire histogram, the reset success rate, stuck-wall detection (the run stops
  after ``stuck_limit`` stuck cycles in a row: no more pulses into a wall that does not move).
- :class:`IFRTransferProcedure` (``hil characterize ifr-transfer``): ``cycles`` cycles at each
  of ``points`` amplitudes: mean and spread of pulses-to-fire vs amplitude (amplitude
  encoding), firing vs pulse number at the middle amplitude (number encoding), and the fit
  of J_dep, the mobility and the pinning spread (:mod:`procedures.ifr_fit`).

Bus plan: where the bench wires the pulse generator's Trigger Out to the read SMU
(``wiring.generator_trigger_line``) each cycle is a pulse train (:mod:`drivers.pulsetrain`:
the write pulses with a reading after each, fetched once, three bus messages; the train also
carries the previous cycle's unplayed eject pulses and its reset), else pulse by pulse; the
answers (pulses to fire, resets, stops) are the same, and every row records its round trips,
projected bench time and floor.

The firing threshold is (1 - ``fire_drop``) x the reading after the first reset (the MTJ's
TMR must exceed ``fire_drop`` / (1 - ``fire_drop``)). Every level and width is checked against
the device size's safety limits in :meth:`validate`, before the bench is opened.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from devices import kinds
from devices.kinds import dw_mtj_ifr_neuron
from drivers.batch import LINE_FREQUENCY_HZ
from drivers.pulsetrain import first_below, overhead_slots, run_train, supports_trains, train_length
from procedures.base import BenchProcedure
from procedures.ifr_fit import amplitude_stats, fit_ifr_transfer
from procedures.session import ParameterError

IFR_COLUMNS = ["Device", "Size", "Cycle", "Pulse amplitude (V)", "Pulse width (s)",
               "Write current (A)", "Current density (A/m**2)", "Pulses to fire", "Fired",
               "Reset attempts", "Reset ok", "Fired resistance (ohm)", "Reset resistance (ohm)",
               "Line resistance (ohm)", "Round trips", "Projected bench time (s)", "Floor (s)"]


@dataclass(frozen=True)
class CycleResult:
    pulses: int
    fired: bool
    reset_attempts: int
    reset_ok: bool
    fired_ohm: float
    reset_ohm: float


class _IFRBase(BenchProcedure):
    device = Parameter("Device", default="chip1/M0")
    cycles = IntegerParameter("Cycles", default=100, minimum=1, maximum=10**7)
    pulse_width = FloatParameter("Pulse width", units="s", default=10e-9, minimum=-1.0, maximum=1.0)
    max_pulses = IntegerParameter("Max pulses per cycle", default=50, minimum=1, maximum=10**5)
    eject_pulses = IntegerParameter("Eject pulses", default=3, minimum=2, maximum=1000)
    reset_amplitude = FloatParameter("Reset amplitude", units="V", default=0.0, minimum=-100.0, maximum=100.0)
    reset_width = FloatParameter("Reset width", units="s", default=100e-9, minimum=-1.0, maximum=1.0)
    max_reset_tries = IntegerParameter("Max reset tries", default=3, minimum=1, maximum=100)
    stuck_limit = IntegerParameter("Stuck cycles to stop", default=3, minimum=1, maximum=10**6)
    fire_drop = FloatParameter("Fire threshold drop", default=0.25, minimum=0.0, maximum=1.0)
    nplc = FloatParameter("Read NPLC", default=0.01, minimum=0.0, maximum=10.0)

    DATA_COLUMNS = IFR_COLUMNS

    def reset_level(self, facts) -> float:
        """The reverse reset pulse: -0.95 x the safe maximum unless given (negative)."""
        return float(self.reset_amplitude) if self.reset_amplitude else -0.95 * facts.max_level_V

    def write_levels(self, facts) -> list[float]:
        raise NotImplementedError

    def validate(self):
        super().validate()
        self.validate_device(self.facts(self.device))

    def validate_device(self, facts) -> None:
        """Everything checked for one device before the bench opens: its kind, every level
        and width against its size's limits."""
        group = self.bench_config().group_of(facts.address)
        if kinds.kind(group.kind).element != "ifr_neuron":
            raise ParameterError(f"{facts.name} is a {group.kind} device; IFR cycling needs an "
                                 f"integrate-fire-reset neuron (e.g. a bench such as "
                                 f"examples/benches/dw_ifr_neurons.toml)")
        for name in ("cycles", "max_pulses", "eject_pulses", "max_reset_tries", "stuck_limit"):
            self.require_int(name, getattr(self, name))
        self.check_width(facts, float(self.pulse_width))
        self.check_width(facts, float(self.reset_width), "reset width")
        if not 0 < float(self.fire_drop) < 1:
            raise ParameterError(f"fire_drop {self.fire_drop!r} must lie in (0, 1): the fraction "
                                 f"by which the MTJ reading falls when the neuron fires")
        self.require_positive("nplc", self.nplc, "", "(0.01 is a fast read)")
        for level in self.write_levels(facts):
            if not level > 0:
                raise ParameterError(f"write amplitude {level!r} V must be > 0 (forward pulses "
                                     f"move the wall toward the MTJ; 0 = automatic)")
            self.check_level(facts, level, "write amplitude")
        reset = self.reset_level(facts)
        if not reset < 0:
            raise ParameterError(f"reset_amplitude {reset!r} V must be < 0: the reset is a "
                                 f"reverse pulse on the write line (0 = automatic)")
        self.check_level(facts, reset, "reset amplitude")

    # ------------------------------------------------------------------ the bench side
    def _read(self, name: str) -> float:
        return float(self.bench.read_resistance(name, nplc=float(self.nplc)))

    def _reset(self, name: str, threshold_ohm: float) -> tuple[int, bool, float]:
        reading = float("nan")
        for attempt in range(1, int(self.max_reset_tries) + 1):
            self.bench.pulse.pulse(self.reset_level(self._facts), float(self.reset_width))
            reading = self._read(name)
            if reading >= threshold_ohm:
                return attempt, True, reading
        return int(self.max_reset_tries), False, reading

    def prepare(self, facts=None) -> tuple[float, float]:
        """(line resistance, firing threshold) of ``facts`` (default: ``device``), which
        becomes the device the cycles run on: reset twice, read the reset state."""
        facts = self._facts = facts or self.facts(self.device)
        line_ohm = float(self.bench.line_resistance(facts.name))
        if self.uses_trains():
            readings = list(self._train([self.reset_level(facts)] * 2, select=True).resistance_ohm)
        else:
            readings = []
            for _ in range(2):
                self.bench.pulse.pulse(self.reset_level(facts), float(self.reset_width))
                readings.append(self._read(facts.name))
        return line_ohm, (1.0 - float(self.fire_drop)) * max(readings)

    # ------------------------------------------------------------------ pulse trains
    def uses_trains(self) -> bool:
        """Whether the cycles run as pulse trains (:mod:`drivers.pulsetrain`: the generator's
        Trigger Out wired to the read SMU), else pulse by pulse."""
        if getattr(self, "_trains", None) is None:
            self._trains = supports_trains(self.bench)
        return self._trains

    def _train(self, levels, select: bool = False):
        return run_train(self.bench, self._facts.name, levels, float(self.pulse_width),
                         float(self.reset_width), nplc=float(self.nplc), select=select)

    def cycle(self, level_V: float, threshold_ohm: float) -> CycleResult:
        name, width = self._facts.name, float(self.pulse_width)
        fired_ohm = float("nan")
        pulses = 0
        while pulses < int(self.max_pulses):
            self.bench.pulse.pulse(level_V, width)
            pulses += 1
            fired_ohm = self._read(name)
            if fired_ohm < threshold_ohm:
                break
        fired = fired_ohm < threshold_ohm
        if fired:
            self.bench.pulse.pulse(level_V, width, int(self.eject_pulses))
        attempts, ok, reset_ohm = self._reset(name, threshold_ohm)
        return CycleResult(pulses, bool(fired), attempts, ok, fired_ohm, reset_ohm)

    def cycle_floor_s(self, result: CycleResult) -> float:
        """A cycle's physical floor: each read's integration (one per write pulse and per reset
        try) plus the pulses themselves; the rest of a cycle's bench time is bus overhead."""
        width = float(self.pulse_width)
        written = result.pulses + (int(self.eject_pulses) if result.fired else 0)
        reads = result.pulses + result.reset_attempts
        return (reads * float(self.nplc) / LINE_FREQUENCY_HZ + written * width
                + result.reset_attempts * float(self.reset_width))

    def cycle_row(self, number: int, level_V: float, line_ohm: float, threshold_ohm: float) -> dict:
        rt0, t0 = self.bench.round_trips, self.bench.projected_time_s
        result = self.cycle(level_V, threshold_ohm)
        return self.result_row(number, level_V, line_ohm, result, self.bench.round_trips - rt0,
                               self.bench.projected_time_s - t0)

    def result_row(self, number: int, level_V: float, line_ohm: float, result: CycleResult,
                   round_trips: int, projected_s: float) -> dict:
        facts = self._facts
        current = float(facts.current_A(level_V, line_ohm))
        return {"Device": facts.name, "Size": facts.size, "Cycle": number,
                "Pulse amplitude (V)": level_V, "Pulse width (s)": float(self.pulse_width),
                "Write current (A)": current,
                "Current density (A/m**2)": float(facts.current_density_A_m2(current)),
                "Pulses to fire": result.pulses, "Fired": result.fired,
                "Reset attempts": result.reset_attempts, "Reset ok": result.reset_ok,
                "Fired resistance (ohm)": result.fired_ohm, "Reset resistance (ohm)": result.reset_ohm,
                "Line resistance (ohm)": line_ohm, "Round trips": round_trips,
                "Projected bench time (s)": projected_s, "Floor (s)": self.cycle_floor_s(result)}

    def run_level(self, level_V: float, line_ohm: float, threshold_ohm: float, first: int,
                  progress) -> tuple[list[dict], str]:
        """``cycles`` cycles at one level; ('ok' | 'stuck wall' | 'reset failed') for the stop."""
        if self.uses_trains():
            return _TrainCycles(self, level_V, line_ohm, threshold_ohm, first, progress).run()
        rows, stuck = [], 0
        for k in range(int(self.cycles)):
            if self.stopped():
                break
            number = first + k
            row = self.point(self.key(self._facts.name, number),
                             lambda: self.cycle_row(number, level_V, line_ohm, threshold_ohm))
            rows.append(row)
            progress(k + 1)
            stuck = 0 if truthy(row["Fired"]) else stuck + 1
            if stuck >= int(self.stuck_limit):
                return rows, "stuck wall"
            if not truthy(row["Reset ok"]):
                return rows, "reset failed"
        return rows, "ok"


class _TrainCycles:
    """One level's IFR cycles as pulse trains, a cycle per train: each train carries what the
    previous cycle still owes (the eject pulses its fire left unplayed, its reset, whose
    reading says whether it took) and the next cycle's write pulses, a reading after each.
    The first reading under the threshold is the fire; the pulses played after it are the
    ejection (forward pulses push the wall out at the track end; on an ejected track they do
    nothing), completed to ``eject_pulses`` before the reset. A train that ends before the
    fire is continued by the next (no reset in between), up to ``max_pulses``; after a failed
    reset the next cycle's pulses met an ejected track: their readings are dropped and the
    reset is tried again, as pulse by pulse. So each cycle's pulses to fire, reset attempts
    and stop are those of :meth:`_IFRBase.cycle`; a train is sized from the cycles seen
    (:func:`drivers.pulsetrain.train_length`)."""

    def __init__(self, proc: _IFRBase, level_V: float, line_ohm: float, threshold_ohm: float,
                 first: int, progress):
        self.proc, self.level, self.line_ohm, self.threshold = proc, level_V, line_ohm, threshold_ohm
        self.first, self.progress = first, progress
        self.reset_V = proc.reset_level(proc._facts)
        self.rows: list[dict] = []
        self.stuck, self.state = 0, None
        self.pending: dict | None = None     # pulses done, reset not yet resolved
        self.current: dict | None = None     # pulses under way
        self.owed = 0                        # eject pulses the pending cycle still needs

    def _finish(self, cycle: dict, ok: bool, reset_ohm: float) -> None:
        p = self.proc
        result = CycleResult(cycle["pulses"], cycle["fired"], cycle["attempts"], ok,
                             cycle["fired_ohm"], reset_ohm)
        row = p.result_row(cycle["number"], self.level, self.line_ohm, result, cycle["trips"],
                           cycle["time"])
        self._account(p.point(p.key(p._facts.name, cycle["number"]), lambda: row))

    def _account(self, row: dict) -> None:
        self.rows.append(row)
        self.progress(len(self.rows))
        self.stuck = 0 if truthy(row["Fired"]) else self.stuck + 1
        if self.stuck >= int(self.proc.stuck_limit):
            self.state = "stuck wall"
        elif not truthy(row["Reset ok"]):
            self.state = "reset failed"
        if truthy(row["Fired"]):
            seen = self.proc.__dict__.setdefault("_pulses_seen", [])
            seen.append(int(float(row["Pulses to fire"])))
            del seen[:-20]

    def _may_start(self, k: int) -> bool:
        p = self.proc
        if self.state or k >= int(p.cycles) or p.stopped():
            return False
        pending = self.pending
        return not (pending and not pending["fired"] and self.stuck + 1 >= int(p.stuck_limit))

    def _chunk(self) -> int:
        """As many pulses as the cycles seen make cheapest (pulses past the fire, less the
        eject pulses they stand for, against a continuation train); 8 before any is seen."""
        p, cur = self.proc, self.current
        return train_length(p.__dict__.get("_pulses_seen", []), cur["pulses"],
                            int(p.max_pulses) - cur["pulses"], p.__dict__.get("_overhead", 12.0),
                            free=int(p.eject_pulses), default=8 if not cur["chunk"] else 2 * cur["chunk"])

    def run(self) -> tuple[list[dict], str]:
        p = self.proc
        name, k = p._facts.name, 0
        while True:
            while (self.pending is None and self.current is None and not self.state
                   and k < int(p.cycles) and p.key(name, self.first + k) in p.done):
                self._account(p.done[p.key(name, self.first + k)])     # resumed from disk
                k += 1
            if self.current is None and self._may_start(k):
                self.current = {"number": self.first + k, "pulses": 0, "chunk": 0, "trips": 0,
                                "time": 0.0}
                k += 1
            n = self._chunk() if self.current else 0
            slots = [self.level] * self.owed + [self.reset_V] * (self.pending is not None) \
                + [self.level] * n
            if not slots:
                break
            train = p._train(slots)
            p.__dict__["_overhead"] = overhead_slots(train)
            payer = self.current or self.pending
            payer["trips"] += train.round_trips
            payer["time"] += train.projected_time_s
            readings, i = train.resistance_ohm, self.owed
            self.owed = 0
            if self.pending is not None:
                pending, reading = self.pending, float(readings[i])
                i += 1
                pending["attempts"] += 1
                if reading >= self.threshold or pending["attempts"] >= int(p.max_reset_tries):
                    self.pending = None
                    self._finish(pending, reading >= self.threshold, reading)
                    if self.state:
                        self.current = None        # stopped: its pulses met an ejected track
                elif self.current is not None:
                    self.current["chunk"] = 0      # the track was ejected: pulses again
                    continue
            if self.current is not None:
                self._pulses(readings[i:i + n], n)
        self.proc.bench.check_instrument_errors(("pulse", "read_smu"))
        return self.rows, self.state or "ok"

    def _pulses(self, readings, n: int) -> None:
        p, cur = self.proc, self.current
        fire = first_below(readings, self.threshold)
        cur["chunk"] = n
        if fire is None:
            cur["pulses"] += n
            if cur["pulses"] < int(p.max_pulses):
                return                             # continued by the next train
            cur.update(fired=False, fired_ohm=float(readings[-1]), attempts=0)
        else:
            cur.update(pulses=cur["pulses"] + fire + 1, fired=True,
                       fired_ohm=float(readings[fire]), attempts=0)
            self.owed = max(0, int(p.eject_pulses) - (n - fire - 1))
        self.pending, self.current = cur, None


def truthy(value) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "1.0")


def bench_cost(rows: list[dict]) -> dict:
    """Round trips, projected bench time and the physical floor of these rows."""
    def total(column):
        values = np.array([float(r.get(column, 0.0) or 0.0) for r in rows])
        return float(np.sum(values[np.isfinite(values)]))
    projected, floor = total("Projected bench time (s)"), total("Floor (s)")
    return {"round_trips": total("Round trips"), "projected_time_s": projected, "floor_s": floor,
            "projected_over_floor": projected / floor if floor else None}


def cycle_summary(rows: list[dict]) -> dict:
    """Pulses-to-fire histogram and statistics, reset success rate, stuck cycles."""
    fired = [r for r in rows if truthy(r["Fired"])]
    pulses = np.array([int(float(r["Pulses to fire"])) for r in fired])
    attempts = sum(int(float(r["Reset attempts"])) for r in fired)
    first_try = sum(1 for r in fired if truthy(r["Reset ok"]) and int(float(r["Reset attempts"])) == 1)
    successes = sum(1 for r in fired if truthy(r["Reset ok"]))
    values, counts = np.unique(pulses, return_counts=True) if pulses.size else ([], [])
    return {"cycles": len(rows), "fired_cycles": len(fired), "stuck_cycles": len(rows) - len(fired),
            "mean_pulses_to_fire": float(pulses.mean()) if pulses.size else float("nan"),
            "sd_pulses_to_fire": float(pulses.std(ddof=1)) if pulses.size > 1 else float("nan"),
            "histogram": {str(int(v)): int(c) for v, c in zip(values, counts)},
            "reset_attempts": attempts,
            "reset_success_rate": successes / attempts if attempts else float("nan"),
            "reset_first_try_rate": first_try / len(fired) if fired else float("nan")}


class IFRCyclingProcedure(_IFRBase):
    amplitude = FloatParameter("Write amplitude", units="V", default=0.0, minimum=-100.0, maximum=100.0)
    KEY_COLUMNS = ("Device", "Cycle")

    def write_levels(self, facts) -> list[float]:
        return [float(self.amplitude) if self.amplitude else 0.6 * facts.max_level_V]

    def write_plots(self, summary: dict, out_dir) -> dict:
        from procedures.ifr_report import plot_ifr_cycles
        return plot_ifr_cycles(summary, out_dir)

    def execute(self):
        line_ohm, threshold = self.prepare()
        level = self.write_levels(self._facts)[0]
        total = int(self.cycles)
        rows, state = self.run_level(level, line_ohm, threshold, 0,
                                     lambda k: self.emit("progress", 100.0 * k / total))
        self.summary = {"device": self._facts.name, "amplitude_V": level,
                        "current_density_A_m2": float(rows[0]["Current density (A/m**2)"]) if rows else float("nan"),
                        "threshold_ohm": threshold, "state": state, **cycle_summary(rows),
                        "bench_cost": bench_cost(rows)}


class IFRTransferProcedure(_IFRBase):
    cycles = IntegerParameter("Cycles per amplitude", default=40, minimum=1, maximum=10**6)
    points = IntegerParameter("Amplitudes", default=6, minimum=3, maximum=100)
    amplitude_start = FloatParameter("First amplitude", units="V", default=0.0, minimum=-100.0, maximum=100.0)
    amplitude_stop = FloatParameter("Last amplitude", units="V", default=0.0, minimum=-100.0, maximum=100.0)
    KEY_COLUMNS = ("Device", "Cycle")

    def write_levels(self, facts) -> list[float]:
        start = float(self.amplitude_start) or 0.35 * facts.max_level_V
        stop = float(self.amplitude_stop) or 0.95 * facts.max_level_V
        return [float(v) for v in np.linspace(start, stop, int(self.points))]

    def validate(self):
        self.require_int("points", self.points, 3)
        super().validate()

    def write_plots(self, summary: dict, out_dir) -> dict:
        from procedures.ifr_report import plot_ifr_transfer
        return plot_ifr_transfer(summary, out_dir)

    def execute(self):
        line_ohm, threshold = self.prepare()
        levels = self.write_levels(self._facts)
        per, total = int(self.cycles), int(self.cycles) * len(levels)
        by_level, states = [], []
        for i, level in enumerate(levels):
            if self.stopped():
                break
            rows, state = self.run_level(level, line_ohm, threshold, i * per,
                                         lambda k, i=i: self.emit("progress", 100.0 * (i * per + k) / total))
            by_level.append(rows)
            states.append(state)
        self.summary = transfer_summary(self._facts, self.bench_config().group_of(self._facts.address),
                                        by_level, states, float(self.pulse_width))
        self.summary["bench_cost"] = bench_cost([r for rows in by_level for r in rows])


def rows_by_level(rows: list[dict]) -> list[list[dict]]:
    """One device's rows split by write amplitude (ascending), each in cycle order."""
    levels: dict[float, list[dict]] = {}
    for row in sorted(rows, key=lambda r: int(float(r["Cycle"]))):
        levels.setdefault(float(row["Pulse amplitude (V)"]), []).append(row)
    return [levels[v] for v in sorted(levels)]


def device_transfer(rows: list[dict], bench_file, width_s: float) -> dict:
    """:func:`transfer_summary` of one device's rows as read back (a file, a live run): the
    levels from the rows, a level 'reset failed' where one of its resets did."""
    from procedures.session import device_facts

    facts = device_facts(bench_file, str(rows[0]["Device"]))
    levels = rows_by_level(rows)
    states = ["ok" if all(truthy(r["Reset ok"]) for r in level) else "reset failed"
              for level in levels]
    return transfer_summary(facts, bench_file.group_of(facts.address), levels, states, width_s)


def transfer_summary(facts, group, by_level: list[list[dict]], states: list[str], width_s: float) -> dict:
    """Per amplitude statistics, number encoding at the middle amplitude and the fit."""
    from procedures.fits import FitError

    stats = [amplitude_stats(float(rows[0]["Current density (A/m**2)"]), [r["Pulses to fire"] for r in rows],
                             [truthy(r["Fired"]) for r in rows]) for rows in by_level if rows]
    distance = dw_mtj_ifr_neuron.geometry(group).mtj_distance_m
    summary = {"device": facts.name, "design_distance_m": distance,
               "amplitudes": [{"amplitude_V": float(rows[0]["Pulse amplitude (V)"]), "state": state,
                               **vars(s)} for rows, s, state in zip(by_level, stats, states)]}
    if by_level:
        middle = by_level[len(by_level) // 2]
        fired = np.array([int(float(r["Pulses to fire"])) for r in middle if truthy(r["Fired"])])
        top = int(fired.max()) if fired.size else 0
        summary["number_encoding"] = {
            "amplitude_V": float(middle[0]["Pulse amplitude (V)"]),
            "fired_by_pulse": [float(np.sum(fired <= n)) / len(middle) for n in range(1, top + 1)]}
    try:
        summary["fit"] = fit_ifr_transfer(stats, width_s, distance).as_dict()
    except FitError as exc:
        summary["fit"] = {"error": str(exc)}
    return summary


__all__ = ["CycleResult", "IFRCyclingProcedure", "IFRTransferProcedure", "bench_cost",
           "cycle_summary", "device_transfer", "rows_by_level", "transfer_summary", "truthy"]
