"""The synapse crossbar through the instruments: bench-file crossbar groups, the circuit the
simulator solves (VMM, sneak paths, half-select), and drivers/crossbar.Crossbar (read,
write, states, safety, accounting)."""

from pathlib import Path

import numpy as np
import pytest

from devices.benchfile import BenchFileError, load_bench_file, parse_bench
from drivers.bench import Bench
from drivers.crossbar import Crossbar, CrossbarError
from drivers.limits import LimitViolation
from simulated_bench.bench import SimulatedBench
from simulated_bench.crossbar import Source, networks_of
from simulated_bench.kinds import truth
from simulated_bench.visa import SimulatedVisaLibrary

XBAR = Path("examples/benches/stt_synapse_crossbar.toml")
TRUTH = truth("stt_mtj_synapse")


@pytest.fixture(scope="module")
def config():
    return load_bench_file(XBAR)


def open_crossbar(config, **kwargs):
    sim = SimulatedBench(config)
    bench = Bench.open(config, visa_library=SimulatedVisaLibrary(sim))
    return sim, bench, Crossbar(bench, **kwargs)


def test_a_crossbar_group_is_rows_x_columns_junctions_on_two_cards(config):
    devices = config.devices()
    assert len(devices) == 64 and devices[13].name == "xbar/W13"
    assert (devices[13].channel(1), devices[13].column_channel(3)) == (1102, 2306)
    data = parse_bench.__globals__["tomllib"].loads(XBAR.read_text())
    group = data["chip"][0]["group"][0]
    del group["columns"]
    with pytest.raises(BenchFileError, match=r"group\[0\]\.columns is needed by a stt_mtj_synapse group"):
        parse_bench(data)
    group["columns"], group["column_slot"] = 8, 1
    with pytest.raises(BenchFileError, match=r"column_slot slot 1 is already used"):
        parse_bench(data)


def test_vmm_matches_the_conductance_sum_with_grounded_lines_and_not_with_floating(config):
    sim, bench, xbar = open_crossbar(config)
    chip = sim.chip
    junctions = networks_of(chip)[0].junctions
    rng = np.random.default_rng(3)
    TRUTH.set_states(chip, junctions, rng.random(junctions.shape) < 0.5)
    g = TRUTH.conductances_S(chip, junctions, np.full(junctions.shape, 0.1))
    x = np.array([1, 0, 1, 1, 0, 1, 0, 0], dtype=bool)
    with bench:
        ideal = 0.1 * x @ g
        grounded = xbar.read_columns(x)
        floating = Crossbar(bench, unselected="float").read_columns(x)
    error = grounded / ideal - 1     # the IR drop of the lines (20 ohm access, 2 ohm per cell)
    assert np.all(error < -0.03) and np.all(error > -0.12)
    assert np.all(floating / ideal - 1 > 0.2)                # sneak paths add current


def test_a_write_pulse_selects_one_junction_and_half_selects_its_lines(config):
    sim = SimulatedBench(config)
    net = networks_of(sim.chip)[0]
    closed = {1103, 2406}                         # row line 2 on the pulse row, column 5 grounded
    solved = net.solve(lambda v: TRUTH.conductances_S(sim.chip, net.junctions, v), closed,
                       {1: Source(1.0, 50.0), 4: Source(0.0, 0.5)})
    v = solved.junction_V
    assert 0.9 < v[2, 5] < 0.97                    # the 50 ohm source and line drops
    half = np.r_[np.delete(v[2], 5), np.delete(v[:, 5], 2)]
    assert np.all((half > 0.35) & (half < 0.6))    # ~ n / (2n - 1) of the pulse
    rest = np.delete(np.delete(v, 2, axis=0), 5, axis=1)
    assert np.abs(rest).max() < 0.15


def test_writes_switch_the_selected_junction_and_read_states_sees_it(config):
    sim, bench, xbar = open_crossbar(config)
    with bench:
        xbar.write_many([(2, 5, "P", 0.6, 1e-6), (6, 1, "P", 0.6, 1e-6), (6, 1, "P", 0.6, 1e-6)])
        xbar.write(0, 0, "P", 0.3, 2e-9)           # far below V50: stays AP
        states = xbar.read_states()
        expected = np.zeros((8, 8), dtype=int)
        expected[2, 5] = expected[6, 1] = 1
        np.testing.assert_array_equal(states, expected)
        np.testing.assert_array_equal(sim.chip.up_regions[networks_of(sim.chip)[0].junctions], expected)
        xbar.write(2, 5, "AP", 0.85, 1e-6)
        assert xbar.read_state(2, 5) == 0
        # the floor: each reading's integration and each pulse's width
        assert xbar.readings == 65 and xbar.pulses == 5
        assert xbar.floor_s == pytest.approx(65 * xbar.measure_s + 4e-6 + 2e-9, rel=1e-9)
        # the relays set the pace: two settles per line change, one change per reading
        assert xbar.projected_bench_time_s > 65 * 2 * 3e-3
    records = [r for r in sim.pulse_log if r.device == "xbar/W21"]
    assert len(records) == 2 and records[0].voltage_V < 0 < records[1].voltage_V   # P: row below


def test_a_vmm_read_keeps_the_sources_on_two_trips_a_column_and_reads_as_a_cold_one(config):
    sim, bench, xbar = open_crossbar(config)
    x = np.array([1, 1, 0, 0, 1, 0, 1, 1], dtype=bool)
    with bench:
        xbar.read_columns(x)
        before = dict(bench.bus.per_address)
        hot = xbar.read_columns(x)
        used = {a: n - before.get(a, 0) for a, n in bench.bus.per_address.items()
                if n > before.get(a, 0)}
        # per column one 2750 message (open, close, confirm) and one 2400 reading; the read
        # SMU drives through it all (no output off / on), the generator is not touched
        assert used == {"GPIB0::16::INSTR": 8, "GPIB0::24::INSTR": 8}
        bench.switch.disconnect_all()                  # every source off, the matrix open
        cold = xbar.read_columns(x)                    # from a full matrix change on
    np.testing.assert_allclose(hot, cold, rtol=1e-3)   # the 2400's noise: ~10 nA of ~40 uA


def test_a_hot_line_change_keeps_only_the_sources_the_new_row_allows():
    """Default bench: read currents of 20 uA pass an M device's limit (30 uA), not an S
    device's (5 uA): moving the read SMU's crosspoint onto S turns its output off first."""
    bench_file = load_bench_file("devices/default_bench.toml")
    sim = SimulatedBench(bench_file)
    smu = sim.instruments["GPIB0::18::INSTR"]
    with Bench.open(bench_file, visa_library=SimulatedVisaLibrary(sim)) as bench:
        m0, m1, s0 = (bench_file.device(n) for n in ("M0", "M1", "S0"))
        bench.switch.connect([m0.channel(2)])
        bench.read.source_current(20e-6, 1.0, 0.01)
        bench.read.enable()
        bench.switch.connect([m1.channel(2)], hot=True)
        assert smu.output_on and bench.switch.connected == {m1.channel(2)}
        bench.switch.connect([s0.channel(2)], hot=True)
        assert not smu.output_on and bench.switch.connected == {s0.channel(2)}
        with pytest.raises(LimitViolation, match="max_read_current_A"):
            bench.read.enable()                        # and it stays off


def test_write_many_keeps_each_junctions_order_bursts_repeats_and_groups_levels(config):
    from drivers.crossbar import write_plan

    plan = write_plan([(0, 0, -0.4, 1e-7), (1, 0, 0.5, 1e-7), (2, 0, -0.4, 1e-7),
                       (2, 0, -0.4, 1e-7), (0, 0, 0.5, 1e-7), (3, 0, 0.5, 1e-7)])
    assert plan == [(0, 0, -0.4, 1e-7, 1), (2, 0, -0.4, 1e-7, 2), (1, 0, 0.5, 1e-7, 1),
                    (3, 0, 0.5, 1e-7, 1), (0, 0, 0.5, 1e-7, 1)]
    sim, bench, xbar = open_crossbar(config)
    with bench:
        xbar.write_many([(4, 4, "P", 0.3, 2e-8)] * 3)  # one burst of 3: one trigger
        trips = xbar.round_trips
        xbar.write_many([(4, 4, "P", 0.3, 2e-8)] * 3)
        assert xbar.round_trips - trips == 1 and xbar.pulses == 6
    assert len([r for r in sim.pulse_log if r.device == "xbar/W36"]) == 6


def test_bad_requests_are_refused_before_anything_is_sent(config):
    sim, bench, xbar = open_crossbar(config)
    with bench:
        trips = xbar.round_trips
        with pytest.raises(LimitViolation, match="max_pulse_voltage_V on xbar/W3"):
            xbar.write(0, 3, "P", 1.5, 1e-6)
        with pytest.raises(LimitViolation, match="max_pulse_width_s"):
            xbar.write_many([(0, 0, "P", 0.5, 1e-6), (0, 1, "P", 0.5, 1.0)])
        with pytest.raises(CrossbarError, match=r"row 8 is not a row index of the 8 x 8 crossbar"):
            xbar.write(8, 0, "P", 0.5, 1e-6)
        with pytest.raises(CrossbarError, match="to_state 'X'"):
            xbar.write(0, 0, "X", 0.5, 1e-6)
        with pytest.raises(CrossbarError, match="8 booleans"):
            xbar.read_columns([1, 0, 1])
        with pytest.raises(LimitViolation, match="max_compliance_V"):
            xbar.read_columns([1] * 8, v_read=0.5)
        assert xbar.round_trips == trips and xbar.pulses == 0
    assert sim.damaged_devices() == []


def test_a_voltage_over_the_barrier_breakdown_shorts_the_junction(config):
    sim = SimulatedBench(config)
    chip = sim.chip
    net = networks_of(chip)[0]
    volts = np.zeros(net.junctions.shape)
    volts[1, 1] = 1.4
    TRUTH.apply_voltages(chip, net.junctions, volts, 1e-9, np.random.default_rng(0), 0.0)
    assert sim.damaged_devices() == ["xbar/W9"] and chip.broken[net.junctions[1, 1]] == "short"
    g = TRUTH.conductances_S(chip, net.junctions, np.zeros(net.junctions.shape))
    assert g[1, 1] > 100 * g[1, 2]


def test_bench_show_prints_the_crossbar_wiring_and_each_junctions_truth():
    from hil.benchinfo import describe_bench

    text = describe_bench(XBAR)
    assert "aux SMU -> 7709 row 3; ground -> 7709 row 4" in text
    assert "crossbar xbar/W: 8 row lines on card 1 (columns 1-8), 8 column lines on card 2" in text
    line = next(row for row in text.splitlines() if row.strip().startswith("xbar/W13 "))
    assert " 1,5 " in line and line.split()[-1] == "AP"


def test_the_stdp_crossbar_reads_again_only_the_column_an_event_wrote(config):
    """After an STDP event on column 3 the held input costs one line change and one reading
    (not eight), and every column still answers what a full read of the array answers."""
    from hil.stdp.crossbar import CrossbarSynapses
    from hil.stdp.synapse import typical_model
    from hil.stdp.synapses import PulseRule

    sim, bench, xbar = open_crossbar(config)
    x = np.array([1, 0, 1, 1, 0, 1, 1, 0], dtype=float)
    with bench:
        synapses = CrossbarSynapses(xbar, typical_model(), PulseRule(0.5, 0.5))
        synapses.drive(x)
        synapses.update(3, np.arange(8) % 2 == 0)
        trips = xbar.round_trips
        partial = synapses.drive(x)
        # the generator off (it fired last), one line change, one reading
        assert xbar.round_trips - trips == 3 and synapses.reads == 2
        full = CrossbarSynapses(xbar, typical_model(), PulseRule(0.5, 0.5), reread="all").drive(x)
    np.testing.assert_allclose(partial, full, atol=2e-3)   # weight units: ~0.1 uA of ~17 uA each
