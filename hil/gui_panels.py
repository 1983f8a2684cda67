"""Panels of the lab window: the bench session, device chooser, bench status, live plot.

``BenchSession`` is the window's bench: the bench file, the backend (``sim`` = the simulated
bench, ``visa`` = real instruments) and the *one* VISA library that every run of the window
and the status panel go through (:func:`procedures.session.visa_library_for`, the same
switch the procedures use). Nothing here talks to a simulated instrument object directly:
the status panel asks the instruments over SCPI (``*IDN?``, ``OUTP?``...) through that
library, so on a real bench it shows the real instruments the same way.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyqtgraph as pg
from pymeasure.display.Qt import QtCore, QtGui, QtWidgets
from pymeasure.display.widgets import TabWidget
from pymeasure.experiment import Procedure

from hil.gui_procedures import PlotSpec, catalog_entry

log = logging.getLogger(__name__)

SCPI_TERMINATION = "\n"
PROBE_TIMEOUT_MS = 2000

BACKEND_TITLES = {"sim": "simulated bench (in-process VISA library)",
                  "visa": "real instruments (system VISA library)"}


# ============================================================================ session
class BenchSession:
    """One bench per window: bench file, backend and the VISA library the runs share."""

    def __init__(self, bench=None, backend: str = "sim", visa_library=None):
        from procedures.session import load_bench, visa_library_for

        # absolute: the path is stored in every results file's header (resume from anywhere)
        self.bench_path = (None if bench in (None, "", "default")
                           else str(Path(bench).expanduser().resolve()))
        self.bench_file = load_bench(self.bench_path)
        self.backend = backend
        self.visa_library = visa_library_for(self.bench_file, backend, visa_library)

    @property
    def bench_file_parameter(self) -> str:
        """The value of the procedures' "Bench file" parameter for this bench."""
        return self.bench_path or "default"

    @property
    def simulated(self) -> bool:
        return self.backend == "sim"

    def title(self) -> str:
        where = self.bench_path or "built-in default bench"
        return f"{self.bench_file.name} ({where}) - {BACKEND_TITLES.get(self.backend, self.backend)}"

    def virtual_time_s(self) -> float | None:
        """The simulated bench's virtual clock (what a real bench would have taken)."""
        clock = getattr(self.visa_library, "virtual_time_s", None)
        if clock is None:
            return None
        try:
            return float(clock() if callable(clock) else clock)
        except Exception:                     # noqa: BLE001 - a status display never raises
            return None

    def devices(self):
        return self.bench_file.devices()

    def device_facts(self, name: str):
        from procedures.session import device_facts

        return device_facts(self.bench_file, name)


@dataclass
class InstrumentState:
    address: str
    model: str
    role: str
    idn: str = ""
    outputs: dict[str, bool | str] = field(default_factory=dict)
    error: str = ""

    @property
    def any_on(self) -> bool:
        return any(v is True for v in self.outputs.values())

    def output_text(self) -> str:
        if self.error:
            return "?"
        if not self.outputs:
            return "-"
        return ", ".join(f"{k} {'ON' if v is True else 'OFF' if v is False else v}"
                         for k, v in self.outputs.items())


def short_idn(idn: str) -> str:
    """``*IDN?`` as a table cell: maker, model and serial number (the full reply in a tooltip)."""
    fields = [f.strip() for f in idn.split(",")]
    if len(fields) < 3:
        return idn
    maker = fields[0].split()[0].title() if fields[0] else ""
    return f"{maker} {fields[1]}, s/n {fields[2]}"


def _as_bool(reply: str) -> bool | str:
    text = reply.strip().strip('"').upper()
    if text in ("1", "ON"):
        return True
    if text in ("0", "OFF"):
        return False
    return text


def output_queries(model: str, pulse_channel: int = 1) -> dict[str, str]:
    """SCPI queries of the output states of a bench-file model (label -> query)."""
    if model == "Keysight81160A":
        return {f"OUT{pulse_channel}": f"OUTP{pulse_channel}?"}
    if model in ("Keithley2450", "Keithley2400"):
        return {"output": ":OUTP?"}
    if model == "KepcoBOP":
        return {"output": "OUTP?"}
    if model == "Keithley2750":
        return {"closed": ":ROUT:CLOS?"}
    return {}


def probe_instruments(session: BenchSession) -> list[InstrumentState]:
    """Identify every instrument of the bench file and read its output states over SCPI.

    Call it only while no run is using the bench (the window checks): the queries share the
    bus with the runs. A failure is reported per instrument, never raised.
    """
    import pyvisa

    states = [InstrumentState(e.address, e.model, e.role) for e in session.bench_file.instruments]
    library = session.visa_library
    try:
        had_manager = getattr(library, "resource_manager", None) is not None
        rm = pyvisa.ResourceManager(library)
    except Exception as exc:                  # noqa: BLE001
        for state in states:
            state.error = (f"cannot open the VISA library ({exc}); for a real bench install a "
                           f"VISA library (NI-VISA, or pyvisa-py)")
        return states
    try:
        for state in states:
            try:
                resource = rm.open_resource(state.address, read_termination=SCPI_TERMINATION,
                                            write_termination=SCPI_TERMINATION,
                                            timeout=PROBE_TIMEOUT_MS)
            except Exception as exc:          # noqa: BLE001
                state.error = (f"cannot open {state.address}: {exc}; check the address in the "
                               f"bench file, the cable and that the instrument is on")
                continue
            try:
                state.idn = resource.query("*IDN?").strip()
                channel = session.bench_file.wiring.pulse_channel
                for label, query in output_queries(state.model, channel).items():
                    reply = resource.query(query).strip()
                    if label == "closed":
                        chans = reply.strip("()@ ")
                        state.outputs[label] = chans if chans else "none"
                    else:
                        state.outputs[label] = _as_bool(reply)
            except Exception as exc:          # noqa: BLE001
                state.error = f"{state.model} at {state.address} did not answer: {exc}"
            finally:
                try:
                    resource.close()
                except Exception as exc:      # noqa: BLE001
                    log.debug("closing %s after the status query: %s", state.address, exc)
    finally:
        if not had_manager:
            try:
                rm.close()
            except Exception as exc:          # noqa: BLE001
                log.debug("closing the status query's resource manager: %s", exc)
    return states


# ============================================================================ device panel
class DevicePanel(QtWidgets.QGroupBox):
    """Chip / size / index of the device a run measures, from the bench file's devices."""

    device_changed = QtCore.Signal(str)

    def __init__(self, session: BenchSession, parent=None):
        super().__init__("Device", parent)
        self.session = session
        self._devices = session.devices()
        self.chip = QtWidgets.QComboBox(self)
        self.size = QtWidgets.QComboBox(self)
        self.index = QtWidgets.QSpinBox(self)
        self.summary = QtWidgets.QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #444")
        for chip in dict.fromkeys(d.chip for d in self._devices):
            self.chip.addItem(chip)
        form = QtWidgets.QFormLayout(self)
        form.addRow("Chip", self.chip)
        form.addRow("Size", self.size)
        form.addRow("Index", self.index)
        form.addRow(self.summary)
        self.chip.currentTextChanged.connect(self._chip_changed)
        self.size.currentTextChanged.connect(self._size_changed)
        self.index.valueChanged.connect(lambda _: self._emit())
        self._chip_changed(self.chip.currentText())

    def _chip_changed(self, chip: str):
        self.size.blockSignals(True)
        self.size.clear()
        for size in dict.fromkeys(d.size for d in self._devices if d.chip == chip):
            self.size.addItem(size)
        self.size.blockSignals(False)
        self._size_changed(self.size.currentText())

    def _size_changed(self, size: str):
        count = sum(1 for d in self._devices if d.chip == self.chip.currentText() and d.size == size)
        self.index.blockSignals(True)
        self.index.setRange(0, max(count - 1, 0))
        self.index.blockSignals(False)
        self._emit()

    def _emit(self):
        name = self.device_name()
        try:
            group = self.session.bench_file.group_of(self.session.bench_file.device(name))
            address = self.session.bench_file.device(name)
            w = self.session.bench_file.wiring
            self.summary.setText(
                f"{name}: {group.kind.replace('_', ' ')}, width {group.width_m * 1e9:g} nm; "
                f"7709 pulse ch {address.channel(w.pulse_row)}, read ch {address.channel(w.read_row)}")
        except (KeyError, ValueError):
            self.summary.setText(name)
        self.device_changed.emit(name)

    def device_name(self) -> str:
        return f"{self.chip.currentText()}/{self.size.currentText()}{self.index.value()}"

    def set_device(self, name: str) -> None:
        """Select a device by name (``chip1/S3`` or ``S3``)."""
        address = self.session.bench_file.device(name)
        self.chip.setCurrentText(address.chip)
        self.size.setCurrentText(address.size)
        self.index.setValue(address.index)
        self._emit()


# ============================================================================ status panel
def _fmt_si(value: float, unit: str, precision: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return pg.siFormat(value, suffix=unit, precision=precision)


def _fmt_err(value: float, err: float, unit: str) -> str:
    """``(value ± err) unit`` on the value's SI prefix, the error to 2 significant digits."""
    if not (math.isfinite(value) and math.isfinite(err) and err > 0):
        return _fmt_si(value, unit)
    scale, prefix = pg.siScale(value)
    v, e = value * scale, err * scale
    decimals = min(max(1 - math.floor(math.log10(e)), 0), 9)
    return f"({v:.{decimals}f} ± {e:.{decimals}f}) {prefix}{unit}"


class BenchStatusPanel(QtWidgets.QWidget):
    """Instrument IDNs and outputs, the selected device's safety limits, run cost."""

    refresh_requested = QtCore.Signal()

    LIMIT_ROWS = (
        ("max_pulse_voltage_V", "Max pulse voltage", "V"),
        ("max_level_V", "Max programmed level", "V"),
        ("max_current_density_A_m2", "Max current density", "A/m²"),
        ("max_pulse_width_s", "Max pulse width", "s"),
        ("min_pulse_width_s", "Min pulse width", "s"),
        ("max_compliance_V", "Max compliance", "V"),
        ("max_read_current_A", "Max read current", "A"),
        ("max_field_T", "Max bias field", "T"),
    )

    def __init__(self, session: BenchSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.states: list[InstrumentState] = []

        self.bench_label = QtWidgets.QLabel(self)
        self.bench_label.setWordWrap(True)
        self.bench_label.setTextFormat(QtCore.Qt.TextFormat.RichText)

        self.table = QtWidgets.QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels(["Role", "Address", "Outputs", "*IDN?"])
        self.table.setWordWrap(False)
        self.table.setSizeAdjustPolicy(
            QtWidgets.QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.table.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        self.probe_label = QtWidgets.QLabel(self)
        self.probe_label.setStyleSheet("color: #555")
        self.probe_label.setWordWrap(True)
        self.refresh_button = QtWidgets.QPushButton("Refresh instruments", self)
        self.refresh_button.setToolTip("Ask every instrument *IDN? and its output state (only "
                                       "while no run is in progress)")
        self.refresh_button.clicked.connect(self.refresh_requested)

        limits_box = QtWidgets.QGroupBox("Safety limits of the selected device", self)
        self.limits_form = QtWidgets.QFormLayout(limits_box)
        self.limits_title = QtWidgets.QLabel(limits_box)
        self.limits_title.setWordWrap(True)
        self.limits_form.addRow(self.limits_title)
        self.limit_labels = {}
        for key, title, _ in self.LIMIT_ROWS:
            label = QtWidgets.QLabel("-", limits_box)
            label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            self.limit_labels[key] = label
            self.limits_form.addRow(title, label)

        cost_box = QtWidgets.QGroupBox("Run cost", self)
        cost_form = QtWidgets.QFormLayout(cost_box)
        self.cost_run = QtWidgets.QLabel("-", cost_box)
        self.cost_run.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                    QtWidgets.QSizePolicy.Policy.Preferred)
        self.cost_trips = QtWidgets.QLabel("-", cost_box)
        self.cost_time = QtWidgets.QLabel("-", cost_box)
        self.cost_total = QtWidgets.QLabel("-", cost_box)
        self.cost_clock = QtWidgets.QLabel("-", cost_box)
        cost_form.addRow("Run", self.cost_run)
        cost_form.addRow("Bus round trips", self.cost_trips)
        cost_form.addRow("Projected real-bench time", self.cost_time)
        cost_form.addRow("All runs of this window", self.cost_total)
        cost_form.addRow("Virtual clock", self.cost_clock)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.bench_label)
        layout.addWidget(self.table)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.refresh_button)
        row.addWidget(self.probe_label, 1)
        layout.addLayout(row)
        layout.addWidget(limits_box)
        layout.addWidget(cost_box)
        layout.addStretch(1)
        self._show_bench()

    def _show_bench(self):
        s = self.session
        kind = ("<span style='color:#1a6b1a'><b>SIMULATED</b></span>" if s.simulated
                else "<span style='color:#b00000'><b>REAL INSTRUMENTS</b></span>")
        self.bench_label.setText(
            f"<b>Bench</b> {s.bench_file.name} &nbsp; {kind}<br>"
            f"<span style='color:#555'>{s.bench_path or 'built-in default bench file'}, "
            f"seed {s.bench_file.seed}</span>")
        entries = s.bench_file.instruments
        self.table.setRowCount(len(entries))
        for r, entry in enumerate(entries):
            self._set_row(r, InstrumentState(entry.address, entry.model, entry.role,
                                             idn=f"{entry.model} (not asked yet)"))

    def _set_row(self, r: int, state: InstrumentState):
        items = [state.role, state.address, state.output_text(),
                 state.error or short_idn(state.idn)]
        for c, text in enumerate(items):
            item = QtWidgets.QTableWidgetItem(text)
            if c == 2:
                if state.any_on:
                    item.setForeground(QtGui.QColor("#b00000"))
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                elif state.outputs and not state.error:
                    item.setForeground(QtGui.QColor("#1a6b1a"))
            if c == 3:
                item.setToolTip(state.error or state.idn)
                if state.error:
                    item.setForeground(QtGui.QColor("#b00000"))
            self.table.setItem(r, c, item)

    def show_states(self, states: list[InstrumentState], when: str = ""):
        self.states = states
        self.table.setRowCount(len(states))
        for r, state in enumerate(states):
            self._set_row(r, state)
        on = [s.role for s in states if s.any_on]
        bad = [s.role for s in states if s.error]
        parts = [f"asked {when}" if when else "asked"]
        parts.append(f"outputs ON: {', '.join(on)}" if on else "all outputs off")
        if bad:
            parts.append(f"no answer: {', '.join(bad)}")
        self.probe_label.setText("; ".join(parts))

    def mark_running(self):
        """A run owns the bus: the last answers are stale, its outputs may be on."""
        for r in range(self.table.rowCount()):
            item = QtWidgets.QTableWidgetItem("in use by the run")
            item.setForeground(QtGui.QColor("#a06000"))
            item.setToolTip("outputs are switched by the running procedure; they are asked "
                            "again when it ends")
            self.table.setItem(r, 2, item)
        self.show_busy("run in progress: instruments are asked again when it ends")

    def show_busy(self, text: str):
        self.probe_label.setText(text)

    def show_device(self, name: str):
        try:
            facts = self.session.device_facts(name)
        except Exception as exc:              # noqa: BLE001
            self.limits_title.setText(f"<span style='color:#b00000'>{exc}</span>")
            for label in self.limit_labels.values():
                label.setText("-")
            return
        self.limits_title.setText(f"<b>{facts.name}</b> (size {facts.size})")
        lim = facts.limits
        for key, _, unit in self.LIMIT_ROWS:
            value = facts.max_level_V if key == "max_level_V" else getattr(lim, key, float("nan"))
            text = (f"{value:.3g} {unit}" if unit == "A/m²" else _fmt_si(float(value), unit))
            self.limit_labels[key].setText(text)

    def show_devices_note(self, text: str):
        self.limits_title.setText(text)

    def show_cost(self, run_name: str, round_trips: float, projected_s: float,
                  total_trips: float, total_s: float):
        self.cost_run.setText(run_name or "-")
        self.cost_run.setToolTip(run_name)
        self.cost_trips.setText(f"{round_trips:.0f}" if math.isfinite(round_trips) else "-")
        self.cost_time.setText(_fmt_si(projected_s, "s"))
        self.cost_total.setText(f"{total_trips:.0f} round trips, {_fmt_si(total_s, 's')}")
        clock = self.session.virtual_time_s()
        self.cost_clock.setText(_fmt_si(clock, "s") if clock is not None
                                else ("wall time (real bench)" if not self.session.simulated
                                      else "-"))


# ============================================================================ live plot
_UNIT_SUFFIXES = (("_A_m2", "A/m²"), ("_ohm", "Ω"), ("_T", "T"), ("_A", "A"), ("_s", "s"),
                  ("_V", "V"))


def format_summary(summary: dict) -> str:
    """A procedure's result summary as one readable line, with units."""
    parts = []
    for key, value in summary.items():
        label, unit = key, ""
        for suffix, u in _UNIT_SUFFIXES:
            if key.endswith(suffix):
                label, unit = key[: -len(suffix)], u
                break
        label = label.replace("_", " ")
        if isinstance(value, float):
            text = (_fmt_si(value, unit) if unit and unit != "A/m²"
                    else f"{value:.4g}{' ' + unit if unit else ''}")
        elif isinstance(value, dict):
            text = ", ".join(f"{k} {v}" for k, v in value.items())
        else:
            text = str(value)
        parts.append(f"{label} = {text}")
    return "Result: " + "; ".join(parts)


def size_statistics(device_fits: dict[str, tuple], size_order: list[str]) -> list[str]:
    """Device-to-device spread per size from the Neel-Brown fits of a survey."""
    by_size: dict[str, list] = {}
    for size, fit in device_fits.values():
        by_size.setdefault(size, []).append(fit)
    order = [s for s in size_order if s in by_size] + sorted(set(by_size) - set(size_order))
    lines = []
    for size in order:
        group = by_size[size]
        i50 = np.array([f.i50_A for f in group])
        delta = np.array([f.delta for f in group])
        rel = np.array([f.relative_width for f in group])
        spread = (f" ± {_fmt_si(float(i50.std(ddof=1)), 'A', 3)} (D2D σ/mean "
                  f"{100 * i50.std(ddof=1) / i50.mean():.1f} %)" if len(group) > 1 else "")
        lines.append(f"size {size}: {len(group)} devices fitted, I50 = "
                     f"{_fmt_si(float(i50.mean()), 'A', 4)}{spread}, Δ = {delta.mean():.1f}, "
                     f"10-90 % width / I50 = {100 * rel.mean():.1f} %")
    return lines


def _binomial_error(p, n):
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    return np.sqrt(np.maximum(p * (1.0 - p), 0.25 / n) / n)


def _fit_rows(spec: PlotSpec, frame, procedure, x_range=None):
    """(x grid, fitted y, text) for the fit overlay of one trace; raises FitError if none."""
    from procedures import fits

    tau0 = float(getattr(procedure, "tau0", 1e-9) or 1e-9)
    exponent = float(getattr(procedure, "exponent", 1.0) or 1.0)
    if spec.fit == "switching":
        fine = frame[frame["Phase"] == "fine"] if "Phase" in frame else frame
        use = fine if len(fine) >= 3 else frame[frame["Phase"].isin(["coarse", "fine"])]
        use = use[np.isfinite(use["Write current (A)"].to_numpy(dtype=float))]
        current = np.abs(use["Write current (A)"].to_numpy(dtype=float))
        switched = use["Switched"].to_numpy(dtype=float)
        trials = use["Trials"].to_numpy(dtype=float)
        width = use["Pulse width (s)"].to_numpy(dtype=float)
        if current.size < 3:
            raise fits.FitError("fewer than 3 points")
        nb = fits.fit_neel_brown(current, switched, trials, width, tau0, exponent)
        lo, hi = x_range if x_range is not None else (current.min(), current.max())
        grid = np.linspace(min(lo, current.min()), max(hi, current.max()), 400)
        phase = "fine" if len(fine) >= 3 else "coarse"
        text = (f"Néel-Brown fit ({phase} scan, τ0 = {_fmt_si(tau0, 's')}, n = {exponent:g}): "
                f"I50 = {_fmt_err(nb.i50_A, nb.i50_err_A, 'A')}, "
                f"Ic0 = {_fmt_err(nb.ic0_A, nb.ic0_err_A, 'A')}, "
                f"Δ = {nb.delta:.1f} ± {nb.delta_err:.1f}, "
                f"10-90 % width = {_fmt_si(nb.width_10_90_A, 'A', 3)}")
        return grid, nb.probability(grid), text, nb
    if spec.fit == "tau":
        width = frame["Pulse width (s)"].to_numpy(dtype=float)
        switched = frame["Switched"].to_numpy(dtype=float)
        trials = frame["Trials"].to_numpy(dtype=float)
        current = float(np.nanmean(np.abs(frame["Write current (A)"].to_numpy(dtype=float))))
        if width.size < 3:
            raise fits.FitError("fewer than 3 points")
        tau = fits.fit_tau(width, switched, trials, current)
        grid = np.geomspace(width.min(), width.max(), 200)
        text = f"τ = {_fmt_err(tau.tau_s, tau.tau_err_s, 's')}"
        return grid, -np.expm1(-grid / tau.tau_s), text, None
    raise fits.FitError("no fit for this procedure")


class LiveCurve:
    """One experiment on the live plot: data traces per group, error bars, fit overlay."""

    def __init__(self, results, wdg: LivePlotWidget, color):
        self.results = results
        self.wdg = wdg
        self.color = pg.mkColor(color)
        entry = catalog_entry(type(results.procedure))
        self.spec = entry.plot if entry else PlotSpec(*results.procedure.DATA_COLUMNS[:2])
        self.items: list = []
        self.fit_text: list[str] = []
        self._rows_seen = -1
        self._visible = False
        self.fine_range: tuple[float, float] | None = None   # |current| range of fine scans
        self._fits: dict[str, tuple] = {}      # trace -> ((name, rows, range), fit or error)
        self._size_order: list[str] | None = None

    # ---------------------------------------------------------------- drawing
    def _clear_items(self):
        for item in self.items:
            self.wdg.plot.removeItem(item)
        self.items = []

    def _add(self, item):
        self.items.append(item)
        if self._visible:
            self.wdg.plot.addItem(item)

    def update_data(self):
        try:
            frame = self.results.data
        except Exception:                     # noqa: BLE001 - file not there yet
            return
        if len(frame) == self._rows_seen:
            return
        self._rows_seen = len(frame)
        self._clear_items()
        self.fit_text = []
        self.fine_range = None
        self._seen_sizes: list[str] = []
        self._legend_sizes: set[str] = set()
        self._device_fits: dict[str, tuple] = {}
        spec = self.spec
        if spec.x not in frame or spec.y not in frame:
            return
        groups = ([(None, frame)] if not spec.group or spec.group not in frame
                  else list(frame.groupby(spec.group, sort=False)))
        n_groups = len(groups)
        if spec.fit == "tau" and "Phase" in frame:      # the width scans, not the locate sweep
            groups = [(n, g) for n, g in groups if str(n).startswith("width")]
            n_groups = len(groups)
        for gi, (name, sub) in enumerate(groups):
            if spec.fit == "switching" and "Phase" in sub:
                sub = sub[sub["Phase"].isin(["coarse", "fine"])]
            x = sub[spec.x].to_numpy(dtype=float)
            y = sub[spec.y].to_numpy(dtype=float)
            ok = np.isfinite(x) & np.isfinite(y)
            if not ok.any():
                continue
            x = np.abs(x) if spec.abs_x else x
            color = (self.color if n_groups == 1 else
                     self._size_color(sub, gi, n_groups) if spec.group == "Device" else
                     pg.intColor(gi, max(n_groups, 6), maxValue=200))
            if spec.fit == "switching" and "Phase" in sub:
                if spec.log_x:
                    ok &= x > 0
                phase = sub["Phase"].to_numpy()
                coarse = ok & (phase == "coarse")
                fine = ok & (phase == "fine")
                # symbols as PlotDataItems: they follow the plot's log-x mode themselves
                if coarse.any():
                    self._add(pg.PlotDataItem(x[coarse], y[coarse], pen=None, symbol="o",
                                              symbolSize=6, symbolPen=pg.mkPen(color, width=1),
                                              symbolBrush=pg.mkBrush(255, 255, 255, 0)))
                if fine.any():
                    lo, hi = float(x[fine].min()), float(x[fine].max())
                    if self.fine_range is not None:
                        lo, hi = min(lo, self.fine_range[0]), max(hi, self.fine_range[1])
                    self.fine_range = (lo, hi)
                    err = _binomial_error(y[fine], sub["Trials"].to_numpy(dtype=float)[fine])
                    bar_x = np.log10(x[fine]) if spec.log_x else x[fine]   # drawn as given
                    self._add(pg.ErrorBarItem(x=bar_x, y=y[fine], height=2 * err,
                                              beam=0, pen=pg.mkPen(color, width=1)))
                    self._add(pg.PlotDataItem(x[fine], y[fine], pen=None, symbol="o",
                                              symbolSize=8, symbolPen=pg.mkPen("k", width=0.5),
                                              symbolBrush=pg.mkBrush(color)))
            else:
                if spec.log_x:
                    ok &= x > 0
                if spec.fit == "tau" and "Write current (A)" in sub:
                    current = np.nanmean(np.abs(sub["Write current (A)"].to_numpy(dtype=float)))
                    name = f"I = {_fmt_si(float(current), 'A')}"
                self._add(pg.PlotDataItem(x[ok], y[ok], pen=pg.mkPen(color, width=1.5), symbol="o",
                                          symbolSize=6, symbolBrush=pg.mkBrush(color),
                                          symbolPen=pg.mkPen("k", width=0.5),
                                          name=None if name is None else str(name)))
            if spec.fit:
                xs = x[ok]
                self._fit(spec, sub, color, name, (float(xs.min()), float(xs.max())))
        if not spec.fit:
            summary = getattr(self.results.procedure, "summary", None)
            if summary:
                self.fit_text.append(format_summary(summary))
        if spec.group == "Device" and len(self._device_fits) > 1:
            self.fit_text = size_statistics(self._device_fits, self._size_order or [])

    # hues of device sizes in a survey, smallest first (blue, green, orange, red, violet...)
    SIZE_HUES = (0.60, 0.33, 0.08, 0.0, 0.78, 0.5)

    def _size_color(self, sub, index: int, count: int):
        """Survey traces: one hue per device size (a legend entry each), shades within it."""
        size = str(sub["Size"].iloc[0]) if "Size" in sub and len(sub) else ""
        if self._size_order is None:
            self._size_order = self._sizes()
        sizes = self._size_order
        k = sizes.index(size) if size in sizes else index % len(self.SIZE_HUES)
        rank = sum(1 for s in self._seen_sizes if s == size)
        self._seen_sizes.append(size)
        color = pg.hsvColor(self.SIZE_HUES[k % len(self.SIZE_HUES)], sat=0.85,
                            val=0.95 - 0.08 * (rank % 6))
        if size and size not in self._legend_sizes:
            self._legend_sizes.add(size)
            key = pg.PlotDataItem([], [], pen=pg.mkPen(color, width=4), name=f"size {size}")
            key.legend_only = True
            self._add(key)
        return color

    def _sizes(self) -> list[str]:
        """Device sizes of the bench, smallest first (bench-file order of the groups)."""
        try:
            from procedures.session import load_bench

            config = load_bench(getattr(self.results.procedure, "bench_file", None))
            return list(dict.fromkeys(g.size for g in sorted(config.groups, key=lambda g: g.width_m)))
        except Exception:                     # noqa: BLE001 - colours only
            return []

    def _fit(self, spec, sub, color, name, x_range):
        from procedures.fits import FitError

        key = (str(name), len(sub), x_range)
        cached = self._fits.get(str(name))
        if cached is not None and cached[0] == key:
            outcome = cached[1]                # this trace's rows have not changed: no refit
        else:
            try:
                outcome = _fit_rows(spec, sub, self.results.procedure, x_range)
            except (FitError, ValueError, KeyError, ZeroDivisionError, FloatingPointError) as exc:
                outcome = exc
            self._fits[str(name)] = (key, outcome)
        if isinstance(outcome, Exception):
            if self.results.procedure.status != Procedure.QUEUED:
                self.fit_text.append(f"{name}: fit waits for data across the transition "
                                     f"({str(outcome).split(';')[0][:90]})")
            return
        grid, prob, text, fit = outcome
        i50 = fit.i50_A if fit is not None else float("nan")
        if fit is not None and "Size" in sub and len(sub):
            self._device_fits[str(name)] = (str(sub["Size"].iloc[0]), fit)
        self._add(pg.PlotDataItem(grid, prob, pen=pg.mkPen(color, width=2.5,
                                                        style=QtCore.Qt.PenStyle.SolidLine)))
        if math.isfinite(i50):
            self._add(pg.InfiniteLine(pos=math.log10(i50) if spec.log_x else i50, angle=90,
                                      pen=pg.mkPen(color, width=1, style=QtCore.Qt.PenStyle.DashLine)))
        self.fit_text.append((f"{name}: " if name is not None else "") + text)

    # ---------------------------------------------------------------- visibility
    def show(self):
        if not self._visible:
            self._visible = True
            for item in self.items:
                self.wdg.plot.addItem(item)

    def hide(self):
        if self._visible:
            self._visible = False
            for item in self.items:
                self.wdg.plot.removeItem(item)

    def set_color(self, color):
        self.color = pg.mkColor(color)
        self._rows_seen = -1
        self.update_data()


class _LogLabelAxis(pg.AxisItem):
    """A bottom axis whose log-mode labels stay readable: only 1, 2 and 5 x 10^k are
    labelled (pyqtgraph labels every minor tick of a short log range, and they collide)."""

    def logTickStrings(self, values, scale, spacing):
        strings = super().logTickStrings(values, scale, spacing)
        out = []
        for value, text in zip(values, strings):
            mantissa = 10 ** (float(value) % 1.0)
            out.append(text if min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6 else "")
        return out


class LivePlotWidget(TabWidget, QtWidgets.QWidget):
    """The switching curve (or loop) of the runs, with the fit overlay, redrawn as rows arrive.

    Plugs into pymeasure's ManagedWindow like its PlotWidget: ``new_curve(results)`` makes a
    :class:`LiveCurve`, ``load`` / ``remove`` show and hide it; a timer polls the running
    experiments' results files.
    """

    LABEL_STYLE: ClassVar[dict] = {"font-size": "11pt", "color": "#000"}

    def __init__(self, name="Live plot", refresh_time_s: float = 0.2, parent=None):
        super().__init__(name, parent)
        self.curves: list[LiveCurve] = []
        self.spec: PlotSpec | None = None
        self.graphics = pg.PlotWidget(self, background="#ffffff",
                                      axisItems={"bottom": _LogLabelAxis(orientation="bottom")})
        self.plot = self.graphics.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextColor="#222",
                                          brush=pg.mkBrush(255, 255, 255, 200))
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setPen(pg.mkPen("#333"))
            self.plot.getAxis(axis).setTextPen(pg.mkPen("#222"))
        self.title = QtWidgets.QLabel(self)
        self.title.setStyleSheet("font-weight: bold; font-size: 11pt")
        self.title.setWordWrap(True)
        self.zoom_box = QtWidgets.QCheckBox("Zoom to the transition", self)
        self.zoom_box.setChecked(True)
        self.zoom_box.setToolTip("When new points arrive, show the fine scan's current range "
                                 "(with margins); untick to keep your own zoom")
        self.zoom_box.toggled.connect(lambda on: self._zoom() if on else None)
        self.fit_label = QtWidgets.QLabel(self)
        self.fit_label.setWordWrap(True)
        self.fit_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fit_label.setStyleSheet("font-family: monospace; font-size: 10pt; color: #222")
        self.fit_label.setMinimumHeight(36)
        layout = QtWidgets.QVBoxLayout(self)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.zoom_box, 0, QtCore.Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)
        self.legend_label = QtWidgets.QLabel(self)
        self.legend_label.setStyleSheet("color: #444")
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.legend_label)
        layout.addWidget(self.fit_label)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.poll)
        self.timer.start(int(refresh_time_s * 1e3))

    # ---------------------------------------------------------------- axes
    LEGENDS: ClassVar[dict] = {
        "switching": "○ coarse scan    ● fine scan (bars: binomial 1σ)    ━ Néel-Brown fit    "
                     "┆ I50 (P = 0.5)",
        "tau": "● P vs pulse width at each write current    ━ fit P = 1 - exp(-t/τ)",
        "": "● measured points, in the order they were taken (one trace per branch / device)",
    }

    def set_spec(self, spec: PlotSpec, title: str = ""):
        self.spec = spec
        self.title.setText(title)
        self.legend_label.setText(self.LEGENDS.get(spec.fit, self.LEGENDS[""]))
        for axis, column in (("bottom", spec.x), ("left", spec.y)):
            label, units = _split_units(column)
            if axis == "bottom" and spec.abs_x:
                label = f"|{label.strip()}|"
            self.plot.setLabel(axis, label, units=units, **self.LABEL_STYLE)
        self.plot.setLogMode(x=spec.log_x, y=False)
        if spec.y == "Switching probability":
            self.plot.setYRange(-0.03, 1.03, padding=0)
            self.plot.enableAutoRange(axis="y", enable=False)
        else:
            self.plot.enableAutoRange(axis="y", enable=True)
        self.plot.enableAutoRange(axis="x", enable=True)
        for curve in self.curves:
            self._place(curve)
        self._update_fit_label()

    def set_title(self, text: str):
        self.title.setText(text)

    def _place(self, curve: LiveCurve):
        if curve.spec == self.spec and getattr(curve, "wanted", True):
            curve.show()
        else:
            curve.hide()

    # ---------------------------------------------------------------- TabWidget protocol
    def new_curve(self, results, color=None, **kwargs):
        curve = LiveCurve(results, self, color if color is not None else pg.intColor(0))
        self.curves.append(curve)
        return curve

    def load(self, curve: LiveCurve):
        curve.wanted = True
        curve._rows_seen = -1
        curve.update_data()
        self._place(curve)
        self._update_fit_label()

    def remove(self, curve: LiveCurve):
        curve.wanted = False
        curve.hide()
        self._update_fit_label()

    def set_color(self, curve: LiveCurve, color):
        curve.set_color(color)
        self._place(curve)

    def clear_widget(self):
        for curve in self.curves:
            curve.hide()

    # ---------------------------------------------------------------- refresh
    def poll(self):
        changed = False
        for curve in self.curves:
            if not getattr(curve, "wanted", False):
                continue
            before = curve._rows_seen
            if curve.results.procedure.status == Procedure.RUNNING or before < 0:
                curve.update_data()
                changed |= curve._rows_seen != before
                self._place(curve)
        if changed:
            self._update_fit_label()
            self._zoom()

    def _zoom(self):
        """Show the fine scans' current range (switching curves) when the box is ticked."""
        if not self.zoom_box.isChecked() or self.spec is None or self.spec.fit != "switching":
            return
        lo, hi = math.inf, -math.inf
        for curve in self.curves:
            if curve._visible and curve.fine_range is not None:
                lo, hi = min(lo, curve.fine_range[0]), max(hi, curve.fine_range[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            self.plot.enableAutoRange(axis="x", enable=True)
            return
        if self.spec.log_x:
            lo, hi = math.log10(lo), math.log10(hi)
            pad = 0.25 * (hi - lo) + 0.02
            self.plot.setXRange(lo - pad, hi + pad, padding=0)
            return
        pad = 0.6 * (hi - lo)
        self.plot.setXRange(max(lo - pad, 0.0), hi + pad, padding=0)

    def refresh(self, curve: LiveCurve | None = None):
        for c in ([curve] if curve is not None else self.curves):
            c._rows_seen = -1
            c.update_data()
            self._place(c)
        self._update_fit_label()
        self._zoom()

    def _update_fit_label(self):
        lines = []
        for curve in self.curves:
            if curve._visible and curve.fit_text:
                lines.extend(curve.fit_text[-4:])
        waiting = ("fit: appears when the data cross the transition"
                   if self.spec is not None and self.spec.fit else "")
        self.fit_label.setText("\n".join(lines[-6:]) if lines else waiting)

    def visible_points(self) -> int:
        """How many data points the visible traces hold (tests, status)."""
        count = 0
        for curve in self.curves:
            if not curve._visible:
                continue
            for item in curve.items:
                if isinstance(item, pg.PlotDataItem) and item.opts.get("symbol") \
                        and not getattr(item, "legend_only", False):
                    x, _ = item.getData()
                    count += 0 if x is None else len(x)
        return count


def _split_units(column: str) -> tuple[str, str | None]:
    if column.endswith(")") and "(" in column:
        label, units = column[:-1].rsplit("(", 1)
        units = units.replace("**2", "²")
        return label.strip(), units
    return column, None


__all__ = ["BenchSession", "BenchStatusPanel", "DevicePanel", "InstrumentState", "LiveCurve",
           "LivePlotWidget", "output_queries", "probe_instruments"]
