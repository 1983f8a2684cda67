"""Transfer of a ferrimagnetic CeLU neuron through the instruments (``hil characterize
neuron-transfer``): the Hall output after each input current pulse, over ``points`` inputs
from the most negative to the most positive and back (``cycles`` times), and the CeLU fit
(:mod:`procedures.celu_fit`: R0, gain, alpha).

The largest input is the level ``amplitude`` (V at the generator; 0: 90 % of the device's
safe maximum), every input a pulse of the neuron's design width
(:func:`devices.kinds.ferrimagnet_celu_neuron.input_width_s`) played through
:class:`drivers.synapse.NeuronArray`. Outputs: ``neuron_transfer.png`` (readings and fit),
``calibration_<chip>_neurons.json`` (model ``celu_neuron``), the summary's bench time, round
trips and physical floor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from devices import kinds
from drivers.synapse import NEURON_ELEMENTS, NeuronArray
from procedures.base import BenchProcedure
from procedures.celu_fit import fit_celu
from procedures.fits import FitError
from procedures.session import ParameterError

TRANSFER_COLUMNS = ["Device", "Size", "Cycle", "Point", "Pulse amplitude (V)", "Input current (A)",
                    "Output (ohm)", "Round trips", "Projected bench time (s)"]
#: the inputs' share of the safe maximum level when ``amplitude`` is 0
AUTO_FRACTION = 0.9


class NeuronTransferProcedure(BenchProcedure):
    device = Parameter("Device", default="chip1/N0")
    points = IntegerParameter("Inputs per sweep", default=41, minimum=6, maximum=10**5)
    cycles = IntegerParameter("Sweeps (up and down count as two)", default=2, minimum=1, maximum=10**4)
    amplitude = FloatParameter("Largest input level", units="V", default=0.0, minimum=-100.0, maximum=100.0)
    nplc = FloatParameter("Read NPLC", default=1.0, minimum=0.0, maximum=10.0)

    DATA_COLUMNS = TRANSFER_COLUMNS
    KEY_COLUMNS = ("Device", "Cycle", "Point")

    def top_level_V(self, facts) -> float:
        return float(self.amplitude) or AUTO_FRACTION * facts.max_level_V

    def validate(self):
        super().validate()
        config = self.bench_config()
        if not any(kinds.kind(g.kind).element in NEURON_ELEMENTS for g in config.groups):
            # said before the default device's name, which such a bench does not have
            raise ParameterError(f"neuron-transfer needs a CeLU neuron; bench "
                                 f"{config.name!r} has none (a bench such as "
                                 f"examples/benches/celu_neurons.toml)")
        facts = self.facts(self.device)
        kind = config.group_of(facts.address).kind
        if kinds.kind(kind).element not in NEURON_ELEMENTS:
            raise ParameterError(f"{facts.name} is a {kind} device; neuron-transfer needs a CeLU "
                                 f"neuron (a bench such as examples/benches/celu_neurons.toml)")
        self.require_int("points", self.points, 6)
        self.require_int("cycles", self.cycles, 1)
        self.require_positive("nplc", self.nplc, "", "(1 is a quiet read)")
        top = self.top_level_V(facts)
        if not top > 0:
            raise ParameterError(f"amplitude {self.amplitude!r} V must be > 0: the largest input "
                                 f"level (the sweep plays both signs; 0 = automatic)")
        self.check_level(facts, top, "largest input level")

    def levels_V(self, facts) -> np.ndarray:
        """The sweep's levels, -top .. top, without 0 (an input of 0 sends no pulse)."""
        top = self.top_level_V(facts)
        levels = np.linspace(-top, top, int(self.points) + (int(self.points) % 2 == 1))
        return levels[levels != 0]

    def execute(self):
        facts = self.facts(self.device)
        array = NeuronArray(self.bench, [facts.name], nplc=float(self.nplc))
        line = array.line_resistance_ohm(facts.name)
        levels = self.levels_V(facts)
        currents = np.array([float(facts.current_A(v, line)) for v in levels])
        width = array.input_width_s(facts.name)
        trips0, time0 = self.bench.round_trips, self.bench.projected_time_s
        rows, total = [], int(self.cycles) * levels.size
        for cycle in range(int(self.cycles)):
            order = range(levels.size) if cycle % 2 == 0 else range(levels.size - 1, -1, -1)
            for k in order:
                rows.append(self.point((facts.name, cycle, k), lambda k=k, cycle=cycle: self._row(
                    array, facts, cycle, k, levels[k], currents[k])))
                self.emit("progress", 100.0 * len(rows) / total)
        bench = {"round_trips": self.bench.round_trips - trips0,
                 "projected_bench_time_s": self.bench.projected_time_s - time0,
                 "floor_s": array.floor_s}
        self.summary = transfer_summary(facts, rows, bench, line, width)

    def _row(self, array, facts, cycle, k, level_V, current_A) -> dict:
        rt0, t0 = self.bench.round_trips, self.bench.projected_time_s
        out = float(array.transfer(facts.name, [current_A])[0])
        return {"Device": facts.name, "Size": facts.size, "Cycle": cycle, "Point": k,
                "Pulse amplitude (V)": float(level_V), "Input current (A)": float(current_A),
                "Output (ohm)": out, "Round trips": self.bench.round_trips - rt0,
                "Projected bench time (s)": self.bench.projected_time_s - t0}

    def write_plots(self, summary: dict, out_dir) -> dict:
        """The transfer plot and the neuron's calibration file."""
        from procedures.calibration import ChipCalibration, ElementCalibration, save_calibration

        rows = list(self.done.values())
        paths = {"plot": plot_transfer(rows, summary, Path(out_dir) / "neuron_transfer.png")}
        fit = summary.get("fit", {})
        if "alpha_A" in fit:
            keys = ("alpha_A", "gain_ohm_per_A", "offset_ohm", "alpha_err_A", "gain_err_ohm_per_A",
                    "offset_err_ohm", "read_noise_ohm")
            values = {k: fit[k] for k in keys if np.isfinite(fit[k])}
            values["line_resistance_ohm"] = summary["line_resistance_ohm"]
            facts = self.facts(self.device)
            entry = ElementCalibration("celu_neuron", values, facts.size, summary["width_s"])
            calibration = ChipCalibration(self.bench_config().name or "", facts.chip, summary["width_s"],
                                          {facts.name: entry}, "hil characterize neuron-transfer")
            paths["calibration"] = save_calibration(calibration, Path(out_dir) / f"calibration_{facts.chip}_neurons.json")
        return paths


def transfer_summary(facts, rows, bench: dict, line_ohm: float, width_s: float) -> dict:
    currents = np.array([float(r["Input current (A)"]) for r in rows])
    outputs = np.array([float(r["Output (ohm)"]) for r in rows])
    summary = {"device": facts.name, "line_resistance_ohm": line_ohm, "width_s": width_s,
               "points": len(rows), "input_range_A": [float(currents.min()), float(currents.max())]
               if rows else [], "bench": bench}
    try:
        summary["fit"] = fit_celu(currents, outputs).as_dict()
    except FitError as exc:
        summary["fit"] = {"error": str(exc)}
    return summary


def plot_transfer(rows, summary: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from procedures.celu_fit import CeluFit

    currents = np.array([float(r["Input current (A)"]) for r in rows])
    outputs = np.array([float(r["Output (ohm)"]) for r in rows])
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(currents * 1e3, outputs, "o", ms=3, color="tab:blue", label="measured")
    fit = summary.get("fit", {})
    if "alpha_A" in fit and currents.size:
        model = CeluFit(**fit)
        grid = np.linspace(currents.min(), currents.max(), 300)
        ax.plot(grid * 1e3, model.output_ohm(grid), color="tab:orange",
                label=f"CeLU: alpha {model.alpha_A * 1e6:.0f} uA, gain {model.gain_ohm_per_A:.0f} ohm/A")
    ax.set_xlabel("input current (mA)")
    ax.set_ylabel("Hall output R_xy (ohm)")
    ax.set_title(f"{summary.get('device', '')}: neuron transfer")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["NeuronTransferProcedure", "TRANSFER_COLUMNS", "plot_transfer", "transfer_summary"]
