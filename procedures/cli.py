"""``hil characterize``: run one procedure or the whole-chip survey from the command line.

    hil characterize                          survey every device of the default chip
    hil characterize survey --devices S,L     ... only sizes S and L
    hil characterize switching --device chip1/S3 --width 20e-9
    hil characterize width --device S3        P_sw vs pulse width -> tau(I)
    hil characterize rh-loop --device L0      R-H loop through the magnet
    hil characterize ri-loop --device S0      R-I loop (both polarities) -> critical currents
    hil characterize endurance --device M0 --cycles 5000
    hil characterize ifr --device M0 --cycles 100 --bench examples/benches/dw_ifr_neurons.toml
    hil characterize ifr-transfer --device M0 --points 6 --cycles 40 --bench ...   (DW-MTJ neurons)
    hil characterize ifr-survey --bench examples/benches/dw_ifr_neurons.toml   (every DW neuron:
        D2D spread per geometry, calibration_<chip>.json with the domain_wall model)
    hil characterize drift --devices S0,S1 --checks 8 --interval 1800 --bench examples/benches/realistic_drift.toml
    hil characterize ltp-ltd --devices F0,F1 --cycles 3 --bench examples/benches/ferrimagnet_synapses.toml
    hil characterize neuron-transfer --device N0 --points 41 --bench examples/benches/celu_neurons.toml
    hil characterize synapse-switching --devices W0,W27 --bench examples/benches/stt_synapse_crossbar.toml
        (P_sw vs V and width, both directions; fitted Vc, Delta, n; calibration_<chip>.json)
    hil characterize crossbar-read --bench examples/benches/stt_synapse_crossbar.toml   (VMM error)
    ... [--bench BENCH.toml] [--backend sim|visa] [--out DIR] [--resume] [--no-progress]
    hil characterize switching --backend visa --visa-library @py \
        --address GPIB0::10::INSTR=TCPIP0::127.0.0.1::5025::SOCKET ...   (over `hil serve`)

Outputs in ``--out``: the Results CSV, for a survey ``calibration_<chip>.json``
(what ``hil train`` reads), PNG plots and ``report.md``; for another procedure its PNG plot,
``<procedure>_summary.json`` and ``<procedure>_report.md`` (e.g. ``ri_loop_report.md``), so
procedures can share one ``--out``. One run at a time writes a folder (it is locked). Parameters are checked against the
bench file's safety limits before anything is opened; a bad value exits with status 2 and a
message naming the value and the limit. Ctrl-C or SIGTERM stops the run before its next
bench operation (no batch is cut), turns the outputs off and exits with status 130; a
second Ctrl-C interrupts at once. An interrupted run (Ctrl-C, kill -9, power loss) keeps
every finished point; the same command with ``--resume`` completes it.

Also runnable as ``python -m procedures.cli ...`` (same arguments).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One procedure of ``hil characterize``: adding a procedure adds one line to CATALOG."""

    procedure: str              # "module:Class", imported only when that procedure runs
    data_file: str              # its Results CSV in --out
    device: str | None = None   # default --device of a one-device procedure; None: --devices
    #: the network elements (devices.kinds) of the devices it measures; None: it checks itself
    elements: tuple[str, ...] | None = None


#: the stochastic switches (sot_hall_bar, mtj) the switching procedures fit with Neel-Brown
SWITCHES = ("switching_neuron",)
#: the procedures of the other elements, for the line that refuses them a switching procedure
PROCEDURES_OF_ELEMENT = {"ifr_neuron": "ifr, ifr-transfer or ifr-survey",
                         "crossbar_synapse": "synapse-switching or crossbar-read",
                         "analog_synapse": "ltp-ltd", "quantized_synapse": "ltp-ltd",
                         "celu_neuron": "neuron-transfer"}

CATALOG = {
    "survey": Entry("procedures.variability:VariabilitySurveyProcedure", "survey.csv",
                    elements=SWITCHES),
    "switching": Entry("procedures.switching:SwitchingAmplitudeProcedure", "switching.csv",
                       "chip1/S0", SWITCHES),
    "width": Entry("procedures.switching:SwitchingWidthProcedure", "p_vs_width.csv", "chip1/S0",
                   SWITCHES),
    "rh-loop": Entry("procedures.loops:RHLoopProcedure", "rh_loop.csv", "chip1/L0", SWITCHES),
    "ri-loop": Entry("procedures.loops:RILoopProcedure", "ri_loop.csv", "chip1/S0", SWITCHES),
    "endurance": Entry("procedures.endurance:EnduranceProcedure", "endurance.csv", "chip1/M0",
                       SWITCHES),
    "ifr": Entry("procedures.ifr:IFRCyclingProcedure", "ifr.csv", "chip1/M0"),
    "ifr-transfer": Entry("procedures.ifr:IFRTransferProcedure", "ifr_transfer.csv", "chip1/M0"),
    "ifr-survey": Entry("procedures.ifr_survey:IFRSurveyProcedure", "ifr_survey.csv"),
    "drift": Entry("procedures.drift:DriftMonitorProcedure", "drift.csv", elements=SWITCHES),
    "ltp-ltd": Entry("procedures.ltp_ltd:LTPLTDProcedure", "ltp_ltd.csv"),
    "synapse-switching": Entry("procedures.synapse_switching:SynapseSwitchingProcedure",
                               "synapse_switching.csv"),
    "crossbar-read": Entry("procedures.crossbar_read:CrossbarReadProcedure", "crossbar_read.csv"),
    "neuron-transfer": Entry("procedures.neuron_transfer:NeuronTransferProcedure",
                             "neuron_transfer.csv", "chip1/N0"),
}
PROCEDURES = tuple(CATALOG)
DATA_FILES = {name: entry.data_file for name, entry in CATALOG.items()}


def procedure_class(name: str):
    """The Procedure class of ``name`` (imported on demand)."""
    import importlib

    module, cls = CATALOG[name].procedure.split(":")
    return getattr(importlib.import_module(module), cls)


def add_characterize_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("procedure", nargs="?", default="survey", choices=PROCEDURES,
                        help="what to run (default: survey of every device of the chip)")
    parser.add_argument("--bench", default=None, help="bench TOML (default: the built-in bench)")
    parser.add_argument("--backend", default="sim", choices=("sim", "visa"),
                        help="sim: simulated instruments (default); visa: real instruments")
    parser.add_argument("--visa-library", default=None,
                        help="visa backend: pyvisa library, e.g. @py for LAN / `hil serve`")
    parser.add_argument("--address", action="append", default=[], metavar="BENCH=RESOURCE",
                        help="reach a bench-file address through another VISA resource, e.g. "
                             "GPIB0::10::INSTR=TCPIP0::127.0.0.1::5025::SOCKET (repeatable)")
    parser.add_argument("--device", default=None,
                        help="device of a single-device procedure, e.g. chip1/S0 or S0")
    parser.add_argument("--devices", default="all",
                        help="survey: 'all', sizes 'S,L' or names 'S0,M3' (default: all)")
    parser.add_argument("--out", default="characterization", help="output directory")
    parser.add_argument("--resume", action="store_true",
                        help="finish an interrupted run in --out without repeating a point")
    parser.add_argument("--trials", type=int, default=None, help="trials per point")
    parser.add_argument("--points", type=int, default=None, help="points of the fine sweep")
    parser.add_argument("--coarse-points", type=int, default=None)
    parser.add_argument("--width", type=float, default=None, help="pulse width in s (10e-9)")
    parser.add_argument("--field", type=float, default=None, help="bias field in T (0.01)")
    parser.add_argument("--amplitude", type=float, default=None,
                        help="V: ri-loop peak / endurance write level (default: automatic)")
    parser.add_argument("--cycles", type=int, default=None, help="endurance cycles")
    parser.add_argument("--block", type=int, default=None, help="endurance cycles per block")
    parser.add_argument("--max-field", type=float, default=None, help="rh-loop peak field in T")
    parser.add_argument("--checks", type=int, default=None, help="drift: checks per device (6)")
    parser.add_argument("--interval", type=float, default=None,
                        help="drift: bench seconds between checks (600)")
    parser.add_argument("--pulses", type=int, default=None,
                        help="ltp-ltd: pulses per sweep (default 64; 4 per level of a quantized synapse)")
    parser.add_argument("--vectors", type=int, default=None,
                        help="crossbar-read: random input vectors (16)")
    parser.add_argument("--widths", default=None,
                        help="synapse-switching: pulse widths in s, comma separated "
                             "(2e-9,2e-8,2e-7,2e-6,2e-5)")
    parser.add_argument("--no-width-scan", action="store_true",
                        help="survey: skip the P vs width scan (one device per size)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _parameters(args) -> dict:
    """Procedure keyword arguments from the command line (only what was given)."""
    name = args.procedure
    out: dict = {"bench_file": args.bench or "default", "backend": args.backend}
    for option, value in (("--device", args.device), ("--devices", args.devices)):
        if value is not None and not str(value).strip(" ,"):
            from procedures.session import ParameterError
            raise ParameterError(f"{name}: {option} {value!r} names no device: give a name such "
                                 f"as S0, or leave {option} out for the default")
    if CATALOG[name].device is not None:
        out["device"] = args.device or CATALOG[name].device
    elif name != "survey" and args.devices != "all":
        out["devices"] = args.devices
    if name == "survey":
        out["devices"] = args.devices
        if getattr(args, "no_width_scan", False):
            out["width_scan"] = False
    simple = {"trials": args.trials, "points": args.points, "coarse_points": args.coarse_points,
              "pulse_width": args.width, "bias_field": args.field, "cycles": args.cycles,
              "block": args.block, "max_field": args.max_field,
              "checks": getattr(args, "checks", None), "interval_s": getattr(args, "interval", None),
              "pulses": getattr(args, "pulses", None), "vectors": getattr(args, "vectors", None),
              "widths": getattr(args, "widths", None)}
    if args.amplitude is not None:
        simple["max_amplitude" if name == "ri-loop" else "amplitude"] = args.amplitude
    for key, value in simple.items():
        if value is not None:
            out[key] = value
    return out


#: the option that sets a procedure parameter (errors name what the user typed)
OPTIONS = {"trials": "--trials", "points": "--points", "coarse_points": "--coarse-points",
           "pulse_width": "--width", "bias_field": "--field", "cycles": "--cycles",
           "block": "--block", "max_field": "--max-field", "amplitude": "--amplitude",
           "max_amplitude": "--amplitude", "checks": "--checks", "interval_s": "--interval",
           "pulses": "--pulses", "vectors": "--vectors", "widths": "--widths"}


def _check_number(procedure: str, key: str, parameter, value) -> str | None:
    """A numeric parameter must be finite (else ParameterError); returns what is wrong when it
    is outside its pymeasure range (pymeasure's own check says only "above the maximum", and
    only once the run has started), naming the option and the bound."""
    from pymeasure.experiment import FloatParameter, IntegerParameter

    from procedures.session import ParameterError

    if not isinstance(parameter, (FloatParameter, IntegerParameter)):
        return
    what = OPTIONS.get(key, key)
    units = f" {parameter.units}" if parameter.units else ""
    integer = isinstance(parameter, IntegerParameter)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or (integer and number != int(number)):
        kind = "an integer" if integer else f"a finite number{' of' if units else ''}"
        raise ParameterError(f"{procedure}: {what} must be {kind}{units}, got {value!r}")
    def show(x):
        return f"{int(x)}" if integer else f"{x:g}"
    low, high = parameter.minimum, parameter.maximum
    if number > high:
        return f"{procedure}: {what} {show(number)}{units} is over the maximum {show(high)}{units}"
    if number < low:
        return f"{procedure}: {what} {show(number)}{units} is below the minimum {show(low)}{units}"
    return None


def build_procedure(name: str, parameters: dict, bench=None):
    from pymeasure.experiment import FloatParameter

    from procedures.session import ParameterError

    cls = procedure_class(name)
    known = set(cls().parameter_objects())
    unknown = sorted(set(parameters) - known)
    if unknown:   # said as the options typed; a caller of the API sees its own keys
        typed = {**OPTIONS, "device": "--device", "devices": "--devices"}
        takes = sorted({typed[k] for k in known if k in typed})
        raise ParameterError(f"{name} does not take {', '.join(typed.get(k, k) for k in unknown)} "
                             f"(the options it takes: {', '.join(takes)})")
    problems = [p for key, value in parameters.items()
                if (p := _check_number(name, key, getattr(cls, key), value))]
    try:
        proc = cls(bench=bench, **parameters)
    except ValueError as exc:   # pymeasure's own range checks (e.g. a negative count)
        raise ParameterError(f"{name}: {exc}") from None
    if problems:
        if any(isinstance(getattr(cls, k), FloatParameter) for k in parameters):
            proc.validate()     # its own message names the device's limit, where it has one
        raise ParameterError(problems[0])
    return proc


def catalog_name(proc) -> str | None:
    """The ``hil characterize`` name of a procedure (of its class), or None."""
    path = f"{type(proc).__module__}:{type(proc).__name__}"
    return next((name for name, entry in CATALOG.items() if entry.procedure == path), None)


def require_elements(name: str, proc) -> None:
    """The devices ``proc`` names are of the elements its CATALOG entry measures: a switching
    fit on a synapse or a DW-MTJ neuron runs to a meaningless table or a ZeroDivisionError."""
    from devices import kinds
    from procedures.session import ParameterError, select_devices

    elements = CATALOG[name].elements
    if elements is None:
        return
    config = proc.bench_config()
    named = getattr(proc, "device", None) or getattr(proc, "devices", None) or "all"
    for facts in select_devices(config, str(named)):
        kind = config.group_of(facts.address).kind
        element = kinds.kind(kind).element
        if element not in elements:
            own = PROCEDURES_OF_ELEMENT.get(element)
            raise ParameterError(
                f"{facts.name} is a {kind} device ({element}); {name} measures stochastic "
                f"switches (sot_hall_bar, mtj): characterize it with "
                f"{'hil characterize ' + own if own else 'its own procedures'}, or name "
                f"switching devices (the default bench's)")


def run_characterization(name: str, parameters: dict, out_dir, resume: bool = False,
                         progress: bool = True, bench=None, visa_library=None,
                         addresses: dict | None = None, stop=None) -> dict:
    """Validate, run, analyse, write the outputs. Returns a dict of paths and results.

    ``bench``: an open bench to use; else it is opened here from the parameters (through
    ``visa_library`` / ``addresses`` when given) and closed - outputs off - before the
    analysis. While a bench opened here runs, Ctrl-C and SIGTERM ask the run to stop
    (:func:`procedures.stopping.stop_on_signals`); ``stop`` (a ``threading.Event``) asks
    it too. A stopped run ends before its next bench operation and raises
    :class:`~procedures.stopping.RunAborted` (a ``KeyboardInterrupt``) with every finished
    point on disk for ``resume``.
    """
    from procedures.outlock import lock_folder
    from procedures.runner import require_run_folder

    out = Path(out_dir)
    proc = build_procedure(name, parameters, bench)
    require_elements(name, proc)
    proc.validate()                                   # before any file or instrument
    require_run_folder(out, resume)
    with lock_folder(out):          # one run at a time writes the folder, outputs included
        return _run_and_write(name, proc, out, resume, progress, bench, visa_library,
                              addresses, stop)


def _run_and_write(name, proc, out: Path, resume, progress, bench, visa_library, addresses,
                   stop) -> dict:
    from procedures.stopping import RunAborted

    if bench is None:
        from procedures.session import open_bench
        from procedures.stopping import stop_on_signals
        with open_bench(proc.bench_file, proc.backend, visa_library, addresses) as opened, \
                stop_on_signals(stop) as requested:
            proc.bench = opened
            outcome = _run_with_progress(proc, name, out, resume, progress, requested)
    else:
        outcome = _run_with_progress(proc, name, out, resume, progress, stop)
    if outcome.status == "aborted":
        raise RunAborted(f"{name} stopped with {len(outcome.rows)} points in {outcome.path}")
    result = {"csv": outcome.path, "measured": outcome.measured, "reused": outcome.reused,
              "status": outcome.status}
    if name == "survey":
        from procedures.variability import finish_survey
        survey = finish_survey(proc, outcome.rows, out)
        result.update(survey=survey, **survey.paths)
    elif hasattr(proc, "finish"):     # a survey of its own kind (ifr-survey) writes its outputs
        result.update(proc.finish(outcome.rows, out))
    else:
        from procedures.report import write_procedure_report
        round_trips = sum(float(r.get("Round trips", 0) or 0) for r in outcome.rows
                          if r.get("Round trips") == r.get("Round trips"))
        projected = sum(float(r.get("Projected bench time (s)", 0) or 0) for r in outcome.rows
                        if r.get("Projected bench time (s)") == r.get("Projected bench time (s)"))
        summary = outcome.extra
        # a procedure that draws its own plots (the IFR ones) names them in its summary
        plots = proc.write_plots(summary, out) if hasattr(proc, "write_plots") else {}
        summary.update({key: path.name for key, path in plots.items()})
        # each procedure's own summary and report: a second procedure into --out keeps the first's
        summary_path = out / f"{name.replace('-', '_')}_summary.json"
        summary_path.write_text(json.dumps(summary, indent=2, default=float))
        result.update(summary=summary, summary_path=summary_path,
                      **write_procedure_report(name, outcome.rows, summary, out, round_trips,
                                               projected))
        result.update(plots)
    return result


def _run_with_progress(proc, name: str, out: Path, resume: bool, progress: bool, stop):
    from procedures.runner import run_procedure

    bar = None
    callback = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=100.0, desc=f"characterize {name}", unit="%",
                   bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}% [{elapsed}<{remaining}]")

        def callback(percent):
            bar.n = min(float(percent), 100.0)
            bar.refresh()
    try:
        return run_procedure(proc, out / DATA_FILES[name], resume=resume, progress=callback,
                             stop=stop)
    finally:
        if bar is not None:
            bar.close()


def _has_points(path: Path) -> bool:
    from procedures.runner import read_points
    from procedures.session import ParameterError

    try:
        return path.exists() and bool(read_points(path)[1])
    except ParameterError:          # a damaged file: said when it is resumed
        return path.exists()


def _bench_errors() -> tuple[type, ...]:
    """The drivers' bench failures (connection, faults, switch, outputs) for a clean exit."""
    found: list[type] = []
    for module, names in (("drivers.transport", ("InstrumentConnectionError",)),
                          ("drivers.faults", ("FaultError", "InstrumentError")),
                          ("drivers.switch", ("SwitchError",)),
                          ("drivers.bench", ("OutputsNotOffError",))):
        try:
            mod = __import__(module, fromlist=list(names))
        except ImportError:  # pragma: no cover - drivers always ship these
            continue
        found += [getattr(mod, n) for n in names if hasattr(mod, n)]
    return tuple(found) or (RuntimeError,)


def characterize_main(args) -> int:
    from devices.benchfile import BenchFileError
    from procedures.calibration import CalibrationFileError
    from procedures.fits import FitError
    from procedures.session import ParameterError

    try:
        from drivers.limits import LimitViolation
    except ImportError:  # pragma: no cover
        LimitViolation = ParameterError
    from drivers.synapse import ProgrammingError
    from drivers.transport import InstrumentConnectionError

    bench_errors = _bench_errors()
    try:
        from drivers.bench import BenchTerminated
    except ImportError:  # pragma: no cover
        BenchTerminated = KeyboardInterrupt
    data = Path(args.out) / DATA_FILES[args.procedure]
    again = (f"every finished point is in {data}; the same command with --resume finishes "
             f"the run")
    try:
        from procedures.session import parse_addresses
        result = run_characterization(args.procedure, _parameters(args), args.out,
                                      resume=args.resume, progress=not args.no_progress,
                                      visa_library=getattr(args, "visa_library", None),
                                      addresses=parse_addresses(getattr(args, "address", [])))
    except (ParameterError, BenchFileError, LimitViolation, CalibrationFileError, FitError,
            InstrumentConnectionError, ProgrammingError) as exc:
        # an instrument that cannot be reached (or is not the file's model) is the bench file's
        # or the address's to fix, like a bad value: one line, exit 2
        print(f"hil characterize: error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, BenchTerminated):
        print(f"\nhil characterize: interrupted; the bench outputs are off. "
              f"{again if _has_points(data) else ''}", file=sys.stderr)
        return 130
    except bench_errors as exc:
        print(f"hil characterize: bench error: {exc}", file=sys.stderr)
        if _has_points(data):
            print(f"hil characterize: {again}", file=sys.stderr)
        return 1
    if "survey" in result:
        survey = result["survey"]
        print(survey.table())
        print(f"calibration: {result['calibration']}")
        print(f"report: {result['report']}")
    else:
        print(json.dumps(result["summary"], indent=2, default=float))
        print(f"report: {result['report']}")
    note = f" ({result['reused']} points reused from the interrupted run)" if result["reused"] else ""
    print(f"data: {result['csv']}: {result['measured']} points measured{note}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m procedures.cli",
                                     description="spin-hil characterization procedures")
    add_characterize_arguments(parser)
    return characterize_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
