"""The lab window on the DW-MTJ neuron bench (pytest-qt, offscreen): it offers the IFR
procedures, and an IFR transfer run fills the live pulses-to-fire plot (mean +- sd per
amplitude) with the procedures' transfer fit."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # before anything imports Qt

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("pymeasure.display.Qt", reason="the lab window needs a Qt binding "
                                                    "(pip install 'spin-hil[gui]')")

from pymeasure.experiment import Procedure

from hil.gui.catalog import CATALOG
from hil.gui.session import BenchSession
from hil.gui.window import LabWindow
from procedures.runner import read_points

pytestmark = pytest.mark.timeout(60)

BENCH = Path(__file__).resolve().parents[1] / "examples" / "benches" / "dw_ifr_neurons.toml"
IFR = ("IFRCyclingProcedure", "IFRTransferProcedure", "IFRSurveyProcedure")


def test_the_window_runs_an_ifr_transfer_with_a_live_pulses_to_fire_plot(qtbot, tmp_path):
    entries = {e.cls.__name__: e for e in CATALOG}
    assert all(name in entries for name in IFR)
    assert entries["IFRCyclingProcedure"].plot.y == "Pulses to fire"
    assert entries["IFRTransferProcedure"].has_device and not entries["IFRSurveyProcedure"].has_device

    win = LabWindow(BenchSession(BENCH), directory=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    win.set_procedure(next(i for i, e in enumerate(CATALOG) if e.cls.__name__ == IFR[1]))
    assert win.plot_widget.plot_frame.x_axis == "Current density (A/m**2)"
    win.device_panel.set_device("chip1/N2")
    for name, value in {"cycles": 6, "points": 3}.items():
        getattr(win.inputs, name).setValue(value)
    experiment = win.queue()
    assert experiment is not None, win.last_error
    qtbot.waitUntil(lambda: experiment.procedure.status in
                    (Procedure.FINISHED, Procedure.FAILED, Procedure.ABORTED)
                    and not win.manager.is_running(), timeout=30_000)
    assert experiment.procedure.status == Procedure.FINISHED, experiment.procedure.error_message
    _, rows = read_points(experiment.data_filename)
    assert len(rows) == 18 and all(r["Device"] == "chip1/N2" for r in rows)
    # one point per amplitude (the mean of its cycles) and the transfer fit's J_dep
    qtbot.waitUntil(lambda: win.live_plot.visible_points() == 3, timeout=5000)
    qtbot.waitUntil(lambda: "J_dep" in win.live_plot.fit_label.text(), timeout=5000)
    assert not any(s.any_on for s in win.instrument_states())
    win.close()
