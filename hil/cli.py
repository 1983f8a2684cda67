"""The ``hil`` command: one entry point for the bench, characterization and learning.

    hil bench show [BENCH.toml]      wiring, addresses and each device's true parameters
    hil serve [BENCH.toml]           every simulated instrument on a loopback SCPI socket
    hil characterize ...             characterization procedures and the chip survey
    hil train ...                    the learning experiment (devices in the loop)
    hil sweep SPEC.toml              a grid / random sweep of benches and settings (--ray)
    hil gui [BENCH.toml]             the lab window
    hil demo                         characterize the default chip, train, print results

Subcommands import their package lazily, so ``hil bench show`` starts fast and a missing
optional dependency (Qt) only matters to the command that needs it.
"""

from __future__ import annotations

import argparse
import sys


def _bench_show(args) -> int:
    from hil.benchinfo import describe_bench

    print(describe_bench(args.bench))
    return 0


def _serve(args) -> int:
    from simulated_bench.server import main as serve_main

    argv = ([args.bench] if args.bench else []) + ["--port", str(args.port)]
    return serve_main(argv) or 0


def _characterize(args) -> int:
    from procedures.cli import characterize_main

    return characterize_main(args) or 0


def _train(args) -> int:
    from hil import trainers

    return trainers.module(args.network).train_main(args) or 0


def _sweep(args) -> int:
    from hil.sweep.cli import sweep_main

    return sweep_main(args) or 0


def _gui(args) -> int:
    from hil.gui.window import main as gui_main

    return gui_main(args) or 0


def _demo(args) -> int:
    from hil.demo import run_demo

    return run_demo(args) or 0


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors in one line, like every other refusal of ``hil`` (the usage
    block it prints first is one ``--help`` away); its subcommands' parsers are of this class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``hil`` parser; ``argv`` (when given) picks the options of ``hil train``: those of
    the ``--network`` it names (:mod:`hil.trainers`)."""
    parser = OneLineParser(prog="hil", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    bench = commands.add_parser("bench", help="inspect a bench file")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    show = bench_commands.add_parser("show", help="wiring, addresses and true device parameters")
    show.add_argument("bench", nargs="?", default=None, help="bench TOML (default: built-in)")
    show.set_defaults(func=_bench_show)

    serve = commands.add_parser("serve", help="simulated instruments on 127.0.0.1 SCPI sockets")
    serve.add_argument("bench", nargs="?", default=None)
    serve.add_argument("--port", type=int, default=5025, help="first port (0: ephemeral)")
    serve.set_defaults(func=_serve)

    characterize = commands.add_parser("characterize", help="run characterization procedures")
    try:
        from procedures.cli import add_characterize_arguments
    except ImportError:  # the procedures package is optional for the other commands
        add_characterize_arguments = None
    if add_characterize_arguments is not None:
        add_characterize_arguments(characterize)
    characterize.set_defaults(func=_characterize)

    train = commands.add_parser("train", help="train a network with devices in the loop")
    _add_train_arguments(train, argv or [])
    train.set_defaults(func=_train)

    sweep = commands.add_parser("sweep", help="sweep bench parameters and settings (--ray)")
    from hil.sweep.cli import add_sweep_arguments  # no Ray import here

    add_sweep_arguments(sweep)
    sweep.set_defaults(func=_sweep)

    gui = commands.add_parser("gui", help="the lab window (pymeasure ManagedWindow)")
    gui.add_argument("bench", nargs="?", default=None)
    from hil.gui.cli import add_gui_arguments  # no Qt import until the window opens

    add_gui_arguments(gui)
    gui.set_defaults(func=_gui)

    demo = commands.add_parser("demo", help="characterize the default chip, train, print results")
    demo.add_argument("--out", default="runs/demo", help="output folder")
    demo.add_argument("--quick", action="store_true", help="fewer points, epochs and seeds")
    demo.set_defaults(func=_demo)
    return parser


def _add_train_arguments(train: argparse.ArgumentParser, argv: list[str]) -> None:
    from hil import trainers

    network = trainers.network_in(argv) if argv[:1] == ["train"] else trainers.DEFAULT
    listing = "; ".join(f"{name}: {line}" for name, (_, line) in trainers.NETWORKS.items())
    train.add_argument("--network", choices=trainers.names(), default=trainers.DEFAULT,
                       help=f"what to train ({listing})")
    if network not in trainers.NETWORKS:
        return                       # argparse refuses the --network value in one line
    try:
        experiment = trainers.module(network)
    except ImportError:              # torch missing: the other commands still work
        return
    experiment.add_train_arguments(train)


# Errors that are the user's to fix (a bench file, a limit, a parameter, a file on disk):
# shown as one clear message, not a traceback. (module, class) pairs, imported on demand.
USER_ERRORS = (
    ("devices.benchfile", "BenchFileError"),
    ("drivers.limits", "LimitViolation"),
    ("drivers.transport", "InstrumentConnectionError"),
    ("drivers.faults", "FaultError"),
    ("drivers.synapse", "ProgrammingError"),
    ("drivers.crossbar", "CrossbarError"),               # a bench file without a crossbar, ...
    ("procedures.session", "ParameterError"),
    ("procedures.calibration", "CalibrationFileError"),   # hil.calibration.CalibrationError too
    ("hil.data", "DatasetError"),
    ("hil.safety", "CurrentLimitError"),
    ("hil.train", "CheckpointError"),
    ("hil.experiment", "ExperimentConfigError"),
    ("hil.stdp.config", "StdpConfigError"),              # hil.stdp.synapse.SynapseModelError too
    ("hil.sweep.spec", "SweepError"),
    ("hil.synapses.configs", "SynapseConfigError"),
    ("hil.multibench", "MultiBenchError"),
)


def _user_error_types() -> tuple[type, ...]:
    import importlib

    found = []
    for module, name in USER_ERRORS:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        if isinstance(exc, _user_error_types()):
            print(f"hil {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise
    except BaseException as exc:
        if _interrupted(exc):
            print("interrupted; instrument outputs were turned off", file=sys.stderr)
            return 130
        raise


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C, or SIGTERM while a bench was open (the bench's handler raises BenchTerminated
    once its outputs are off; without drivers.bench imported no bench was open)."""
    bench = sys.modules.get("drivers.bench")
    return isinstance(exc, KeyboardInterrupt) or (
        bench is not None and isinstance(exc, bench.BenchTerminated))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
