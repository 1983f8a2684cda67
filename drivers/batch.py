"""Batched write-read trials: N trials in O(1) bus round trips, and their result.

A trial is: a reset pulse (puts the device in its reference state), a write pulse of the
trial's amplitude, a read. The batch is planned here, checked against the device's limits as
a whole before anything is written, run through the instruments' own sequencing (see
:func:`run_trials`), retried as a whole on a bus fault, and returned as one
:class:`TrialBatch` in which every trial appears exactly once.

Two calibration trials open every batch: amplitude 0 (reset only: the reset state) and
amplitude ``-reset_V`` (the opposite state). Their readings give the threshold midway
between the two states against which each trial is called switched, and the switched
fraction (0 = reset state, 1 = opposite state), which is what a multi-domain Hall bar
reports after a partial reversal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from drivers.roles import BufferedSourceMeter, WaveformPulseSource


@dataclass
class TrialBatch:
    """The trials of one batch, in order: each amplitude ``repeats`` times, level-major."""

    device: str
    width_s: float
    reset_V: float
    read_current_A: float
    amplitude_V: np.ndarray          # per trial
    resistance_ohm: np.ndarray       # per trial
    trial_id: np.ndarray             # per trial, unique over the bench's lifetime
    reset_state_ohm: float
    set_state_ohm: float
    round_trips: int = 0
    projected_time_s: float = 0.0
    attempts: int = 1
    meta: dict = field(default_factory=dict)

    @property
    def threshold_ohm(self) -> float:
        return 0.5 * (self.reset_state_ohm + self.set_state_ohm)

    @property
    def contrast_ohm(self) -> float:
        return self.set_state_ohm - self.reset_state_ohm

    @property
    def switched(self) -> np.ndarray:
        """True where the reading is on the far side of the threshold from the reset state."""
        if self.contrast_ohm == 0:
            return np.zeros(len(self.resistance_ohm), dtype=bool)
        return (self.resistance_ohm - self.threshold_ohm) * np.sign(self.contrast_ohm) > 0

    @property
    def switched_fraction(self) -> np.ndarray:
        """(R - R_reset) / (R_set - R_reset), clipped to [0, 1] (partial reversal)."""
        if self.contrast_ohm == 0:
            return np.zeros(len(self.resistance_ohm))
        return np.clip((self.resistance_ohm - self.reset_state_ohm) / self.contrast_ohm, 0.0, 1.0)

    def __len__(self) -> int:
        return len(self.amplitude_V)

    def part(self, start: int, stop: int) -> TrialBatch:
        """Trials ``start:stop`` (in order) as a batch of their own, with this batch's
        calibration states and counters (e.g. the sweep points of a batch that also read the
        reference states)."""
        meta = dict(self.meta)
        if meta.get("applied_amplitude_V") is not None:
            meta["applied_amplitude_V"] = np.asarray(meta["applied_amplitude_V"])[start:stop]
        return dataclasses.replace(self, amplitude_V=self.amplitude_V[start:stop],
                                   resistance_ohm=self.resistance_ohm[start:stop],
                                   trial_id=self.trial_id[start:stop], meta=meta)

    def switching_probability(self) -> dict[float, float]:
        """Fraction of switched trials per distinct amplitude."""
        out = {}
        for amplitude in dict.fromkeys(self.amplitude_V.tolist()):
            mask = self.amplitude_V == amplitude
            out[float(amplitude)] = float(self.switched[mask].mean())
        return out

    @property
    def round_trips_per_trial(self) -> float:
        return self.round_trips / max(len(self), 1)


# ---------------------------------------------------------------------------- planning
#: seconds kept free after the write pulse of a trial before its reading starts (trigger
#: latency and jitter of a real bench are well below this)
READ_MARGIN_S = 2e-6
#: seconds between the end of the reset pulse and the write pulse
RESET_GAP_S = 20e-9
#: readings per trigger-model run (the reply of :TRAC:DATA? stays below ~1 MB)
MAX_READINGS_PER_RUN = 50_000
LINE_FREQUENCY_HZ = 50.0


@dataclass(frozen=True)
class TrialTiming:
    """The sample grid of a batch: one trial = ``samples_per_trial`` samples of ``dt``."""

    sample_interval_s: float
    samples_per_trial: int
    reset_samples: int
    gap_samples: int
    measure_s: float
    max_slots_per_cycle: int
    #: one reading as the SMU takes it: the integration plus its per-reading overhead
    reading_s: float = 0.0

    def waveform_levels(self, slots_V, reset_V: float) -> np.ndarray:
        """Per trial slot: lead sample, reset pulse, gap, write pulse, quiet until the read."""
        p = self.samples_per_trial
        out = np.zeros(len(slots_V) * p)
        for j, level in enumerate(slots_V):
            start = j * p + 1
            out[start:start + self.reset_samples] = reset_V
            write = start + self.reset_samples + self.gap_samples
            out[write] = level
        return out


def plan_timing(width_s: float, reset_width_s: float, nplc: float,
                line_frequency_Hz: float = LINE_FREQUENCY_HZ, *, max_points: int,
                max_sample_rate_Hz: float, reading_s: float | None = None) -> TrialTiming:
    """The sample grid for write pulses of ``width_s`` (one sample) and reads of ``nplc``,
    on a generator of ``max_points`` waveform points and ``max_sample_rate_Hz`` (the
    :class:`~drivers.roles.WaveformPulseSource`'s own figures). ``reading_s``: one reading
    as the SMU takes it (integration + overhead; default the integration alone): a trial's
    quiet window covers all of it, or every later read slides off its pulse."""
    from drivers.pulse import samples_for
    dt = float(width_s)
    if not (dt > 0 and dt * max_sample_rate_Hz >= 1.0):   # one sample per write pulse
        raise ValueError(
            f"a write pulse of {dt:g} s is one waveform sample, and the pulse generator plays "
            f"at most {max_sample_rate_Hz:g} Sa/s: use pulses of at least "
            f"{1.0 / max_sample_rate_Hz:g} s. Nothing was sent.")
    measure_s = float(nplc) / line_frequency_Hz
    reading_s = measure_s if reading_s is None else max(float(reading_s), measure_s)
    reset_samples = max(1, int(round(reset_width_s / dt)))
    gap_samples = samples_for(RESET_GAP_S, dt)
    margin_samples = samples_for(READ_MARGIN_S, dt)
    busy = 1 + reset_samples + gap_samples + 1 + margin_samples
    per_trial = samples_for(busy * dt + reading_s, dt)
    slots = max_points // per_trial
    if slots < 1:
        longest = (max_points * dt - busy * dt) * line_frequency_Hz
        raise ValueError(
            f"a trial of {per_trial} samples of {dt:g} s (pulse width) does not fit the "
            f"pulse generator's {max_points}-point memory: lower nplc to <= {max(longest, 0):.3g} or "
            f"use wider pulses. Nothing was sent.")
    return TrialTiming(dt, per_trial, reset_samples, gap_samples, measure_s, slots, reading_s)


def _chunks(n_slots: int, per_cycle: int, repeats: int):
    """(first slot, slot count, cycles) of every trigger-model run."""
    for first in range(0, n_slots, per_cycle):
        count = min(per_cycle, n_slots - first)
        cycles_per_run = max(1, MAX_READINGS_PER_RUN // count)
        done = 0
        while done < repeats:
            cycles = min(cycles_per_run, repeats - done)
            yield first, count, cycles
            done += cycles


# ---------------------------------------------------------------------------- running
def run_trials(bench, device, amplitudes_V, width_s: float, repeats: int = 1,
               reset_V: float | None = None, read_current_A: float | None = None,
               nplc: float = 0.01, reset_width_s: float | None = None) -> TrialBatch:
    """Run a batch on ``bench`` (a :class:`drivers.bench.Bench`); see :meth:`Bench.trials`."""
    from drivers.limits import (
        HIGH_Z_LOAD_OHM,
        check_compliance_V,
        check_pulse,
        check_pulses,
        check_read_current,
    )

    dev = bench.config.device(device)
    limits = bench.config.limits_for(dev)
    if not bench.config.wiring.trigger_link:
        raise ValueError(
            f"{bench.config.source}: batched trials need the read SMU's trigger out wired to the "
            "pulse generator's trigger input ([wiring] trigger_link = true); without it use "
            "bench.trial (one trial at a time). Nothing was sent.")
    amplitudes = np.asarray(amplitudes_V, dtype=float).ravel()
    repeats = int(repeats)
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if amplitudes.size == 0:
        raise ValueError("amplitudes_V is empty: give at least one write amplitude")
    reset_V = bench.default_reset_V(dev) if reset_V is None else float(reset_V)
    if reset_V == 0:
        raise ValueError("reset_V must not be 0: the reset pulse sets the reference state")
    read_current_A = bench.default_read_current_A(dev) if read_current_A is None \
        else float(read_current_A)
    if not read_current_A or not np.isfinite(read_current_A):
        raise ValueError(f"read_current_A must be a non-zero current, got {read_current_A!r}; "
                         "nothing was sent")
    if reset_width_s is None:        # our default stays inside the limit; a request is checked
        reset_width_s = min(max(float(width_s), 20e-9), limits.max_pulse_width_s)
    reset_width_s = float(reset_width_s)
    compliance_V = limits.max_compliance_V

    # -------- everything is checked before the first write
    pulse = bench.role_for_step("pulse", WaveformPulseSource)
    read = bench.role_for_step("read_smu", BufferedSourceMeter)
    slots = np.concatenate(([0.0, -reset_V], amplitudes))
    check_pulses(np.concatenate(([reset_V], slots)), width_s, limits,
                 bench.config.wiring.source_impedance_ohm, HIGH_Z_LOAD_OHM, dev.name)
    check_pulse(reset_V, reset_width_s, limits, bench.config.wiring.source_impedance_ohm,
                HIGH_Z_LOAD_OHM, dev.name)
    reading_time = getattr(read, "reading_time_s", None)
    timing = plan_timing(width_s, reset_width_s, nplc, bench.line_frequency_Hz,
                         max_points=pulse.max_waveform_points,
                         max_sample_rate_Hz=pulse.max_sample_rate_Hz,
                         reading_s=None if reading_time is None
                         else reading_time(nplc, bench.line_frequency_Hz))
    floor_s = physical_floor_s(amplitudes.size * repeats, timing.measure_s, width_s,
                               reset_width_s)
    # the SMU's own floor: trials x one reading as it takes it (integration + overhead)
    reading_floor_s = float(amplitudes.size * repeats) * timing.reading_s
    if _level_runs_fit(pulse, read, amplitudes, reset_V, repeats):
        check_read_current(read_current_A, limits, dev.name)
        check_compliance_V(compliance_V, limits, dev.name)
        batch = _run_levels(bench, dev, limits, pulse, read, amplitudes, repeats, width_s,
                            reset_V, reset_width_s, read_current_A, compliance_V, nplc,
                            timing, floor_s)
        batch.meta["reading_floor_s"] = reading_floor_s
        return batch
    runs = list(_chunks(len(slots), timing.max_slots_per_cycle, repeats))
    waveforms = {}
    for first, count, _ in runs:
        if first not in waveforms:
            wave = pulse.build_waveform(
                timing.waveform_levels(slots[first:first + count], reset_V), width_s)
            pulse.check_waveform(wave, limits, dev.name)   # the device about to be selected
            waveforms[first] = wave
    check_read_current(read_current_A, limits, dev.name)
    check_compliance_V(compliance_V, limits, dev.name)

    # -------- the step that is retried whole
    start_round_trips, start_time = bench.round_trips, bench.projected_time_s
    attempts = 0

    def step() -> np.ndarray:
        nonlocal attempts
        attempts += 1
        readings = np.full((len(slots), repeats), np.nan)
        filled = np.zeros(len(slots), dtype=int)
        bench.select_for_step(dev)
        read.source_current(read_current_A, compliance_V, nplc)
        read.enable()
        read.set_buffer_capacity(min(max(count * cycles for _, count, cycles in runs),
                                     read.max_buffer_points))
        loaded = None
        for first, count, cycles in runs:
            wave = waveforms[first]
            n = count * cycles
            if loaded != (first, cycles):
                pulse.load_waveform(wave, cycles)
                pulse.sync()
                loaded = (first, cycles)
            trial_period_s = timing.samples_per_trial * wave.sample_interval_s
            delay_s = trial_period_s - timing.reading_s
            values = read.run_buffered(n, delay_s, timeout_s=n * trial_period_s,
                                       on_garbled=bench.count_garbled_retry)
            block = np.asarray(values, dtype=float).reshape(cycles, count).T
            for j in range(count):
                slot = first + j
                readings[slot, filled[slot]:filled[slot] + cycles] = block[j]
                filled[slot] += cycles
        bench.check_instrument_errors(("pulse", "read_smu", "switch"))
        return readings

    readings = bench.retry.run(step, bench.recover, f"trial batch on {dev.name}")
    resistance = readings / read_current_A
    reset_state = float(np.median(resistance[0]))
    set_state = float(np.median(resistance[1]))
    ids = bench.reserve_trial_ids(amplitudes.size * repeats)
    # per slot, the write level as the generator plays it (after the DAC quantization)
    applied = []
    p = timing.samples_per_trial
    write_offset = 1 + timing.reset_samples + timing.gap_samples
    for wave in waveforms.values():
        levels = wave.levels_V
        applied.extend(levels[write_offset::p].tolist())
    applied = np.asarray(applied)
    bench.add_floor_s(floor_s)
    return TrialBatch(
        device=dev.name, width_s=float(width_s), reset_V=reset_V, read_current_A=read_current_A,
        amplitude_V=np.repeat(amplitudes, repeats),
        resistance_ohm=resistance[2:].ravel(),
        trial_id=ids, reset_state_ohm=reset_state, set_state_ohm=set_state,
        round_trips=bench.round_trips - start_round_trips,
        projected_time_s=bench.projected_time_s - start_time, attempts=attempts,
        meta={"applied_amplitude_V": np.repeat(applied[2:], repeats),
              "calibration_resistance_ohm": resistance[:2],
              "sample_interval_s": waveforms[0].sample_interval_s,
              "trial_period_s": timing.samples_per_trial * waveforms[0].sample_interval_s,
              "runs": len(runs), "nplc": nplc, "reset_width_s": reset_width_s,
              "plan": "slots", "floor_s": floor_s, "reading_floor_s": reading_floor_s})


# ---------------------------------------------------------------------------- level runs
def physical_floor_s(trials: int, measure_s: float, width_s: float,
                     reset_width_s: float) -> float:
    """A batch's physical floor: per trial the read integration plus its two pulses."""
    return float(trials) * (float(measure_s) + float(width_s) + float(reset_width_s))


def _level_runs_fit(pulse, read, amplitudes: np.ndarray, reset_V: float, repeats: int) -> bool:
    """Whether the batch can run as level runs (see :func:`_run_levels`): the generator adds
    its second channel at the write line, the SMU appends runs to its buffer, every level
    is 0 or within the generator's level range, the reset is negative (writes positive), and
    the whole batch fits one buffer."""
    if not (getattr(pulse, "supports_level_runs", False) and hasattr(read, "run_appended")):
        return False
    if not (reset_V < 0 and np.all(np.isfinite(amplitudes)) and np.all(amplitudes >= 0)):
        return False
    small = (amplitudes > 0) & (amplitudes < pulse.min_write_level_V)
    total = (amplitudes.size + 2) * repeats
    return not small.any() and total <= read.max_buffer_points


def level_histogram(amplitudes_V, repeats: int, reset_V: float):
    """The batch as a histogram: distinct levels (ascending), trials per level, and per
    trial (the two calibration rows of ``repeats`` first, then each amplitude ``repeats``
    times) its index in the readings, which come level by level (trials at one level are
    exchangeable: they take that level's readings in order)."""
    rows = np.concatenate(([0.0, -float(reset_V)], np.asarray(amplitudes_V, dtype=float)))
    levels, level_of_row = np.unique(rows, return_inverse=True)
    level_of_trial = np.repeat(level_of_row, int(repeats))
    counts = np.bincount(level_of_trial, minlength=len(levels))
    reading = np.empty(len(level_of_trial), dtype=np.int64)
    reading[np.argsort(level_of_trial, kind="stable")] = np.arange(len(level_of_trial))
    return levels, counts, reading


def _run_levels(bench, dev, limits, pulse, read, amplitudes, repeats, width_s, reset_V,
                reset_width_s, read_current_A, compliance_V, nplc, timing, floor_s):
    """The batch as level runs: one trial-long waveform pair stays loaded in the generator
    (channel 1 the reset, channel 2 the write pulse, added at the write line); per distinct
    level one query arms it (``:VOLT2``, trigger count = its trials) and one SMU query runs
    that many readings and fetches them in the same message. Bus cost: two round trips per
    distinct level, whatever the trials; no waveform upload per batch. Each level run is
    retried on its own after a fault. (The generator steps levels only between triggered runs: its memory holds
    ``max_waveform_points`` // ``samples_per_trial`` trials, 12 at 10 ns and NPLC 0.01.)"""
    levels, counts, reading = level_histogram(amplitudes, repeats, reset_V)
    reset_wave = pulse.build_waveform(timing.waveform_levels([0.0], reset_V), width_s)
    write_levels = np.zeros(timing.samples_per_trial)
    write_levels[1 + timing.reset_samples + timing.gap_samples] = 1.0
    write_wave = pulse.build_waveform(write_levels, width_s)
    # -------- everything is checked before the first write
    pulse.check_waveform(reset_wave, limits, dev.name)
    played = np.asarray([pulse.check_level(level, width_s, limits, dev.name)
                         for level in levels])
    trial_period_s = timing.samples_per_trial * reset_wave.sample_interval_s
    delay_s = trial_period_s - timing.reading_s
    line = bench.config.wiring.generator_trigger_line
    if line and hasattr(pulse, "play_levels") and hasattr(read, "start_logic_trigger"):
        return _run_sequenced(bench, dev, pulse, read, amplitudes, repeats, width_s, reset_V,
                              reset_width_s, read_current_A, compliance_V, nplc, timing,
                              floor_s, levels, counts, reading, played, reset_wave,
                              write_wave, trial_period_s, line)
    start_round_trips, start_time = bench.round_trips, bench.projected_time_s
    attempts = 0
    setup = True          # the first run, and every retry: select, source, waveform pair

    def run(level: float, count: int) -> list[float]:
        """One level run, retried on its own (each trial starts with its reset pulse, and
        its readings come back in the same query: nothing of a failed run is kept)."""
        nonlocal attempts, setup
        attempts += 1
        if setup:
            bench.select_for_step(dev)
            read.source_current(read_current_A, compliance_V, nplc)
            read.enable()
            read.set_buffer_capacity(int(counts.max()))
            pulse.load_level_pair(reset_wave, write_wave)
        setup = True
        pulse.arm_level(level, count, width_s)
        values = read.run_appended(count, delay_s, timeout_s=count * trial_period_s,
                                   clear=True, fetch=count,
                                   on_garbled=bench.count_garbled_retry)
        setup = False
        return values

    values = np.concatenate([
        bench.retry.run(lambda lv=level, n=int(count): run(lv, n), bench.recover,
                        f"trial batch on {dev.name}, level {level:g} V")
        for level, count in zip(levels, counts)])
    bench.retry.run(lambda: bench.check_instrument_errors(("pulse", "read_smu", "switch")),
                    bench.recover, f"trial batch on {dev.name}: error queues")
    return _level_batch(bench, dev, values, reading, amplitudes, repeats, levels, played,
                        width_s, reset_V, reset_width_s, read_current_A, nplc, floor_s,
                        reset_wave.sample_interval_s, trial_period_s, start_round_trips,
                        start_time, attempts=1 + attempts - len(levels),   # 1 + the runs retried
                        runs=len(levels), plan="levels")


def _run_sequenced(bench, dev, pulse, read, amplitudes, repeats, width_s, reset_V,
                   reset_width_s, read_current_A, compliance_V, nplc, timing, floor_s, levels,
                   counts, reading, played, reset_wave, write_wave, trial_period_s, line):
    """The level runs with the generator as master (``wiring.generator_trigger_line``): the
    SMU starts one ``LogicTrigger`` model for the whole batch (a reading per edge of the
    generator's Trigger Out, ``delay`` after it: past the write pulse and the read margin),
    one generator message plays every level (``:VOLT2`` + trigger counts, ``*TRG;*WAI``), one
    query fetches the readings. Bus cost: three messages whatever the levels and trials (plus
    selecting the device, the error queues, and settings that changed). Retried whole."""
    total = int(counts.sum())
    delay_s = (1 + timing.reset_samples + timing.gap_samples + 1) * timing.sample_interval_s \
        + READ_MARGIN_S
    if delay_s + timing.reading_s > trial_period_s * (1 + 1e-9):
        raise ValueError(f"a reading {delay_s:g} s after the trial's start ends after the "
                         f"trial's {trial_period_s:g} s period; nothing was sent")
    start_round_trips, start_time = bench.round_trips, bench.projected_time_s
    attempts = 0

    def step() -> np.ndarray:
        nonlocal attempts
        attempts += 1
        bench.select_for_step(dev)
        read.source_current(read_current_A, compliance_V, nplc)
        read.enable()
        read.set_buffer_capacity(total)
        pulse.load_level_pair(reset_wave, write_wave, "MAN")
        read.start_logic_trigger(total, delay_s, line)
        pulse.play_levels(levels, counts, width_s)
        values = read.fetch_logic_trigger(total, timeout_s=total * trial_period_s,
                                          on_garbled=bench.count_garbled_retry)
        bench.check_instrument_errors(("pulse", "read_smu", "switch"))
        return np.asarray(values, dtype=float)

    values = bench.retry.run(step, bench.recover, f"trial batch on {dev.name}")
    return _level_batch(bench, dev, values, reading, amplitudes, repeats, levels, played,
                        width_s, reset_V, reset_width_s, read_current_A, nplc, floor_s,
                        reset_wave.sample_interval_s, trial_period_s, start_round_trips,
                        start_time, attempts=attempts, runs=1, plan="sequenced")


def _level_batch(bench, dev, values, reading, amplitudes, repeats, levels, played, width_s,
                 reset_V, reset_width_s, read_current_A, nplc, floor_s, sample_interval_s,
                 trial_period_s, start_round_trips, start_time, attempts, runs, plan):
    """The :class:`TrialBatch` of a level plan's readings (``values`` in the order played:
    the two calibration levels' trials first, then each level's; ``reading`` maps them back
    to the trials' order)."""
    resistance = values[reading] / read_current_A
    calibration = resistance[:2 * repeats].reshape(2, repeats)
    ids = bench.reserve_trial_ids(amplitudes.size * repeats)
    level_index = np.searchsorted(levels, np.repeat(amplitudes, repeats))
    bench.add_floor_s(floor_s)
    return TrialBatch(
        device=dev.name, width_s=float(width_s), reset_V=reset_V, read_current_A=read_current_A,
        amplitude_V=np.repeat(amplitudes, repeats), resistance_ohm=resistance[2 * repeats:],
        trial_id=ids, reset_state_ohm=float(np.median(calibration[0])),
        set_state_ohm=float(np.median(calibration[1])),
        round_trips=bench.round_trips - start_round_trips,
        projected_time_s=bench.projected_time_s - start_time, attempts=attempts,
        meta={"applied_amplitude_V": played[level_index],
              "calibration_resistance_ohm": calibration,
              "sample_interval_s": sample_interval_s,
              "trial_period_s": trial_period_s, "runs": runs, "nplc": nplc,
              "reset_width_s": reset_width_s, "plan": plan,
              "distinct_levels": int(np.count_nonzero(np.isin(levels, amplitudes))),
              "floor_s": floor_s})
