"""LTP/LTD characterization of multi-level synapses through the instruments (``hil
characterize ltp-ltd``).

Per device: ``noise_reads`` reads at rest (the read noise), a full depression (one burst of
``pulses`` pulses: the sweeps start at Gmin), then ``cycles`` cycles of a potentiation sweep
(``pulses`` pulses, a read before the first and after each) and a depression sweep back. Every
pulse is the device's nominal programming pulse (:class:`drivers.synapse.SynapseArray`)
unless ``amplitude`` / ``pulse_width`` say otherwise.

Analysis (:mod:`procedures.ltp_fit`): a ferrimagnetic (analog) synapse's Gmin, Gmax, N, the
nonlinearity of each direction and their asymmetry, the cycle-to-cycle write noise and the
distinguishable states; a quantized domain-wall synapse's levels, p(J) and overshoot; over
the devices the D2D spread of each. The calibration (``calibration_<chip>_synapses.json``,
models ``ferrimagnet_synapse`` / ``dw_quantized_synapse`` of :mod:`procedures.calibration`),
``ltp_ltd.png`` (the curves) and the summary's bench time, round trips and physical floor.

Resume: a synapse keeps its conductance (non-volatile), so a resumed run goes on pulsing
from the state the interruption left; a device is depressed to Gmin again only when none of
its rows was measured.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from devices import kinds
from drivers.synapse import SYNAPSE_ELEMENTS, SynapseArray
from procedures.base import BenchProcedure
from procedures.fits import FitError
from procedures.ltp_fit import d2d_spread, fit_ltp_ltd, fit_quantized
from procedures.session import ParameterError, select_devices

LTP_COLUMNS = ["Device", "Size", "Phase", "Cycle", "Pulse", "Pulse amplitude (V)",
               "Pulse width (s)", "Conductance (S)", "Resistance (ohm)", "Round trips",
               "Projected bench time (s)"]
#: pulses per sweep when not given: an analog synapse's (N of tens), a quantized one's per level
ANALOG_PULSES = 64
QUANTIZED_PULSES_PER_LEVEL = 4
QUANTIZED_CYCLES = 20


def _element(bench_file, facts) -> str:
    return kinds.kind(bench_file.group_of(facts.address).kind).element


class LTPLTDProcedure(BenchProcedure):
    devices = Parameter("Devices", default="all")
    cycles = IntegerParameter("Cycles", default=0, minimum=0, maximum=10**5)
    pulses = IntegerParameter("Pulses per sweep", default=0, minimum=0, maximum=4096)
    amplitude = FloatParameter("Programming amplitude", units="V", default=0.0, minimum=-100.0,
                               maximum=100.0)
    pulse_width = FloatParameter("Pulse width", units="s", default=0.0, minimum=-1.0, maximum=1.0)
    nplc = FloatParameter("Read NPLC", default=1.0, minimum=0.0, maximum=10.0)
    noise_reads = IntegerParameter("Reads at rest", default=24, minimum=3, maximum=10**5)

    DATA_COLUMNS = LTP_COLUMNS
    KEY_COLUMNS = ("Device", "Phase", "Cycle", "Pulse")

    # ------------------------------------------------------------------ plan
    def device_list(self):
        config = self.bench_config()
        try:
            chosen = select_devices(config, self.devices)
        except KeyError as exc:  # pragma: no cover - select_devices maps KeyError already
            raise ParameterError(str(exc)) from None
        synapses = [f for f in chosen if _element(config, f) in SYNAPSE_ELEMENTS]
        if self.devices in ("", "all"):
            chosen = synapses
        others = [f.name for f in chosen if f not in synapses]
        if others or not chosen:
            raise ParameterError(
                f"ltp-ltd characterizes synapses; {others or 'the bench has none'} "
                f"{'are not synapse devices' if others else ''} (a bench such as "
                f"examples/benches/ferrimagnet_synapses.toml or dw_quantized_synapses.toml)")
        return chosen

    def sweep_pulses(self, facts) -> int:
        if int(self.pulses):
            return int(self.pulses)
        group = self.bench_config().group_of(facts.address)
        if _element(self.bench_config(), facts) == "quantized_synapse":
            levels = _kind_module(group).levels(group)
            return QUANTIZED_PULSES_PER_LEVEL * levels
        return ANALOG_PULSES

    def cycle_count(self, facts) -> int:
        if int(self.cycles):
            return int(self.cycles)
        return QUANTIZED_CYCLES if _element(self.bench_config(), facts) == "quantized_synapse" else 3

    def validate(self):
        super().validate()
        for name in ("cycles", "pulses"):
            self.require_int(name, getattr(self, name), 0)
        self.require_int("noise_reads", self.noise_reads, 3)
        self.require_positive("nplc", self.nplc, "", "(1 is a quiet read; 0.01 a fast one)")
        for facts in self.device_list():
            if float(self.pulse_width):
                self.check_width(facts, float(self.pulse_width))
            if float(self.amplitude):
                if not float(self.amplitude) > 0:
                    raise ParameterError(f"amplitude {self.amplitude!r} V must be > 0 (a level; "
                                         f"the sweeps play both polarities; 0 = the nominal pulse)")
                self.check_level(facts, float(self.amplitude), "programming amplitude")
            if self.sweep_pulses(facts) < 3:
                raise ParameterError(f"pulses {self.pulses!r} per sweep is too few: at least 3 "
                                     f"(and over the device's N for an analog synapse)")

    # ------------------------------------------------------------------ bench side
    def _row(self, array, facts, phase, cycle, pulse, level_V, width_s, measure) -> dict:
        rt0, t0 = self.bench.round_trips, self.bench.projected_time_s
        measure()
        g = float(array.read_conductance([facts.name])[0])
        return {"Device": facts.name, "Size": facts.size, "Phase": phase, "Cycle": cycle,
                "Pulse": pulse, "Pulse amplitude (V)": level_V, "Pulse width (s)": width_s,
                "Conductance (S)": g, "Resistance (ohm)": 1.0 / g,
                "Round trips": self.bench.round_trips - rt0,
                "Projected bench time (s)": self.bench.projected_time_s - t0}

    def measure_device(self, array, facts, progress) -> list[dict]:
        name = facts.name
        pulses, cycles = self.sweep_pulses(facts), self.cycle_count(facts)
        amplitude = float(self.amplitude) or None
        width = float(self.pulse_width) or array.programming_pulse(name)[1]
        level = amplitude or array.nominal_level_V(name)

        def point(phase, cycle, pulse, sign):
            def measure():
                if sign:
                    array.program(name, 1, sign, amplitude, width)
            return self.point((name, phase, cycle, pulse), lambda: self._row(
                array, facts, phase, cycle, pulse, sign * level, width, measure))

        if self.key(name, "rest", 0, 0) not in self.done:
            array.program(name, pulses, -1, amplitude, width)      # every sweep starts at Gmin
        rows = [point("rest", 0, k, 0) for k in range(int(self.noise_reads))]
        total, done = cycles * 2 * (pulses + 1), 0
        for cycle in range(cycles):
            for phase, sign in (("ltp", 1), ("ltd", -1)):
                for pulse in range(pulses + 1):           # pulse 0: the reading before the first
                    rows.append(point(phase, cycle, pulse, sign if pulse else 0))
                    done += 1
                    progress(done / total)
        return rows

    def execute(self):
        devices = self.device_list()
        array = SynapseArray(self.bench, [f.name for f in devices], nplc=float(self.nplc))
        by_device = {}
        trips0, time0 = self.bench.round_trips, self.bench.projected_time_s
        for i, facts in enumerate(devices):
            if self.stopped():
                break
            by_device[facts.name] = self.measure_device(
                array, facts, lambda f, i=i: self.emit("progress", 100.0 * (i + f) / len(devices)))
        bench = {"round_trips": self.bench.round_trips - trips0,
                 "projected_bench_time_s": self.bench.projected_time_s - time0,
                 "floor_s": array.floor_s}
        self.summary = ltp_summary(self.bench_config(), devices, by_device, bench,
                                   line_ohm={n: array.line_resistance_ohm(n) for n in by_device})

    def write_plots(self, summary: dict, out_dir) -> dict:
        """The curves' plot and the synapses' calibration file."""
        from procedures.ltp_report import plot_ltp_ltd, write_synapse_calibration
        paths = plot_ltp_ltd(list(self.done.values()), summary, out_dir)
        calibration = write_synapse_calibration(self.bench_config(), summary, out_dir)
        if calibration is not None:
            paths["calibration"] = calibration
        return paths


def _kind_module(group):
    """The devices.kinds module of a group's kind (its design helpers)."""
    return importlib.import_module(f"devices.kinds.{group.kind}")


def _floats(rows, column) -> np.ndarray:
    return np.array([float(r[column]) for r in rows])


def device_sweeps(rows) -> dict:
    """{"rest": readings, "ltp": cycles x (P + 1), "ltd": ...} of one device's rows (S)."""
    out = {"rest": _floats([r for r in rows if r["Phase"] == "rest"], "Conductance (S)")}
    for phase in ("ltp", "ltd"):
        mine = [r for r in rows if r["Phase"] == phase]
        cycles = sorted({int(float(r["Cycle"])) for r in mine})
        curves = []
        for c in cycles:
            sweep = sorted((r for r in mine if int(float(r["Cycle"])) == c), key=lambda r: int(float(r["Pulse"])))
            curves.append([float(r["Conductance (S)"]) for r in sweep])
        width = min((len(c) for c in curves), default=0)
        out[phase] = np.array([c[:width] for c in curves if len(c) == width]) if width else np.zeros((0, 0))
    return out


def ltp_summary(bench_file, devices, by_device: dict, bench: dict, line_ohm: dict) -> dict:
    """Per-device fits, the D2D spread of each fitted quantity, the bench cost."""
    summary = {"devices": {}, "bench": bench}
    for facts in devices:
        rows = by_device.get(facts.name)
        if not rows:
            continue
        sweeps = device_sweeps(rows)
        read_noise = float(np.std(sweeps["rest"], ddof=1)) if sweeps["rest"].size > 1 else 0.0
        element = _element(bench_file, facts)
        entry = {"size": facts.size, "element": element, "line_resistance_ohm": line_ohm.get(facts.name),
                 "cross_section_m2": facts.limits.line_cross_section_m2,
                 "width_s": float(rows[-1]["Pulse width (s)"]),
                 "amplitude_V": max(abs(float(r["Pulse amplitude (V)"])) for r in rows)}
        try:
            if element == "analog_synapse":
                entry["fit"] = fit_ltp_ltd(sweeps["ltp"], sweeps["ltd"], read_noise).as_dict()
            else:
                pairs = [(1, c) for c in sweeps["ltp"]] + [(-1, c) for c in sweeps["ltd"]]
                entry["fit"] = fit_quantized(pairs, read_noise).as_dict()
        except FitError as exc:
            entry["fit"] = {"error": str(exc)}
        summary["devices"][facts.name] = entry
    summary["d2d"] = _d2d(summary["devices"])
    return summary


D2D_KEYS = {"analog_synapse": ("gmin_S", "gmax_S", "nu_ltp", "nu_ltd", "n_pulses", "write_noise"),
            "quantized_synapse": ("gmin_S", "gmax_S", "step_probability", "overshoot_probability")}


def _d2d(devices: dict) -> dict:
    """Relative D2D spread (sd / mean) of every fitted quantity, per device size."""
    out = {}
    for size in sorted({e["size"] for e in devices.values()}):
        fits = [e for e in devices.values() if e["size"] == size and "error" not in e["fit"]]
        if not fits:
            continue
        keys = D2D_KEYS[fits[0]["element"]]
        out[size] = {"devices": len(fits), **{f"{k}_rel": d2d_spread([e["fit"][k] for e in fits]) for k in keys}}
    return {size: {k: (v if not (isinstance(v, float) and math.isnan(v)) else None) for k, v in d.items()}
            for size, d in out.items()}


__all__ = ["LTPLTDProcedure", "LTP_COLUMNS", "device_sweeps", "ltp_summary"]
