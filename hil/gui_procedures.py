"""The characterization procedures as the lab window runs them, and how each is plotted.

The window keeps *one* VISA library per bench (one simulated bench per window), so the
status panel talks to the same simulated instruments that the runs drive. The procedures
of ``procedures/`` open their own bench in ``startup`` from the bench-file parameter (the
procedures offer no hook for a shared library there); the classes here add two things on
top. First, when the window has handed a procedure its
VISA library (``procedure.visa_library``), ``startup`` opens the bench through that library
with :func:`procedures.session.open_bench` (the same context manager the CLI uses, so the
outputs go off on exit, on error and on abort), and ``shutdown`` closes it.

Second, they make an abort take effect between bench operations: pymeasure's ``Worker.stop``
only sets a flag, and a sweep that is busy with its batches would otherwise run to its end.
The bench handed to the procedure is a thin proxy that checks ``should_stop()`` before each
bench method call and raises :class:`RunAborted` (a ``KeyboardInterrupt``, which the Worker
records as *aborted*, not *failed*).

The classes keep their parents' names and parameters and live in this module, so a results
file written by the window names an importable procedure (``Results.load`` / the browser's
Open button rebuild it) and the CLI's resume accepts it (same parameters, same columns).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

from pymeasure.experiment import Procedure

log = logging.getLogger(__name__)

# modules of ``procedures/`` that hold characterization procedures, first in the menu; any
# other module of the package with a BenchProcedure subclass is listed after them
PROCEDURE_MODULES = ("procedures.switching", "procedures.loops", "procedures.variability",
                     "procedures.endurance")


def _procedure_modules() -> list[str]:
    import pkgutil

    import procedures

    others = sorted(f"procedures.{m.name}" for m in pkgutil.iter_modules(procedures.__path__)
                    if not m.name.startswith("_"))
    return list(PROCEDURE_MODULES) + [m for m in others if m not in PROCEDURE_MODULES]

# parameters the window sets itself (bench selector, device selector): not in the inputs
WINDOW_PARAMETERS = ("bench_file", "backend", "device")


class RunAborted(KeyboardInterrupt):
    """The user pressed Abort; raised at the next bench operation of the running procedure."""


class _StopAwareBench:
    """Forwards everything to the bench; a method call first checks the procedure's abort flag."""

    def __init__(self, bench, should_stop):
        object.__setattr__(self, "_bench", bench)
        object.__setattr__(self, "_should_stop", should_stop)

    def __getattr__(self, name):
        value = getattr(self._bench, name)
        if callable(value) and not name.startswith("_"):
            def checked(*args, **kwargs):
                self._check()
                return value(*args, **kwargs)
            checked.__name__ = name
            return checked
        return value

    def __setattr__(self, name, value):
        setattr(self._bench, name, value)

    def _check(self):
        try:
            stop = bool(self._should_stop())
        except NotImplementedError:
            stop = False
        if stop:
            raise RunAborted("aborted by the user; the bench outputs are being turned off")


class WindowBench:
    """Mixin: open the bench through the window's VISA library, abort between bench calls."""

    def __init__(self, *args, **kwargs):
        self.visa_library = None      # set by the window; None: behave exactly like the parent
        self.error_message = ""       # what went wrong, for the window's error box
        self._window_bench_cm = None
        super().__init__(*args, **kwargs)

    def startup(self):
        if getattr(self, "bench", None) is None and self.visa_library is not None:
            from procedures.session import open_bench

            try:
                self.validate()
                cm = open_bench(self.bench_file, self.backend, visa_library=self.visa_library)
                bench = cm.__enter__()
            except Exception as exc:
                self.error_message = f"{type(exc).__name__}: {exc}"
                raise
            self._window_bench_cm = cm
            self.bench = _StopAwareBench(bench, lambda: self.should_stop())
        else:
            super().startup()

    def execute(self):
        try:
            super().execute()
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            self.error_message = f"{type(exc).__name__}: {exc}"
            raise

    def shutdown(self):
        try:
            super().shutdown()
        finally:
            cm, self._window_bench_cm = self._window_bench_cm, None
            if cm is not None:
                try:
                    cm.__exit__(None, None, None)      # drivers: every output off
                finally:
                    self.bench = None


@dataclass(frozen=True)
class PlotSpec:
    """How the window's live plot shows a procedure's rows."""

    x: str                    # column on the x axis
    y: str                    # column on the y axis
    group: str = ""           # column whose values split the rows into separate traces
    fit: str = ""             # "switching" (Neel-Brown + logistic), "tau", or ""
    log_x: bool = False
    abs_x: bool = False       # plot |x| (write currents of negative pulses)


@dataclass(frozen=True)
class CatalogEntry:
    title: str                # what the procedure chooser shows
    cls: type                 # the window class (WindowBench + the procedures class)
    base: type                # the procedures class
    plot: PlotSpec
    has_device: bool          # one device (the device panel sets it) vs a device list


_TITLES = {
    "SwitchingAmplitudeProcedure": "Switching probability vs amplitude",
    "SwitchingWidthProcedure": "Switching probability vs pulse width",
    "RHLoopProcedure": "R-H loop",
    "RILoopProcedure": "R-I loop",
    "VariabilitySurveyProcedure": "Variability survey (all devices)",
    "EnduranceProcedure": "Endurance (cycling)",
}

_PLOTS = {
    "SwitchingAmplitudeProcedure": PlotSpec("Write current (A)", "Switching probability",
                                            "Device", "switching", abs_x=True),
    "SwitchingWidthProcedure": PlotSpec("Pulse width (s)", "Switching probability", "Phase",
                                        "tau", log_x=True),
    "RHLoopProcedure": PlotSpec("Field (T)", "Resistance (ohm)", "Branch"),
    "RILoopProcedure": PlotSpec("Write current (A)", "Resistance (ohm)", "Branch"),
    "VariabilitySurveyProcedure": PlotSpec("Write current (A)", "Switching probability",
                                           "Device", "switching", log_x=True, abs_x=True),
    "EnduranceProcedure": PlotSpec("Cycles done", "Error rate", "Device", log_x=False),
}


def _default_plot(columns) -> PlotSpec:
    return PlotSpec(columns[0], columns[1] if len(columns) > 1 else columns[0])


def _window_class(base: type) -> type:
    cls = type(base.__name__, (WindowBench, base), {
        "__module__": __name__,
        "__qualname__": base.__name__,
        "__doc__": base.__doc__,
    })
    return cls


def _discover() -> list[CatalogEntry]:
    from procedures.base import BenchProcedure

    entries: list[CatalogEntry] = []
    seen: set[type] = set()
    for module_name in _procedure_modules():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if getattr(exc, "name", "") == module_name:
                continue                      # that module has not been written (yet)
            if module_name in PROCEDURE_MODULES:
                raise
            log.warning("lab window: skipped %s (%s)", module_name, exc)
            continue
        names = getattr(module, "__all__", None) or dir(module)
        for name in names:
            obj = getattr(module, name, None)
            if (not isinstance(obj, type) or not issubclass(obj, BenchProcedure)
                    or obj is BenchProcedure or obj in seen or obj.__module__ != module_name
                    or not getattr(obj, "DATA_COLUMNS", None)):
                continue
            seen.add(obj)
            cls = _window_class(obj)
            globals()[obj.__name__] = cls
            params = cls().parameter_objects()
            entries.append(CatalogEntry(_TITLES.get(obj.__name__, obj.__name__), cls, obj,
                                        _PLOTS.get(obj.__name__, _default_plot(obj.DATA_COLUMNS)),
                                        "device" in params))
    order = list(_TITLES)
    entries.sort(key=lambda e: order.index(e.base.__name__) if e.base.__name__ in order else 99)
    return entries


CATALOG: list[CatalogEntry] = _discover()


def catalog_entry(cls) -> CatalogEntry | None:
    """The catalog entry of a procedure class (a window class or its procedures parent)."""
    for entry in CATALOG:
        if cls is entry.cls or cls is entry.base or (isinstance(cls, type)
                                                      and issubclass(cls, entry.base)):
            return entry
    return None


def input_names(cls) -> list[str]:
    """Parameters the user edits in the inputs dock (not those the window sets), in the
    order the classes declare them (shared sweep parameters first, then the procedure's)."""
    from pymeasure.experiment.parameters import Parameter

    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Parameter) and name not in names:
                names.append(name)
    return [n for n in names if n not in WINDOW_PARAMETERS]


def is_running(procedure) -> bool:
    return getattr(procedure, "status", None) == Procedure.RUNNING


__all__ = ["CATALOG", "CatalogEntry", "PlotSpec", "RunAborted", "WindowBench", "catalog_entry",
           "input_names", "is_running"]
