"""Command-line options of ``hil gui``, importable without Qt (``hil/cli.py`` builds its
parser from this; the window itself is only imported when the command runs)."""

from __future__ import annotations

DEFAULT_DIRECTORY = "runs/gui"
BACKENDS = ("sim", "visa")


def add_gui_arguments(parser) -> None:
    """Options of ``hil gui`` beyond the BENCH.toml positional."""
    parser.add_argument("--backend", default="sim", choices=BACKENDS,
                        help="sim: the simulated bench (default); visa: the instruments at the "
                             "bench file's addresses, through the system VISA library")
    parser.add_argument("--out", default=DEFAULT_DIRECTORY,
                        help=f"folder for the results files (default {DEFAULT_DIRECTORY})")


__all__ = ["BACKENDS", "DEFAULT_DIRECTORY", "add_gui_arguments"]
