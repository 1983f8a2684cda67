"""The simulated 2450 against its reference manual (2450-901-01 Rev. B), through raw pyvisa:
each test names the manual section whose documented reply it checks. Last, the connect and
measurement sequence QCoDeS's Keithley_2450 driver sends, replayed (qcodes is no dependency)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import pyvisa

from simulated_bench.visa import SimulatedVisaLibrary

from simhelpers import SMU, connect_device, raw


@pytest.fixture
def lib():
    return SimulatedVisaLibrary()


@pytest.fixture
def smu(lib):
    resource = raw(lib, SMU)
    resource.timeout = 2000
    resource.write("*RST")
    return resource


def errors(smu) -> list[int]:
    codes = []
    while (code := int(smu.query("SYST:ERR?").split(",")[0])) != 0:
        codes.append(code)
    return codes


def test_lang_query_and_set(smu):
    """Appendix B, *LANG: SCPI | TSP | SCPI2400, nonvolatile (not reset by *RST)."""
    assert smu.query("*LANG?").strip() == "SCPI"
    smu.write("*LANG SCPI2400")
    smu.write("*RST")
    assert smu.query("*LANG?").strip() == "SCPI2400"
    smu.write("*LANG BASIC")
    assert errors(smu) == [-224]


@pytest.mark.parametrize("command", ["*IDN? extra", "*RST 1", "*CLS 1", "*OPC? 1", "*WAI 1",
                                     "*TRG 1", "*ESR? 1", "*STB? 1", "*OPT? 1", "*TST? 1"])
def test_common_command_with_a_parameter_queues_108(smu, command):
    """Appendix B (the common commands take no parameter) and IEEE 488.2: -108 "Parameter
    not allowed", no reply; never a simulator fault."""
    smu.write(command)
    assert errors(smu) == [-108]
    assert smu.query("*IDN?").startswith("KEITHLEY INSTRUMENTS")   # no stray reply queued


def _source_current_read_volts(smu, lib, current_A=10e-6):
    connect_device(lib, slot=2, column=3)
    for command in (":SOUR:FUNC CURR", f":SOUR:CURR {current_A}", ":SOUR:CURR:VLIM 1",
                    ':SENS:FUNC "VOLT"', ":OUTP ON"):
        smu.write(command)


def test_bare_measure_and_measure_into_defbuffer1(lib, smu):
    """Section 6, :MEASure:<function>? / :MEASure?: a reading of the active function, stored in
    defbuffer1 (or the buffer named)."""
    _source_current_read_volts(smu, lib)
    chip, idx = lib.bench.device("M2")
    expected_V = 10e-6 * (chip.r_offset_ohm[idx] - chip.r_ahe_ohm[idx])
    assert float(smu.query(":MEAS?")) == pytest.approx(expected_V, rel=0.02)
    assert float(smu.query(':MEAS? "defbuffer1"')) == pytest.approx(expected_V, rel=0.02)
    assert int(smu.query(":TRAC:ACT?")) == 2
    assert errors(smu) == []


def test_sense_count_takes_n_readings_returns_the_last(lib, smu):
    """Section 6, [:SENSe[1]]:COUNt (1 .. 300000): :READ? makes <count> readings, all stored,
    the last one returned."""
    _source_current_read_volts(smu, lib)
    smu.write(":SENS:COUN 5")
    assert int(smu.query(":SENS:COUN?")) == 5
    last = float(smu.query(":READ?"))
    assert int(smu.query(":TRAC:ACT?")) == 5
    assert float(smu.query(':TRAC:DATA? 5, 5, "defbuffer1"')) == last
    smu.write(":SENS:COUN 0")
    assert errors(smu) == [-222]


def _sweep(smu, command: str, points: int) -> list[float]:
    smu.write(":SOUR:FUNC VOLT;:SENS:FUNC \"CURR\";:OUTP ON;:TRAC:CLE")
    smu.write(command)
    smu.write(":INIT;*WAI")
    return [float(v) for v in smu.query(f':TRAC:DATA? 1, {points}, "defbuffer1", SOUR').split(",")]


def test_linear_sweep_builds_the_trigger_model(lib, smu, monkeypatch):
    """Section 6, :SOURce[1]:SWEep:<function>:LINear <start>, <stop>, <points>, <delay>,
    <count>, <rangeType>, <failAbort>, <dual>: <points> levels; dual runs back down."""
    # this test's arithmetic is the integration alone (test_datasheet_reading_time
    # covers the datasheet overhead and autozero)
    monkeypatch.setattr(type(lib.bench.instruments[SMU]), "DATASHEET_TIMING", False)
    t0 = lib.virtual_time_s
    assert _sweep(smu, ":SOUR:SWE:VOLT:LIN 0, 1, 5, 0.01", 5) == pytest.approx(
        [0, 0.25, 0.5, 0.75, 1])
    assert lib.virtual_time_s - t0 == pytest.approx(5 * (0.01 + 1 / 50), abs=0.01)
    assert _sweep(smu, ":SOUR:SWE:VOLT:LIN 0, 1, 3, 0, 2, BEST, ON, ON", 12) == pytest.approx(
        [0, 0.5, 1, 1, 0.5, 0] * 2)
    assert _sweep(smu, ":SOUR:SWE:VOLT:LIN:STEP -1, 1, 0.5", 5) == pytest.approx(
        [-1, -0.5, 0, 0.5, 1])
    assert errors(smu) == []


def test_log_sweep(smu):
    """Section 6, :SOURce[1]:SWEep:<function>:LOG: points spaced evenly in log10."""
    assert _sweep(smu, ":SOUR:SWE:VOLT:LOG 0.001, 1, 4", 4) == pytest.approx([1e-3, 1e-2, 0.1, 1])
    smu.write(":SOUR:SWE:VOLT:LOG 0, 1, 4")
    assert errors(smu) == [-222]


def test_list_sweep_as_the_manual_example(lib, smu, monkeypatch):
    """Section 6, :SOURce[1]:LIST:<function> example: SOUR:LIST:VOLT 1, 5, 1, 5, 1, 5 then
    SOUR:SWE:VOLT:LIST 1, 0.2 sources the six levels, 200 ms each."""
    # this test's arithmetic is the integration alone (test_datasheet_reading_time
    # covers the datasheet overhead and autozero)
    monkeypatch.setattr(type(lib.bench.instruments[SMU]), "DATASHEET_TIMING", False)
    smu.write(":SOUR:LIST:VOLT 1, 5, 1, 5, 1, 5")
    assert int(smu.query(":SOUR:LIST:VOLT:POIN?")) == 6
    t0 = lib.virtual_time_s
    assert _sweep(smu, ":SOUR:SWE:VOLT:LIST 1, 0.2", 6) == pytest.approx([1, 5, 1, 5, 1, 5])
    assert lib.virtual_time_s - t0 == pytest.approx(6 * (0.2 + 1 / 50), abs=0.01)
    assert errors(smu) == []


def test_rsense_autozero_readback_user_delays(smu):
    """Section 6, [:SENSe[1]]:<function>:RSENse, :AZERo[:STATe], :AZERo:ONCE,
    :SOURce[1]:<function>:READ:BACK, :SOURce|[:SENSe]:<function>:DELay:USER<n> (n 1 .. 5)."""
    for f in ("CURR", "VOLT", "RES"):
        assert smu.query(f":SENS:{f}:RSEN?").strip() == "0"
        assert smu.query(f":SENS:{f}:AZER?").strip() == "1"      # on after *RST
    smu.write(":SENS:CURR:RSEN ON;:SENS:VOLT:AZER:STAT OFF;:SENS:AZER:ONCE")
    assert smu.query(":SENS:CURR:RSEN?").strip() == "1"
    assert smu.query(":SENS:VOLT:RSEN?").strip() == "0"
    assert smu.query(":SENS:VOLT:AZER?").strip() == "0"
    assert smu.query(":SOUR:CURR:READ:BACK?").strip() == "1"
    smu.write(":SOUR:VOLT:DEL:USER3 0.25;:SENS:CURR:DEL:USER5 1e-3")
    assert float(smu.query(":SOUR:VOLT:DEL:USER3?")) == 0.25
    assert float(smu.query(":SENS:CURR:DEL:USER5?")) == 1e-3
    assert float(smu.query(":SOUR:VOLT:DEL:USER1?")) == 0.0
    smu.write(":SOUR:VOLT:DEL:USER6 1")
    assert errors(smu) == [-114]


def test_readback_off_records_the_programmed_source(smu):
    """Section 6, :SOURce[1]:<function>:READ:BACK: SOUR element = measured source value (on)
    or the programmed one (off). Open terminals: 1 uA programmed, none flows."""
    smu.write(":SOUR:FUNC CURR;:SOUR:CURR 1e-6;:SOUR:CURR:VLIM 1;:SENS:FUNC \"VOLT\";:OUTP ON")
    assert float(smu.query(':READ? "defbuffer1", SOUR')) == 0.0
    smu.write(":SOUR:CURR:READ:BACK OFF")
    assert float(smu.query(':READ? "defbuffer1", SOUR')) == 1e-6


def test_line_frequency_status_clear_system_clear(smu):
    """Section 6, :SYSTem:LFRequency? (50 or 60), :STATus:CLEar, :SYSTem:CLEar (clears the
    event log, so the error queue)."""
    assert smu.query(":SYST:LFR?").strip() == "50"
    smu.write(":BOGUS;:STAT:CLE")
    smu.write(":SYST:CLE")
    assert errors(smu) == []


def test_user_buffers_make_trigger_delete(smu):
    """Section 6, :TRACe:MAKE (size >= 10; STANdard ...), :TRACe:TRIGger (<count> readings into
    the buffer), :TRACe:DELete (user buffers only)."""
    smu.write(':TRAC:MAKE "volts", 100, STAN;:SENS:COUN 3;:OUTP ON')
    assert int(smu.query(':TRAC:POIN? "volts"')) == 100
    smu.write(':TRAC:TRIG "volts"')
    assert int(smu.query(':TRAC:ACT? "volts"')) == 3
    assert int(smu.query(":TRAC:ACT?")) == 0                  # defbuffer1 untouched
    smu.write(':TRAC:MAKE "volts", 100')                       # exists
    smu.write(':TRAC:MAKE "tiny", 5')                          # below 10
    smu.write(':TRAC:DEL "defbuffer1"')                        # built in
    assert errors(smu) == [-224, -222, -224]
    smu.write(':TRAC:DEL "volts"')
    with pytest.raises(pyvisa.errors.VisaIOError):             # no such buffer: no reply
        smu.query(':TRAC:ACT? "volts"')
    assert errors(smu) == [-224]


def test_every_buffer_element(lib, smu):
    """Section 6, :TRACe:DATA? buffer elements: all 14; SOURUNIT, SOURSTATus, SOURFORMatted
    are their own elements (the source's unit, status, front-panel text), not SOURce."""
    _source_current_read_volts(smu, lib)
    smu.query(":READ?")
    names = ["DATE", "FORM", "FRAC", "READ", "REL", "SEC", "SOUR", "SOURFORM", "SOURSTAT",
             "SOURUNIT", "STAT", "TIME", "TST", "UNIT"]
    values = dict(zip(names, smu.query(
        ':TRAC:DATA? 1, 1, "defbuffer1", ' + ", ".join(names)).strip().split(",")))
    assert values["SOURUNIT"] == "Amp DC" and values["UNIT"] == "Volt DC"
    assert values["SOURSTAT"] == "0" and values["STAT"] == "0"
    assert values["SOURFORM"] == "+10.00000 uA"
    assert re.fullmatch(r"[+-]\d+\.\d{5} [mu]?V", values["FORM"])
    assert float(values["SOUR"]) == pytest.approx(10e-6)
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", values["DATE"])
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{9}", values["TIME"])
    assert values["TST"] == values["DATE"] + " " + values["TIME"]
    assert 0 <= float(values["FRAC"]) < 1 and float(values["REL"]) == 0.0
    assert int(values["SEC"]) > 1.7e9
    with pytest.raises(pyvisa.errors.VisaIOError):             # neither short nor long form:
        smu.query(':TRAC:DATA? 1, 1, "defbuffer1", SOURU')    # an error and no reply
    assert errors(smu) == [-224]


SETTINGS = [
    "*LANG?", ":SOUR:FUNC?", ":SENS:FUNC?", ":ROUT:TERM?", ":OUTP?", ":SYST:LFR?", ":SENS:COUN?",
    ":TRAC:POIN?", ":TRAC:ACT?", ":FORM?", ":TRIG:STAT?", ":SOUR:CURR:VLIM?", ":SOUR:VOLT:ILIM?",
    ":SOUR:CURR:VLIM:TRIP?", ":SOUR:VOLT:ILIM:TRIP?", ":SOUR:LIST:CURR:POIN?", "*ESE?", "*SRE?",
] + [f":SOUR:{f}:{node}?" for f in ("CURR", "VOLT") for node in (
    "LEV", "RANG", "RANG:AUTO", "DEL", "DEL:AUTO", "READ:BACK", "DEL:USER1")] + [
    f":SENS:{f}:{node}?" for f in ("CURR", "VOLT", "RES") for node in (
        "NPLC", "RANG", "RANG:AUTO", "AVER", "AVER:COUN", "AVER:TCON", "RSEN", "AZER", "DEL:USER2")]


def test_reading_every_setting_queues_no_error(smu):
    """Every query a client's snapshot sends has a reply; the queue stays empty (depth 10)."""
    for query in SETTINGS:
        assert smu.query(query).strip() != ""
    assert int(smu.query(":SYST:ERR:COUN?")) == 0


def test_qcodes_connect_and_measure_sequence(lib, smu):
    """What QCoDeS's Keithley_2450 sends (src/qcodes/instrument_drivers/Keithley/Keithley_2450.py):
    the *LANG? check, then its parameters' reads, a sweep and its buffer, lower-case function
    names and single-quoted buffer names included."""
    assert smu.query("*LANG?").strip() == "SCPI"            # else QCoDeS refuses to connect
    assert smu.query("*IDN?").startswith("KEITHLEY INSTRUMENTS,MODEL 2450")
    connect_device(lib, slot=2, column=3)
    for command in (":SOUR:FUNC VOLT", ':SENS:FUNC "CURR:DC"', "ROUTe:TERMinals front",
                    ":SENSe:current:RSENse 1", ":SENSe:current:AZERo 0", ":SENSe:COUNt 1",
                    ":SENSe:current:NPLCycles 0.1", "SOUR:voltage:ILIM 1e-3",
                    ":SOURce:voltage:READ:BACK 1", ":SOURce:voltage:DELay:USER1 0",
                    "SOUR:voltage 0.01", ":OUTP 1"):
        smu.write(command)
    replies = {q: smu.query(q).strip() for q in (
        ":SOUR:FUNC?", ":SENS:FUNC?", "ROUTe:TERMinals?", ":OUTP?", ":SYSTem:LFRequency?",
        ":SENSe:current:RSENse?", ":SENSe:current:RANGe?", ":SENSe:current:RANGe:AUTO?",
        ":SENSe:current:NPLCycles?", ":SENSe:current:AZERo?", ":SENSe:COUNt?",
        ":SENSe:current:DELay:USER1?", ":SOUR:voltage:RANGe?", ":SOURce:voltage:RANGe:AUTO?",
        "SOUR:voltage:ILIM?", ":SOUR:voltage:ILIM:TRIPped?", "SOUR:voltage?",
        ":SOURce:voltage:DELay?", ":SOURce:voltage:DELay:AUTO?", ":SOURce:voltage:READ:BACK?",
        ":SOURce:voltage:DELay:USER1?", ":TRACe:POINts? 'defbuffer1'")}
    assert replies[":SOUR:FUNC?"] == "VOLT" and replies[":SENS:FUNC?"] == '"CURR:DC"'
    assert replies[":OUTP?"] == "1" and replies[":SENSe:current:RSENse?"] == "1"
    assert replies[":SENSe:current:AZERo?"] == "0" and replies[":SYSTem:LFRequency?"] == "50"
    smu.write(":SOURce:SWEep:voltage:LINear 0.0,0.02,5,0,1,AUTO,ON,OFF,'defbuffer1'")
    smu.write(":INITiate")
    smu.write("*WAI")
    data = smu.query(":TRACe:DATA? 1, 5, 'defbuffer1'").split(",")
    current_A = np.array([float(v) for v in data])
    assert current_A[0] == pytest.approx(0.0, abs=1e-8) and np.all(np.diff(current_A) > 0)
    smu.write(":TRACe:CLEar 'defbuffer1'")
    assert float(smu.query(":MEASure? 'defbuffer1'")) > 0
    smu.write(":TRACe:MAKE 'user', 100, ")                  # QCoDeS's default style is ""
    smu.write(":TRACe:TRIGger 'user'")
    assert len(smu.query(":FETCh? 'user', READing,SOURce").split(",")) == 2
    smu.write(":TRACe:DELete 'user'")
    smu.write(":STATus:CLEar")
    smu.write(":SYSTem:CLEar")
    smu.write(":ABORt")
    assert errors(smu) == []
