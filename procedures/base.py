"""What every characterization procedure shares: bench parameters, validation, resume, rows.

A procedure is a pymeasure ``Procedure``: ``Parameter``s, ``DATA_COLUMNS`` with units,
``startup / execute / shutdown``, ``emit('results' | 'progress')`` and ``should_stop()``.
On top of that a :class:`BenchProcedure`

- validates its parameters against the bench file (:meth:`validate`) before anything is
  opened or sent: unknown device, negative or too long width, amplitude over the device's
  safety limit -> :class:`~procedures.session.ParameterError` naming the value, the limit and
  what to do;
- opens the bench in ``startup`` (or uses one handed in as ``procedure.bench``) and closes
  it in ``shutdown`` (the drivers turn the outputs off); ``visa_library`` (a constructor
  argument or attribute, not a Parameter: a library object is no record) opens it through
  a given VISA library, e.g. the lab window's one simulated bench, instead of the one the
  ``backend`` parameter chooses;
- stops promptly: while ``execute`` runs, ``self.bench`` is a
  :class:`~procedures.stopping.StopCheckingBench`, so a stop requested through
  ``should_stop()`` (Abort, the runner's stop event, Ctrl-C of the CLI) raises
  :class:`~procedures.stopping.RunAborted` before the next bench operation, inside any
  sweep; ``shutdown`` then turns the outputs off;
- measures through :meth:`point`: a point already on disk (``self.done``, filled by the
  runner on resume) is returned as recorded instead of being measured again.
"""

from __future__ import annotations

import math

from pymeasure.experiment import ListParameter, Parameter, Procedure
from pymeasure.experiment.parameters import Parameter as PymeasureParameter

from devices.benchfile import BenchFile, BenchFileError
from procedures.runner import normalize
from procedures.session import (
    BACKENDS,
    DeviceFacts,
    ParameterError,
    device_facts,
    load_bench,
    open_bench,
)
from procedures.stopping import StopCheckingBench, unwrap


def _shown(value) -> str:
    """A value as a message shows it: numbers plainly (never ``np.float64(...)``), text quoted."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:    # a numpy scalar
        return _shown(value.item())
    return repr(value)


class BenchProcedure(Procedure):
    bench_file = Parameter("Bench file", default="default")
    backend = ListParameter("Backend", choices=list(BACKENDS), default="sim")

    KEY_COLUMNS: tuple[str, ...] = ()

    def __init__(self, bench=None, visa_library=None, **kwargs):
        known = self.parameter_names()
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ParameterError(f"{type(self).__name__} has no parameter {', '.join(unknown)}; "
                                 f"its parameters are {', '.join(sorted(known))}")
        self.bench = bench              # an open drivers Bench, or None: opened in startup
        # the VISA library startup opens the bench with (a pyvisa library name such as "@py"
        # or a library object); None: the one ``backend`` chooses
        self.visa_library = visa_library
        self.done: dict = {}
        self.summary: dict = {}
        self._bench_cm = None
        super().__init__(**kwargs)

    @classmethod
    def parameter_names(cls) -> set[str]:
        return {name for klass in cls.__mro__ for name, value in vars(klass).items()
                if isinstance(value, PymeasureParameter)}

    # ------------------------------------------------------------------ validation
    def bench_config(self) -> BenchFile:
        if self.bench is not None and hasattr(self.bench, "config"):
            return self.bench.config
        try:
            return load_bench(self.bench_file)
        except BenchFileError as exc:
            raise ParameterError(f"bench file: {exc}") from None

    def validate(self) -> None:
        """Raise ParameterError for anything that cannot run. Subclasses extend."""
        if self.backend not in BACKENDS:
            raise ParameterError(f"backend {self.backend!r} is not one of {BACKENDS}")
        self.bench_config()

    def facts(self, device: str) -> DeviceFacts:
        return device_facts(self.bench_config(), device)

    @staticmethod
    def require_positive(name: str, value, unit: str = "", advice: str = "") -> float:
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{name} must be a number, got {_shown(value)}") from None
        if not math.isfinite(value) or value <= 0:
            raise ParameterError(f"{name} must be > 0 {unit}, got {_shown(value)} {unit}. {advice}".strip())
        return value

    @staticmethod
    def require_int(name: str, value, minimum: int = 1) -> int:
        try:        # NaN, inf and text are no integers either (int() would raise its own error)
            whole = not isinstance(value, bool) and float(value) == int(value) >= minimum
        except (TypeError, ValueError, OverflowError):
            whole = False
        if not whole:
            raise ParameterError(f"{name} must be an integer >= {minimum}, got {_shown(value)}")
        return int(value)

    @staticmethod
    def check_width(facts: DeviceFacts, width_s: float, name: str = "pulse width") -> None:
        lim = facts.limits
        if not (math.isfinite(width_s) and width_s > 0):
            raise ParameterError(f"{name} must be > 0 s, got {_shown(width_s)} s: give the pulse "
                                 f"width in seconds (e.g. 1e-8 for 10 ns)")
        if width_s > lim.max_pulse_width_s:
            raise ParameterError(f"{name} {width_s:.4g} s on {facts.name} is over the limit "
                                 f"max_pulse_width_s = {lim.max_pulse_width_s:.4g} s of size "
                                 f"{facts.size!r}: use a shorter pulse")
        if width_s < lim.min_pulse_width_s:
            raise ParameterError(f"{name} {width_s:.4g} s on {facts.name} is below the minimum "
                                 f"{lim.min_pulse_width_s:.4g} s the generator can shape: use a "
                                 f"longer pulse")

    @staticmethod
    def check_level(facts: DeviceFacts, level_V: float, name: str = "pulse amplitude") -> None:
        if not math.isfinite(level_V):
            raise ParameterError(f"{name} must be a finite number of volts, got {_shown(level_V)} V")
        if abs(level_V) > facts.max_level_V:
            raise ParameterError(
                f"{name} {level_V:.4g} V on {facts.name} is over the device limit "
                f"{facts.max_level_V:.4g} V (size {facts.size!r}: max_pulse_voltage_V "
                f"{facts.limits.max_pulse_voltage_V:g} V, max_current_density_A_m2 "
                f"{facts.limits.max_current_density_A_m2:.3g} A/m^2 at the worst-case line "
                f"resistance); lower the amplitude (0 = choose automatically)")

    # ------------------------------------------------------------------ bench lifetime
    def startup(self):
        self.validate()
        if self.bench is None:
            self._bench_cm = open_bench(self.bench_file, self.backend,
                                        visa_library=self.visa_library)
            self.bench = self._bench_cm.__enter__()
        if not isinstance(self.bench, StopCheckingBench):
            self.bench = StopCheckingBench(self.bench, self.stopped)

    def shutdown(self):
        self.bench = unwrap(self.bench)     # a bench handed in goes back as it came
        if self._bench_cm is not None:
            cm, self._bench_cm = self._bench_cm, None
            try:
                cm.__exit__(None, None, None)
            finally:
                self.bench = None

    # ------------------------------------------------------------------ points
    def key(self, *values) -> tuple:
        return tuple(normalize(v) for v in values)

    def point(self, key: tuple, measure) -> dict:
        """The row of ``key``: from disk when resuming, else ``measure()`` emitted and returned."""
        key = self.key(*key)
        if key in self.done:
            return self.done[key]
        row = measure()
        self.emit("results", row)
        self.done[key] = row
        return row

    def bench_counters(self) -> dict:
        bench = self.bench
        return {"Round trips": int(getattr(bench, "round_trips", 0) or 0),
                "Projected bench time (s)": float(getattr(bench, "projected_time_s", 0.0) or 0.0)}

    def stopped(self) -> bool:
        try:
            return bool(self.should_stop())
        except NotImplementedError:
            return False


__all__ = ["BenchProcedure"]
