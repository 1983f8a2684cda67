"""Pulse trains read after every pulse: many write / reset / read-only slots, one fetch.

An integrate-fire-reset neuron is read after each write pulse (the reading tells when it
fired). Pulse by pulse that costs a generator exchange and an SMU query per pulse; here a
*train* of slots plays from one generator message with a reading per slot in the SMU's
buffer, fetched once:

- the generator is the master (``wiring.generator_trigger_line``): channel 1 plays a quiet
  slot per trigger, its Trigger Out starts one reading of the 2450's ``LogicTrigger`` model
  (``delay`` after the edge: past the slot's pulse and the read margin); channel 2, added at
  output 1, carries the slot's pulse (:meth:`~drivers.pulse.Keysight81160APulseSource.play_train`);
- a slot is a write pulse (level > 0, ``width_s``), a reset pulse (level < 0,
  ``reset_width_s``) or read-only (level 0); runs of equal slots are one trigger count;
- one slot lasts the read window: the pulses, the read margin and one reading as the SMU
  takes it (:func:`drivers.batch.plan_timing`: 0.37 ms at NPLC 0.01, 50 Hz).

Bus cost of a train: three messages whatever its length: start the SMU's model (a query, so
that it is armed before the generator plays: writes to two instruments on a LAN are not
ordered), play, fetch.
Nothing is decided inside a train: the caller reads where the neuron fired and plans the next
train (what the pulses after a fire did is the device's physics: forward pulses push the wall
on and eject it). Every level is checked against the device's limits, as the generator will
play it, before the first command. A fault retries the train whole (after the bench's
recovery, which turns the output off); a train that starts with a reset replays from the
same state, one that does not replays on the state the fault left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivers.batch import READ_MARGIN_S, TrialTiming, plan_timing
from drivers.roles import BufferedSourceMeter, WaveformPulseSource

#: readings the SMU's buffer is sized for once (written again only for a longer train)
BUFFER_POINTS = 4096
#: what a train's three messages cost beyond its slots on a GPIB / LAN bench (two queries, a
#: write, the readings' bytes; 4.5 ms measured on the simulated bench's bus figures)
TRAIN_OVERHEAD_S = 4.5e-3


@dataclass(frozen=True)
class TrainResult:
    """One train's readings (ohm, one per slot, in order) and its bus cost."""

    resistance_ohm: np.ndarray
    round_trips: int
    projected_time_s: float
    slot_period_s: float
    attempts: int


def supports_trains(bench) -> bool:
    """Whether ``bench`` can play trains: the generator's Trigger Out wired to the read SMU
    and roles that offer the train and LogicTrigger commands."""
    if not bench.config.wiring.generator_trigger_line:
        return False
    pulse, read = bench.role_for_step("pulse"), bench.role_for_step("read_smu")
    return (getattr(pulse, "supports_level_runs", False) and hasattr(pulse, "play_train")
            and hasattr(read, "start_logic_trigger"))


def runs_of(levels_V) -> list[tuple[float, int]]:
    """``(level, count)`` of every run of equal consecutive slot levels."""
    levels = np.asarray(levels_V, dtype=float).ravel()
    if levels.size == 0:
        return []
    edges = np.flatnonzero(np.diff(levels)) + 1
    starts = np.concatenate(([0], edges))
    counts = np.diff(np.concatenate((starts, [levels.size])))
    return [(float(levels[s]), int(c)) for s, c in zip(starts, counts)]


def train_timing(bench, pulse, read, width_s: float, reset_width_s: float,
                 nplc: float) -> TrialTiming:
    reading_time = getattr(read, "reading_time_s", None)
    return plan_timing(width_s, reset_width_s, nplc, bench.line_frequency_Hz,
                       max_points=pulse.max_waveform_points,
                       max_sample_rate_Hz=pulse.max_sample_rate_Hz,
                       reading_s=None if reading_time is None
                       else reading_time(nplc, bench.line_frequency_Hz))


def _slots(pulse, timing: TrialTiming, width_s: float):
    """(write, reset) slot waveforms: the reset pulse first, the write pulse after the reset
    gap, at full DAC scale (the levels are ``:VOLT2``)."""
    reset = pulse.build_waveform(timing.waveform_levels([0.0], -1.0), width_s)
    write = np.zeros(timing.samples_per_trial)
    write[1 + timing.reset_samples + timing.gap_samples] = 1.0
    return pulse.build_waveform(write, width_s), reset


def run_train(bench, device, levels_V, width_s: float, reset_width_s: float,
              nplc: float = 0.01, read_current_A: float | None = None,
              select: bool = True) -> TrainResult:
    """Play ``levels_V`` (one slot each: > 0 write, < 0 reset, 0 read-only) on ``device``
    with a reading after each slot; one fetch. ``select``: connect the device first (False
    when the caller has it selected; a retry always selects)."""
    from drivers.limits import check_compliance_V, check_read_current

    dev = bench.config.device(device)
    limits = bench.config.limits_for(dev)
    if not bench.config.wiring.generator_trigger_line:
        raise ValueError(f"{bench.config.source}: pulse trains need the pulse generator's "
                         "Trigger Out wired to the read SMU ([wiring] generator_trigger_line); "
                         "nothing was sent")
    levels = np.asarray(levels_V, dtype=float).ravel()
    if levels.size == 0 or not np.all(np.isfinite(levels)):
        raise ValueError(f"a train needs finite slot levels, got {levels[:4]}; nothing was sent")
    read_current_A = bench.default_read_current_A(dev) if read_current_A is None \
        else float(read_current_A)
    compliance_V = limits.max_compliance_V
    pulse = bench.role_for_step("pulse", WaveformPulseSource)
    read = bench.role_for_step("read_smu", BufferedSourceMeter)
    # -------- everything is checked before the first command, widths as the slots play them
    timing = train_timing(bench, pulse, read, width_s, reset_width_s, nplc)
    write, reset = _slots(pulse, timing, width_s)
    played_width = max(float(width_s), write.sample_interval_s)
    played_reset = max(float(reset_width_s), timing.reset_samples * write.sample_interval_s)
    runs = runs_of(levels)
    for level in sorted({level for level, _ in runs}):
        pulse.check_train_level(level, played_reset if level < 0 else played_width, limits,
                                dev.name)
    check_read_current(read_current_A, limits, dev.name)
    check_compliance_V(compliance_V, limits, dev.name)
    period_s = timing.samples_per_trial * write.sample_interval_s
    delay_s = (1 + timing.reset_samples + timing.gap_samples + 1) * timing.sample_interval_s \
        + READ_MARGIN_S
    if delay_s + timing.reading_s > period_s * (1 + 1e-9):
        raise ValueError(f"a reading {delay_s:g} s into a slot ends after its {period_s:g} s; "
                         "nothing was sent")
    total = int(levels.size)
    start_round_trips, start_time = bench.round_trips, bench.projected_time_s
    attempts = 0

    def step() -> np.ndarray:
        nonlocal attempts
        attempts += 1
        if select or attempts > 1:
            bench.select_for_step(dev)
        read.source_current(read_current_A, compliance_V, nplc)
        read.enable()
        read.set_buffer_capacity(max(total, BUFFER_POINTS))
        pulse.load_train(write, reset)
        read.start_logic_trigger(total, delay_s, bench.config.wiring.generator_trigger_line,
                                 confirm=True)
        pulse.play_train(runs, played_width, played_reset)
        values = read.fetch_logic_trigger(total, timeout_s=total * period_s,
                                          on_garbled=bench.count_garbled_retry)
        return np.asarray(values, dtype=float)

    values = bench.retry.run(step, bench.recover, f"pulse train on {dev.name}")
    return TrainResult(values / read_current_A, bench.round_trips - start_round_trips,
                       bench.projected_time_s - start_time, period_s, attempts)


def train_length(seen, done: int, left: int, overhead_slots: float, free: int = 0,
                 default: int | None = None) -> int:
    """Slots for the next train of a neuron that has had ``done`` pulses since its reset,
    ``left`` more at most, from the pulses to fire ``seen`` on it before: the length that
    minimizes the slots expected past the fire (less ``free``: slots after a fire that are
    needed anyway, e.g. eject pulses) plus a train's own cost (``overhead_slots``, its
    three messages in slot periods) times the chance that the fire comes later and needs
    another train. ``default`` (None: ``left``) with nothing seen yet."""
    left = int(left)
    if left <= 1:
        return max(left, 1)
    ahead = np.asarray(seen, dtype=float) - done
    ahead = ahead[ahead > 0]
    if ahead.size == 0:
        return left if default is None else max(1, min(left, int(default)))
    lengths = np.arange(1, left + 1)
    past = np.clip(lengths[:, None] - ahead[None, :] - free, 0, None).mean(axis=1)
    later = (ahead[None, :] > lengths[:, None]).mean(axis=1)
    later[-1] = 0.0                     # the last slot allowed: no train after it
    return int(lengths[np.argmin(past + overhead_slots * later)])


def overhead_slots(result: TrainResult) -> float:
    """A train's own bus cost (:data:`TRAIN_OVERHEAD_S`) in slot periods of ``result``. A
    constant, not the time measured: over a real bus that is wall time, and plans that
    depend on it would not replay alike."""
    return TRAIN_OVERHEAD_S / result.slot_period_s


def first_below(readings_ohm, threshold_ohm: float) -> int | None:
    """Index of the first reading under ``threshold_ohm`` (the neuron fired), else None."""
    below = np.flatnonzero(np.asarray(readings_ohm) < threshold_ohm)
    return int(below[0]) if below.size else None


__all__ = ["BUFFER_POINTS", "TRAIN_OVERHEAD_S", "TrainResult", "first_below", "overhead_slots", "run_train",
           "runs_of", "supports_trains", "train_length", "train_timing"]
