"""Save a screenshot of the lab window after a switching-probability run (for the docs).

    QT_QPA_PLATFORM=offscreen python -m hil.gui.screenshot docs/gui.png [--device chip1/M2]
    QT_QPA_PLATFORM=offscreen python -m hil.gui.screenshot docs/gui_survey.png --survey

Runs on the simulated default bench (no hardware), headless; the run's results file goes
to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time


def take_screenshot(out: str, device: str = "chip1/M2", trials: int = 64, points: int = 16,
                    width_px: int = 1500, height_px: int = 940, timeout_s: float = 120.0,
                    survey: bool = False) -> str:
    """One amplitude sweep of ``device`` (or, with ``survey``, the whole chip), then a PNG."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from pymeasure.display.Qt import QtWidgets
    from pymeasure.experiment import Procedure

    from hil.gui.session import BenchSession
    from hil.gui.window import LabWindow, guard_pyside_singletons

    guard_pyside_singletons()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="spin-hil-gui-") as folder:
        window = LabWindow(BenchSession(), directory=folder)
        window.show()
        if survey:
            from hil.gui.catalog import CATALOG

            window.set_procedure(next(i for i, e in enumerate(CATALOG)
                                      if e.cls.__name__ == "VariabilitySurveyProcedure"))
            trials, points = min(trials, 32), min(points, 10)
        else:
            window.device_panel.set_device(device)
        window.inputs.trials.setValue(trials)
        window.inputs.points.setValue(points)
        experiment = window.queue()
        if experiment is None:
            raise SystemExit(f"the run was refused: {window.last_error}")
        end = time.monotonic() + timeout_s
        done = (Procedure.FINISHED, Procedure.FAILED, Procedure.ABORTED)
        while (experiment.procedure.status not in done or window.manager.is_running()) \
                and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)
        if experiment.procedure.status != Procedure.FINISHED:
            raise SystemExit(f"the run did not finish: {window.last_error or 'timed out'}")
        window.resize(width_px, height_px)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        path = window.save_screenshot(out)
        window.close()
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default="docs/gui.png", help="PNG to write")
    parser.add_argument("--device", default="chip1/M2", help="device to sweep (chip/sizeN)")
    parser.add_argument("--survey", action="store_true",
                        help="survey every device of the chip instead of one sweep")
    args = parser.parse_args(argv)
    print(take_screenshot(args.out, args.device, survey=args.survey))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
