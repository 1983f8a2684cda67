"""The lab window's live plot: a run's rows as they arrive, with the procedures' fits.

Each experiment is a :class:`LiveCurve` (data traces per group, binomial error bars, the fit
overlay); :class:`LivePlotWidget` plugs into pymeasure's ``ManagedWindow`` like its
PlotWidget. What is fitted and how is the procedures' own: a switching trace is fitted by
:func:`procedures.switching.fit_live_sweep`, a width scan by
:func:`procedures.fits.fit_tau`, and a survey's per-size statistics are
:func:`procedures.variability.size_summaries` of :func:`procedures.variability.device_result`
fits - the window only draws them.
"""

from __future__ import annotations

import logging
import math
from typing import ClassVar

import numpy as np
import pyqtgraph as pg
from pymeasure.display.Qt import QtCore, QtWidgets
from pymeasure.display.widgets import TabWidget
from pymeasure.experiment import Procedure

from hil.gui.catalog import PlotSpec, catalog_entry
from hil.gui.units import fmt_err, fmt_si, format_summary, split_units

log = logging.getLogger(__name__)


def _binomial_error(p, n):
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    return np.sqrt(np.maximum(p * (1.0 - p), 0.25 / n) / n)


def _fit_rows(spec: PlotSpec, frame, procedure, x_range):
    """(x grid, fitted y, text, Neel-Brown fit or None) for the fit overlay of one trace over
    ``x_range``; raises FitError if there is none yet. The rows fitted and the fit are the
    procedures' (:func:`procedures.switching.fit_live_sweep`, :func:`procedures.fits.fit_tau`)."""
    from procedures import fits
    from procedures.switching import fit_live_sweep

    tau0 = float(getattr(procedure, "tau0", 1e-9) or 1e-9)
    exponent = float(getattr(procedure, "exponent", 1.0) or 1.0)
    if spec.fit == "switching":
        phase, nb = fit_live_sweep(frame.to_dict("records"), tau0, exponent)
        grid = np.linspace(*x_range, 400)
        text = (f"Néel-Brown fit ({phase} scan, τ0 = {fmt_si(tau0, 's')}, n = {exponent:g}): "
                f"I50 = {fmt_err(nb.i50_A, nb.i50_err_A, 'A')}, "
                f"Ic0 = {fmt_err(nb.ic0_A, nb.ic0_err_A, 'A')}, "
                f"Δ = {nb.delta:.1f} ± {nb.delta_err:.1f}, "
                f"10-90 % width = {fmt_si(nb.width_10_90_A, 'A', 3)}")
        return grid, nb.probability(grid), text, nb
    if spec.fit == "tau":
        width = frame["Pulse width (s)"].to_numpy(dtype=float)
        if width.size < 3:
            raise fits.FitError("fewer than 3 points")
        current = float(np.nanmean(np.abs(frame["Write current (A)"].to_numpy(dtype=float))))
        tau = fits.fit_tau(width, frame["Switched"].to_numpy(dtype=float),
                           frame["Trials"].to_numpy(dtype=float), current)
        grid = np.geomspace(width.min(), width.max(), 200)
        text = f"τ = {fmt_err(tau.tau_s, tau.tau_err_s, 's')}"
        return grid, -np.expm1(-grid / tau.tau_s), text, None
    raise fits.FitError("no fit for this procedure")


def size_lines(sizes) -> list[str]:
    """The survey's per-size statistics (:func:`procedures.variability.size_summaries`) as
    the fit label's lines."""
    lines = []
    for s in sizes:
        spread = (f" ± {fmt_si(s.i50_spread_rel * s.i50_mean_A, 'A', 3)} (D2D σ/mean "
                  f"{100 * s.i50_spread_rel:.1f} %)" if s.count > 1 else "")
        lines.append(f"size {s.size}: {s.count} devices fitted, I50 = "
                     f"{fmt_si(s.i50_mean_A, 'A', 4)}{spread}, Δ = {s.delta_mean:.1f}, "
                     f"10-90 % width / I50 = {100 * s.relative_width_mean:.1f} %")
    return lines


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
        self._config = None                    # the run's bench file, once loaded
        self._device_results: dict = {}        # survey trace -> procedures' DeviceResult

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
            if spec.fit == "ifr":
                color = (self.color if n_groups == 1 else self._size_color(sub, gi, n_groups))
                self._ifr_trace(sub, color, name)
                continue
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
                    name = f"I = {fmt_si(float(current), 'A')}"
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
        fitted = [r for r in self._device_results.values() if r is not None and r.ok]
        if spec.group == "Device" and len(fitted) > 1:
            from procedures.variability import size_summaries

            self.fit_text = size_lines(size_summaries(fitted, self._bench_config()))

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

    def _bench_config(self):
        """The bench file of the run (loaded once per curve)."""
        if self._config is None:
            from procedures.session import load_bench

            self._config = load_bench(getattr(self.results.procedure, "bench_file", None))
        return self._config

    def _sizes(self) -> list[str]:
        """Device sizes of the bench, smallest first (by line width)."""
        try:
            groups = sorted(self._bench_config().groups, key=lambda g: g.width_m)
            return list(dict.fromkeys(g.size for g in groups))
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
            if spec.group == "Device" and "Size" in sub and len(sub):
                self._device_results[str(name)] = self._device_result(str(name), sub)
        if isinstance(outcome, Exception):
            if self.results.procedure.status != Procedure.QUEUED:
                self.fit_text.append(f"{name}: fit waits for data across the transition "
                                     f"({str(outcome).split(';')[0][:90]})")
            return
        grid, prob, text, fit = outcome
        i50 = fit.i50_A if fit is not None else float("nan")
        self._add(pg.PlotDataItem(grid, prob, pen=pg.mkPen(color, width=2.5,
                                                        style=QtCore.Qt.PenStyle.SolidLine)))
        if math.isfinite(i50):
            self._add(pg.InfiniteLine(pos=math.log10(i50) if spec.log_x else i50, angle=90,
                                      pen=pg.mkPen(color, width=1, style=QtCore.Qt.PenStyle.DashLine)))
        self.fit_text.append((f"{name}: " if name is not None else "") + text)

    def _ifr_trace(self, sub, color, name):
        """A DW-MTJ neuron's pulses to fire: mean +- sd per amplitude and the transfer fit, both
        the procedures' (:func:`procedures.ifr.device_transfer`; refitted when rows arrive)."""
        from procedures.fits import FitError
        from procedures.ifr import device_transfer
        from procedures.ifr_fit import IFRFit

        if not len(sub):
            return
        key = (str(name), len(sub))
        cached = self._fits.get(str(name))
        if cached is not None and cached[0] == key:
            summary = cached[1]
        else:
            try:
                summary = device_transfer(sub.to_dict("records"), self._bench_config(),
                                          float(self.results.procedure.pulse_width))
            except (FitError, ValueError, KeyError, ZeroDivisionError) as exc:
                summary = exc
            self._fits[str(name)] = (key, summary)
        if isinstance(summary, Exception):
            return
        points = [a for a in summary["amplitudes"] if a["fired"]]
        if not points:
            return
        x = np.array([a["density_A_m2"] for a in points])
        y = np.array([a["mean_pulses"] for a in points])
        sd = np.nan_to_num(np.array([a["sd_pulses"] for a in points]))
        self._add(pg.ErrorBarItem(x=x, y=y, height=2 * sd, beam=0, pen=pg.mkPen(color, width=1)))
        self._add(pg.PlotDataItem(x, y, pen=None, symbol="o", symbolSize=8,
                                  symbolPen=pg.mkPen("k", width=0.5), symbolBrush=pg.mkBrush(color)))
        label = f"{name}: " if name is not None else ""
        fit = summary["fit"]
        if "jdep_A_m2" not in fit:
            self.fit_text.append(f"{label}transfer fit waits for 3 amplitudes that fired "
                                 f"({len(points)} so far)")
            return
        model = IFRFit(**fit)
        grid = np.linspace(float(x.min()), float(x.max()), 200)
        self._add(pg.PlotDataItem(grid, model.mean_pulses(grid), pen=pg.mkPen(color, width=2.5)))
        self.fit_text.append(
            f"{label}J_dep = {fmt_err(model.jdep_A_m2, model.jdep_err_A_m2, 'A/m²')}, "
            f"µ = {model.mobility_m3_per_A_s:.3g} ± {model.mobility_err_m3_per_A_s:.1g} m/s per A/m², "
            f"pinning {model.pinning_rel:.3f}")

    def _device_result(self, name: str, sub):
        """The procedures' fits of one survey device (fine rows), for the per-size statistics."""
        from procedures.variability import device_result

        procedure = self.results.procedure
        try:
            return device_result(name, sub.to_dict("records"), self._bench_config(),
                                 float(getattr(procedure, "tau0", 1e-9) or 1e-9),
                                 float(getattr(procedure, "exponent", 1.0) or 1.0))
        except (ValueError, KeyError, ZeroDivisionError, FloatingPointError) as exc:
            log.debug("no survey statistics for %s yet: %s", name, exc)
            return None

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
            label, units = split_units(column)
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


__all__ = ["LiveCurve", "LivePlotWidget", "size_lines"]
