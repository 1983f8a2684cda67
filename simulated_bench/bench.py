"""The simulated lab: chips, instruments and the wiring between them, on one virtual clock.

``SimulatedBench`` is what a bench file describes, brought to life. Instruments never touch
a device directly; they ask the bench what is physically connected:

- the pulse generator's output reaches the devices whose *pulse row* crosspoint (row 1)
  is closed on the 7709 matrix; the current is the source EMF over the 50 ohm source
  impedance plus the device's write-path resistance;
- the read SMU reaches the device whose *read row* crosspoint (row 2) is closed;
- the aux SMU (Keithley 2400) reaches the device whose *aux row* crosspoint
  (``wiring.aux_row``, default row 3) is closed, and nothing while none is: a spare SMU on
  the matrix touches a device only where the user routes it;
- the magnet supply's current times the calibration factor is the field, along
  ``wiring.magnet_axis``: "x" (in plane) is the bias field SOT switching needs and tilts m
  (hard-axis loop); "z" (out of plane) reverses the magnets by thermal activation over the
  time it is applied (easy-axis loop; SOT pulses see no in-plane bias then). The devices
  are brought up to date with the field history before every reading, pulse and magnet
  setting (:meth:`SimulatedBench.update_field_exposure`).

Seeds: one bench seed reproduces everything. Independent streams are spawned from it for
the D2D draws, cycle-to-cycle switching, read noise and fault injection, so adding a read
does not change which devices were drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.benchfile import BenchFile, as_bench_file
from simulated_bench import crossbar, nonideal
from simulated_bench.chip import OPEN_OHM, Chip, build_chip
from simulated_bench.clock import LINE_FREQUENCY_HZ, VirtualClock
from simulated_bench.scpi import append_bounded


@dataclass
class PulseRecord:
    """One pulse as it reached a device (kept for tests and for the damage log)."""

    time_s: float
    device: str
    voltage_V: float
    current_A: float
    width_s: float


class SimulatedBench:
    """The stand-in lab. Build with :meth:`from_config`; plain config in, no globals."""

    def __init__(self, config: BenchFile, fault_rate: float = 0.0, fault_seed: int | None = None):
        self.config = config
        seeds = np.random.SeedSequence(config.seed).spawn(4)
        d2d_rng = np.random.default_rng(seeds[0])
        self.switch_rng = np.random.default_rng(seeds[1])
        self.noise_rng = np.random.default_rng(seeds[2])
        self.fault_rng = np.random.default_rng(seeds[3] if fault_seed is None else fault_seed)
        self.fault_rate = float(fault_rate)
        self.clock = VirtualClock()
        self.chips: dict[str, Chip] = {}
        for chip_name in dict.fromkeys(g.chip for g in config.groups):
            groups = [g for g in config.groups if g.chip == chip_name]
            self.chips[chip_name] = build_chip(chip_name, groups, config.variability, d2d_rng)
            # off by default: then None, and no stream is drawn (bit-identical figures)
            self.chips[chip_name].nonideal = nonideal.build(self.chips[chip_name], config.nonideal,
                                                            config.seed, len(self.chips) - 1)
        #: devices reached through crossbar lines only (simulated_bench/crossbar.py)
        self._crossbar_junctions = {name: crossbar.junction_indices(chip)
                                    for name, chip in self.chips.items()}
        self._hk_min_T = min((float(c.hk_T.min()) for c in self.chips.values()), default=1.0)
        self.pulse_log: list[PulseRecord] = []
        self._field_updated_s = self.clock.now_s   # devices have lived through the field up to here
        self.instruments: dict = {}
        from simulated_bench.instruments import build_instrument  # after chips exist
        for entry in config.instruments:
            self.instruments[entry.address] = build_instrument(entry.model, self, entry.address)

    @classmethod
    def from_config(cls, config: BenchFile | str | dict | None = None, **kwargs) -> "SimulatedBench":
        return cls(as_bench_file(config), **kwargs)

    # ------------------------------------------------------------ lookup
    def instrument(self, role: str):
        return self.instruments[self.config.address_of(role)]

    @property
    def chip(self) -> Chip:
        """The first (usually only) chip."""
        return next(iter(self.chips.values()))

    def device(self, name: str) -> tuple[Chip, int]:
        address = self.config.device(name)
        chip = self.chips[address.chip]
        return chip, chip.index(address.name)

    def damaged_devices(self) -> list[str]:
        return [e.name for chip in self.chips.values() for e in chip.damage_log]

    def _devices_on_row(self, row: int) -> list[tuple[Chip, int]]:
        switch = self.instruments.get(self.config.address_of("switch"))
        closed = switch.closed_channels() if switch is not None else set()
        found = []
        for chip in self.chips.values():
            lines_only = self._crossbar_junctions.get(chip.name, ())
            for idx in range(len(chip)):
                if idx in lines_only:
                    continue
                if int(chip.slot[idx]) * 1000 + row * 100 + int(chip.column[idx]) in closed:
                    found.append((chip, idx))
        return found

    def devices_on_pulse_path(self):
        return self._devices_on_row(self.config.wiring.pulse_row)

    def devices_on_read_path(self):
        return self._devices_on_row(self.config.wiring.read_row)

    # ------------------------------------------------------------ trigger link
    #: seconds from the read SMU's :INIT to the pulse generator's trigger input (the
    #: digital I/O line of the SMU into the generator's EXT input; cable delay ~ns).
    TRIGGER_LINK_LATENCY_S = 0.0

    def fire_trigger_link(self, time_s: float) -> bool:
        """The read SMU started its trigger model at ``time_s``: if the bench file wires the
        SMU's trigger out to the pulse generator (``wiring.trigger_link``), the generator's
        external trigger input sees an edge at ``time_s + TRIGGER_LINK_LATENCY_S``.

        Returns whether the edge reached a generator (it acts only when ``ARM:SOUR EXT``).
        """
        if not self.config.wiring.trigger_link:
            return False
        if not any(i.role == "pulse" for i in self.config.instruments):
            return False
        generator = self.instrument("pulse")
        trigger_in = getattr(generator, "trigger_in", None)
        if trigger_in is None:
            return False
        trigger_in(time_s + self.TRIGGER_LINK_LATENCY_S)
        return True

    def fire_generator_trigger_out(self, time_s: float) -> bool:
        """The pulse generator's Trigger Out marked the start of a waveform period at
        ``time_s``: if the bench file wires it to a digital I/O line of the read SMU
        (``wiring.generator_trigger_line``), that line sees an edge then (cable delay ~ns)."""
        line = self.config.wiring.generator_trigger_line
        if not line or not any(i.role == "read_smu" for i in self.config.instruments):
            return False
        smu = self.instrument("read_smu")
        trigger_in = getattr(smu, "digital_trigger_in", None)
        if trigger_in is None:
            return False
        trigger_in(line, time_s)
        return True

    # ------------------------------------------------------------ physics through wiring
    def _magnet(self):
        for entry in self.config.instruments:
            if entry.role == "magnet":
                return self.instruments.get(entry.address)
        return None

    def field_T(self) -> float:
        """The magnet's field now (T), along ``wiring.magnet_axis``."""
        magnet = self._magnet()
        if magnet is None:
            return 0.0
        return magnet.output_current_A() * self.config.wiring.magnet_T_per_A

    def in_plane_field_T(self) -> float:
        """The in-plane (x) bias field that SOT switching needs: none from a z magnet."""
        return self.field_T() if self.config.wiring.magnet_axis == "x" else 0.0

    #: largest field change (in units of the smallest Hk of the bench) of one integration
    #: step of a magnet ramp: tau(H) changes by exp(2 Delta x 0.005) ~ 1.5x across a step
    FIELD_STEP_HK = 0.005

    def update_field_exposure(self) -> None:
        """Advance every device through the magnet field since the last update.

        Called before every reading, pulse and magnet setting, so a field acts for the
        virtual time it was applied (ramps integrated in steps of ``FIELD_STEP_HK`` Hk).
        """
        now_s = self.clock.now_s
        since_s, self._field_updated_s = self._field_updated_s, max(now_s, self._field_updated_s)
        magnet = self._magnet()
        if magnet is None or now_s <= since_s or not self.chips:
            return
        axis = self.config.wiring.magnet_axis
        T_per_A = self.config.wiring.magnet_T_per_A
        # a ramp is monotonic, so the field's extremes over the interval are at its ends
        ends_T = np.array([magnet.output_current_A(since_s), magnet.output_current_A(now_s)]) \
            * T_per_A
        if axis == "x":
            # in plane only saturation at |H| >= Hk matters: the ends tell it all
            if np.abs(ends_T).max() < self._hk_min_T and not any(
                    chip.in_plane.any() for chip in self.chips.values()):
                return
            fields_T, dwells_s = ends_T, np.full(2, 0.5 * (now_s - since_s))
        else:
            if not ends_T.any():
                return
            currents_A, dwells_s = magnet.current_history_A(
                since_s, now_s, self.FIELD_STEP_HK * self._hk_min_T / T_per_A)
            fields_T = currents_A * T_per_A
        for chip in self.chips.values():
            chip.expose_to_field(fields_T, dwells_s, axis, self.switch_rng)

    def deliver_pulse(self, time_s: float, emf_V: float, width_s: float) -> None:
        """A pulse of open-circuit voltage ``emf_V`` leaves the generator at ``time_s``.

        Each device on the pulse row sees I = EMF / (R_source + R_device) (devices on the
        row are in parallel; the source impedance is shared). A crossbar with lines on the
        pulse row is solved as a circuit (:mod:`simulated_bench.crossbar`).
        """
        self._crossbar_pulse(time_s, emf_V, width_s)
        targets = self.devices_on_pulse_path()
        if not targets:
            return
        source = self.config.wiring.source_impedance_ohm
        conductance = sum(1.0 / chip.write_path_resistance(idx) for chip, idx in targets)
        node_V = emf_V / (1.0 + source * conductance)
        self.update_field_exposure()
        field = self.in_plane_field_T()
        read_A = self._read_current_A()
        for chip, idx in targets:
            resistance = chip.write_path_resistance(idx, abs(node_V))
            current = node_V / resistance
            if read_A and chip.nonideal is not None and chip.nonideal.read_disturb(idx) \
                    and (chip, idx) in self.devices_on_read_path():
                current += read_A     # read disturb: the sourced read current shares the path
            append_bounded(self.pulse_log, PulseRecord(time_s, chip.names[idx], node_V, current, width_s))
            chip.apply_pulse(idx, current, width_s, field, self.switch_rng, time_s, node_V)

    def _read_current_A(self) -> float:
        """The current the read SMU sources now (0 with its output off or sourcing volts)."""
        address = next((e.address for e in self.config.instruments if e.role == "read_smu"), None)
        smu = self.instruments.get(address)
        if smu is None or not getattr(smu, "output_on", False) \
                or getattr(smu, "source_function", "") != "CURR":
            return 0.0
        return float(getattr(smu, "level", {}).get("CURR", 0.0))

    def stage_temperature_K(self, chip: str | None = None) -> float | None:
        """The stage temperature now where the non-idealities move it (None when they are
        off: the bench then has no temperature to expose)."""
        state = (self.chips[chip] if chip else self.chip).nonideal
        if state is None:
            return None
        return float(state.temperature_K(self.clock.now_s).mean())

    def apply_static_level(self, time_s: float, emf_V: float) -> list[str]:
        """A DC level held on the pulse path (a generator's idle level with its output on).

        Only its instantaneous effect is simulated: a level that would destroy a device on
        the pulse row does (logged as a pulse of width 0); slow switching by DC exposure is
        not. Returns the devices it destroyed.
        """
        if emf_V != 0.0:     # on a crossbar: breakdown only, as for the devices below
            self._crossbar_pulse(time_s, emf_V, 0.0)
        targets = self.devices_on_pulse_path()
        if not targets or emf_V == 0.0:
            return []
        source = self.config.wiring.source_impedance_ohm
        conductance = sum(1.0 / chip.write_path_resistance(idx) for chip, idx in targets)
        node_V = emf_V / (1.0 + source * conductance)
        destroyed = []
        self.update_field_exposure()
        for chip, idx in targets:
            if chip.broken[idx]:
                continue
            current = node_V / chip.write_path_resistance(idx, abs(node_V))
            chip.apply_pulse(idx, current, 0.0, self.in_plane_field_T(), self.switch_rng,
                             time_s, node_V)
            if chip.broken[idx]:
                append_bounded(self.pulse_log, PulseRecord(time_s, chip.names[idx], node_V, current, 0.0))
                destroyed.append(chip.names[idx])
        return destroyed

    def source_and_measure(self, source_current_A: float, compliance_V: float,
                           integration_s: float, nplc: float,
                           row: int | None = None) -> tuple[float, float, bool]:
        """The read SMU sources a current through the device on the read row (or ``row``).

        Returns (measured voltage, actual current, in compliance). The Hall / junction
        voltage is I * R_read; the read current itself is a (weak, long) pulse, so a read
        can disturb a small device, as on a real bench.
        """
        if (hit := self._crossbar_reading(row, crossbar.Source(None, current_A=source_current_A),
                                          nplc)) is not None:
            current = source_current_A
            in_compliance = abs(hit[0]) > compliance_V
            voltage = float(np.clip(hit[0], -compliance_V, compliance_V))
            return voltage, float(current if not in_compliance else 0.0), in_compliance
        targets = self._devices_on_row(self.config.wiring.read_row if row is None else row)
        if not targets:
            # open terminals: a current source runs straight into its voltage compliance
            return float(np.sign(source_current_A) * compliance_V), 0.0, bool(source_current_A)
        chip, idx = targets[0]
        self.update_field_exposure()
        field = self.field_T()
        if source_current_A:
            chip.apply_pulse(idx, source_current_A, integration_s, self.in_plane_field_T(),
                             self.switch_rng,
                             self.clock.now_s, source_current_A * chip.write_path_resistance(idx))
        two_terminal = chip.write_path_resistance(idx)
        if abs(source_current_A) * two_terminal > compliance_V:
            current = np.sign(source_current_A) * compliance_V / two_terminal
            return float(np.sign(source_current_A) * compliance_V), float(current), True
        resistance = chip.read_resistance(idx, self.noise_rng, nplc, abs(source_current_A) * two_terminal)
        if self.config.wiring.magnet_axis == "x" and chip.truth(idx).READS_HARD_AXIS_TILT:
            # an in-plane field tilts m out of plane: the hard-axis loop shows in R_xy
            mz_scale = chip.hard_axis_mz(idx, field)
            resistance = chip.r_offset_ohm[idx] + (resistance - chip.r_offset_ohm[idx]) * mz_scale
        if resistance >= OPEN_OHM:
            return float(np.sign(source_current_A) * compliance_V), 0.0, True
        return float(source_current_A * resistance), float(source_current_A), False

    def source_voltage_and_measure(self, source_V: float, compliance_A: float,
                                   nplc: float, row: int | None = None) -> tuple[float, float, bool]:
        """Voltage-sourced read: returns (voltage, measured current, in compliance)."""
        if (hit := self._crossbar_reading(row, crossbar.Source(source_V), nplc)) is not None:
            current = hit[1]
            if abs(current) > compliance_A:
                return float(source_V), float(np.sign(current) * compliance_A), True
            return float(source_V), float(current), False
        targets = self._devices_on_row(self.config.wiring.read_row if row is None else row)
        if not targets:
            return source_V, 0.0, False
        chip, idx = targets[0]
        self.update_field_exposure()
        resistance = chip.write_path_resistance(idx, abs(source_V))
        current = source_V / resistance
        if abs(current) > compliance_A:
            return float(np.sign(source_V) * compliance_A * resistance), float(np.sign(source_V) * compliance_A), True
        noise = 1e-9 * self.noise_rng.standard_normal() / np.sqrt(max(nplc, 1e-3))
        return float(source_V), float(current + noise), False

    # ------------------------------------------------------------ crossbars
    def _crossbar_pulse(self, time_s: float, emf_V: float, width_s: float) -> None:
        """A pulse on the pulse row reaches every crossbar line closed onto it."""
        if not any(self._crossbar_junctions.values()):
            return
        row = self.config.wiring.pulse_row
        source = crossbar.Source(emf_V, self.config.wiring.source_impedance_ohm)
        for chip, net, solved in crossbar.drive(self, {row: source}, width_s, time_s, row):
            for r, c in crossbar.selected_junctions(self, net, row):
                idx = int(net.junctions[r, c])
                volts = float(solved.junction_V[r, c])
                current = volts * float(chip.truth(idx).conductances_S(chip, np.array([idx]),
                                                                       np.array([volts]))[0])
                append_bounded(self.pulse_log, PulseRecord(time_s, chip.names[idx], volts,
                                                           current, width_s))

    def _crossbar_reading(self, row: int | None, source, nplc: float):
        """A source meter's reading on crossbar lines: (bus voltage, current out of the
        SMU) with its current noise, or None when no crossbar line is on its row. The
        reading's integration time is the junctions' exposure (read disturb)."""
        if not any(self._crossbar_junctions.values()):
            return None
        row = self.config.wiring.read_row if row is None else row
        self.update_field_exposure()
        solved = crossbar.drive(self, {row: source}, nplc / LINE_FREQUENCY_HZ,
                                self.clock.now_s, row)
        if not solved:
            return None
        current = sum(s.source_current_A.get(row, 0.0) for _, _, s in solved)
        current += 1e-9 * self.noise_rng.standard_normal() / np.sqrt(max(nplc, 1e-3))
        return float(solved[0][2].bus_V[row - 1]), float(current)

    def projected_time_s(self) -> float:
        """How long the run so far would have taken on a real bench."""
        return self.clock.now_s
