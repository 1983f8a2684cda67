"""Integration: every role and the Bench against the simulated bench, in process (the
simulated VISA library) and over ``hil serve`` (pyvisa-py on loopback TCP sockets)."""

from __future__ import annotations

import copy
import os
import signal
import socket
import threading

import numpy as np
import pytest

from drivers.bench import Bench, BenchTerminated, MissingRoleError
from devices.benchfile import load_bench_file
from drivers.limits import LimitViolation
from drivers.roles import BufferedSourceMeter, FieldSource, PulseSource, SourceMeter, SwitchMatrix
from drivers.transport import InstrumentConnectionError
from simulated_bench.bench import SimulatedBench
from simulated_bench.server import serve
from simulated_bench.visa import SimulatedVisaLibrary
from simhelpers import assert_all_off

DEFAULT = load_bench_file()
PULSE, READ, AUX, SWITCH, MAGNET = (DEFAULT.address_of(r) for r in
                                    ("pulse", "read_smu", "aux_smu", "switch", "magnet"))


def open_bench(how: str, config=None):
    """(bench, simulated bench, closer) for ``in_process`` or ``serve``."""
    if how == "in_process":
        lib = SimulatedVisaLibrary(config)
        return Bench.open(config, visa_library=lib), lib.bench, lambda: None
    sim = SimulatedBench.from_config(config)
    handle = serve(sim)
    try:
        bench = Bench.open(config, visa_library="@py", addresses=handle.addresses,
                           time_source=lambda: sim.clock.now_s)
    except BaseException:
        handle.close()
        raise
    return bench, sim, handle.close


@pytest.fixture(params=["in_process", "serve"])
def bench_and_sim(request):
    bench, sim, closer = open_bench(request.param)
    try:
        with bench:
            yield bench, sim
    finally:
        closer()


# ---------------------------------------------------------------- roles
def test_roles_satisfy_their_protocols(bench_and_sim):
    bench, _ = bench_and_sim
    assert isinstance(bench.pulse, PulseSource)
    assert isinstance(bench.read, BufferedSourceMeter) and isinstance(bench.aux, SourceMeter)
    assert isinstance(bench.switch, SwitchMatrix)
    assert isinstance(bench.field, FieldSource)


def test_switch_select_closes_exactly_the_device_crosspoints(bench_and_sim):
    bench, sim = bench_and_sim
    bench.select("M3")
    assert sim.instruments[SWITCH].closed_channels() == {2104, 2204}
    assert bench.switch.closed_channels() == [2104, 2204]
    assert bench.pulse.device == "chip1/M3" and bench.pulse.limits == DEFAULT.limits["M"]
    bench.switch.disconnect_all()
    assert bench.switch.closed_channels() == []          # (the query also syncs the LAN)
    assert sim.instruments[SWITCH].closed_channels() == set()
    assert bench.pulse.limits.max_pulse_voltage_V == min(
        lim.max_pulse_voltage_V for lim in DEFAULT.limits.values())


def test_field_ramps_to_the_set_field_and_refuses_over_limit(bench_and_sim):
    bench, sim = bench_and_sim
    bench.field.set_field(0.03)
    assert sim.field_T() == pytest.approx(0.03)
    assert bench.field.measured_field_T() == pytest.approx(0.03)
    sent = len(sim.instruments[MAGNET].received)
    with pytest.raises(LimitViolation, match="max_field_T"):
        bench.field.set_field(0.07)
    assert len(sim.instruments[MAGNET].received) == sent
    bench.field.output_off()
    assert sim.field_T() == 0.0


def test_read_and_line_resistance_match_the_simulated_device(bench_and_sim):
    bench, sim = bench_and_sim
    chip, idx = sim.device("L2")
    r_hall = bench.read_resistance("L2")
    assert abs(r_hall - chip.r_offset_ohm[idx]) <= abs(chip.r_ahe_ohm[idx]) * 1.2
    r_line = bench.line_resistance("L2")
    assert r_line == pytest.approx(chip.write_path_resistance(idx), rel=0.02)


def test_aux_smu_reads_through_its_own_row(bench_and_sim):
    bench, sim = bench_and_sim
    device = DEFAULT.device("S1")
    bench.switch.connect([device.channel(DEFAULT.wiring.aux_row)])
    bench.aux.limits = DEFAULT.limits_for(device)
    bench.aux.source_voltage(0.01, 5e-6)
    bench.aux.enable()
    voltage_V, current_A = bench.aux.measure()
    chip, idx = sim.device("S1")
    assert voltage_V == 0.01
    assert voltage_V / current_A == pytest.approx(chip.write_path_resistance(idx), rel=0.05)
    bench.aux.output_off()
    assert not sim.instruments[AUX].output_on


def test_naive_trial_resets_then_switches(bench_and_sim):
    bench, sim = bench_and_sim
    bench.field.set_field(0.02)
    top = -bench.default_reset_V("S2")
    r_reset = bench.trial("S2", 0.0, 20e-9)
    r_set = bench.trial("S2", top, 20e-9)
    chip, idx = sim.device("S2")
    assert r_set - r_reset == pytest.approx(2 * chip.r_ahe_ohm[idx], rel=0.3)
    assert sim.damaged_devices() == []


def test_batched_trials_cost_o1_round_trips_and_give_a_switching_curve(bench_and_sim):
    bench, sim = bench_and_sim
    bench.field.set_field(0.02)
    top = -bench.default_reset_V("M1")
    levels = np.linspace(0.1, 1.0, 6) * top
    small = bench.trials("M1", levels, 20e-9, repeats=5)
    large = bench.trials("M1", levels, 20e-9, repeats=60)
    assert len(small) == 30 and len(large) == 360
    # 8 slots (6 levels + 2 calibration) fit one trigger-model run, so the cost does not grow
    # with the trials. A batch: outputs off 2, select 3, SMU output on 1, buffer size 1,
    # offset, level, rate 3 (the waveform data are in the generator's volatile memory since
    # the first batch: no upload), burst count 1, output on + *OPC? 2, trigger model 1,
    # run and fetch 1, error queues 3 = 18. The bench's first batch (small) uploads the
    # waveform (1), has no outputs to turn off (-2) but sets up the SMU's source (5) and
    # the generator's mode (5): 27.
    assert small.meta["runs"] == large.meta["runs"] == 1
    assert (small.round_trips, large.round_trips) == (27, 18)
    assert large.round_trips_per_trial == pytest.approx(18 / 360)
    p = large.switching_probability()
    assert p[levels[0]] == 0.0 and p[levels[-1]] == 1.0
    assert list(p.values()) == sorted(p.values())
    assert large.set_state_ohm - large.reset_state_ohm > 1.0
    ids = np.concatenate([small.trial_id, large.trial_id])
    assert np.array_equal(ids, np.arange(len(ids)))
    # the trials took bench time (360 trial periods of a 0.01 NPLC read), the bus the rest;
    # the virtual clock is deterministic, in process and over the server alike
    assert large.projected_time_s > 360 * large.meta["trial_period_s"]
    # 0.28969 s before the 2450's datasheet reading time (0.167 ms overhead per reading);
    # 0.50304 s while every batch uploaded its waveform again (~0.3 s of GPIB block)
    assert large.projected_time_s == pytest.approx(0.20745, rel=1e-3)
    assert sim.damaged_devices() == []


def test_batched_trials_with_several_waveform_chunks(bench_and_sim):
    bench, sim = bench_and_sim
    bench.field.set_field(0.02)
    top = -bench.default_reset_V("L0")
    levels = np.linspace(0.05, 1.0, 30) * top             # 32 slots > one waveform's worth
    levels[0] = 0.02                       # under the level runs' minimum: the slot plan
    batch = bench.trials("L0", levels, 10e-9, repeats=3, nplc=0.02)
    assert batch.meta["plan"] == "slots" and batch.meta["runs"] > 1
    assert len(batch) == 90 and np.all(np.isfinite(batch.resistance_ohm))
    fractions = batch.switched_fraction.reshape(30, 3).mean(axis=1)
    assert fractions[0] < 0.5 < fractions[-1]


def test_changing_device_disarms_every_source(bench_and_sim):
    bench, sim = bench_and_sim
    big = DEFAULT.limits["L"].max_read_current_A
    bench.read_resistance("L0", current_A=big)            # output on, 150 uA: fine for L
    bench.trial("L0", 1.0, 20e-9)                         # generator output on
    bench.select("S0")                                    # 150 uA would be 30x S's limit
    assert bench.switch.closed_channels() == [1101, 1201]
    for role in ("read_smu", "pulse"):                    # sync: LAN writes are unordered
        assert bench.instrument(role).ask("*OPC?").strip() == "1"
    assert not sim.instruments[READ].output_on
    assert not sim.instruments[PULSE].channels[1].output
    sent = len(sim.instruments[READ].received)
    with pytest.raises(LimitViolation, match="max_read_current_A on chip1/S0"):
        bench.read.enable()                               # the stale level is refused
    assert len(sim.instruments[READ].received) == sent


def test_batch_out_of_limits_sends_nothing(bench_and_sim):
    bench, sim = bench_and_sim
    before = {a: len(i.received) for a, i in sim.instruments.items()}
    with pytest.raises(LimitViolation):
        bench.trials("S0", [0.1, 5.0], 20e-9, repeats=10)
    with pytest.raises(LimitViolation, match="max_read_current_A"):
        bench.trials("S0", [0.1], 20e-9, read_current_A=1e-3)
    with pytest.raises(LimitViolation):
        bench.trial("S0", 0.1, 20e-9, reset_V=-3.0)
    # a reset width over the limit is refused as asked, never shortened to fit
    with pytest.raises(LimitViolation, match="max_pulse_width_s.*5e-06 s"):
        bench.trials("S0", [0.1], 20e-9, reset_width_s=5e-6)
    assert {a: len(i.received) for a, i in sim.instruments.items()} == before


# ---------------------------------------------------------------- outputs off
@pytest.mark.parametrize("how", ["in_process", "serve"])
def test_outputs_off_on_normal_exit(how):
    bench, sim, closer = open_bench(how)
    try:
        with bench:
            bench.field.set_field(0.02)
            bench.trials("S0", [0.1], 20e-9, repeats=3)
            bench.read.source_current(1e-6, 1.0)
            bench.read.enable()
            bench.switch.connect([1101, 1201, 1301])
            bench.aux.source_current(1e-6, 1.0)
            bench.aux.enable()
        assert_all_off(sim)
    finally:
        closer()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_outputs_off_on_exception_and_ctrl_c(error):
    lib = SimulatedVisaLibrary()
    with pytest.raises(error):
        with Bench.open(visa_library=lib) as bench:
            bench.field.set_field(0.02)
            bench.trials("S0", [0.1], 20e-9, repeats=3)
            bench.read.enable()
            raise error("interrupted")
    assert_all_off(lib.bench)


def test_outputs_off_on_sigterm_and_handler_restored():
    lib = SimulatedVisaLibrary()
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(BenchTerminated):
        with Bench.open(visa_library=lib) as bench:
            assert signal.getsignal(signal.SIGTERM) == bench._on_sigterm
            bench.field.set_field(0.02)
            bench.select("L1")
            bench.read.source_current(1e-6, 1.0)
            bench.read.enable()
            os.kill(os.getpid(), signal.SIGTERM)
            bench.trials("L1", [0.5], 20e-9, repeats=1000)     # not reached
    assert signal.getsignal(signal.SIGTERM) == previous
    assert_all_off(lib.bench)


# ---------------------------------------------------------------- clear errors
def _config_with(**changes):
    data = copy.deepcopy(DEFAULT.raw)
    for role, value in changes.items():
        entries = data["instrument"]
        if value is None:
            data["instrument"] = [e for e in entries if e["role"] != role]
        else:
            next(e for e in entries if e["role"] == role)["address"] = value
    return data


def test_wrong_address_names_the_address_and_the_bench_file_key():
    lib = SimulatedVisaLibrary()                       # the default bench's instruments
    with pytest.raises(InstrumentConnectionError) as info:
        Bench.open(_config_with(read_smu="GPIB0::19::INSTR"), visa_library=lib)
    message = str(info.value)
    assert "GPIB0::19::INSTR" in message and "role = 'read_smu'" in message
    assert "address" in message and "cable" in message


def test_another_instrument_at_the_address_is_reported():
    lib = SimulatedVisaLibrary()
    with pytest.raises(InstrumentConnectionError, match="not a Keithley2450.*address and the model"):
        Bench.open(_config_with(read_smu=AUX, aux_smu=READ), visa_library=lib)


def test_dead_instrument_over_the_network_says_what_to_check():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True)
    thread.start()
    sim = SimulatedBench.from_config(None)
    with serve(sim) as handle:
        addresses = dict(handle.addresses)
        addresses[MAGNET] = f"TCPIP0::127.0.0.1::{silent.getsockname()[1]}::SOCKET"
        with pytest.raises(InstrumentConnectionError) as info:
            Bench.open(visa_library="@py", addresses=addresses, timeout_ms=200)
    silent.close()
    message = str(info.value)
    assert "did not answer *IDN?" in message and "powered" in message and MAGNET in message
    assert "role = 'magnet'" in message
    # what was opened before the failure was put in its safe state and closed
    assert not sim.instruments[PULSE].channels[1].output


def test_dead_instrument_in_process_every_query_times_out():
    lib = SimulatedVisaLibrary(fault_rate=1.0, fault_seed=1)
    with pytest.raises(InstrumentConnectionError, match="did not answer|answered"):
        Bench.open(visa_library=lib)


def test_missing_instrument_in_the_bench_file():
    config = _config_with(magnet=None)
    lib = SimulatedVisaLibrary(config)
    with Bench.open(config, visa_library=lib) as bench:
        bench.read_resistance("S0")                     # the other roles work
        with pytest.raises(MissingRoleError, match=r"role = 'magnet'.*\[\[instrument\]\]|\[\[instrument\]\].*role = 'magnet'"):
            bench.field.set_field(0.01)


def test_missing_visa_library_says_what_to_install():
    with pytest.raises(InstrumentConnectionError, match="VISA library.*@py"):
        Bench.open(visa_library="/nonexistent/libvisa.so")


def test_batched_trials_need_the_trigger_link():
    config = copy.deepcopy(DEFAULT.raw)
    config["wiring"]["trigger_link"] = False
    lib = SimulatedVisaLibrary(config)
    with Bench.open(config, visa_library=lib) as bench:
        with pytest.raises(ValueError, match="trigger_link = true"):
            bench.trials("S0", [0.1], 20e-9)
        assert bench.trial("S0", 0.2, 20e-9) > 0           # the naive path still works
