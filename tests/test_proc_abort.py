"""A stop request ends a run before its next bench operation, with every output off.

Each procedure runs on a simulated bench opened through a VISA library handed to it
(``visa_library=``, as the lab window does). The stop is requested in the middle of a sweep
(once the bench has made some round trips); from that moment on the bench must see no bus
traffic until the procedure's ``shutdown``, and afterwards the instruments, asked over SCPI
through the same library (``OUTP1?`` on the 81160A, ``:OUTP?`` on the SMUs), report their
outputs off. The CLI turns Ctrl-C / SIGTERM into the same stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import pyvisa

from drivers.bench import Bench
from procedures.endurance import EnduranceProcedure
from procedures.loops import RHLoopProcedure, RILoopProcedure
from procedures.runner import read_points, run_procedure
from procedures.session import load_bench, visa_library_for
from procedures.stopping import RunAborted, StopCheckingBench
from procedures.switching import SwitchingAmplitudeProcedure, SwitchingWidthProcedure
from procedures.variability import VariabilitySurveyProcedure

ROOT = Path(__file__).resolve().parents[1]
SWEEP = {"trials": 16, "points": 8, "coarse_points": 12, "coarse_trials": 6}
# procedure, parameters, and the measuring operation of the bench during which Abort is
# pressed: mid-sweep (survey / switching: after the coarse scan of the first device; loops:
# mid-branch; endurance: between a block's line check and its pulses)
CASES = {
    "survey": (VariabilitySurveyProcedure, {"devices": "S0,S1,L0", **SWEEP}, 2),
    "switching": (SwitchingAmplitudeProcedure, {"device": "chip1/M2", **SWEEP}, 2),
    "width": (SwitchingWidthProcedure, {"device": "chip1/S0", "widths": 4, **SWEEP}, 2),
    "rh-loop": (RHLoopProcedure, {"device": "chip1/L0", "points": 8}, 3),
    "ri-loop": (RILoopProcedure, {"device": "chip1/S0", "points": 8}, 3),
    "endurance": (EnduranceProcedure, {"device": "chip1/M0", "cycles": 2000, "block": 100}, 3),
}


class AbortDuringOperation:
    """Presses "Abort" (sets the run's stop event) while the bench's ``count``-th measuring
    operation runs, as a user does while a batch is on the bus; remembers the bench's round
    trips when that operation returned."""

    OPERATIONS = ("trials", "read_resistance", "line_resistance")

    def __init__(self, monkeypatch, count: int):
        self.event = threading.Event()
        self.calls = 0
        self.at = None
        for name in self.OPERATIONS:
            monkeypatch.setattr(Bench, name, self._counted(getattr(Bench, name), count))

    def _counted(self, operation, count):
        def counted(bench, *args, **kwargs):
            result = operation(bench, *args, **kwargs)
            self.calls += 1
            if self.calls == count:
                self.event.set()
                self.at = bench.round_trips
            return result
        return counted


def outputs(library, bench_file) -> dict[str, str]:
    """The output states the instruments report, asked over SCPI through ``library``."""
    rm = pyvisa.ResourceManager(library)
    states = {}
    for role, query in (("pulse", f"OUTP{bench_file.wiring.pulse_channel}?"),
                        ("read_smu", ":OUTP?"), ("aux_smu", ":OUTP?")):
        res = rm.open_resource(bench_file.address_of(role), read_termination="\n",
                               write_termination="\n")
        try:
            states[role] = res.query(query).strip()
        finally:
            res.close()
    return states


def bus_count_at_shutdown(procedure) -> dict:
    """Record the bench's round trips when ``shutdown`` begins (before it turns outputs off)."""
    seen = {}
    real = procedure.shutdown

    def shutdown():
        seen["trips"] = procedure.bench.round_trips
        real()
    procedure.shutdown = shutdown
    return seen


@pytest.mark.parametrize("name", list(CASES))
def test_a_stop_mid_sweep_ends_the_run_before_its_next_bench_operation(tmp_path, monkeypatch,
                                                                        name):
    cls, parameters, operation = CASES[name]
    bench_file = load_bench(None)
    library = visa_library_for(bench_file, "sim")
    procedure = cls(visa_library=library, **parameters)
    abort = AbortDuringOperation(monkeypatch, operation)
    seen = bus_count_at_shutdown(procedure)
    path = tmp_path / f"{name}.csv"

    outcome = run_procedure(procedure, path, stop=abort.event)
    monkeypatch.undo()

    assert outcome.status == "aborted"
    assert abort.at is not None, "the run ended before the stop was requested"
    assert abort.calls == operation, "a measuring operation ran after the stop"
    assert seen["trips"] == abort.at, "the bench was used after the stop was requested"
    assert procedure.bench is None                       # its own bench: closed
    assert set(outputs(library, bench_file).values()) <= {"0", "OFF"}

    # the aborted run is a results file of the procedure; resume finishes it exactly once
    assert f"<{cls.__module__}.{cls.__name__}>" in path.read_text().splitlines()[0]
    _, before = read_points(path)
    again = cls(visa_library=library, **parameters)
    finished = run_procedure(again, path, resume=True)
    assert finished.status == "finished" and finished.reused == len(before)
    keys = [tuple(r[c] for c in cls.KEY_COLUMNS) for r in finished.rows]
    assert len(keys) == len(set(keys)) > len(before)


def test_the_stop_reaches_role_methods_and_spares_the_way_to_safety():
    """Role calls (``bench.pulse.pulse``, ``bench.field.set_field``) are checked like bench
    calls; turning outputs off is never refused."""
    calls = []

    class Role:
        def pulse(self, *args):
            calls.append(("pulse", args))

        def output_off(self):
            calls.append(("output_off", ()))

    class Bench:
        round_trips = 7
        pulse = Role()

        def trials(self, *args):
            calls.append(("trials", args))

        def safe_off(self):
            calls.append(("safe_off", ()))

    requested = []
    view = StopCheckingBench(Bench(), lambda: bool(requested))
    view.trials(1)
    view.pulse.pulse(0.1)
    requested.append(True)
    with pytest.raises(RunAborted):
        view.trials(2)
    with pytest.raises(RunAborted):
        view.pulse.pulse(0.2)
    view.pulse.output_off()
    view.safe_off()
    assert view.round_trips == 7
    assert [c[0] for c in calls] == ["trials", "pulse", "output_off", "safe_off"]


def test_a_handed_in_bench_comes_back_unwrapped(tmp_path):
    from procedures.session import open_bench

    with open_bench() as bench:
        procedure = RHLoopProcedure(bench=bench, device="chip1/L1", points=3)
        outcome = run_procedure(procedure, tmp_path / "rh.csv")
        assert outcome.status == "finished"
        assert procedure.bench is bench


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_cli_stops_before_the_next_bench_operation(tmp_path, monkeypatch,
                                                                   signum):
    """Ctrl-C / SIGTERM during a batch of ``hil characterize``: the batch completes, nothing
    else reaches the bench, the outputs go off, RunAborted (a KeyboardInterrupt) ends it."""
    from procedures.cli import run_characterization

    bench_file = load_bench(None)
    library = visa_library_for(bench_file, "sim")
    calls = []
    real = Bench.trials

    def trials(bench, *args, **kwargs):
        result = real(bench, *args, **kwargs)
        calls.append(bench.round_trips)
        if len(calls) == 2:
            os.kill(os.getpid(), signum)          # handled here, between two bench calls
        return result
    monkeypatch.setattr(Bench, "trials", trials)
    previous = signal.getsignal(signum)

    with pytest.raises(RunAborted):
        run_characterization("switching", {"device": "chip1/M2", **SWEEP}, tmp_path,
                             progress=False, visa_library=library)
    assert len(calls) == 2
    assert signal.getsignal(signum) == previous
    assert set(outputs(library, bench_file).values()) <= {"0", "OFF"}
    _, rows = read_points(tmp_path / "switching.csv")
    assert rows and not any(r["Phase"] == "fine" for r in rows)


def data_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return max(sum(1 for line in path.read_text().splitlines()
                   if line and not line.startswith("#")) - 1, 0)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_ctrl_c_and_sigterm_stop_cleanly_then_resume(tmp_path, signum):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "procedures.cli", "survey", "--devices", "S0,S1,S2,L0,L1,L2",
            "--trials", "64", "--points", "16", "--coarse-points", "32", "--no-progress",
            "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    csv_path = out / "survey.csv"
    try:
        deadline = time.monotonic() + 60
        while data_lines(csv_path) < 3:
            assert proc.poll() is None, f"survey ended before the signal: {proc.stderr.read()}"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted; the bench outputs are off" in err
    assert "--resume" in err
    _, rows = read_points(csv_path)
    assert rows and len({r["Device"] for r in rows}) < 6, "the survey ran to its end"

    done = subprocess.run(args + ["--resume"], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{len(rows)} points reused" in done.stdout
