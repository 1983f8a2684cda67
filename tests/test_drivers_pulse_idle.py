"""The 81160A's idle level stays 0 V across every switch between its two modes.

A batch leaves the pulse channel in the ``USER`` shape with offset 0 and amplitude
``2 * full_scale_V`` (so ``VOLT:LOW = -full_scale_V``) and the output on. In the ``PULS`` shape
the idle level between pulses is ``VOLT:LOW`` (``NORM``) or ``VOLT:HIGH`` (``INV``): a
``:FUNC1 PULS`` with the output still on would hold ``-full_scale_V`` on the device line as
DC until ``:VOLT1:LOW 0`` arrives (not bounded by any pulse width, not checked by any limit).
These tests watch the simulated 81160A after every message it receives (through its public
state: ``idle_level_V`` and the channel's settings) while batches, single pulses and naive
trials follow each other in any order.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.bench import Bench
from devices.benchfile import load_bench_file
from drivers.limits import max_pulse_level_V
from simulated_bench.visa import SimulatedVisaLibrary

CONFIG = load_bench_file()
PULSE = CONFIG.address_of("pulse")
CHANNEL = CONFIG.wiring.pulse_channel
R_SOURCE = CONFIG.wiring.source_impedance_ohm

#: messages that change the shape, the polarity, the load or the waveform's levels / data:
#: they must reach the generator with its output off (pulse-mode VOLT:HIGH / VOLT:LOW with
#: the shape and polarity unchanged keep the idle level at 0 V, which the idle check covers)
OUTPUT_OFF_ONLY = (":FUNC", ":OUTP1:POL", ":OUTP1:LOAD", ":DATA1:DAC", ":VOLT1 ",
                   ":VOLT1:OFFS", ":FREQ1")


class IdleWatch:
    """Wraps the simulated generator's ``handle``: after each message, the wired channel's
    idle level while its output is on, and the messages that arrived with the output on."""

    def __init__(self, generator):
        self.generator = generator
        self.violations: list[tuple[str, str, float]] = []
        self.messages_with_output_on: list[str] = []
        self.idle_checks = 0
        inner = generator.handle

        def handle(message):
            channel = generator.channels[CHANNEL]
            text = message if isinstance(message, str) else bytes(message).decode("latin-1")
            was_on = channel.output
            reply = inner(message)
            self._after(text, was_on and channel.output)
            return reply

        generator.handle = handle

    def _after(self, message: str, stayed_on: bool) -> None:
        channel = self.generator.channels[CHANNEL]
        if stayed_on:
            self.messages_with_output_on.append(message)
        if not channel.output:
            return
        self.idle_checks += 1
        idle = self.generator.idle_level_V(channel)
        if abs(idle) > 1e-12:
            self.violations.append((message[:60], channel.shape, idle))
        # USER: between triggers the output sits at the level of the waveform's zero samples
        # (the simulator reports 0 for arbitrary shapes; this is what a zero sample plays)
        if channel.shape == "USER" and abs(channel.offset_V) > 1e-12:
            self.violations.append((message[:60], "USER offset", channel.offset_V))

    def changes_with_output_on(self) -> list[str]:
        return [m[:60] for m in self.messages_with_output_on
                for unit in m.split(";")
                if unit.strip().upper().startswith(OUTPUT_OFF_ONLY)]


@pytest.fixture
def bench_and_watch():
    lib = SimulatedVisaLibrary()
    watch = IdleWatch(lib.bench.instruments[PULSE])
    with Bench.open(visa_library=lib) as bench:
        bench.field.set_field(0.02)
        yield bench, watch, lib.bench
    assert lib.bench.damaged_devices() == []


def top_V(device: str) -> float:
    return max_pulse_level_V(CONFIG.limits_for(device), R_SOURCE)


def run(bench, op, selected: list) -> None:
    """One operation; ``selected`` holds the device the matrix connects (a new selection
    disarms the generator, which would hide a mode switch with the output on: a single
    pulse re-selects only when the device changes)."""
    kind, device, factor = op
    level = factor * top_V(device)
    if kind == "batch":
        bench.trials(device, [level, -level / 2], 20e-9, 2)
    elif kind == "pulse":                      # a single pulse on the connected device
        if selected != [device]:
            bench.select(device)
        bench.pulse.pulse(level, 20e-9)
    else:                                      # the naive path: reset pulse, write pulse, read
        bench.trial(device, level, 20e-9)
    selected[:] = [device]


def assert_idle_zero(watch: IdleWatch, where) -> None:
    assert watch.violations == [], f"non-zero idle level with the output on after {where}"
    assert watch.changes_with_output_on() == [], f"level/shape change with the output on ({where})"


def test_reported_sequence_batch_then_pulse(bench_and_watch):
    """The reviewer's reproduction: a batch, then a positive single pulse."""
    bench, watch, sim = bench_and_watch
    bench.trials("S0", [0.3], 20e-9, 2)
    assert_idle_zero(watch, "the batch")
    bench.pulse.pulse(0.3, 20e-9)
    assert_idle_zero(watch, "the pulse after the batch")
    assert watch.idle_checks > 0                      # the output was on and watched
    assert sim.instruments[PULSE].channels[CHANNEL].shape == "PULS"


@pytest.mark.parametrize("device", ["S0", "M1", "L1"])
@pytest.mark.parametrize("sign", [1, -1])
def test_batch_pulse_batch_trial(bench_and_watch, device, sign):
    bench, watch, _ = bench_and_watch
    selected = []
    for step, op in enumerate([("batch", device, 0.5), ("pulse", device, sign * 0.6),
                               ("batch", device, 0.7), ("trial", device, sign * 0.4),
                               ("batch", device, 0.3), ("pulse", device, -sign * 0.5)]):
        run(bench, op, selected)
        assert_idle_zero(watch, f"step {step} {op}")
    assert watch.idle_checks > 0


def test_small_pulses_use_a_waveform_and_keep_the_idle_level(bench_and_watch):
    """Below pulse mode's smallest level the single pulse is a one-pulse USER waveform (armed
    MAN): PULS -> USER -> PULS -> batch, each switch with the output off."""
    bench, watch, _ = bench_and_watch
    bench.select("S0")
    small = bench.pulse.min_pulse_level_V / 2
    for level in (0.3, small, -0.3, -small, small, 0.2):
        bench.pulse.pulse(level, 20e-9)
        assert_idle_zero(watch, f"pulse {level:g}")
    bench.trials("S0", [0.3, small], 20e-9, 2)
    bench.pulse.pulse(0.25, 20e-9)
    bench.trial("S0", small, 20e-9)
    assert_idle_zero(watch, "batch, pulse, small trial")


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(st.tuples(st.sampled_from(["batch", "pulse", "trial"]),
                              st.sampled_from(["S0", "M1", "L1"]),
                              st.sampled_from([-0.9, -0.4, -0.05, 0.05, 0.3, 0.9])),
                    min_size=2, max_size=6))
def test_any_sequence_keeps_the_idle_level_at_zero(ops):
    lib = SimulatedVisaLibrary()
    watch = IdleWatch(lib.bench.instruments[PULSE])
    with Bench.open(visa_library=lib) as bench:
        bench.field.set_field(0.02)
        selected = []
        for step, op in enumerate(ops):
            run(bench, op, selected)
            assert_idle_zero(watch, f"step {step} {op} of {ops}")
    assert watch.violations == []
    assert lib.bench.damaged_devices() == []


def test_a_pulse_after_a_small_pulse_plays_its_own_width(bench_and_watch):
    """A small pulse is a USER waveform whose ``:FREQ`` also sets pulse mode's period (and so
    may change its width): the next pulse-mode pulse must write its period and width again,
    not trust what it wrote before the waveform (it played 10 ns where 100 ns was asked)."""
    bench, _, sim = bench_and_watch
    bench.select("S0")
    generator = sim.instruments[PULSE]
    small = bench.pulse.min_pulse_level_V / 2
    for level, width in [(small, 10e-9), (0.3, 100e-9), (small, 10e-9), (0.3, 100e-9),
                         (-0.3, 100e-9)]:
        bench.pulse.pulse(level, width)
        assert generator.fired[-1][2] == pytest.approx(width), (level, width)


@pytest.mark.parametrize("device", ["S0", "M1", "L1"])
def test_the_largest_allowed_level_can_be_played(bench_and_watch, device):
    """max_pulse_level_V is what the limits allow; the generator's 1 uV number format must not
    round it over them (it was refused: '2e+11 is over 2e+11')."""
    bench, _, sim = bench_and_watch
    bench.trial(device, top_V(device), 20e-9)
    emf = sim.instruments[PULSE].fired[-1][1]
    assert abs(emf) <= CONFIG.limits_for(device).max_pulse_voltage_V
