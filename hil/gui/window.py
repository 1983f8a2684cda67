"""``hil gui [BENCH.toml]``: the lab window for characterization runs.

Built on pymeasure's ``ManagedWindow`` (Manager queue, Worker thread, results browser,
pyqtgraph plots). What this window adds:

- a procedure chooser over the characterization procedures of ``procedures/`` (switching
  probability vs amplitude and vs width, R-H and R-I loops, variability survey, endurance);
- a device chooser (chip / size / index) from the bench file's devices;
- a live plot that shows the switching curve as rows arrive, with the Neel-Brown fit of
  ``procedures.fits`` redrawn over it (or the loop, or P vs width with the tau fit);
- a bench status panel: instrument identification and output states (read through the
  bench's roles, so every query is counted in its round trips), the safety limits of the
  selected device, bus round trips and the projected real-bench time of the runs (the
  simulated bench's virtual clock);
- one bench per window: every run and the status panel go through the window's single
  VISA library (the simulated bench by default; real instruments with ``backend="visa"``),
  so the panel shows the instruments the runs drive.

The window runs the classes of ``procedures/`` themselves (results files name them), with
``procedure.visa_library`` set to the window's library. Abort stops the run before its
next bench operation (:mod:`procedures.stopping`); the procedure's ``shutdown`` leaves the
``open_bench`` context and the drivers turn every output off (the status panel re-reads the
instruments afterwards and shows it).
"""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
import tempfile
import time
import weakref
from pathlib import Path

import pyqtgraph as pg
from pymeasure.display.curves import ResultsCurve
from pymeasure.display.Qt import QtCore, QtWidgets
from pymeasure.display.widgets import InputsWidget
from pymeasure.display.widgets.results_dialog import ResultsDialog
from pymeasure.display.windows import ManagedWindow
from pymeasure.experiment import Procedure, Results, unique_filename

from hil.gui.catalog import CATALOG, CatalogEntry, catalog_entry, input_names, record_failure
from hil.gui.cli import BACKENDS, DEFAULT_DIRECTORY, add_gui_arguments
from hil.gui.liveplot import LivePlotWidget
from hil.gui.panels import BenchStatusPanel, DevicePanel
from hil.gui.session import BenchSession
from hil.gui.status import read_status
from procedures.cli import catalog_name, require_elements
from procedures.runner import new_results

log = logging.getLogger(__name__)

AUTO_FILENAME = "auto"
COST_REFRESH_MS = 500
CLOSE_TIMEOUT_S = 60.0


_SINGLETONS_GUARDED = False


def guard_pyside_singletons() -> bool:
    """Work around PySide6 6.12 on CPython < 3.12 (returns True where it applied).

    PySide6 6.12.0 hands back ``None`` / ``True`` / ``False`` from Qt calls without a new
    reference, as if they were immortal objects - which they are only from CPython 3.12
    on. On 3.11 every such call drains their reference counts: a plot that redraws a few
    times a second aborts the process within minutes ("Fatal Python error: none_dealloc"
    or "bool_dealloc"), in the middle of a run, before the bench outputs can be turned off.
    PySide6 6.11 and earlier do not do this. The fix is an install without that pairing
    (PySide6 < 6.12 on Python 3.11, or Python >= 3.12); until then the window gives the
    three singletons a reference count no session can exhaust, as CPython 3.12 does.
    """
    global _SINGLETONS_GUARDED
    if _SINGLETONS_GUARDED or sys.version_info >= (3, 12):
        return _SINGLETONS_GUARDED
    try:
        import PySide6
        version = tuple(int(p) for p in PySide6.__version__.split(".")[:2])
    except (ImportError, ValueError):
        return False
    if version < (6, 12):
        return False
    import ctypes

    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40   # ob_refcnt
    _SINGLETONS_GUARDED = True
    log.warning("PySide6 %s on Python %d.%d drains the reference counts of None/True/False; "
                "applied the lab window's guard. Install PySide6-Essentials < 6.12 (or use "
                "Python >= 3.12) to make it unnecessary.", PySide6.__version__,
                *sys.version_info[:2])
    return True


class GuiThreadGarbageCollector:
    """Cyclic garbage collection in the GUI thread only, on a Qt timer, while windows are open.

    pymeasure runs each procedure in a worker thread. If Python's collector fires there, it
    may free Qt objects outside the GUI thread, which can deadlock PySide (seen as a rare
    hang in the window's tests). So automatic collection is off while a window is open,
    and this timer collects the generations that are due, from the GUI thread.
    """

    _open = 0                      # windows holding the collector off
    _was_enabled = True

    def __init__(self, interval_ms: int = 500):
        if GuiThreadGarbageCollector._open == 0:
            GuiThreadGarbageCollector._was_enabled = gc.isenabled()
            gc.disable()
        GuiThreadGarbageCollector._open += 1
        self._stopped = False
        self.timer = QtCore.QTimer()
        self.timer.timeout.connect(self.collect_due)
        self.timer.start(interval_ms)

    @staticmethod
    def collect_due() -> None:
        thresholds, counts = gc.get_threshold(), gc.get_count()
        for generation in (2, 1, 0):      # the oldest due generation includes the younger
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.timer.stop()
        GuiThreadGarbageCollector._open -= 1
        if GuiThreadGarbageCollector._open == 0 and GuiThreadGarbageCollector._was_enabled:
            gc.enable()


class _ResultsCurve(ResultsCurve):
    """pymeasure's results curve, drawn as symbols, empty where a run lacks the column."""

    def update_data(self):
        try:
            data = self.results.data
            self.setData(data[self.x].to_numpy(dtype=float), data[self.y].to_numpy(dtype=float))
        except (KeyError, ValueError, TypeError):
            self.setData([], [])


class LabWindow(ManagedWindow):
    """The spin-hil lab window. ``LabWindow(BenchSession(...))``; see the module doc."""

    def __init__(self, session: BenchSession | None = None, directory: str | Path | None = None,
                 probe: bool = True):
        guard_pyside_singletons()
        if not CATALOG:
            raise RuntimeError("no characterization procedures found in procedures/: the lab "
                               "window needs procedures.switching; reinstall spin-hil")
        self.session = session or BenchSession()
        self._garbage_collector = GuiThreadGarbageCollector()
        # a window dropped without close() (a script, a test) releases it when collected
        weakref.finalize(self, self._garbage_collector.stop)
        self.entry: CatalogEntry = CATALOG[0]
        self.last_error = ""
        self.live_plot = LivePlotWidget("Live plot")
        super().__init__(
            procedure_class=self.entry.cls,
            inputs=input_names(self.entry.cls),
            displays=("device", "pulse_width"),
            x_axis=self.entry.plot.x,
            y_axis=self.entry.plot.y,
            widget_list=(self.live_plot,),
            inputs_in_scrollarea=True,
            enable_file_input=True,
        )
        # runs of procedures with other columns share the browser and the plots
        self.browser.measured_quantities = set()
        self.browser.header().resizeSection(1, 300)
        self.setWindowTitle(f"spin-hil lab - {self.session.title()}")
        self.directory = str(directory or DEFAULT_DIRECTORY)
        self.filename = AUTO_FILENAME
        self.file_input.filename_input.setToolTip(
            f"'{AUTO_FILENAME}': <procedure>_<device>_<date>_<n>.csv; or a name with "
            f"placeholders such as {{Pulse width}}")
        self._build_side_panels()
        self.manager.finished.connect(self._run_ended)
        self.manager.abort_returned.connect(self._run_ended)
        self.manager.failed.connect(self._run_failed)
        self.manager.running.connect(self._run_started)
        self._cost_timer = QtCore.QTimer(self)
        self._cost_timer.timeout.connect(self.update_cost)
        self._cost_timer.start(COST_REFRESH_MS)
        self.set_procedure(0)
        self.resize(1500, 940)
        if probe:
            self.refresh_instruments()

    # ------------------------------------------------------------------ layout
    def _build_side_panels(self):
        inputs_layout = self.inputs.parentWidget().layout()

        chooser_box = QtWidgets.QGroupBox("Procedure", self)
        self.procedure_combo = QtWidgets.QComboBox(chooser_box)
        for entry in CATALOG:
            self.procedure_combo.addItem(entry.title)
        self.procedure_doc = QtWidgets.QLabel(chooser_box)
        self.procedure_doc.setWordWrap(True)
        self.procedure_doc.setStyleSheet("color: #444")
        box_layout = QtWidgets.QVBoxLayout(chooser_box)
        box_layout.addWidget(self.procedure_combo)
        box_layout.addWidget(self.procedure_doc)
        inputs_layout.insertWidget(0, chooser_box)

        self.device_panel = DevicePanel(self.session, self)
        inputs_layout.insertWidget(1, self.device_panel)
        self.procedure_combo.currentIndexChanged.connect(self.set_procedure)

        self.status_panel = BenchStatusPanel(self.session, self)
        self.status_panel.refresh_requested.connect(self.refresh_instruments)
        self.device_panel.device_changed.connect(self._device_changed)
        dock = QtWidgets.QDockWidget("Bench status", self)
        dock.setWidget(self.status_panel)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.status_dock = dock
        self.status_panel.setMinimumWidth(470)
        self.statusBar().showMessage(self.session.title())
        self._device_changed(self.device_panel.device_name())

    # ------------------------------------------------------------------ procedure choice
    def set_procedure(self, index: int) -> None:
        """Show the inputs, device chooser and plot axes of catalog entry ``index``."""
        entry = CATALOG[index]
        if self.procedure_combo.currentIndex() != index:
            self.procedure_combo.setCurrentIndex(index)   # re-enters through the signal
            return
        old = self.inputs
        if entry is not self.entry or not isinstance(old, InputsWidget) or \
                old._procedure_class is not entry.cls:
            new = InputsWidget(entry.cls, input_names(entry.cls), parent=old.parentWidget(),
                               hide_groups=self.hide_groups, inputs_in_scrollarea=True)
            old.parentWidget().layout().replaceWidget(old, new)
            old.hide()
            old.deleteLater()
            self.inputs = new
        self.entry = entry
        self.procedure_class = entry.cls
        doc = (entry.cls.__doc__ or "").strip().split("\n\n")[0]
        self.procedure_doc.setText(" ".join(doc.split()))
        self.device_panel.setEnabled(entry.has_device)
        self.device_panel.setTitle("Device" if entry.has_device
                                   else "Device (this procedure takes its device list below)")
        self._set_plot_columns(entry)
        self.live_plot.set_spec(entry.plot, entry.title)
        self._device_changed(self.device_panel.device_name())

    def _set_plot_columns(self, entry: CatalogEntry):
        pw = self.plot_widget
        columns = list(entry.cls.DATA_COLUMNS)
        pw.columns = columns
        for combo in (pw.columns_x, pw.columns_y):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(columns)
            combo.blockSignals(False)
        pw.columns_x.setCurrentText(entry.plot.x)
        pw.columns_y.setCurrentText(entry.plot.y)
        pw.plot_frame.change_x_axis(entry.plot.x)
        pw.plot_frame.change_y_axis(entry.plot.y)

    def new_curve(self, wdg, results, color=None, **kwargs):
        if color is None:
            color = pg.intColor(self.browser.topLevelItemCount() % 8)
        if wdg is self.plot_widget:
            curve = _ResultsCurve(results, wdg=wdg, x=wdg.plot_frame.x_axis,
                                  y=wdg.plot_frame.y_axis, symbol="o", symbolSize=5,
                                  pen=pg.mkPen(color, style=QtCore.Qt.PenStyle.NoPen),
                                  symbolBrush=pg.mkBrush(color), symbolPen=pg.mkPen(color),
                                  antialias=False)
            curve.color = pg.mkColor(color)
            return curve
        return wdg.new_curve(results, color=color, **kwargs)

    def _device_changed(self, name: str):
        if self.entry.has_device:
            self.status_panel.show_device(name)
        else:
            self.status_panel.show_device(name)
            self.status_panel.show_devices_note(
                f"<b>{name}</b> shown; the survey checks every listed device against its "
                f"own size's limits")

    # ------------------------------------------------------------------ runs
    def make_procedure(self):
        procedure = super().make_procedure()
        procedure.bench_file = self.session.bench_file_parameter
        procedure.backend = self.session.backend
        if self.entry.has_device:
            procedure.device = self.device_panel.device_name()
        procedure.visa_library = self.session.visa_library
        return procedure

    def _filename(self, procedure) -> str:
        base = self.file_input.filename_base
        if base.strip() in ("", AUTO_FILENAME):
            device = str(getattr(procedure, "device", "") or getattr(procedure, "devices", ""))
            short = type(procedure).__name__.replace("Procedure", "")
            base = f"{short}_{device}_" if device else f"{short}_"
            base = re.sub(r"[^A-Za-z0-9_.-]+", "-", base)
        return unique_filename(self.directory, prefix=base, datetimeformat="%Y%m%d",
                               procedure=procedure, ext=self.file_input.filename_extension or "csv")

    def queue(self, procedure=None):
        """Validate against the bench file, then queue; a bad value opens an error box."""
        if procedure is None:
            procedure = self.make_procedure()
        if getattr(procedure, "visa_library", None) is None:
            procedure.visa_library = self.session.visa_library
        record_failure(procedure)
        try:
            procedure.validate()
            name = catalog_name(procedure)
            if name is not None:              # a switching fit on a synapse: refused as the CLI does
                require_elements(name, procedure)
        except Exception as exc:              # noqa: BLE001 - ParameterError, BenchFileError...
            self.show_error("Cannot queue this run", str(exc))
            return None
        try:
            if self.store_measurement:
                filename = self._filename(procedure)
            else:
                filename = tempfile.mktemp(prefix="spin-hil_", suffix=".csv")
            results = new_results(procedure, filename)     # its header names the run's identity
        except (OSError, KeyError) as exc:
            self.show_error("Cannot create the results file",
                            f"{exc}. Choose a directory you can write to and a file name "
                            f"without invalid placeholders.")
            return None
        experiment = self.new_experiment(results)
        self.manager.queue(experiment)
        self.statusBar().showMessage(f"queued {Path(filename).name}")
        return experiment

    def _run_started(self, experiment):
        self.status_panel.mark_running()
        procedure = experiment.procedure
        entry = catalog_entry(type(procedure))
        if entry is not None and entry.plot == self.entry.plot:
            self.live_plot.set_title(f"{entry.title}: {run_summary(procedure)}")
        self.status_panel.show_busy("run in progress: instruments are asked again when it ends")
        self.statusBar().showMessage(f"running {Path(experiment.data_filename).name}")

    def _run_ended(self, experiment):
        status = experiment.procedure.status
        word = {Procedure.FINISHED: "finished", Procedure.ABORTED: "aborted"}.get(status, "ended")
        self.statusBar().showMessage(f"{word}: {Path(experiment.data_filename).name}")
        self.live_plot.refresh()
        self.update_cost()
        self.refresh_instruments()

    def _run_failed(self, experiment):
        procedure = experiment.procedure
        message = getattr(procedure, "error_message", "") or "see the Experiment Log tab"
        self.live_plot.refresh()
        self.refresh_instruments()
        self.show_error(f"Run failed: {Path(experiment.data_filename).name}",
                        f"{message}\n\nThe bench outputs were turned off. Fix the parameter "
                        f"named above and queue the run again.")

    def show_error(self, title: str, text: str) -> None:
        """An error for the user: what was wrong and what to do (non-blocking box + log)."""
        self.last_error = f"{title}: {text}"
        log.error(self.last_error)
        self.statusBar().showMessage(title)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, text,
                                    QtWidgets.QMessageBox.StandardButton.Ok, self)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self._error_box = box

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event):
        """Closing the window (or Ctrl-C / SIGTERM from ``main``) aborts a run first and
        waits until the procedure's shutdown has turned the outputs off."""
        try:
            self._close(event)
        finally:
            self._garbage_collector.stop()

    def _close(self, event):
        if self.manager.is_running():
            self.statusBar().showMessage("closing: aborting the run, turning the outputs off")
            log.warning("window closed during a run: aborting it and turning the outputs off")
            self.abort()
            if not self.wait_idle(CLOSE_TIMEOUT_S):
                log.critical("the run did not stop within %.0f s: check the instruments and "
                             "turn their outputs off by hand", CLOSE_TIMEOUT_S)
        self._cost_timer.stop()
        self.session.close()
        self.live_plot.timer.stop()
        self.plot_widget.plot_frame.timer.stop()
        # ManagedWindow hooks the root logger and the application's quit; a closed window
        # must not receive either (its widgets may be gone before the process ends)
        logging.getLogger().removeHandler(self.log_widget.handler)
        app = QtCore.QCoreApplication.instance()
        if app is not None and not getattr(self, "_unhooked", False):
            self._unhooked = True
            try:
                app.aboutToQuit.disconnect(self.quit)
            except (RuntimeError, TypeError):
                log.debug("aboutToQuit was not connected to this window")
        super().closeEvent(event)

    def wait_idle(self, timeout_s: float) -> bool:
        """Process events until no run is in progress (True) or ``timeout_s`` passes."""
        end = time.monotonic() + timeout_s
        while self.manager.is_running() and time.monotonic() < end:
            QtWidgets.QApplication.processEvents()
            time.sleep(0.01)
        return not self.manager.is_running()

    # ------------------------------------------------------------------ earlier results
    def open_experiment(self):
        """The browser's Open button: pick results files, show them like a finished run."""
        dialog = ResultsDialog(self.procedure_class, widget_list=self.widget_list)
        dialog.setDirectory(str(Path(self.directory).resolve()))
        if dialog.exec():
            self.open_results([f for f in dialog.selectedFiles() if f])

    def open_results(self, filenames) -> list:
        """Load results files (this window's, or the CLI's) into the browser and the plots."""
        opened = []
        for filename in map(str, filenames):
            name = Path(filename).name
            if filename in self.manager.experiments:
                self.show_error("Already open", f"{name} is already in the browser: tick its "
                                                f"box to show it")
                continue
            try:
                results = Results.load(filename)
                experiment = self.new_experiment(results)
            except Exception as exc:           # noqa: BLE001 - any unreadable file
                self.show_error("Cannot open the results file",
                                f"{filename}: {exc}. Open a CSV written by spin-hil (the lab "
                                f"window or `hil characterize`): a pymeasure Results file.")
                continue
            experiment.browser_item.progressbar.setValue(100)
            self.manager.load(experiment)
            for curve in experiment.curve_list:
                if curve:
                    curve.update_data()
            opened.append(experiment)
            log.info("opened results file %s", filename)
        if opened:
            entry = catalog_entry(type(opened[-1].procedure))
            if entry is not None and entry is not self.entry:
                self.set_procedure(CATALOG.index(entry))
            self.live_plot.refresh()
        return opened

    def set_parameters(self, parameters):
        """"Use These Parameters" of the browser: procedure, device and inputs of a run."""
        names = set(parameters)
        for index, entry in enumerate(CATALOG):
            if set(entry.cls().parameter_objects()) == names:
                if entry is not self.entry:
                    self.set_procedure(index)
                break
        self.inputs.set_parameters(parameters)
        device = parameters.get("device")
        if device is not None and self.entry.has_device:
            try:
                self.device_panel.set_device(str(device.value))
            except KeyError as exc:
                self.show_error("Device not on this bench", f"{exc.args[0] if exc.args else exc}")

    # ------------------------------------------------------------------ status
    def refresh_instruments(self) -> bool:
        """Ask the instruments for IDN and outputs; skipped (False) while a run uses the bus."""
        if self.manager.is_running():
            self.status_panel.show_busy("run in progress: instruments are asked again when it ends")
            return False
        states = read_status(self.session)
        self.status_panel.show_states(states, time.strftime("%H:%M:%S"))
        self.update_cost()
        return True

    def instrument_states(self):
        return self.status_panel.states

    def update_cost(self):
        experiments = list(self.manager.experiments.queue)
        total_trips = total_s = 0.0
        current = None
        for experiment in experiments:
            trips, secs = _cost_of(experiment)
            total_trips += trips
            total_s += secs
            if experiment.procedure.status in (Procedure.RUNNING, Procedure.FINISHED,
                                               Procedure.ABORTED, Procedure.FAILED):
                current = experiment
        if self.manager.is_running():
            current = self.manager.running_experiment()
        if current is None:
            self.status_panel.show_cost("", float("nan"), float("nan"), total_trips, total_s)
            return
        trips, secs = _cost_of(current)
        self.status_panel.show_cost(Path(current.data_filename).name, trips, secs,
                                    total_trips, total_s)

    # ------------------------------------------------------------------ images
    def save_screenshot(self, path: str | Path) -> Path:
        """Save the whole window as a PNG (works offscreen)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        QtWidgets.QApplication.processEvents()
        if not self.grab().save(str(path)):
            raise OSError(f"could not write {path}: check the folder exists and is writable")
        return path


def run_summary(procedure) -> str:
    """One line naming what a run measures (device, pulse width, trials)."""
    parts = []
    device = getattr(procedure, "device", None) or getattr(procedure, "devices", None)
    if device:
        parts.append(f"device {device}" if "/" in str(device) else f"devices {device}")
    width = getattr(procedure, "pulse_width", None)
    if getattr(procedure, "width_min", None) and getattr(procedure, "width_max", None):
        parts.append(f"widths {pg.siFormat(float(procedure.width_min), suffix='s')} to "
                     f"{pg.siFormat(float(procedure.width_max), suffix='s')} (reference "
                     f"{pg.siFormat(float(width), suffix='s')})")
    elif width:
        parts.append(f"{pg.siFormat(float(width), suffix='s')} pulses")
    trials = getattr(procedure, "trials", None)
    if trials:
        parts.append(f"{int(trials)} trials per point")
    field = getattr(procedure, "bias_field", None)
    if field:
        parts.append(f"bias field {pg.siFormat(float(field), suffix='T')}")
    return ", ".join(parts)


def _cost_of(experiment) -> tuple[float, float]:
    try:
        data = experiment.results.data
    except Exception:                          # noqa: BLE001
        return 0.0, 0.0
    trips = float(data["Round trips"].sum()) if "Round trips" in data else 0.0
    secs = (float(data["Projected bench time (s)"].sum())
            if "Projected bench time (s)" in data else 0.0)
    return trips, secs


def _display_problem() -> str:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        return ("no display found (DISPLAY is not set): run `hil gui` on a desktop session, "
                "or set QT_QPA_PLATFORM=offscreen to run it headless (tests, screenshots)")
    return ""


def main(args=None) -> int:
    """Entry of ``hil gui [BENCH.toml]``: ``args.bench`` (path or None), optional
    ``args.backend`` ("sim" default, "visa" for real instruments) and ``args.out``."""
    bench = getattr(args, "bench", None)
    backend = getattr(args, "backend", None) or "sim"
    if backend not in BACKENDS:
        print(f"hil gui: backend {backend!r} is not 'sim' (simulated bench) or 'visa' (real "
              f"instruments)", file=sys.stderr)
        return 2
    problem = _display_problem()
    if problem:
        print(f"hil gui: {problem}", file=sys.stderr)
        return 2
    try:
        session = BenchSession(bench, backend)
    except Exception as exc:                   # noqa: BLE001 - bench file / VISA errors
        print(f"hil gui: cannot open the bench: {exc}. Give a bench TOML file (`hil bench "
              f"show` prints the default one's layout) or none for the built-in default bench.",
              file=sys.stderr)
        return 2
    guard_pyside_singletons()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("spin-hil lab")
    window = LabWindow(session, directory=getattr(args, "out", None))
    window.show()
    _close_on_signals(app)
    return int(app.exec() or 0)


def _close_on_signals(app) -> None:
    """Ctrl-C and SIGTERM close the windows (aborting a run, outputs off) instead of killing
    the process mid-run. Qt's event loop does not run Python signal handlers by itself: a
    light timer lets it."""
    import signal

    def handler(signum, _frame):
        log.warning("signal %d: closing the lab window (a run is aborted, outputs go off)", signum)
        QtCore.QTimer.singleShot(0, app.closeAllWindows)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    heartbeat = QtCore.QTimer(app)
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)


__all__ = ["LabWindow", "add_gui_arguments", "guard_pyside_singletons", "main"]
