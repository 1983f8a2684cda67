"""The spiking layer's sequences through the instruments: pulse generator + read SMU.

:class:`IFRBenchBackend` answers as :class:`~hil.snn.devices.IFRArrayBackend` does (spikes
(steps, batch, neurons) for write densities of the same shape) but plays every lane on the
bench through :class:`drivers.bench.Bench`, the way ``hil characterize ifr`` cycles a device
(:mod:`procedures.ifr`): a lane (one neuron's spike train for one sample) starts with a
reverse reset pulse read back (tried again while the MTJ still reads fired); each step sends
a write pulse of the step's density (none for 0) through the 81160A and reads the MTJ with
the 2450; a reading under the firing threshold is a spike, followed by ``eject_pulses``
pulses that push the wall out at the track end and a reset pulse (a failed reset shows at the
next step's read, as in the array backend). The firing threshold of a device is
(1 - ``fire_drop``) x its reading after a reset, measured once. Where the bench wires the
generator's Trigger Out to the read SMU (``wiring.generator_trigger_line``) a lane plays as
pulse trains (:mod:`drivers.pulsetrain`, three bus messages each): a train runs to the next
spike, the next one plays its eject and reset pulses and goes on from the step after it, so a
lane costs about (spikes + 1) trains instead of ~6 round trips per step, with the same
spikes; otherwise pulse by pulse.

Every density of a batch is checked against its device's calibrated safe ceiling before the
first command (:func:`~hil.snn.devices.check_densities`), and each device's against the
ceiling over its measured write path and the drivers' limits before its first pulse; the
drivers check every pulse again. A density
becomes a programmed level through the device's measured line resistance
(:func:`drivers.limits.level_for_current_V`). ``round_trips``, ``bench_time_s`` and ``floor_s``
count from the backend's creation: bus transactions, the bench's projected time (the virtual
clock on a simulated bench) and the physical floor (each step's pulse and read integration,
each fire's eject and reset pulses, each lane's first reset and read).
"""

from __future__ import annotations

import numpy as np

from drivers.limits import level_for_current_V
from drivers.pulsetrain import first_below, overhead_slots, run_train, supports_trains, train_length
from hil.safety import CurrentLimitError
from hil.snn.devices import FLOAT32_MARGIN, IFRParameters, check_densities, max_density_A_m2
from procedures.session import device_facts


class IFRBenchBackend:
    def __init__(self, bench, params: IFRParameters, nplc: float = 0.01, eject_pulses: int = 3,
                 reset_width_s: float = 100e-9, fire_drop: float = 0.25, max_reset_tries: int = 3):
        self.bench = bench
        self.params = params
        self.device_names = list(params.names)
        self.nplc, self.eject_pulses = float(nplc), int(eject_pulses)
        self.reset_width_s, self.fire_drop = float(reset_width_s), float(fire_drop)
        self.max_reset_tries = int(max_reset_tries)
        self._line_ohm: dict[str, float] = {}
        self._threshold_ohm: dict[str, float] = {}
        self._ceiling: dict[str, float] = {}      # over the measured write path
        self._trips0, self._time0 = bench.round_trips, bench.projected_time_s
        self._floor0 = bench.floor_s
        self.read_s = self.nplc / bench.line_frequency_Hz
        self.lanes = self.steps = self.fires = self.reset_failures = 0
        self.trains = supports_trains(bench)
        self._owed: dict[str, list[float]] = {}   # a device's eject + reset after a last-step spike
        self._intervals: dict[str, list[int]] = {}  # a device's steps from reset to spike, seen
        self._overhead_slots = 12.0                # a train's messages, in slot periods
        self.trains_played = 0
        self._width_s = 10e-9                      # the write width of the batch under way

    @property
    def round_trips(self) -> int:
        return self.bench.round_trips - self._trips0

    @property
    def bench_time_s(self) -> float:
        return self.bench.projected_time_s - self._time0

    @property
    def floor_s(self) -> float:
        return self.bench.floor_s - self._floor0

    def index_of(self, names) -> np.ndarray:
        return self.params.index_of(names)

    # ------------------------------------------------------------------ per device
    def _levels(self, name: str) -> tuple[float, float]:
        """(eject level, reset level) of a device: 0.9 and -0.95 x its largest safe level."""
        top = device_facts(self.bench.config, name).max_level_V
        return 0.9 * top, -0.95 * top

    def _read(self, name: str) -> float:
        self.bench.add_floor_s(self.read_s)
        return float(self.bench.read_resistance(name, nplc=self.nplc))

    def _reset_pulse(self, name: str) -> None:
        self.bench.pulse.pulse(self._levels(name)[1], self.reset_width_s)
        self.bench.add_floor_s(self.reset_width_s)

    def prepare(self, name: str) -> None:
        """Line resistance and firing threshold, once per device (two resets, two reads)."""
        if name in self._threshold_ohm:
            return
        self._line_ohm[name] = float(self.bench.line_resistance(name))
        self._ceiling[name] = max_density_A_m2(self.bench.config, name,
                                               self.params.cross_section_m2[self.index_of([name])[0]],
                                               self._line_ohm[name])
        if self.trains:
            readings = list(self._train(name, [self._levels(name)[1]] * 2, self._width_s))
            self.bench.add_floor_s(2 * (self.reset_width_s + self.read_s))
        else:
            readings = []
            for _ in range(2):
                self._reset_pulse(name)
                readings.append(self._read(name))
        self._threshold_ohm[name] = (1.0 - self.fire_drop) * max(readings)

    # ------------------------------------------------------------------ pulse trains
    def _train(self, name: str, levels_V, width_s: float) -> np.ndarray:
        self.trains_played += 1
        result = run_train(self.bench, name, levels_V, width_s, self.reset_width_s,
                           nplc=self.nplc, select=False)
        self._overhead_slots = overhead_slots(result)
        return result.resistance_ohm

    def _play_lane_trains(self, name: str, levels_V: np.ndarray, width_s: float) -> np.ndarray:
        """A lane as pulse trains (:mod:`drivers.pulsetrain`): a train plays the lane's start
        reset (read) and the steps up to where the device's spikes came so far (all of the
        lane's at first), a reading after each; the first step reading under the threshold is
        a spike, and a train that ends before one is continued by the next. The pulses after it met a wall past the MTJ (forward pulses
        push it on toward ejection; on an ejected track they do nothing), so their readings
        are dropped and the next train plays what pulse by pulse follows a spike, the eject
        pulses and the reset, then the steps after the spike. A failed start reset leaves the
        track ejected (the steps' pulses do nothing): the lane is played again from its
        reset, up to ``max_reset_tries``, then starts fired. A lane costs (spikes + 1) trains
        (a spike at the last step leaves its eject and reset to the device's next train);
        spikes, resets and the floor are those of the pulse-by-pulse lane."""
        threshold = self._threshold_ohm[name]
        eject_V, reset_V = self._levels(name)
        steps = len(levels_V)
        spikes = np.zeros(steps, dtype=np.float32)
        seen = self._intervals.setdefault(name, [])
        t, tries, since, started = 0, 0, 0, False    # since: steps played since the last reset
        while t < steps:
            owed = self._owed.pop(name, []) + ([] if started else [reset_V])
            # as long as the device's recent spike intervals make cheapest (steps past a
            # spike against another train); none seen yet: the rest of the lane
            chunk = train_length(seen, since, steps - t, self._overhead_slots)
            readings = self._train(name, owed + list(levels_V[t:t + chunk]), width_s)
            if not started:
                tries += 1
                self.bench.add_floor_s(self.reset_width_s + self.read_s)
                started = readings[len(owed) - 1] >= threshold
                if not started and tries < self.max_reset_tries:
                    continue                  # the steps met an ejected track: again
                if not started:
                    self.reset_failures += 1  # the lane starts fired: its first read says so
                started = True
            fire = first_below(readings[len(owed):], threshold)
            played = t + chunk if fire is None else t + fire + 1
            self.bench.add_floor_s((played - t) * self.read_s
                                   + np.count_nonzero(levels_V[t:played] > 0) * width_s)
            since, t = since + played - t, played
            if fire is None:
                continue                      # no spike yet: the next train goes on from here
            spikes[t - 1] = 1.0
            seen.append(since)
            del seen[:-20]
            since = 0
            self.bench.add_floor_s(self.eject_pulses * width_s + self.reset_width_s)
            self._owed[name] = [eject_V] * self.eject_pulses + [reset_V]
        return spikes

    def _start_lane(self, name: str) -> None:
        for _ in range(self.max_reset_tries):
            self._reset_pulse(name)
            if self._read(name) >= self._threshold_ohm[name]:
                return
        self.reset_failures += 1         # the lane starts fired: its first read says so

    def _play_lane(self, name: str, levels_V: np.ndarray, width_s: float) -> np.ndarray:
        pulse, threshold = self.bench.pulse, self._threshold_ohm[name]
        eject_V = self._levels(name)[0]
        self._start_lane(name)
        spikes = np.zeros(len(levels_V), dtype=np.float32)
        for t, level in enumerate(levels_V):
            if level > 0:
                pulse.pulse(float(level), width_s)
                self.bench.add_floor_s(width_s)
            if self._read(name) < threshold:
                spikes[t] = 1.0
                pulse.pulse(eject_V, width_s, self.eject_pulses)
                self.bench.add_floor_s(self.eject_pulses * width_s)
                self._reset_pulse(name)
        return spikes

    # ------------------------------------------------------------------ the batch
    def run(self, device_index, density_A_m2, width_s: float, period_s: float) -> np.ndarray:
        """Spikes (T, B, N) of the sequences ``density_A_m2`` (T, B, N), played lane by lane,
        device by device (``period_s`` is the array backend's; here the bench sets the time)."""
        idx = np.asarray(device_index, dtype=np.int64)
        density = np.asarray(density_A_m2, dtype=float)
        if density.ndim != 3 or density.shape[2] != len(idx):
            raise ValueError(f"densities must be (steps, batch, {len(idx)}), got {density.shape}")
        check_densities(self.params, idx, density)
        source_ohm = self.bench.config.wiring.source_impedance_ohm
        spikes = np.zeros(density.shape, dtype=np.float32)
        self._width_s = float(width_s)
        for device in dict.fromkeys(idx.tolist()):
            name = self.device_names[device]
            self.bench.select(name)
            self.prepare(name)
            cols = np.flatnonzero(idx == device)
            peak = float(density[:, :, cols].max(initial=0.0))
            if peak > self._ceiling[name] * (1 + FLOAT32_MARGIN):
                raise CurrentLimitError(
                    f"write density {peak:.4g} A/m^2 for device {name!r} exceeds its safe maximum "
                    f"{self._ceiling[name]:.4g} A/m^2 over its measured write path "
                    f"({self._line_ohm[name]:.0f} ohm); no pulse was sent to it")
            current = density[:, :, cols] * self.params.cross_section_m2[device]
            levels = np.where(current > 0, level_for_current_V(current, source_ohm, self._line_ohm[name]), 0.0)
            self.bench.pulse.check(np.append(levels[levels > 0], self._levels(name)[0]), width_s)
            play = self._play_lane_trains if self.trains else self._play_lane
            for b in range(density.shape[1]):
                for k, j in enumerate(cols):
                    spikes[:, b, j] = play(name, levels[:, b, k], width_s)
            if self.trains:
                self.bench.check_instrument_errors(("pulse", "read_smu"))
            self.lanes += density.shape[1] * len(cols)
            self.steps += density.shape[0] * density.shape[1] * len(cols)
        self.fires += int(spikes.sum())
        return spikes

    def describe(self) -> str:
        return f"bench {self.bench.config.name!r} through drivers/VISA (DW-MTJ IFR lanes)"


__all__ = ["IFRBenchBackend"]
