"""The lab window (pytest-qt, offscreen): runs on the simulated bench, live plot, abort.

Each test opens its own window, hence its own simulated bench (one VISA library per
window). Outputs are checked the way a person at the bench would: by asking the simulated
instruments over SCPI (``OUTP1?`` on the 81160A, ``:OUTP?`` on the SMUs).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # before anything imports Qt

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("pymeasure.display.Qt", reason="the lab window needs a Qt binding "
                                                    "(pip install 'spin-hil[gui]')")
pyvisa = pytest.importorskip("pyvisa")

from pymeasure.experiment import Procedure

from hil.gui.catalog import CATALOG
from hil.gui.session import BenchSession
from hil.gui.window import LabWindow
from procedures.runner import read_points

pytestmark = pytest.mark.timeout(60)

RUN_TIMEOUT_MS = 20_000
SHORT_RUN = {"trials": 24, "points": 8, "coarse_points": 12, "coarse_trials": 6}


@pytest.fixture
def window(qtbot, tmp_path):
    win = LabWindow(BenchSession(), directory=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.manager.is_running():
        win.manager.abort()
        qtbot.waitUntil(lambda: not win.manager.is_running(), timeout=RUN_TIMEOUT_MS)


def set_inputs(win: LabWindow, **values):
    for name, value in values.items():
        getattr(win.inputs, name).setValue(value)


def scpi(win: LabWindow, address: str, query: str) -> str:
    """Ask an instrument of the window's bench (the same library the runs use)."""
    library = win.session.visa_library
    had = getattr(library, "resource_manager", None) is not None
    rm = pyvisa.ResourceManager(library)
    try:
        res = rm.open_resource(address, read_termination="\n", write_termination="\n")
        try:
            return res.query(query).strip()
        finally:
            res.close()
    finally:
        if not had:
            rm.close()


def address_of(win: LabWindow, role: str) -> str:
    return win.session.bench_file.address_of(role)


def wait_done(qtbot, win: LabWindow, experiment):
    qtbot.waitUntil(lambda: experiment.procedure.status in
                    (Procedure.FINISHED, Procedure.FAILED, Procedure.ABORTED)
                    and not win.manager.is_running(), timeout=RUN_TIMEOUT_MS)


def test_window_lists_procedures_devices_and_instruments(window):
    titles = [entry.title for entry in CATALOG]
    assert "Switching probability vs amplitude" in titles
    assert window.procedure_combo.count() == len(CATALOG)
    assert window.device_panel.device_name() == "chip1/S0"
    states = window.instrument_states()
    assert {s.role for s in states} >= {"pulse", "read_smu", "switch"}
    assert all(s.idn and not s.error for s in states), [s.error for s in states]
    assert not any(s.any_on for s in states)
    # the safety limits of the selected device are on show
    window.device_panel.set_device("chip1/L3")
    assert "chip1/L3" in window.status_panel.limits_title.text()
    assert window.status_panel.limit_labels["max_pulse_voltage_V"].text() != "-"


def test_each_procedure_gets_its_inputs_and_axes(window):
    for index, entry in enumerate(CATALOG):
        window.set_procedure(index)
        assert window.procedure_class is entry.cls
        assert window.inputs._procedure_class is entry.cls
        assert window.device_panel.isEnabled() == entry.has_device
        assert window.plot_widget.plot_frame.x_axis == entry.plot.x
    window.set_procedure(0)


def test_bad_parameter_is_refused_with_advice(window):
    set_inputs(window, pulse_width=1e-3)            # 1 ms: over the width limit
    experiment = window.queue()
    assert experiment is None
    assert "max_pulse_width_s" in window.last_error
    assert "shorter pulse" in window.last_error
    assert not window.manager.experiments.queue


def test_short_switching_run_fills_file_and_plot(qtbot, window, tmp_path):
    window.device_panel.set_device("chip1/M2")
    set_inputs(window, **SHORT_RUN)
    experiment = window.queue()
    assert experiment is not None, window.last_error
    wait_done(qtbot, window, experiment)
    assert experiment.procedure.status == Procedure.FINISHED, experiment.procedure.error_message

    columns, rows = read_points(experiment.data_filename)
    assert "Switching probability" in columns and "Write current (A)" in columns
    fine = [r for r in rows if r["Phase"] == "fine"]
    coarse = [r for r in rows if r["Phase"] == "coarse"]
    assert len(fine) == SHORT_RUN["points"] and len(coarse) == SHORT_RUN["coarse_points"]
    assert all(r["Device"] == "chip1/M2" for r in rows)
    probabilities = [r["Switching probability"] for r in fine + coarse]
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert min(probabilities) < 0.5 < max(probabilities)        # the sweep crossed it

    # the live plot holds every coarse and fine point, and the fit overlay is drawn
    qtbot.waitUntil(lambda: window.live_plot.visible_points() == len(fine) + len(coarse),
                    timeout=5000)
    assert "I50" in window.live_plot.fit_label.text()
    # pymeasure's own results graph too
    curve = experiment.curve_list[1]
    x, _ = curve.getData()
    assert x is not None and len(x) == len(rows)
    # cost and outputs: round trips counted, every output off after the run
    assert window.status_panel.cost_trips.text() not in ("-", "0")
    assert not any(s.any_on for s in window.instrument_states())

    shot = window.save_screenshot(tmp_path / "gui.png")
    assert shot.stat().st_size > 20_000


def test_abort_stops_the_run_and_turns_outputs_off(qtbot, window):
    survey = next(i for i, e in enumerate(CATALOG) if e.cls.__name__ ==
                  "VariabilitySurveyProcedure")
    window.set_procedure(survey)
    set_inputs(window, trials=200, points=24, coarse_points=24, coarse_trials=16)
    experiment = window.queue()
    assert experiment is not None, window.last_error
    # abort once the run has measured something (its outputs have been on)
    qtbot.waitUntil(lambda: experiment.procedure.status == Procedure.RUNNING
                    and len(experiment.results.data) >= 2, timeout=RUN_TIMEOUT_MS)
    window.abort()
    wait_done(qtbot, window, experiment)
    assert experiment.procedure.status == Procedure.ABORTED
    assert experiment.browser_item.text(3) == "Aborted"
    devices = {str(d) for d in experiment.results.data["Device"]}
    assert len(devices) < len(window.session.devices()), "the survey ran to its end"

    channel = window.session.bench_file.wiring.pulse_channel
    assert scpi(window, address_of(window, "pulse"), f"OUTP{channel}?") in ("0", "OFF")
    assert scpi(window, address_of(window, "read_smu"), ":OUTP?") in ("0", "OFF")
    assert scpi(window, address_of(window, "aux_smu"), ":OUTP?") in ("0", "OFF")
    # and the status panel, which re-asked the instruments after the run, says so
    assert window.instrument_states() and not any(s.any_on for s in window.instrument_states())


def test_plot_updates_do_not_exhaust_none_and_bool(window):
    """PySide6 6.12 on Python 3.11 drains the refcounts of None/True/False per Qt call; the
    window's guard (hil.gui.window.guard_pyside_singletons) must keep a long session alive."""
    import sys

    import numpy as np
    import pyqtgraph as pg

    from hil.gui.window import guard_pyside_singletons

    item = pg.PlotDataItem()
    window.live_plot.plot.addItem(item)
    x = np.arange(50.0)
    before = {name: sys.getrefcount(obj) for name, obj in
              (("None", None), ("True", True), ("False", False))}
    for i in range(8_000):           # without the guard this aborts the interpreter
        item.setData(x, x * i)
    after = {name: sys.getrefcount(obj) for name, obj in
             (("None", None), ("True", True), ("False", False))}
    _, y = item.getData()
    assert y[-1] == 49 * 7_999       # every update reached the plot
    window.live_plot.plot.removeItem(item)
    if guard_pyside_singletons():    # a draining PySide: the guard left far more than a session uses
        assert all(count > 1 << 39 for count in after.values()), after
    else:                            # no drain: 8000 updates lose (almost) no reference
        assert all(before[k] - after[k] < 1_000 for k in before), (before, after)


def test_status_reads_go_through_the_bench_and_are_counted(window):
    """Each refresh asks every instrument its identity and output state (the magnet also its
    measured field) through the status bench's roles: 2 round trips each, 3 for the magnet."""
    bench = window.session.status_bench()
    before, per_address = bench.round_trips, dict(bench.bus.per_address)
    assert window.refresh_instruments()
    expected = {e.address: 3 if e.role == "magnet" else 2
                for e in window.session.bench_file.instruments}
    assert bench.round_trips - before == sum(expected.values()) == 11
    assert {a: bench.bus.per_address[a] - per_address.get(a, 0) for a in expected} == expected
    assert window.status_panel.cost_status.text() == f"{bench.round_trips} round trips"
    assert window.refresh_instruments()               # the same again: nothing is cached
    assert bench.round_trips - before == 2 * sum(expected.values())


def test_status_panel_shows_outputs_another_bench_turned_on(window):
    """What the panel shows is what the instruments answer: a field set by another bench on
    the same VISA library (as a run's bench) is read back, then seen off after it closes."""
    from procedures.session import open_bench

    with open_bench(visa_library=window.session.visa_library) as other:
        other.field.set_field(0.02)
        assert window.refresh_instruments()
        magnet = next(s for s in window.instrument_states() if s.role == "magnet")
        assert magnet.any_on and magnet.outputs["output"] is True
        assert float(magnet.outputs["field"].split()[0]) == pytest.approx(20.0, rel=0.02)
        row = [s.role for s in window.instrument_states()].index("magnet")
        assert "output ON" in window.status_panel.table.item(row, 2).text()
        assert "outputs ON: magnet" in window.status_panel.probe_label.text()
    assert window.refresh_instruments()
    magnet = next(s for s in window.instrument_states() if s.role == "magnet")
    assert magnet.outputs["output"] is False and not magnet.error


def test_survey_statistics_are_the_procedures(qtbot, window, tmp_path):
    """The survey's per-size lines under the plot are procedures.variability's statistics
    of the same rows (no copy of them in the window), and they show the size effect."""
    from procedures.runner import run_procedure
    from procedures.session import load_bench
    from procedures.variability import VariabilitySurveyProcedure, analyze_survey
    from hil.gui.liveplot import size_lines

    procedure = VariabilitySurveyProcedure(devices="S0,S1,L0,L1", width_scan=False, **SHORT_RUN)
    outcome = run_procedure(procedure, tmp_path / "survey.csv")
    assert outcome.status == "finished"
    result = analyze_survey(outcome.rows, load_bench(None), float(procedure.pulse_width))
    assert [s.size for s in result.sizes] == ["S", "L"] and all(s.count == 2 for s in result.sizes)
    small, large = result.sizes
    assert small.i50_mean_A < large.i50_mean_A        # smaller devices switch at less current

    assert len(window.open_results([str(tmp_path / "survey.csv")])) == 1
    qtbot.waitUntil(lambda: "devices fitted" in window.live_plot.fit_label.text(), timeout=5000)
    shown = window.live_plot.fit_label.text().splitlines()
    assert shown[-2:] == size_lines(result.sizes)


def test_a_bench_file_switches_the_window_to_visa_instruments(qtbot, tmp_path):
    """The same window on a "real" bench: a bench file whose addresses are LAN sockets,
    opened with the system VISA library (pyvisa-py), served by `hil serve`'s server."""
    from devices.benchfile import default_bench_text
    from simulated_bench.bench import SimulatedBench
    from simulated_bench.server import serve

    with serve(SimulatedBench.from_config(None)) as lab:
        text = default_bench_text()
        for gpib, socket_address in lab.addresses.items():
            text = text.replace(f'"{gpib}"', f'"{socket_address}"')
        bench_path = tmp_path / "lan_bench.toml"
        bench_path.write_text(text)

        win = LabWindow(BenchSession(bench_path, backend="visa"), directory=tmp_path / "runs")
        qtbot.addWidget(win)
        assert not win.session.simulated
        states = win.instrument_states()
        assert all("SOCKET" in s.address for s in states)
        assert all(s.idn and not s.error for s in states), [s.error for s in states]
        assert "81160A" in next(s.idn for s in states if s.role == "pulse")

        win.device_panel.set_device("chip1/M2")
        set_inputs(win, **SHORT_RUN)
        experiment = win.queue()
        assert experiment is not None, win.last_error
        wait_done(qtbot, win, experiment)
        assert experiment.procedure.status == Procedure.FINISHED, \
            experiment.procedure.error_message
        _, rows = read_points(experiment.data_filename)
        assert len([r for r in rows if r["Phase"] == "fine"]) == SHORT_RUN["points"]
        assert win.instrument_states() and not any(s.any_on for s in win.instrument_states())
        win.close()


def test_earlier_results_open_in_browser_and_plot(qtbot, window, tmp_path):
    window.device_panel.set_device("chip1/M3")
    set_inputs(window, **SHORT_RUN)
    experiment = window.queue()
    wait_done(qtbot, window, experiment)
    filename = experiment.data_filename

    other = LabWindow(BenchSession(), directory=tmp_path / "other", probe=False)
    qtbot.addWidget(other)
    other.set_procedure(2)                       # another view; opening switches back
    opened = other.open_results([filename])
    assert len(opened) == 1 and other.entry.cls.__name__ == "SwitchingAmplitudeProcedure"
    assert other.browser.topLevelItemCount() == 1
    assert other.live_plot.visible_points() == window.live_plot.visible_points() > 0
    assert "I50" in other.live_plot.fit_label.text()
    # "Use these parameters": procedure, device and inputs come back
    other.device_panel.set_device("chip1/S0")
    other.set_parameters(opened[0].procedure.parameter_objects())
    assert other.device_panel.device_name() == "chip1/M3"
    assert other.inputs.trials.value() == SHORT_RUN["trials"]
    # a file that is not a results file is refused with advice
    bad = tmp_path / "notes.csv"
    bad.write_text("hello\n")
    assert other.open_results([str(bad)]) == []
    assert "Cannot open the results file" in other.last_error


def test_closing_the_window_mid_run_aborts_and_turns_outputs_off(qtbot, tmp_path):
    win = LabWindow(BenchSession(), directory=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    survey = next(i for i, e in enumerate(CATALOG) if e.cls.__name__ ==
                  "VariabilitySurveyProcedure")
    win.set_procedure(survey)
    set_inputs(win, trials=200, points=24, coarse_points=24, coarse_trials=16)
    experiment = win.queue()
    qtbot.waitUntil(lambda: experiment.procedure.status == Procedure.RUNNING
                    and len(experiment.results.data) >= 2, timeout=RUN_TIMEOUT_MS)
    assert "in use" in win.status_panel.table.item(0, 2).text()
    win.close()
    assert not win.manager.is_running()
    assert experiment.procedure.status == Procedure.ABORTED
    channel = win.session.bench_file.wiring.pulse_channel
    assert scpi(win, address_of(win, "pulse"), f"OUTP{channel}?") in ("0", "OFF")
    assert scpi(win, address_of(win, "read_smu"), ":OUTP?") in ("0", "OFF")


def test_queued_runs_run_one_after_the_other(qtbot, window):
    rh = next(i for i, e in enumerate(CATALOG) if e.cls.__name__ == "RHLoopProcedure")
    window.set_procedure(rh)
    set_inputs(window, points=5)
    first = window.queue()
    window.device_panel.set_device("chip1/L2")
    second = window.queue()
    assert first is not None and second is not None, window.last_error
    wait_done(qtbot, window, first)
    wait_done(qtbot, window, second)
    assert first.procedure.status == second.procedure.status == Procedure.FINISHED
    assert first.data_filename != second.data_filename
    assert {str(d) for d in second.results.data["Device"]} == {"chip1/L2"}
    assert "Result:" in window.live_plot.fit_label.text()


def test_an_aborted_run_is_finished_by_the_runners_resume(qtbot, window):
    """The window's results files are the procedures' files: `run_procedure(resume=True)`
    (what `hil characterize --resume` uses) finishes an aborted run without repeating points."""
    from procedures.runner import run_procedure

    window.device_panel.set_device("chip1/M2")
    experiment = window.queue()
    qtbot.waitUntil(lambda: len(experiment.results.data) >= 1, timeout=RUN_TIMEOUT_MS)
    window.abort()
    wait_done(qtbot, window, experiment)
    _, before = read_points(experiment.data_filename)
    if experiment.procedure.status != Procedure.ABORTED or not before:
        pytest.skip("the run ended before the abort reached it")
    procedure = next(e.cls for e in CATALOG if e.cls.__name__ == "SwitchingAmplitudeProcedure")()
    procedure.set_parameters(experiment.procedure.parameter_values())
    outcome = run_procedure(procedure, experiment.data_filename, resume=True)
    assert outcome.status == "finished" and outcome.reused == len(before)
    keys = [(r["Device"], r["Phase"], r["Point"]) for r in outcome.rows]
    assert len(keys) == len(set(keys))


def test_results_files_name_the_procedures_classes(qtbot, window):
    """The window runs the classes of ``procedures/`` themselves: its results files name
    them, as those of `hil characterize` do, and load back as them."""
    from pathlib import Path

    from pymeasure.experiment import Results

    from procedures.loops import RHLoopProcedure

    window.set_procedure(next(i for i, e in enumerate(CATALOG) if e.cls is RHLoopProcedure))
    set_inputs(window, points=3)
    experiment = window.queue()
    assert experiment is not None, window.last_error
    wait_done(qtbot, window, experiment)
    assert experiment.procedure.status == Procedure.FINISHED, experiment.procedure.error_message
    assert type(experiment.procedure) is RHLoopProcedure
    header = Path(experiment.data_filename).read_text().splitlines()[0]
    assert header == "#Procedure: <procedures.loops.RHLoopProcedure>"
    assert type(Results.load(experiment.data_filename).procedure) is RHLoopProcedure
    assert all(e.cls.__module__.startswith("procedures.") for e in CATALOG)


def test_a_failed_run_keeps_its_message_for_the_error_box(tmp_path):
    from hil.gui.catalog import record_failure
    from procedures.loops import RHLoopProcedure
    from procedures.session import ParameterError

    procedure = RHLoopProcedure(device="chip1/L0", bench_file=str(tmp_path / "missing.toml"))
    record_failure(procedure)
    with pytest.raises(ParameterError):
        procedure.startup()
    assert procedure.error_message.startswith("ParameterError: bench file")
    assert type(procedure) is RHLoopProcedure


def test_garbage_is_collected_in_the_gui_thread_only_while_a_window_is_open(qtbot, tmp_path):
    import gc

    gc.collect()                       # windows dropped unclosed by earlier tests let go
    assert gc.isenabled()
    first = LabWindow(BenchSession(), directory=tmp_path / "a", probe=False)
    second = LabWindow(BenchSession(), directory=tmp_path / "b", probe=False)
    qtbot.addWidget(first)
    qtbot.addWidget(second)
    assert not gc.isenabled()          # worker threads must not run the collector
    first.close()
    assert not gc.isenabled()          # the second window still needs it off
    second.close()
    assert gc.isenabled()


def test_a_window_dropped_without_close_lets_the_collector_go(tmp_path):
    import gc

    gc.collect()
    window = LabWindow(BenchSession(), directory=tmp_path / "a", probe=False)
    assert not gc.isenabled()
    del window
    gc.collect()                       # explicit collections run even while disabled
    assert gc.isenabled()


def test_a_switching_procedure_on_a_synapse_is_refused_as_the_cli_does(qtbot, tmp_path):
    win = LabWindow(BenchSession("examples/benches/ferrimagnet_synapses.toml"),
                    directory=tmp_path / "runs")
    qtbot.addWidget(win)
    assert type(win.make_procedure()).__name__ == "SwitchingAmplitudeProcedure"
    win.device_panel.set_device("chip1/F0")
    assert win.queue() is None
    assert "chip1/F0 is a ferrimagnet_synapse device" in win.last_error
    assert "hil characterize ltp-ltd" in win.last_error
    assert not win.manager.experiments.queue
