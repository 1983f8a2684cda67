"""The characterization procedures the lab window offers, and how each is plotted.

The window runs the classes of ``procedures/`` as they are, so a results file it writes
names the procedure (``procedures.switching.SwitchingAmplitudeProcedure``...) exactly as a
file of ``hil characterize`` does: the browser's Open button and ``Results.load`` rebuild
it, and ``procedures.runner.run_procedure(resume=True)`` finishes an aborted run. What the
window needs from a procedure, the procedures offer themselves
(:class:`procedures.base.BenchProcedure`): ``procedure.visa_library`` opens the bench through
the window's one VISA library (so the status panel talks to the instruments the runs
drive), and an abort takes effect before the run's next bench operation, after which the
procedure's ``shutdown`` turns every output off.

Here: the catalog (title, plot and device chooser of each procedure), the inputs the user
edits, and :func:`record_failure`, which keeps the message of a failed run for the window's
error box.
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


def record_failure(procedure) -> None:
    """Keep what makes a run fail as ``procedure.error_message`` (the window's error box
    shows it; pymeasure's Worker only logs the traceback). Wraps the instance's own
    ``startup`` and ``execute``: the class, and so the results file, stays the procedure's."""
    procedure.error_message = ""
    for name in ("startup", "execute"):
        method = getattr(procedure, name)
        if getattr(method, "_records_failure", False):
            continue

        def recorded(method=method):
            try:
                return method()
            except Exception as exc:
                procedure.error_message = f"{type(exc).__name__}: {exc}"
                raise
        recorded._records_failure = True
        setattr(procedure, name, recorded)


@dataclass(frozen=True)
class PlotSpec:
    """How the window's live plot shows a procedure's rows."""

    x: str                    # column on the x axis
    y: str                    # column on the y axis
    group: str = ""           # column whose values split the rows into separate traces
    fit: str = ""             # "switching" (Neel-Brown + logistic), "tau", "ifr" (transfer), or ""
    log_x: bool = False
    abs_x: bool = False       # plot |x| (write currents of negative pulses)


@dataclass(frozen=True)
class CatalogEntry:
    title: str                # what the procedure chooser shows
    cls: type                 # the procedures class (a BenchProcedure)
    plot: PlotSpec
    has_device: bool          # one device (the device panel sets it) vs a device list


_TITLES = {
    "SwitchingAmplitudeProcedure": "Switching probability vs amplitude",
    "SwitchingWidthProcedure": "Switching probability vs pulse width",
    "RHLoopProcedure": "R-H loop",
    "RILoopProcedure": "R-I loop",
    "VariabilitySurveyProcedure": "Variability survey (all devices)",
    "EnduranceProcedure": "Endurance (cycling)",
    "IFRCyclingProcedure": "IFR cycling: pulses to fire (DW-MTJ neuron)",
    "IFRTransferProcedure": "IFR transfer: pulses to fire vs amplitude",
    "IFRSurveyProcedure": "IFR survey (all DW-MTJ neurons)",
    "LTPLTDProcedure": "LTP/LTD: conductance vs pulse number (synapses)",
    "NeuronTransferProcedure": "Neuron transfer: CeLU output vs input current",
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
    # pulses to fire per cycle as they come; the transfer: mean +- sd per amplitude with the fit
    "IFRCyclingProcedure": PlotSpec("Cycle", "Pulses to fire"),
    "IFRTransferProcedure": PlotSpec("Current density (A/m**2)", "Pulses to fire", fit="ifr"),
    "IFRSurveyProcedure": PlotSpec("Current density (A/m**2)", "Pulses to fire", "Device", "ifr"),
    "LTPLTDProcedure": PlotSpec("Pulse", "Conductance (S)", "Device", log_x=False),
    "NeuronTransferProcedure": PlotSpec("Input current (A)", "Output (ohm)", "Device", log_x=False),
}


def _default_plot(columns) -> PlotSpec:
    return PlotSpec(columns[0], columns[1] if len(columns) > 1 else columns[0])


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
            params = obj().parameter_objects()
            entries.append(CatalogEntry(_TITLES.get(obj.__name__, obj.__name__), obj,
                                        _PLOTS.get(obj.__name__, _default_plot(obj.DATA_COLUMNS)),
                                        "device" in params))
    order = list(_TITLES)
    entries.sort(key=lambda e: order.index(e.cls.__name__) if e.cls.__name__ in order else 99)
    return entries


CATALOG: list[CatalogEntry] = _discover()


def catalog_entry(cls) -> CatalogEntry | None:
    """The catalog entry of a procedure class (or of a subclass of one)."""
    for entry in CATALOG:
        if cls is entry.cls:
            return entry
    for entry in CATALOG:
        if isinstance(cls, type) and issubclass(cls, entry.cls):
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


__all__ = ["CATALOG", "CatalogEntry", "PlotSpec", "catalog_entry", "input_names", "is_running",
           "record_failure"]
