"""Keithley 2750 + 7709 matrix simulator: channel lists, errors, settle time, and the
unmodified pymeasure driver over the loopback server."""

from __future__ import annotations

import pytest
from pymeasure.instruments.keithley import Keithley2750

from simulated_bench.clock import RELAY_SETTLE_S
from simulated_bench.server import serve

from simhelpers import SWITCH, bench_with


@pytest.fixture
def bench():
    return bench_with()


@pytest.fixture
def switch(bench):
    return bench.instruments[SWITCH]


def errors(instrument) -> list[str]:
    out = []
    while True:
        reply = instrument.handle("SYST:ERR?")
        if reply.startswith("0,"):
            return out
        out.append(reply)


def test_identity_and_cards(switch):
    assert "MODEL 2750" in switch.handle("*IDN?")
    # the default bench wires one 7709 per device size, in slots 1-3
    assert switch.handle("*OPT?") == "7709,7709,7709,NONE,NONE"


def test_close_open_multiple_and_query_format(switch, bench):
    assert switch.handle(":ROUT:CLOS?") == "(@)"
    switch.handle(":ROUTe:MULTiple:CLOSe (@1101,2201)")
    switch.handle(":ROUT:MULT:CLOS (@1305)")
    assert switch.handle(":ROUT:CLOS?") == "(@1101,1305,2201)"
    assert switch.closed_channels() == {1101, 1305, 2201}
    switch.handle(":ROUT:MULT:OPEN (@1305)")
    assert switch.handle(":ROUTe:MULTiple:CLOSe?") == "(@1101,2201)"
    # the wiring sees the crosspoints: row 1 = pulse path, row 2 = read path
    assert [chip.names[i] for chip, i in bench.devices_on_pulse_path()] == ["chip1/S0"]
    assert [chip.names[i] for chip, i in bench.devices_on_read_path()] == ["chip1/M0"]
    switch.handle(":ROUT:OPEN:ALL")
    assert switch.closed_channels() == set()
    assert errors(switch) == []


def test_ranges_select_a_rectangle_on_one_card(switch):
    switch.handle(":ROUT:MULT:CLOS (@1101:1108)")
    assert switch.closed_channels() == {1100 + c for c in range(1, 9)}
    switch.handle(":ROUT:OPEN:ALL")
    switch.handle(":ROUT:MULT:CLOS (@2102:2203, 3608)")
    assert switch.closed_channels() == {2102, 2103, 2202, 2203, 3608}
    switch.handle(":ROUT:MULT:OPEN (@2102:2103)")
    assert switch.closed_channels() == {2202, 2203, 3608}


def test_route_close_closes_one_and_opens_the_others(switch):
    switch.handle(":ROUT:MULT:CLOS (@1101,1201,2201)")
    switch.handle(":ROUT:CLOS (@3204)")
    assert switch.handle(":ROUT:CLOS?") == "(@3204)"
    switch.handle(":ROUT:CLOS (@1101,1102)")          # one channel only
    assert errors(switch)[0].startswith("-224,")
    assert switch.closed_channels() == {3204}


@pytest.mark.parametrize("channels, code, words", [
    ("(@4101)", -222, "no 7709 card in slot 4"),
    ("(@1701)", -222, "row 7"),
    ("(@1009)", -222, "row 0"),
    ("(@1109)", -222, "column 9"),
    ("(@1100)", -222, "column 0"),
    ("(@101)", -224, "4-digit"),
    ("(@11a1)", -224, "4-digit"),
    ("1101", -224, "not a channel list"),
    ("(@1101:2101)", -224, "spans two cards"),
])
def test_invalid_channels_are_refused_and_change_nothing(switch, channels, code, words):
    switch.handle(":ROUT:MULT:CLOS (@1101)")
    switch.handle(f":ROUT:MULT:CLOS (@1102,{channels[2:]}" if channels.startswith("(@")
                  else f":ROUT:MULT:CLOS {channels}")
    found = errors(switch)
    assert len(found) == 1 and found[0].startswith(f"{code},") and words in found[0], found
    assert switch.closed_channels() == {1101}           # 1102 was not closed either


def test_missing_list_and_unknown_header(switch):
    switch.handle(":ROUT:MULT:CLOS")
    switch.handle(":ROUT:MULT:SHUT (@1101)")
    codes = [e.split(",")[0] for e in errors(switch)]
    assert codes == ["-109", "-113"]


def test_relays_take_their_settle_time(switch, bench):
    t0 = bench.clock.now_s
    switch.handle(":ROUT:MULT:CLOS (@1101:1108)")      # one command: the relays switch together
    assert bench.clock.now_s == pytest.approx(t0 + RELAY_SETTLE_S)
    switch.handle(":ROUT:MULT:OPEN (@1101);:ROUT:MULT:OPEN (@1102)")
    assert bench.clock.now_s == pytest.approx(t0 + 3 * RELAY_SETTLE_S)
    switch.handle(":ROUT:CLOS?")                        # a query moves no relay
    assert bench.clock.now_s == pytest.approx(t0 + 3 * RELAY_SETTLE_S)


def test_reset_opens_everything(switch):
    switch.handle(":ROUT:MULT:CLOS (@1101,2201)")
    switch.handle("*RST")
    assert switch.closed_channels() == set()


def test_pymeasure_driver_over_the_server(bench):
    with serve(bench) as server:
        matrix = Keithley2750(server.addresses[SWITCH], visa_library="@py",
                              read_termination="\n", write_termination="\n", timeout=5000)
        try:
            assert "2750" in matrix.id
            matrix.close(1101)
            matrix.close(2201)
            matrix.close(3305)
            assert matrix.closed_channels == [1101, 2201, 3305]
            matrix.open(2201)
            assert matrix.closed_channels == [1101, 3305]
            with server.lock:
                assert bench.instruments[SWITCH].closed_channels() == {1101, 3305}
            matrix.open_all()
            # pymeasure hands back the raw reply when the list has one element or none
            assert matrix.closed_channels == "(@)"
            matrix.close(1709)                          # no row 7 on a 7709
            assert matrix.check_errors()[0][0] == -222
            assert matrix.check_errors() == []
        finally:
            matrix.adapter.close()


def test_pymeasure_driver_in_process():
    from simulated_bench.visa import SimulatedVisaLibrary

    lib = SimulatedVisaLibrary(bench_with())
    matrix = Keithley2750(SWITCH, visa_library=lib)
    matrix.close(2201)
    matrix.close(2301)
    assert matrix.closed_channels == [2201, 2301]
    assert [chip.names[i] for chip, i in lib.bench.devices_on_read_path()] == ["chip1/M0"]
    matrix.open_all()
    assert matrix.closed_channels == "(@)"
    matrix.close(5101)                                   # no card in slot 5
    assert matrix.check_errors()[0][0] == -222
