"""Survey of a chip of DW-MTJ integrate-fire-reset neurons: every device's transfer, the
device-to-device spread per track geometry, and the calibration file (model ``domain_wall``).

:class:`IFRSurveyProcedure` (``hil characterize ifr-survey``) runs the transfer of
:class:`~procedures.ifr.IFRTransferProcedure` on each selected device in turn (``cycles``
IFR cycles at each of ``points`` amplitudes between 0.3 and 0.7 of the device's safe
maximum: ~12 down to ~3 pulses to fire), all rows in one Results CSV keyed by (Device,
Cycle): a killed survey resumes device by device, cycle by cycle.

The analysis (:func:`analyze_ifr_survey`) reads only the rows. Per device: the transfer fit
(J_dep, the mobility quoted for the design distance, the pinning spread; :mod:`procedures.ifr_fit`),
the reset failure probability (failed tries / tries), and E[N] at ``reference_density`` from
the fit with its error. Per geometry: mean, standard deviation and relative spread of each;
the spread less the fits' own scatter (sqrt(sd^2 - mean err^2)) is the D2D estimate set
beside the bench file's configured spread (the mobility's includes the track length's:
mu_eff = mu D_design / D_true, so its sigma is sqrt(mu_rel^2 + (length_rel L / D)^2)).
Outputs: ``calibration_<chip>.json``, ``ifr_survey_transfer.png``, ``ifr_survey_spread.png``,
``ifr_survey_report.md``; round trips, projected bench time and the physical floor go into
the report, the table and the calibration's ``meta.bench_cost``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from devices.kinds import dw_mtj_ifr_neuron
from procedures.base import BenchProcedure
from procedures.calibration import ChipCalibration, DomainWallCalibration
from procedures.ifr import IFRTransferProcedure, bench_cost, cycle_summary, device_transfer
from procedures.ifr_fit import IFRFit
from procedures.session import ParameterError, device_facts, select_devices

#: the per-geometry quantities of the spread table: (key, label, unit, bench-file spread)
QUANTITIES = (("jdep_A_m2", "J_dep", "A/m^2", "jdep_rel"),
              ("mobility_m3_per_A_s", "mu (at design D)", "m/s per A/m^2", "mu_rel+length_rel"),
              ("pulses_ref", "N at J_ref", "pulses", None),
              ("pinning_rel", "pinning (C2C)", "", None),
              ("reset_fail_probability", "reset failure", "", "reset_fail_rel"))


class IFRSurveyProcedure(IFRTransferProcedure):
    """The IFR transfer of every selected DW-MTJ neuron of a chip (default: all)."""

    device = None                      # a survey takes a list: devices
    devices = Parameter("Devices", default="all")
    cycles = IntegerParameter("Cycles per amplitude", default=30, minimum=1, maximum=10**6)
    points = IntegerParameter("Amplitudes", default=5, minimum=3, maximum=100)
    reference_density = FloatParameter("Reference density", units="A/m**2", default=8e10,
                                       minimum=0.0, maximum=1e13)

    #: default amplitudes, as fractions of each device's safe maximum: from ~12 pulses to
    #: fire down to ~3 (counts of 2 and 1 pulse carry little of J_dep or the pinning spread)
    LEVEL_FRACTIONS = (0.3, 0.7)

    def write_levels(self, facts) -> list[float]:
        start = float(self.amplitude_start) or self.LEVEL_FRACTIONS[0] * facts.max_level_V
        stop = float(self.amplitude_stop) or self.LEVEL_FRACTIONS[1] * facts.max_level_V
        return [float(v) for v in np.linspace(start, stop, int(self.points))]

    def device_list(self):
        return select_devices(self.bench_config(), self.devices)

    def validate(self):
        self.require_int("points", self.points, 3)
        BenchProcedure.validate(self)       # the bench parameters; no single --device here
        self.require_positive("reference_density", self.reference_density, "A/m^2",
                              "(a write current density above depinning, e.g. 8e10)")
        devices = self.device_list()
        chips = {d.chip for d in devices}
        if len(chips) != 1:
            raise ParameterError(f"a survey covers one chip; devices {self.devices!r} span "
                                 f"chips {sorted(chips)}: survey each chip separately")
        for facts in devices:
            self.validate_device(facts)

    def execute(self):
        devices = self.device_list()
        per, count = int(self.cycles), int(self.points)
        for number, facts in enumerate(devices):
            if self.stopped():
                break
            if all(self.key(facts.name, c) in self.done for c in range(per * count)):
                continue                       # resumed: this device is on disk already
            line_ohm, threshold = self.prepare(facts)
            for i, level in enumerate(self.write_levels(facts)):
                if self.stopped():
                    break
                share = (number + (i + 1) / count) / len(devices)
                self.run_level(level, line_ohm, threshold, i * per,
                               lambda k, share=share: self.emit("progress", 100.0 * share))
        self.summary = {}

    def finish(self, rows: list[dict], out: Path) -> dict:
        """Analyse the rows, write the calibration file, the plots and the report."""
        return finish_ifr_survey(self, rows, Path(out))


# ----------------------------------------------------------------------------- analysis
@dataclass
class NeuronResult:
    name: str
    size: str
    line_resistance_ohm: float
    cross_section_m2: float
    transfer: dict                     # procedures.ifr.transfer_summary of its rows
    cycles: dict                       # procedures.ifr.cycle_summary of its rows
    fit: IFRFit | None
    pulses_ref: float = math.nan       # E[N] at the reference density, from the fit
    pulses_ref_err: float = math.nan
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.fit is not None

    @property
    def reset_fail_probability(self) -> float:
        return 1.0 - self.cycles["reset_success_rate"]

    @property
    def reset_fail_err(self) -> float:
        p, n = self.reset_fail_probability, self.cycles["reset_attempts"]
        return math.sqrt(max(p * (1 - p), 1.0 / n) / n) if n else math.nan

    def value(self, key: str) -> tuple[float, float]:
        """(value, standard error) of a quantity of :data:`QUANTITIES`."""
        if key == "pulses_ref":
            return self.pulses_ref, self.pulses_ref_err
        if key == "reset_fail_probability":
            return self.reset_fail_probability, self.reset_fail_err
        errors = {"jdep_A_m2": "jdep_err_A_m2", "mobility_m3_per_A_s": "mobility_err_m3_per_A_s",
                  "pinning_rel": "pinning_err"}
        return getattr(self.fit, key), getattr(self.fit, errors[key])


@dataclass
class Spread:
    """One quantity over the devices of one geometry."""

    mean: float
    sd: float
    rel: float                 # sd / mean
    fit_rel: float             # the fits' own standard error, relative (median over devices)
    d2d_rel: float             # sqrt(max(sd^2 - err^2, 0)) / mean: the spread of the devices
    configured_rel: float | None


@dataclass
class GeometrySummary:
    size: str
    count: int
    distance_m: float
    spreads: dict[str, Spread]


@dataclass
class IFRSurveyResult:
    bench: str
    chip: str
    width_s: float
    reference_density_A_m2: float
    cycles: int
    points: int
    neurons: dict[str, NeuronResult]
    geometries: list[GeometrySummary]
    cost: dict
    paths: dict[str, Path] = field(default_factory=dict)

    def calibration(self, source: str = "") -> ChipCalibration:
        """The ``domain_wall`` calibration of every fitted neuron."""
        devices = {}
        for name, n in self.neurons.items():
            if not n.ok:
                continue
            f = n.fit
            devices[name] = DomainWallCalibration(
                jdep_A_m2=f.jdep_A_m2, mobility_m3_per_A_s=f.mobility_m3_per_A_s,
                distance_m=f.distance_m, pinning_rel=f.pinning_rel,
                cross_section_m2=n.cross_section_m2, size=n.size,
                reset_fail_probability=n.reset_fail_probability,
                line_resistance_ohm=n.line_resistance_ohm, jdep_err_A_m2=_finite(f.jdep_err_A_m2),
                mobility_err_m3_per_A_s=_finite(f.mobility_err_m3_per_A_s),
                pinning_err=_finite(f.pinning_err),
                extra={"pulses_to_fire_ref": n.pulses_ref, "pulses_to_fire_ref_err": n.pulses_ref_err,
                       "reference_density_A_m2": self.reference_density_A_m2,
                       "jdep_mobility_corr": f.jdep_mobility_corr, "chi2_per_dof": f.chi2_per_dof})
        if not devices:
            raise ParameterError("no neuron of the survey could be fitted; nothing to calibrate "
                                 "(raise the amplitudes or the cycles per amplitude)")
        return ChipCalibration(self.bench, self.chip, self.width_s, devices,
                               source or f"IFR survey: {self.points} amplitudes x {self.cycles} "
                                         f"cycles per neuron")

    def table(self) -> str:
        """Per geometry: J_dep, mu and N at J_ref, mean and D2D spread (configured in brackets)."""
        head = (f"{'geom':<5}{'n':>3}  {'J_dep (A/m^2)':>13} {'D2D':>6} {'(cfg)':>6}  "
                f"{'mu (m/s/(A/m^2))':>16} {'D2D':>6} {'(cfg)':>6}  {'N@J_ref':>7} {'spread':>6}  "
                f"{'reset fail':>10}")
        lines = [head, "-" * len(head)]

        def cfg(s):
            return f"({s.configured_rel:.0%})" if s.configured_rel is not None else "(-)"
        for g in self.geometries:
            j, mu = g.spreads["jdep_A_m2"], g.spreads["mobility_m3_per_A_s"]
            n, r = g.spreads["pulses_ref"], g.spreads["reset_fail_probability"]
            lines.append(f"{g.size:<5}{g.count:>3}  {j.mean:>13.4g} {j.d2d_rel:>6.1%} {cfg(j):>6}  "
                         f"{mu.mean:>16.4g} {mu.d2d_rel:>6.1%} {cfg(mu):>6}  {n.mean:>7.2f} "
                         f"{n.rel:>6.1%}  {r.mean:>10.3f}")
        failed = [name for name, n in self.neurons.items() if not n.ok]
        if failed:
            lines.append(f"not fitted: {', '.join(failed)}")
        c = self.cost
        lines.append(f"J_ref {self.reference_density_A_m2:.3g} A/m^2; bus round trips "
                     f"{c['round_trips']:.0f}, projected real-bench time {c['projected_time_s']:.1f} s "
                     f"(floor {c['floor_s']:.2f} s: reads x integration + pulses)")
        return "\n".join(lines)


def _finite(error):
    """A fit's standard error, or None where its covariance was singular (a few cycles all at
    one count pin a parameter at its bound): the file's errors are optional, a NaN is refused."""
    return error if error is not None and math.isfinite(error) else None


def _configured(variability: dict, key: str | None, length_m: float, distance_m: float):
    if key is None:
        return None
    if key == "mu_rel+length_rel":
        if "mu_rel" not in variability and "length_rel" not in variability:
            return None
        length = variability.get("length_rel", 0.0) * length_m / distance_m
        return math.hypot(variability.get("mu_rel", 0.0), length)
    return variability.get(key)


def spread(values, errors, configured_rel) -> Spread:
    values, errors = np.asarray(values, dtype=float), np.asarray(errors, dtype=float)
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
    # the median: one degenerate fit (all counts equal, errors of 100 %) does not hide the rest
    err2 = float(np.nanmedian(errors ** 2)) if np.isfinite(errors).any() else 0.0
    scale = abs(mean) if mean else math.nan
    return Spread(mean, sd, sd / scale, math.sqrt(err2) / scale,
                  math.sqrt(max(sd * sd - err2, 0.0)) / scale, configured_rel)


def neuron_result(name: str, rows: list[dict], bench_file, width_s: float,
                  reference_density: float) -> NeuronResult:
    facts = device_facts(bench_file, name)
    transfer = device_transfer(rows, bench_file, width_s)
    result = NeuronResult(name, facts.size, float(rows[0]["Line resistance (ohm)"]),
                          facts.limits.line_cross_section_m2, transfer, cycle_summary(rows), None)
    if "error" in transfer["fit"]:
        result.error = transfer["fit"]["error"]
        return result
    result.fit = IFRFit(**transfer["fit"])
    result.pulses_ref, result.pulses_ref_err = result.fit.pulses_with_error(reference_density)
    if not math.isfinite(result.pulses_ref):
        result.error = (f"J_ref {reference_density:.3g} A/m^2 is below its fitted J_dep "
                        f"{result.fit.jdep_A_m2:.3g} A/m^2")
    return result


def geometry_summaries(neurons, bench_file) -> list[GeometrySummary]:
    """Per track geometry (bench-file order), the spread of each quantity over fitted neurons."""
    out = []
    for group in dict((g.size, g) for g in bench_file.groups).values():
        ok = [n for n in neurons if n.size == group.size and n.ok and math.isfinite(n.pulses_ref)]
        if not ok:
            continue
        track = dw_mtj_ifr_neuron.geometry(group)
        spreads = {}
        for key, _, _, config in QUANTITIES:
            pairs = [n.value(key) for n in ok]
            spreads[key] = spread([v for v, _ in pairs], [e for _, e in pairs],
                                  _configured(bench_file.variability, config, track.length_m,
                                              track.mtj_distance_m))
        out.append(GeometrySummary(group.size, len(ok), track.mtj_distance_m, spreads))
    return out


def analyze_ifr_survey(rows: list[dict], bench_file, width_s: float, reference_density: float,
                       cycles: int = 0, points: int = 0) -> IFRSurveyResult:
    by_device: dict[str, list[dict]] = {}
    for row in rows:
        by_device.setdefault(str(row["Device"]), []).append(row)
    neurons = {name: neuron_result(name, dev_rows, bench_file, width_s, reference_density)
               for name, dev_rows in by_device.items()}
    chip = next(iter(neurons)).split("/")[0] if neurons else bench_file.groups[0].chip
    cost = bench_cost(rows)
    cost["by_size"] = {size: bench_cost([r for r in rows if str(r["Size"]) == size])
                       for size in dict.fromkeys(str(r["Size"]) for r in rows)}
    return IFRSurveyResult(bench_file.name, chip, float(width_s), float(reference_density),
                           int(cycles), int(points), neurons,
                           geometry_summaries(neurons.values(), bench_file), cost)


def finish_ifr_survey(proc: IFRSurveyProcedure, rows, out: Path) -> dict:
    from procedures.calibration import save_calibration
    from procedures.identity import chip_identity
    from procedures.ifr_report import write_ifr_survey_report

    if not rows:
        raise ParameterError("the IFR survey measured no cycle; nothing to analyse")
    result = analyze_ifr_survey(rows, proc.bench_config(), float(proc.pulse_width),
                                float(proc.reference_density), int(proc.cycles), int(proc.points))
    result.paths["csv"] = out / "ifr_survey.csv"
    calibration = result.calibration()
    calibration.meta["bench_cost"] = result.cost
    calibration.meta["chip_identity"] = chip_identity(proc.bench_config(), result.chip,
                                                      calibration.names(), proc.backend)
    result.paths["calibration"] = save_calibration(calibration, out / f"calibration_{result.chip}.json")
    result.paths.update(write_ifr_survey_report(result, rows, out))
    return {"survey": result, **result.paths}


__all__ = ["GeometrySummary", "IFRSurveyProcedure", "IFRSurveyResult", "NeuronResult", "Spread",
           "analyze_ifr_survey", "finish_ifr_survey", "geometry_summaries", "neuron_result"]
