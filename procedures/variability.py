"""Device-to-device variability survey: every device of a chip, its switching curve and fits.

Each device is reached through the switch matrix (the drivers' ``Bench`` closes its
crosspoints), then swept like :class:`~procedures.switching.SwitchingAmplitudeProcedure`
(line resistance, coarse and zoom locate, state levels, fine sweep); then (``width_scan``)
the first device of each size gets a P vs pulse width scan at three currents (tau(I)). All
rows go into one Results CSV keyed by (Device, Phase, Point), so a killed survey resumes
device by device, point by point.

The analysis (:func:`analyze_survey`) reads only the rows, so it gives the same answer for a
run done in one go and for one resumed after a crash: per-device Neel-Brown and logistic
fits, then per size the mean and spread of I50 and of the curve's width. The width is the
10-90 % width of the fitted curve, compared between sizes as a fraction of I50 (and as a
current density): smaller devices have a lower barrier Delta and switch over a relatively
broader range of currents.

Tunnel junctions (a kind with a ``write_path`` law): each device's write currents go through
its measured junction law (:mod:`procedures.switching`, the junction phase), and the
Neel-Brown exponent n is fitted per size on the width-scanned device, (Ic0, Delta, n)
together over its fine and width rows (:func:`~procedures.switching.fit_exponent_rows`);
every device of that size is then fitted at that n (one width cannot tell n). Where the
fit does not identify n (:data:`~procedures.switching.EXPONENT_MAX_ERR`) or a size has no
width scan, the kind's n (2 for an STT macrospin) is used, and the table says which.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymeasure.experiment import BooleanParameter, Parameter

from procedures import fits
from procedures.base import BenchProcedure
from procedures.calibration import ChipCalibration, DeviceCalibration
from procedures.session import ParameterError, select_devices
from procedures.switching import (
    PHASE_JUNCTION,
    SWEEP_COLUMNS,
    SWEEP_KEY,
    SweepParameters,
    device_kind,
    fit_exponent_rows,
    fit_sweep,
    fit_width_scan,
    identified_exponent,
    junction_write_path,
    law_exponent,
    std_errors,
)


class VariabilitySurveyProcedure(SweepParameters, BenchProcedure):
    """Switching curve of every selected device of a chip (default: all)."""

    devices = Parameter("Devices", default="all")
    width_scan = BooleanParameter("P vs width on one device per size", default=True)

    WIDTHS_S = tuple(np.geomspace(10e-9, 1e-6, 8))
    WIDTH_PROBABILITIES = (0.05, 0.2, 0.5)

    DATA_COLUMNS = SWEEP_COLUMNS
    KEY_COLUMNS = SWEEP_KEY

    def device_list(self):
        try:
            return select_devices(self.bench_config(), self.devices)
        except ParameterError:
            raise
        except KeyError as exc:  # pragma: no cover - select_devices maps KeyError already
            raise ParameterError(str(exc)) from None

    def validate(self):
        super().validate()
        devices = self.device_list()
        chips = {d.chip for d in devices}
        if len(chips) != 1:
            raise ParameterError(f"a survey covers one chip; devices {self.devices!r} span "
                                 f"chips {sorted(chips)}: survey each chip separately")
        self.validate_sweep(devices)

    def execute(self):
        devices = self.device_list()
        self.set_bias_field()
        sweep = self.sweep()
        failures = {}
        share = 85.0 if self.width_scan else 100.0
        fine_rows = {}
        for number, facts in enumerate(devices):
            if self.stopped():
                break
            try:
                fine_rows[facts.name] = sweep.run_device(facts)
            except fits.FitError as exc:       # a device that never switches: report, go on
                failures[facts.name] = str(exc)
            self.emit("progress", share * (number + 1) / len(devices))
        if self.width_scan and not self.stopped():
            # P vs width on the first device of each size whose amplitude sweep fitted
            firsts = {}
            for facts in devices:
                if facts.name in fine_rows and facts.size not in firsts:
                    try:
                        fit_sweep(fine_rows[facts.name], float(self.tau0), self.exponent_for(facts))
                    except fits.FitError:
                        continue
                    firsts[facts.size] = facts
            # width-major over the scanned devices: a width's waveform pair (the same data for
            # every device; its reset level is the channel's :VOLT) is uploaded once, not
            # once per device (8 uploads instead of 24 on the default chip)
            plans = {facts.name: (facts, sweep.width_levels(
                facts, fine_rows[facts.name], self.WIDTH_PROBABILITIES, float(self.tau0),
                self.exponent_for(facts)), sweep.write_path(facts))
                for facts in firsts.values()}
            for wi, width in enumerate(self.WIDTHS_S):
                for facts, levels, path in plans.values():
                    if self.stopped():
                        break
                    sweep.width_point(facts, levels, wi, float(width), path)
                self.emit("progress", share + (100.0 - share) * (wi + 1) / len(self.WIDTHS_S))
        self.summary = {"failures": failures}


# ----------------------------------------------------------------------------- analysis
@dataclass
class DeviceResult:
    name: str
    size: str
    line_resistance_ohm: float
    neel_brown: fits.NeelBrownFit | None
    logistic: fits.LogisticFit | None
    cross_section_m2: float | None = None
    error: str = ""
    readout: str = "binary"          # "binary" (macrospin) or "fraction" (multi-domain bar)
    #: a junction's measured write-path law (JunctionWritePath.to_dict()), None for a line
    write_path: dict | None = None

    @property
    def ok(self) -> bool:
        return self.neel_brown is not None and self.logistic is not None


@dataclass
class SizeSummary:
    size: str
    count: int
    i50_mean_A: float
    i50_spread_rel: float            # D2D sigma / mean
    width_mean_A: float              # 10-90 % width of the fitted curve
    relative_width_mean: float       # width / I50
    relative_width_sd: float
    width_density_A_m2: float        # width as a current density
    delta_mean: float
    delta_sd: float
    ic0_mean_A: float


@dataclass
class SurveyResult:
    bench: str
    chip: str
    width_s: float
    devices: dict[str, DeviceResult]
    sizes: list[SizeSummary]
    round_trips: float
    projected_time_s: float
    points: int
    trials: int
    paths: dict[str, Path] = field(default_factory=dict)
    width_scans: dict = field(default_factory=dict)   # device -> (list[TauFit], TauCurveFit)
    #: trials x the read integration (the physical floor) and x the read SMU's reading time
    floor_s: float = 0.0
    reading_floor_s: float = 0.0
    #: per size: round trips, projected time, floors
    cost_by_size: dict = field(default_factory=dict)
    #: per size of a kind whose n is fitted: the n used, and the free-n fit (or its error)
    exponents: dict = field(default_factory=dict)

    def bench_cost(self) -> dict:
        """Round trips, projected time and floors, in all and per size (JSON-ready)."""
        def ratios(d):
            return {**d, "projected_over_floor": d["projected_time_s"] / d["floor_s"]
                    if d["floor_s"] else None,
                    "projected_over_reading_floor": d["projected_time_s"] / d["reading_floor_s"]
                    if d["reading_floor_s"] else None}
        total = {"round_trips": self.round_trips, "projected_time_s": self.projected_time_s,
                 "floor_s": self.floor_s, "reading_floor_s": self.reading_floor_s}
        return {**ratios(total), "by_size": {k: ratios(v) for k, v in self.cost_by_size.items()}}

    def calibration(self, source: str = "") -> ChipCalibration:
        """The calibration file's content: every fitted device's curves and its readout.

        No ``n_domains``: a multi-domain bar's switched fractions carry read noise (a spread
        of ~0.1 per trial on the simulated bench) above their binomial spread
        sqrt(P (1 - P) / N) for N of tens and more, so N cannot be told from these data.
        """
        devices = {}
        for name, dev in self.devices.items():
            if not dev.ok:
                continue
            nb, lg = dev.neel_brown, dev.logistic
            devices[name] = DeviceCalibration(
                size=dev.size, ic0_A=nb.ic0_A, delta=nb.delta, tau0_s=nb.tau0_s,
                exponent=nb.exponent,
                line_resistance_ohm=dev.line_resistance_ohm, ic0_err_A=nb.ic0_err_A,
                delta_err=nb.delta_err, i50_err_A=nb.i50_err_A,
                logistic_slope_err_per_A=lg.slope_err_per_A, readout=dev.readout,
                extra={"logistic_i50_A": lg.i50_A, "logistic_fit_slope_per_A": lg.slope_per_A,
                       "width_10_90_A": nb.width_10_90_A,
                       "relative_width": nb.relative_width, "dispersion": nb.dispersion,
                       # what converts this device's currents to levels (drivers.limits)
                       **({"junction_write_path": dev.write_path} if dev.write_path else {})})
        if not devices:
            raise ParameterError("no device of the survey could be fitted; nothing to calibrate")
        return ChipCalibration(self.bench, self.chip, self.width_s, devices,
                               source or f"variability survey: {self.points} amplitudes x "
                                         f"{self.trials} trials per device")

    def table(self) -> str:
        """The compact per-size table (what the demo prints)."""
        head = (f"{'size':<5}{'n':>3}  {'I50 (uA)':>9}  {'D2D I50':>8}  {'10-90 width':>12}  "
                f"{'width/I50':>10}  {'width (A/m^2)':>13}  {'Delta':>11}")
        lines = [head, "-" * len(head)]
        for s in self.sizes:
            lines.append(
                f"{s.size:<5}{s.count:>3}  {s.i50_mean_A * 1e6:>9.2f}  {s.i50_spread_rel:>7.1%}  "
                f"{s.width_mean_A * 1e6:>9.2f} uA  {s.relative_width_mean:>6.3f}+-{s.relative_width_sd:<5.3f}"
                f"{s.width_density_A_m2:>11.3g}  {s.delta_mean:>6.1f}+-{s.delta_sd:<4.1f}")
        failed = [n for n, d in self.devices.items() if not d.ok]
        if failed:
            lines.append(f"not fitted: {', '.join(failed)}")
        if self.exponents:
            lines.append("Neel-Brown exponent n per size: " + ", ".join(
                f"{size} {e['used']:.2f}" + (f" (fitted {e['fitted']:.2f}+-{e['err']:.2f} on {e['device']}"
                                            f"{'' if e['identified'] else ', not identified: kind n'})"
                                            if "fitted" in e else f" (kind's n: {e['why']})")
                for size, e in self.exponents.items()))
        lines.append(f"bus round trips {self.round_trips:.0f}, projected real-bench time "
                     f"{self.projected_time_s:.1f} s (floor {self.floor_s:.1f} s), read SMU's "
                     f"reading-rate floor {self.reading_floor_s:.1f} s")
        return "\n".join(lines)


def _sd(values) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def device_result(name: str, rows: list[dict], bench_file, tau0_s: float = 1e-9,
                  exponent: float = 1.0) -> DeviceResult:
    """One device's fits from its survey rows (a failed fit is kept as ``error``)."""
    size = str(rows[0]["Size"])
    line = [r for r in rows if r["Phase"] == "line"]
    line_ohm = float(line[0]["Line resistance (ohm)"]) if line else float("nan")
    try:
        cross = bench_file.limits_for(name).line_cross_section_m2
    except (KeyError, AttributeError):
        cross = None
    fine = [r for r in rows if r["Phase"] == "fine"]
    readout = "binary" if std_errors(fine) is None else "fraction"
    law = getattr(device_kind(bench_file, name), "write_path", None)
    junction = [r for r in rows if r["Phase"] == PHASE_JUNCTION]
    try:
        path = junction_write_path(law, line_ohm, junction).to_dict() if law and junction else None
        nb, lg = fit_sweep(rows, tau0_s, exponent)
        return DeviceResult(name, size, line_ohm, nb, lg, cross, readout=readout, write_path=path)
    except fits.FitError as exc:
        return DeviceResult(name, size, line_ohm, None, None, cross, str(exc), readout)


def size_summaries(devices, bench_file) -> list[SizeSummary]:
    """Per size (bench-file order of the groups, then any other), the mean and spread of
    the fitted devices' I50, 10-90 % width and Delta; sizes with no fitted device are left
    out. ``devices``: :class:`DeviceResult` objects (of a survey, or of one in progress)."""
    devices = list(devices)
    sizes = []
    order = list(dict.fromkeys(g.size for g in bench_file.groups))
    for size in order + sorted({d.size for d in devices} - set(order)):
        ok = [d for d in devices if d.size == size and d.ok]
        if not ok:
            continue
        i50 = np.array([d.neel_brown.i50_A for d in ok])
        width = np.array([d.neel_brown.width_10_90_A for d in ok])
        rel = width / i50
        delta = np.array([d.neel_brown.delta for d in ok])
        cross = ok[0].cross_section_m2 or float("nan")
        sizes.append(SizeSummary(size, len(ok), float(i50.mean()), _sd(i50) / float(i50.mean()),
                                 float(width.mean()), float(rel.mean()), _sd(rel),
                                 float(width.mean()) / cross, float(delta.mean()), _sd(delta),
                                 float(np.mean([d.neel_brown.ic0_A for d in ok]))))
    return sizes


def size_exponents(by_device: dict[str, list[dict]], bench_file, tau0_s: float = 1e-9,
                   exponent: float = 1.0) -> dict:
    """Per size of a kind whose n is fitted (:func:`~procedures.switching.law_exponent`): the n
    its devices are fitted at, from the free-n fit of its width-scanned device where that
    identifies n, else the kind's n. Sizes of other kinds are not listed (they use
    ``exponent``)."""
    out = {}
    for name, dev_rows in by_device.items():
        kind = device_kind(bench_file, name)
        size = str(dev_rows[0]["Size"])
        if law_exponent(kind, exponent) is not None or size in out and "fitted" in out[size]:
            continue
        entry = {"used": float(kind.exponent), "why": "no width scan on this size"}
        if any(str(r["Phase"]).startswith("width") for r in dev_rows):
            try:
                fit = fit_exponent_rows(dev_rows, tau0_s)
                used = identified_exponent(fit, kind.exponent)
                entry = {"used": used, "fitted": fit.exponent, "err": fit.exponent_err,
                         "device": name, "identified": used == fit.exponent,
                         "ic0_A": fit.critical[0], "delta": fit.delta}
            except fits.FitError as exc:
                entry = {"used": float(kind.exponent), "why": f"free-n fit failed: {exc}"}
        out[size] = entry
    return out


def analyze_survey(rows: list[dict], bench_file, width_s: float, tau0_s: float = 1e-9,
                   exponent: float = 1.0, trials: int = 0, points: int = 0) -> SurveyResult:
    """Fits per device and the per-size summary from the survey's rows."""
    by_device: dict[str, list[dict]] = {}
    for row in rows:
        by_device.setdefault(str(row["Device"]), []).append(row)
    exponents = size_exponents(by_device, bench_file, tau0_s, exponent)

    def n_of(dev_rows):
        return exponents.get(str(dev_rows[0]["Size"]), {}).get("used", exponent)
    devices = {name: device_result(name, dev_rows, bench_file, tau0_s, n_of(dev_rows))
               for name, dev_rows in by_device.items()}
    sizes = size_summaries(devices.values(), bench_file)
    width_scans = {}
    for name, dev_rows in by_device.items():
        scan = [r for r in dev_rows if str(r["Phase"]).startswith("width")]
        if scan:
            try:
                width_scans[name] = fit_width_scan(scan, tau0_s, n_of(dev_rows))
            except fits.FitError:
                pass
    round_trips = float(np.nansum([float(r.get("Round trips", 0) or 0) for r in rows]))
    projected = float(np.nansum([float(r.get("Projected bench time (s)", 0) or 0) for r in rows]))
    chip = next((g.chip for g in bench_file.groups
                 if any(d.startswith(g.chip + "/") for d in devices)), bench_file.groups[0].chip)
    columns = {"round_trips": "Round trips", "projected_time_s": "Projected bench time (s)",
               "floor_s": "Floor (s)", "reading_floor_s": "Reading floor (s)"}
    cost_by_size: dict = {}
    for row in rows:
        size = cost_by_size.setdefault(str(row.get("Size", "")), dict.fromkeys(columns, 0.0))
        for key, column in columns.items():
            value = float(row.get(column, 0) or 0)
            size[key] += value if np.isfinite(value) else 0.0
    floor = sum(s["floor_s"] for s in cost_by_size.values())
    reading_floor = sum(s["reading_floor_s"] for s in cost_by_size.values())
    return SurveyResult(bench_file.name, chip, float(width_s), devices, sizes, round_trips,
                        projected, int(points), int(trials), width_scans=width_scans,
                        floor_s=floor, reading_floor_s=reading_floor, cost_by_size=cost_by_size,
                        exponents=exponents)


def survey_chip(bench, out_dir, trials: int = 64, points: int = 16, width_s: float = 10e-9,
                devices: str = "all", resume: bool = False, progress=None, report: bool = True,
                print_summary: bool = True, **parameters) -> SurveyResult:
    """Survey every device of ``bench`` (an open drivers Bench) into ``out_dir``.

    Writes ``survey.csv`` (pymeasure Results), ``calibration_<chip>.json``, and with
    ``report=True`` the PNG plots and ``report.md``. Prints the per-size table.
    ``progress``: True for a tqdm bar, or a callable taking the percentage. ``resume``:
    finish (or just re-analyse) a survey already in ``out_dir``. Other keyword arguments
    are parameters of :class:`VariabilitySurveyProcedure` (e.g. ``coarse_points``,
    ``width_scan``, ``bias_field``).
    """
    from procedures.outlock import lock_folder
    from procedures.runner import require_run_folder, run_procedure

    out = Path(out_dir)
    require_run_folder(out, resume)
    proc = VariabilitySurveyProcedure(bench=bench, trials=trials, points=points,
                                      pulse_width=width_s, devices=devices, **parameters)
    bar = None
    if progress is True:
        from tqdm import tqdm
        bar = tqdm(total=100.0, desc="survey", unit="%",
                   bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}% [{elapsed}<{remaining}]")

        def progress(percent):
            bar.n = min(float(percent), 100.0)
            bar.refresh()
    with lock_folder(out):
        try:
            outcome = run_procedure(proc, out / "survey.csv", resume=resume,
                                    progress=progress or None)
        finally:
            if bar is not None:
                bar.close()
        result = finish_survey(proc, outcome.rows, out, report=report)
    if print_summary:
        print(result.table())
    return result


def measured_at(rows: list[dict]) -> dict[str, dict]:
    """When each device was measured: bench time since the run began (the rows' projected
    bench times summed in the order they were measured) at its first and last row, and the
    pulses this run sent it (a reset and a write per trial): a drifting device's calibration
    is only as old as these say."""
    elapsed, out = 0.0, {}
    for row in rows:
        cost = float(row.get("Projected bench time (s)", 0.0) or 0.0)
        start = elapsed
        elapsed += cost if math.isfinite(cost) else 0.0
        entry = out.setdefault(str(row["Device"]), {"first_bench_time_s": start, "write_pulses": 0})
        entry["last_bench_time_s"] = elapsed
        trials = float(row.get("Trials", 0.0) or 0.0)
        entry["write_pulses"] += 2 * int(trials) if math.isfinite(trials) else 0
    return out


def finish_survey(proc: VariabilitySurveyProcedure, rows, out: Path, report: bool = True) -> SurveyResult:
    from procedures.calibration import save_calibration
    from procedures.identity import chip_identity

    result = analyze_survey(rows, proc.bench_config(), float(proc.pulse_width), float(proc.tau0),
                            float(proc.exponent), int(proc.trials), int(proc.points))
    result.paths["csv"] = out / "survey.csv"
    cal_path = out / f"calibration_{result.chip}.json"
    calibration = result.calibration()
    # the chip it measured, so that a calibration of another chip is refused (hil train)
    calibration.meta["bench_cost"] = result.bench_cost()
    calibration.meta["measured_at"] = measured_at(rows)
    calibration.meta["chip_identity"] = chip_identity(
        proc.bench_config(), result.chip, calibration.names(), proc.backend)
    result.paths["calibration"] = save_calibration(calibration, cal_path)
    if report:
        from procedures.report import write_survey_report
        result.paths.update(write_survey_report(result, rows, out))
    return result


__all__ = ["DeviceResult", "SizeSummary", "SurveyResult", "VariabilitySurveyProcedure",
           "analyze_survey", "device_result", "finish_survey", "size_summaries", "survey_chip"]
