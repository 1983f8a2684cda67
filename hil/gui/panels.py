"""Side panels of the lab window: the device chooser and the bench status panel.

The status panel shows what :func:`hil.gui.status.read_status` read through the bench's
roles (identity, output states), the safety limits of the selected device, and the cost of
the runs (bus round trips, projected real-bench time) and of its own status queries.
"""

from __future__ import annotations

import math

from pymeasure.display.Qt import QtCore, QtGui, QtWidgets

from hil.gui.session import BenchSession
from hil.gui.status import InstrumentState, short_idn
from hil.gui.units import fmt_si


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
        self.refresh_button.setToolTip("Ask every instrument *IDN? and its output state through "
                                       "the bench's roles (only while no run is in progress)")
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
        self.cost_status = QtWidgets.QLabel("-", cost_box)
        self.cost_status.setToolTip("bus round trips of this panel's own instrument queries "
                                    "(counted by its bench, like a run's)")
        cost_form.addRow("Run", self.cost_run)
        cost_form.addRow("Bus round trips", self.cost_trips)
        cost_form.addRow("Projected real-bench time", self.cost_time)
        cost_form.addRow("All runs of this window", self.cost_total)
        cost_form.addRow("Virtual clock", self.cost_clock)
        cost_form.addRow("Status queries", self.cost_status)

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
            text = (f"{value:.3g} {unit}" if unit == "A/m²" else fmt_si(float(value), unit))
            self.limit_labels[key].setText(text)

    def show_devices_note(self, text: str):
        self.limits_title.setText(text)

    def show_cost(self, run_name: str, round_trips: float, projected_s: float,
                  total_trips: float, total_s: float):
        self.cost_run.setText(run_name or "-")
        self.cost_run.setToolTip(run_name)
        self.cost_trips.setText(f"{round_trips:.0f}" if math.isfinite(round_trips) else "-")
        self.cost_time.setText(fmt_si(projected_s, "s"))
        self.cost_total.setText(f"{total_trips:.0f} round trips, {fmt_si(total_s, 's')}")
        status_trips = self.session.status_round_trips()
        self.cost_status.setText("-" if status_trips is None else f"{status_trips} round trips")
        clock = self.session.virtual_time_s()
        self.cost_clock.setText(fmt_si(clock, "s") if clock is not None
                                else ("wall time (real bench)" if not self.session.simulated
                                      else "-"))


__all__ = ["BenchStatusPanel", "DevicePanel"]
