"""Regressions: a signal during shutdown, recovery ordering, a running 2450 trigger model.

1. A second SIGTERM (or a Ctrl-C) while the outputs go off must not stop ``safe_off``: the
   signal is deferred until every output is off, then delivered.
2. ``Bench.recover`` forgets every cached instrument state and the selected device first,
   whatever fails after (a ``*CLS`` or a reopen that raises), and always turns the pulse
   output off.
3. Recovery (and the 2450's ``output_off``) aborts a trigger model that is still running.
"""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest
from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError

from drivers.bench import Bench, BenchTerminated
from devices.benchfile import load_bench_file
from simulated_bench.visa import SimulatedVisaLibrary

DEFAULT = load_bench_file()
PULSE, READ, AUX, SWITCH, MAGNET = (DEFAULT.address_of(r) for r in
                                    ("pulse", "read_smu", "aux_smu", "switch", "magnet"))


def query(lib, address: str, message: str) -> str:
    """Ask a simulated instrument directly (a fresh session: no driver in between)."""
    import pyvisa
    resource = pyvisa.ResourceManager(lib).open_resource(
        address, read_termination="\n", write_termination="\n")
    try:
        return resource.query(message).strip()
    finally:
        resource.close()


def assert_instruments_report_off(lib):
    """Every output off as the instruments themselves answer it."""
    assert float(query(lib, PULSE, "OUTP1?")) == 0
    assert float(query(lib, READ, ":OUTP?")) == 0
    assert float(query(lib, AUX, ":OUTP?")) == 0
    assert float(query(lib, MAGNET, "OUTP?")) == 0
    assert float(query(lib, MAGNET, "MEAS:CURR?")) == 0.0
    closed = query(lib, SWITCH, ":ROUT:CLOS?").strip("()@")
    assert closed == ""
    sim = lib.bench
    assert not sim.instruments[PULSE].channels[1].output
    assert not sim.instruments[MAGNET].output_on
    assert sim.instruments[SWITCH].closed_channels() == set()


def _everything_on(bench):
    bench.field.set_field(0.02)
    bench.select("L1")
    bench.read.source_current(1e-6, 1.0)
    bench.read.enable()
    bench.aux.source_current(1e-6, 1.0)
    bench.aux.enable()


def _signal_inside_magnet_off(bench, monkeypatch, signum, sent):
    magnet = bench._roles["magnet"]
    original = magnet.output_off

    def output_off():
        if not sent:
            sent.append(signum)
            os.kill(os.getpid(), signum)      # arrives while the magnet ramps down
        else:
            sent.append("again")              # the ramp-down was cut short and retried
        return original()
    monkeypatch.setattr(magnet, "output_off", output_off)


# ---------------------------------------------------------------- 1. signals during shutdown
def test_second_sigterm_during_exit_still_turns_everything_off(monkeypatch):
    lib = SimulatedVisaLibrary()
    previous = signal.getsignal(signal.SIGTERM)
    sent = []
    with pytest.raises(BenchTerminated):
        with Bench.open(visa_library=lib) as bench:
            _everything_on(bench)
            _signal_inside_magnet_off(bench, monkeypatch, signal.SIGTERM, sent)
            os.kill(os.getpid(), signal.SIGTERM)              # the first one: unwind
            bench.trials("L1", [0.5], 20e-9, repeats=1000)    # not reached
    assert sent == [signal.SIGTERM]                           # the second one was sent
    assert signal.getsignal(signal.SIGTERM) == previous
    assert_instruments_report_off(lib)


def test_sigterm_during_a_normal_exit_is_delivered_after_the_outputs_are_off(monkeypatch):
    lib = SimulatedVisaLibrary()
    previous_int = signal.getsignal(signal.SIGINT)
    sent = []
    with pytest.raises(BenchTerminated):
        with Bench.open(visa_library=lib) as bench:
            _everything_on(bench)
            _signal_inside_magnet_off(bench, monkeypatch, signal.SIGTERM, sent)
    assert sent == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) == previous_int
    assert_instruments_report_off(lib)


def test_ctrl_c_during_exit_still_turns_everything_off(monkeypatch):
    lib = SimulatedVisaLibrary()
    sent = []
    with pytest.raises(KeyboardInterrupt):
        with Bench.open(visa_library=lib) as bench:
            _everything_on(bench)
            _signal_inside_magnet_off(bench, monkeypatch, signal.SIGINT, sent)
            raise RuntimeError("the run failed")
    assert sent == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert_instruments_report_off(lib)


def test_safe_off_goes_on_after_a_base_exception_and_raises_it_at_the_end(monkeypatch):
    """Off the main thread no handler can defer a signal: safe_off itself must go on."""
    lib = SimulatedVisaLibrary()
    bench = Bench.open(visa_library=lib)
    try:
        _everything_on(bench)
        magnet = bench._roles["magnet"]
        original = magnet.output_off
        calls = []

        def output_off():
            calls.append(1)
            if len(calls) == 1:
                raise KeyboardInterrupt("Ctrl-C while the magnet ramps down")
            return original()
        monkeypatch.setattr(magnet, "output_off", output_off)
        outcome = []

        def worker():
            try:
                outcome.append(bench.safe_off())
            except BaseException as exc:  # noqa: BLE001
                outcome.append(exc)
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(60)
        assert isinstance(outcome[0], KeyboardInterrupt)
        assert len(calls) == 2                  # the magnet was tried again
        assert_instruments_report_off(lib)
    finally:
        bench.close()


class Stopped(BaseException):
    """What the test's own SIGTERM handler raises."""


def test_connect_cleanup_defers_signals(monkeypatch):
    """A failure while opening: a SIGTERM during the cleanup's safe_off does not cut it
    short; it reaches the handler in place before once every output is off."""
    from drivers import bench as bench_module
    lib = SimulatedVisaLibrary()
    original_safe_off = Bench.safe_off
    sent = []

    def safe_off(self, strict=False, clear=False):
        if strict:
            self._raw("magnet").set_field(0.02)          # on when the open fails
            raise RuntimeError("an instrument did not confirm")
        magnet = self._roles["magnet"]
        magnet_off = magnet.output_off

        def output_off():
            sent.append(1)
            os.kill(os.getpid(), signal.SIGTERM)
            return magnet_off()
        monkeypatch.setattr(magnet, "output_off", output_off)
        return original_safe_off(self, strict, clear)

    def on_sigterm(signum, frame):
        raise Stopped()
    monkeypatch.setattr(bench_module.Bench, "safe_off", safe_off)
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with pytest.raises(Stopped):
            Bench.open(visa_library=lib)
        assert signal.getsignal(signal.SIGTERM) is on_sigterm
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sent == [1]
    assert_instruments_report_off(lib)


# ---------------------------------------------------------------- 2. recover ordering
@pytest.mark.parametrize("failing", ["*CLS", "reopen"])
def test_recover_forgets_state_and_turns_the_pulse_off_when_cls_fails(monkeypatch, failing):
    lib = SimulatedVisaLibrary()
    with Bench.open(visa_library=lib) as bench:
        bench.select("L1")
        pulse = bench._raw("pulse")
        pulse.channel.output = True                      # as if armed when the fault struck
        assert float(query(lib, PULSE, "OUTP1?")) == 1
        forgotten = []
        for role in ("pulse", "read_smu", "aux_smu"):
            obj = bench._roles[role]
            monkeypatch.setattr(obj, "forget_state",
                                lambda obj=obj, f=obj.forget_state, r=role: (forgotten.append(r), f()))
        adapter = bench._adapters["pulse"]             # the first adapter recovered
        cls_written = []
        if failing == "*CLS":
            original_write = adapter.write

            def write(command, **kwargs):
                if command == "*CLS":
                    raise VisaIOError(StatusCode.error_timeout)
                return original_write(command, **kwargs)
            monkeypatch.setattr(adapter, "write", write)
        else:
            def reopen():
                raise VisaIOError(StatusCode.error_resource_not_found)
            monkeypatch.setattr(adapter, "reopen", reopen)
            monkeypatch.setattr(adapter, "clear_device", reopen)
        for role in ("read_smu", "aux_smu", "switch", "magnet"):
            other = bench._adapters[role]
            monkeypatch.setattr(other, "write",
                                lambda c, f=other.write, r=role, **k: (cls_written.append(r)
                                                                      if c == "*CLS" else None,
                                                                      f(c, **k))[1])
        try:
            bench.recover("timeout")
        except VisaIOError:
            pass                                       # reported to the retry policy
        assert sorted(forgotten) == ["aux_smu", "pulse", "read_smu"]
        assert bench._selected is None
        assert sorted(cls_written) == ["aux_smu", "magnet", "read_smu", "switch"]
        monkeypatch.undo()
        if failing == "*CLS":
            assert float(query(lib, PULSE, "OUTP1?")) == 0
        assert bench._raw("pulse")._output_on is not True


def test_recover_clears_the_selection_even_if_everything_fails(monkeypatch):
    lib = SimulatedVisaLibrary()
    with Bench.open(visa_library=lib) as bench:
        bench.select("L1")

        def broken(*args, **kwargs):
            raise VisaIOError(StatusCode.error_connection_lost)
        for adapter in bench._adapters.values():
            monkeypatch.setattr(adapter, "reopen", broken)
            monkeypatch.setattr(adapter, "clear_device", broken)
            monkeypatch.setattr(adapter, "write", broken)
        with pytest.raises(VisaIOError):
            bench.recover("dropped")
        assert bench._selected is None
        monkeypatch.undo()


# ---------------------------------------------------------------- 3. a running trigger model
def _time_out_with_the_model_running(bench, monkeypatch):
    """The first fetch that waits for a batch's trigger model (``...*WAI;:TRAC:DATA?``)
    finds a model that runs far longer than planned (minutes), and the read times out while
    it still runs."""
    inst = bench.instrument("read_smu")
    original = inst.ask
    struck = []

    def ask(command, *args, **kwargs):
        if "*WAI;" in command and ":TRAC:DATA?" in command and not struck:
            struck.append(command)
            inst.write(':TRIG:LOAD "SimpleLoop", 100000, 0.01')
            inst.write(":TRAC:CLE;:INIT")
            raise VisaIOError(StatusCode.error_timeout)
        return original(command, *args, **kwargs)
    monkeypatch.setattr(inst, "ask", ask)
    return struck


def test_a_timeout_with_the_trigger_model_running_is_retried_once():
    lib = SimulatedVisaLibrary()
    with Bench.open(visa_library=lib) as bench:
        with pytest.MonkeyPatch.context() as monkeypatch:
            struck = _time_out_with_the_model_running(bench, monkeypatch)
            batch = bench.trials("L1", [0.3, 0.5], 20e-9, repeats=200)
        assert struck
        counters = bench.faults
        assert counters.timeout == 1 and counters.retries == 1
        assert counters.instrument_error == 0 and counters.failed_steps == 0
        assert counters.faults == 1
        ids = np.asarray(batch.trial_id).ravel()
        assert sorted(ids.tolist()) == list(range(2 * 200))     # each trial recorded once
        again = bench.trials("L1", [0.3], 20e-9, repeats=5)
        assert np.asarray(again.trial_id).min() == 2 * 200
        assert query(lib, READ, ":TRIG:STAT?").split(";")[0] == "IDLE"
        assert query(lib, READ, "SYST:ERR?").startswith("0")


def test_2450_output_off_aborts_a_running_trigger_model():
    lib = SimulatedVisaLibrary()
    with Bench.open(visa_library=lib) as bench:
        read = bench.read
        read.source_current(1e-6, 1.0, nplc=1.0)
        read.enable()
        read.start_buffered(100_000, 0.01)                      # ~50 min of readings
        assert query(lib, READ, ":TRIG:STAT?").split(";")[0] == "RUNNING"
        read.output_off()
        assert query(lib, READ, ":TRIG:STAT?").split(";")[0] == "IDLE"
        assert float(query(lib, READ, ":OUTP?")) == 0


def _limits():
    from devices.benchfile import load_bench_file as load
    return load().limits["S"]


@pytest.mark.parametrize("how", ["started", "unknown"])
def test_2450_output_off_sends_abort_first_when_a_model_may_run(how):
    from pymeasure.test import expected_protocol

    from drivers.sourcemeter import Keithley2450Buffered, Keithley2450SourceMeter
    started = [(':TRIG:LOAD "SimpleLoop", 100, 0.001', None), (":INIT", None)] \
        if how == "started" else []
    with expected_protocol(Keithley2450Buffered, started + [
        (":ABOR", None),                 # before anything else
        ("OUTPUT OFF", None),
        ("OUTPUT?", "0"),
        ("OUTPUT OFF", None),            # a second output_off: the model is known stopped
        ("OUTPUT?", "0"),
    ]) as inst:
        smu = Keithley2450SourceMeter(inst, _limits())
        if how == "started":
            inst.load_simple_loop(100, 1e-3)
            smu._trigger_model = True
            smu.instrument.initiate()
        else:
            smu.forget_state()           # after a fault or a reconnect
        smu.output_off()
        smu.output_off()

