"""Synapse and neuron arrays over an open bench: program conductances by pulse trains, read
them, play a neuron's input currents and read its output, counting the bench's cost.

.. code-block:: python

    from procedures.session import open_bench
    from drivers.synapse import NeuronArray, SynapseArray

    with open_bench("examples/benches/ferrimagnet_synapses.toml") as bench:
        synapses = SynapseArray(bench)                  # every synapse device of the bench
        synapses.program("F0", 10, +1)                  # 10 potentiating nominal pulses, one burst
        synapses.program_many([("F1", 3, -1), ("F2", 5, +1)])
        g_S = synapses.read_conductance(["F0", "F1"])   # siemens
        print(synapses.round_trips, synapses.projected_bench_time_s, synapses.floor_s)

- **Programming pulse.** A device's nominal pulse is its kind's design pulse in the bench file
  (``write_density_A_m2``, ``write_width_s``: :func:`devices.kinds.ferrimagnet_synapse.programming`):
  the level is the one that drives that density through the device's write line,
  ``EMF = J_nom x line_cross_section_m2 x (R_source + R_line)``, with R_line measured once per
  device (two-terminal, voltage-sourced: :meth:`drivers.bench.Bench.line_resistance`).
  ``amplitude`` (V, a magnitude; the sign is ``polarity``) and ``width_s`` override it.
- **Safety first.** Every level and width is checked against the device's safety limits as
  the generator will play it (:meth:`drivers.pulse.Keysight81160APulseSource.plan_pulse`)
  before the matrix moves or a pulse is armed; :meth:`SynapseArray.program_many` checks the
  whole list before it sends anything.
- **Batched.** ``pulses`` pulses of one device go out as one burst (the generator's trigger
  count): O(1) round trips per call, whatever the count.
- **Cost.** ``round_trips`` and ``projected_bench_time_s`` are the bench's; ``floor_s`` is the
  physical floor of what this array did: every pulse's width plus every read's integration
  (NPLC / line frequency), as :func:`drivers.batch.physical_floor_s` counts it.

Readings: a synapse's read SMU measures the junction, G = 1 / R (siemens); a neuron's measures
the Hall cross, R_xy (ohm), after each input pulse (:class:`NeuronArray`).
"""

from __future__ import annotations

import importlib
import math
from typing import Iterable, Sequence

import numpy as np

from devices import kinds
from drivers.limits import level_for_current_V

#: the network elements each array drives (devices.kinds.DeviceKind.element)
SYNAPSE_ELEMENTS = ("analog_synapse", "quantized_synapse")
NEURON_ELEMENTS = ("celu_neuron",)


class ProgrammingError(ValueError):
    """A programming or transfer request that cannot run (wrong device, count or polarity);
    nothing was sent."""


class _DeviceArray:
    """What both arrays share: the devices of some elements, their write lines, the counters."""

    ELEMENTS: tuple[str, ...] = ()
    WHAT = "device"

    def __init__(self, bench, names: Iterable[str] | None = None, nplc: float = 0.1):
        self.bench = bench
        config = bench.config
        every = [d for d in config.devices()
                 if kinds.kind(config.group_of(d).kind).element in self.ELEMENTS]
        if names is None:
            chosen = every
        else:
            chosen = [self._address(n) for n in names]
        if not chosen:
            raise ProgrammingError(f"the bench file {config.source} has no {self.WHAT} device "
                                   f"(kinds whose element is one of {self.ELEMENTS}): use a bench "
                                   f"such as examples/benches/ferrimagnet_synapses.toml")
        #: full device names, in order
        self.names = [d.name for d in chosen]
        if not (isinstance(nplc, (int, float)) and math.isfinite(nplc) and nplc > 0):
            raise ProgrammingError(f"nplc must be a finite number > 0, got {nplc!r} (0.1 is a "
                                   f"fast read)")
        self.nplc = float(nplc)
        self.floor_s = 0.0
        self._line_ohm: dict[str, float] = {}
        self._last_mode: str | None = None
        self._retries_seen = -1

    def _address(self, name: str):
        config = self.bench.config
        try:
            dev = config.device(name)
        except KeyError as exc:
            raise ProgrammingError(str(exc.args[0]) if exc.args else f"no device {name!r}") from None
        kind = config.group_of(dev).kind
        if kinds.kind(kind).element not in self.ELEMENTS:
            raise ProgrammingError(f"{dev.name} is a {kind} device, not a {self.WHAT} (kinds whose "
                                   f"element is one of {self.ELEMENTS}); nothing was sent")
        return dev

    def _device(self, name: str):
        dev = self._address(name)
        if dev.name not in self.names:
            raise ProgrammingError(f"{dev.name} is not in this array ({len(self.names)} devices: "
                                   f"{self.names[:4]}{' ...' if len(self.names) > 4 else ''})")
        return dev

    # ------------------------------------------------------------------ counters
    @property
    def round_trips(self) -> int:
        return int(self.bench.round_trips)

    @property
    def projected_bench_time_s(self) -> float:
        return float(self.bench.projected_time_s)

    def _read_time_s(self) -> float:
        return self.nplc / float(getattr(self.bench, "line_frequency_Hz", 50.0))

    # ------------------------------------------------------------------ the write line
    def line_resistance_ohm(self, name: str) -> float:
        """The device's two-terminal write-line resistance, measured once and kept."""
        dev = self._device(name)
        if dev.name not in self._line_ohm:
            ohm = float(self.bench.line_resistance(dev.name))
            if not (math.isfinite(ohm) and ohm > 0):
                raise ProgrammingError(f"{dev.name}: the write line reads {ohm:g} ohm (open or "
                                       f"broken): check the device and its wiring; nothing was "
                                       f"pulsed")
            self._line_ohm[dev.name] = ohm
        return self._line_ohm[dev.name]

    def _level_for_current(self, dev, current_A: float) -> float:
        source = self.bench.config.wiring.source_impedance_ohm
        return float(level_for_current_V(current_A, source, self.line_resistance_ohm(dev.name)))

    def _planned(self, dev, level_V: float, width_s: float) -> str:
        """Check a pulse as the generator will play it (raises before anything is sent);
        returns its mode ("PULS" or "USER")."""
        pulse = self.bench.pulse
        return pulse.plan_pulse(level_V, width_s, self.bench.limits_for(dev.name), dev.name)[0]

    def _fire(self, dev, level_V: float, width_s: float, count: int, mode: str) -> None:
        pulse = self.bench.pulse
        if self._last_mode is not None and mode != self._last_mode:
            # a USER waveform's :FREQ also sets the pulse mode's period, which the role's cache
            # does not know: write every setting again on a change of mode
            pulse.forget_state()
        self._select(dev)
        pulse.pulse(level_V, width_s, count)
        self._last_mode = mode
        self.floor_s += count * width_s

    def _select(self, dev) -> None:
        """Connect the device unless the matrix role reports exactly its crosspoints closed
        and no fault recovery ran since this array connected it (a recovery may have
        reopened the matrix): a train of calls on one device moves no relay."""
        wiring = self.bench.config.wiring
        wanted = frozenset({dev.channel(wiring.pulse_row), dev.channel(wiring.read_row)})
        retries = self.bench.faults.retries
        if self.bench.switch.connected != wanted or retries != self._retries_seen:
            self.bench.select(dev.name)
            self._retries_seen = self.bench.faults.retries

    def _read_ohm(self, dev) -> float:
        ohm = float(self.bench.read_resistance(dev.name, nplc=self.nplc))
        self.floor_s += self._read_time_s()
        return ohm


class SynapseArray(_DeviceArray):
    """The synapse devices of an open bench (all of them, or ``names``), programmed by pulse
    trains and read as conductances (S). ``nplc``: the read integration (0.1 default)."""

    ELEMENTS = SYNAPSE_ELEMENTS
    WHAT = "synapse"

    def programming_pulse(self, name: str) -> tuple[float, float]:
        """(density A/m^2, width s) of the device's nominal programming pulse."""
        dev = self._device(name)
        group = self.bench.config.group_of(dev)
        design = importlib.import_module(f"devices.kinds.{group.kind}").programming(group)
        return design.density_A_m2, design.width_s

    def nominal_level_V(self, name: str) -> float:
        """The generator level (V, positive) of the nominal programming pulse."""
        dev = self._device(name)
        density, _ = self.programming_pulse(dev.name)
        current = density * self.bench.limits_for(dev.name).line_cross_section_m2
        return self._level_for_current(dev, current)

    def _plan(self, name: str, pulses, polarity, amplitude=None, width_s=None):
        dev = self._device(name)
        if isinstance(pulses, bool) or not isinstance(pulses, (int, np.integer)) or pulses < 0:
            raise ProgrammingError(f"{dev.name}: pulses must be an integer >= 0, got {pulses!r}; "
                                   f"nothing was sent")
        if polarity not in (1, -1) or isinstance(polarity, bool):
            raise ProgrammingError(f"{dev.name}: polarity must be +1 (potentiate) or -1 "
                                   f"(depress), got {polarity!r}; nothing was sent")
        if pulses == 0:
            return None
        _, nominal_width = self.programming_pulse(dev.name)
        width = nominal_width if width_s is None else float(width_s)
        if amplitude is None:
            level = self.nominal_level_V(dev.name)
        else:
            level = float(amplitude)
            if not (math.isfinite(level) and level > 0):
                raise ProgrammingError(f"{dev.name}: amplitude must be a finite level > 0 V (its "
                                       f"sign is the polarity), got {amplitude!r}; nothing was sent")
        level *= polarity
        return dev, level, width, int(pulses), self._planned(dev, level, width)

    def program(self, name: str, pulses: int, polarity: int, amplitude: float | None = None,
                width_s: float | None = None) -> None:
        """``pulses`` pulses of ``polarity`` (+1 potentiate, -1 depress) on device ``name``, as
        one burst; the nominal programming pulse unless ``amplitude`` (V) / ``width_s`` say
        otherwise. Checked against the safety limits before anything is sent; 0 pulses send
        nothing."""
        plan = self._plan(name, pulses, polarity, amplitude, width_s)
        if plan is not None:
            self._fire(*plan[:4], plan[4])

    def program_many(self, requests: Sequence[tuple[str, int, int]]) -> None:
        """Several ``(name, pulses, polarity)`` requests, each at its nominal pulse: every one
        checked first, then played in the order given (one burst each)."""
        plans = [self._plan(*request) for request in requests]
        for plan in plans:
            if plan is not None:
                self._fire(*plan[:4], plan[4])

    def read_conductance(self, names: Iterable[str] | None = None) -> np.ndarray:
        """G = 1 / R_read (S) of each device of ``names`` (default: the whole array)."""
        chosen = [self._device(n) for n in (self.names if names is None else names)]
        return np.array([1.0 / self._read_ohm(dev) for dev in chosen])


class NeuronArray(_DeviceArray):
    """The CeLU neuron devices of an open bench: input current pulses, Hall output (ohm)."""

    ELEMENTS = NEURON_ELEMENTS
    WHAT = "neuron"

    def input_width_s(self, name: str) -> float:
        dev = self._device(name)
        group = self.bench.config.group_of(dev)
        return importlib.import_module(f"devices.kinds.{group.kind}").input_width_s(group)

    def transfer(self, name: str, currents_A, width_s: float | None = None) -> np.ndarray:
        """R_xy (ohm) read after each input pulse of ``currents_A`` (A, signed) on device
        ``name``, in order. Every level is checked before the first pulse; an input of 0 A
        sends no pulse (the reading then shows the state the previous input left)."""
        dev = self._device(name)
        currents = np.atleast_1d(np.asarray(currents_A, dtype=float))
        if not np.all(np.isfinite(currents)):
            raise ProgrammingError(f"{dev.name}: input currents must be finite numbers of "
                                   f"amperes, got {currents.tolist()[:6]}; nothing was sent")
        width = self.input_width_s(dev.name) if width_s is None else float(width_s)
        levels = [self._level_for_current(dev, float(i)) for i in currents]
        modes = [self._planned(dev, level, width) if level else None for level in levels]
        out = np.empty(currents.size)
        for k, (level, mode) in enumerate(zip(levels, modes)):
            if level:
                self._fire(dev, level, width, 1, mode)
            out[k] = self._read_ohm(dev)
        return out


__all__ = ["NEURON_ELEMENTS", "NeuronArray", "ProgrammingError", "SYNAPSE_ELEMENTS",
           "SynapseArray"]
