"""The loopback SCPI server: pyvisa-py and unmodified pymeasure drivers over TCP, framing
(binary blocks, over-long lines, garbage), clients in turn, loopback-only binding, and a
clean SIGTERM / SIGINT shutdown of ``python -m simulated_bench.server``."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import pyvisa

from devices.benchfile import default_bench_text
from simulated_bench.bench import SimulatedBench
from simulated_bench.server import MAX_LINE_BYTES, ServerError, main, serve

REPO = Path(__file__).resolve().parents[1]
SWITCH, SMU, MAGNET, PULSE, READ_SMU = (
    "GPIB0::16::INSTR", "GPIB0::24::INSTR", "GPIB0::6::INSTR", "GPIB0::10::INSTR",
    "GPIB0::18::INSTR")


def bench_data(models=("Keithley2400", "Keithley2750", "KepcoBOP")) -> dict:
    data = tomllib.loads(default_bench_text())
    data["instrument"] = [i for i in data["instrument"] if i["model"] in models]
    return data


@pytest.fixture
def bench():
    return SimulatedBench.from_config(bench_data())


@pytest.fixture
def server(bench):
    with serve(bench) as handle:
        yield handle


class RawClient:
    """A bare TCP client: what a careless script or a fuzzer would send."""

    def __init__(self, resource: str, timeout_s: float = 5.0):
        port = int(resource.split("::")[2])
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.pending = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def query(self, line: str) -> str:
        self.send(line.encode() + b"\n")
        return self.readline()

    def readline(self) -> str:
        while b"\n" not in self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode()

    def close(self) -> None:
        self.sock.close()


def all_errors(client: RawClient) -> list[str]:
    found = []
    while not (reply := client.query("SYST:ERR?")).startswith("0,"):
        found.append(reply)
    return found


# ---------------------------------------------------------------- binding
def test_every_socket_binds_loopback_only(server, bench):
    assert set(server.addresses) == set(bench.instruments)
    for address, resource in server.addresses.items():
        assert resource == f"TCPIP0::127.0.0.1::{server.ports[address]}::SOCKET"
    for listener in server._listeners.values():
        assert listener.getsockname()[0] == "127.0.0.1"


@pytest.mark.parametrize("host", ["0.0.0.0", "", "192.168.1.20", "::", "example.org"])
def test_non_loopback_hosts_are_refused(bench, host):
    with pytest.raises(ValueError, match="127.0.0.1 only"):
        serve(bench, host=host)


def _outward_address() -> str | None:
    """This machine's non-loopback IPv4 address, if it has one (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_not_reachable_on_another_interface(server):
    outward = _outward_address()
    if outward is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    port = next(iter(server.ports.values()))
    with pytest.raises(OSError):
        socket.create_connection((outward, port), timeout=2).close()


def test_base_port_numbers_instruments_in_bench_file_order(bench):
    errors = []
    for _ in range(20):
        base = random.randint(20000, 60000)
        try:
            handle = serve(bench, base_port=base)
        except ServerError as exc:
            errors.append(str(exc))                     # that range is busy: try another
            continue
        with handle:
            assert list(handle.ports.values()) == [base + i for i in range(len(bench.instruments))]
        return
    # 20 random ranges all busy is a server that cannot bind a base port, not a busy machine
    pytest.fail(f"serve(base_port=...) failed for 20 random port ranges: {errors[-3:]}")


def test_a_port_in_use_fails_with_a_clear_error(bench):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with pytest.raises(ServerError, match=f"127.0.0.1:{port}.*another --port"):
            serve(bench, base_port=port)


# ---------------------------------------------------------------- pyvisa-py
def test_pyvisa_py_socket_resources(server):
    rm = pyvisa.ResourceManager("@py")
    try:
        for address, resource in server.addresses.items():
            inst = rm.open_resource(resource, read_termination="\n", write_termination="\n",
                                    timeout=5000)
            try:
                idn = inst.query("*IDN?")
                assert idn == server.bench.instruments[address].IDN
                assert inst.query("*OPC?") == "1"
                inst.write("*CLS")
                assert inst.query("SYST:ERR?").startswith("0,")
            finally:
                inst.close()
    finally:
        rm.close()


def test_bus_time_advances_the_virtual_clock(server, bench):
    client = RawClient(server.addresses[SWITCH])
    try:
        t0 = bench.clock.now_s
        client.query("*IDN?")
        assert bench.clock.now_s > t0
    finally:
        client.close()


# ---------------------------------------------------------------- framing and garbage
def test_garbage_is_answered_with_an_error_and_the_server_goes_on(server):
    client = RawClient(server.addresses[SWITCH])
    try:
        client.send(b"\xff\xfe\x80 not utf-8 \xc3\x28\n")      # not UTF-8
        client.send(b"ROUT:CLOS\x00\x07?\n")                     # control characters
        client.send(b"\x1b[2J\x1b[H\n")                         # terminal escapes
        client.send(b"}}}{{{\n")                                 # printable nonsense
        codes = [int(e.split(",")[0]) for e in all_errors(client)]
        assert codes == [-101, -101, -101, -102]
        assert "2750" in client.query("*IDN?")
    finally:
        client.close()


def test_random_binary_noise_never_stops_the_server(server):
    rng = random.Random(7)
    client = RawClient(server.addresses[SMU])
    try:
        for _ in range(50):
            client.send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
        client.send(b"\n" * 3)
        # noise may have held a quote or a block header open: a newline resets framing
        client.send(b"\n*CLS\n")
        assert "MODEL 2400" in client.query("*IDN?")
    finally:
        client.close()
    assert server.running


def test_over_long_line_gives_363_and_the_connection_goes_on(server, bench):
    client = RawClient(server.addresses[SWITCH])
    try:
        junk = b"ROUT:MULT:CLOS (@" + b"1101," * (MAX_LINE_BYTES // 5 + 100) + b"1102)"
        for start in range(0, len(junk), 4096):                   # arrives in pieces
            client.send(junk[start:start + 4096])
        client.send(b"\n")
        assert client.query("*IDN?").startswith("KEITHLEY")
        errors = all_errors(client)
        assert len(errors) == 1 and errors[0].startswith("-363,")
        with server.lock:
            assert bench.instruments[SWITCH].closed_channels() == set()   # nothing executed
        assert client.query(":ROUT:MULT:CLOS (@1101);:ROUT:CLOS?") == "(@1101)"
    finally:
        client.close()


def test_a_line_just_under_the_limit_is_served(server):
    client = RawClient(server.addresses[SWITCH])
    try:
        padding = " " * (MAX_LINE_BYTES - 100)
        assert client.query(f"*IDN?{padding}").startswith("KEITHLEY")
    finally:
        client.close()


def test_binary_blocks_pass_intact(server, bench):
    """A block's bytes (newline, ';', NUL, 0xff included) reach the instrument untouched."""
    payload = bytes([0x0A, 0x3B, 0x2C, 0xFF, 0x00, 0x23, 0x31, 0x0A, 0x22, 0x0D])
    client = RawClient(server.addresses[SWITCH])
    try:
        client.send(b":DATA1:DAC VOLATILE,#210" + payload + b"\n")
        assert client.query("*IDN?").startswith("KEITHLEY")
        with server.lock:
            received = bench.instruments[SWITCH].received
            block_message = next(m for m in received if m.startswith(":DATA1:DAC"))
        assert block_message.encode("latin-1") == b":DATA1:DAC VOLATILE,#210" + payload
        errors = all_errors(client)
        assert len(errors) == 1 and errors[0].startswith("-113,")   # the 2750 has no DAC
    finally:
        client.close()


# ---------------------------------------------------------------- clients
def test_clients_in_turn_and_side_by_side(server, bench):
    resource = server.addresses[SWITCH]
    for i in range(1, 9):                                            # one after another
        client = RawClient(resource)
        client.send(f":ROUT:MULT:CLOS (@110{i})\n".encode())
        assert client.query("*OPC?") == "1"
        client.close()
    first, second = RawClient(resource), RawClient(resource)         # two at once
    try:
        first.send(b":ROUT:OPEN:ALL\n")
        assert second.query(":ROUT:MULT:CLOS (@2201);:ROUT:CLOS?") == "(@2201)"
        assert first.query(":ROUT:CLOS?") == "(@2201)"               # one shared instrument
    finally:
        first.close()
        second.close()
    magnet = RawClient(server.addresses[MAGNET])                      # another instrument
    try:
        assert magnet.query("*IDN?").startswith("KEPCO")
    finally:
        magnet.close()


def test_close_is_clean_and_idempotent(bench):
    handle = serve(bench)
    client = RawClient(handle.addresses[SWITCH])
    assert client.query("*IDN?")
    handle.close()
    handle.close()
    assert not handle.running
    with pytest.raises(OSError):
        for _ in range(3):                         # the peer is gone: reads end or fail
            client.sock.settimeout(2)
            if not client.sock.recv(1):
                raise ConnectionResetError("closed")
    client.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", handle.ports[SWITCH]), timeout=2).close()


# ---------------------------------------------------------------- pymeasure end to end
def test_a_pulse_through_the_81160a_switches_a_device():
    from pymeasure.instruments.keithley import Keithley2400, Keithley2750
    from pymeasure.instruments.kepco import KepcoBOP3612
    from pymeasure.instruments.keysight import Keysight81160A

    bench = SimulatedBench.from_config(
        bench_data(("Keysight81160A", "Keithley2400", "Keithley2750", "KepcoBOP")))
    chip, idx = bench.device("S0")
    opts = dict(visa_library="@py", read_termination="\n", write_termination="\n", timeout=5000)
    with serve(bench) as server:
        matrix = Keithley2750(server.addresses[SWITCH], **opts)
        magnet = KepcoBOP3612(server.addresses[MAGNET], visa_library="@py", timeout=5000)
        smu = Keithley2400(server.addresses[SMU], **opts)
        generator = Keysight81160A(server.addresses[PULSE], **opts)
        try:
            matrix.close(1101)                     # S0 on the pulse row
            matrix.close(1301)                     # S0 on the aux (2400) row
            magnet.operating_mode = "CURR"
            magnet.voltage_setpoint = 20
            magnet.current_setpoint = 2.0          # 10 mT in-plane bias field
            magnet.output_enabled = True
            magnet.wait_to_continue()
            smu.source_mode = "current"
            smu.source_current = 2e-6
            smu.compliance_voltage = 1.0
            smu.enable_source()
            before = smu.measure_all()["resistance"]

            with server.lock:
                line_ohm = chip.write_path_resistance(idx)
                target_A = 1.6 * chip.ic0_A[idx]   # well over Ic0, well under the EM limit
            emf_V = target_A * (line_ohm + bench.config.wiring.source_impedance_ohm)
            ch = generator.ch_1
            ch.shape = "PULS"
            ch.output_load = 50
            ch.voltage_low = 0.0
            ch.voltage_high = emf_V / 2            # 50 ohm setting: EMF = 2 x the level
            ch.pulse_period = 1e-6
            ch.pulse_width = 100e-9
            ch.burst_state = True
            ch.burst_ncycles = 2                   # pymeasure's minimum; the 2nd pulse finds
                                                   # the device already switched
            ch.trigger_mode = "MAN"
            ch.output = True
            generator.trigger()
            assert generator.complete == "1"
            after = smu.measure_all()["resistance"]
            assert generator.check_errors() == []
        finally:
            for driver in (matrix, magnet, smu, generator):
                driver.adapter.close()
    with server.lock:
        assert chip.magnetization(idx) == pytest.approx(1.0)    # switched down -> up
        assert bench.damaged_devices() == []
        assert any(r.device == "chip1/S0" for r in bench.pulse_log)
    assert after - before == pytest.approx(2 * chip.r_ahe_ohm[idx], rel=0.05)


def test_waveform_upload_as_a_binary_block():
    import numpy as np
    from pymeasure.instruments.keysight import Keysight81160A

    bench = SimulatedBench.from_config(bench_data(("Keysight81160A", "Keithley2750")))
    with serve(bench) as server:
        generator = Keysight81160A(server.addresses[PULSE], visa_library="@py",
                                   read_termination="\n", write_termination="\n", timeout=5000)
        try:
            # values whose big-endian int16 bytes include 0x0a (newline) and 0x3b (';')
            waveform = np.array([0.0, 10 / 8191, 59 / 8191, 1.0, -0.5, 2571 / 8191, 0.0])
            generator.ch_1.waveform_volatile = waveform
            assert generator.check_errors() == []
        finally:
            generator.adapter.close()
    stored = bench.instruments[PULSE].channels[1].volatile
    expected = np.round(waveform / waveform.max() * 8191).astype(int)
    assert np.array_equal(np.asarray(stored, dtype=int), expected)


def test_the_default_bench_serves_every_pymeasure_driver():
    from pymeasure.instruments.keithley import Keithley2400, Keithley2450, Keithley2750
    from pymeasure.instruments.kepco import KepcoBOP3612
    from pymeasure.instruments.keysight import Keysight81160A

    bench = SimulatedBench.from_config(None)
    drivers = {PULSE: Keysight81160A, READ_SMU: Keithley2450, SMU: Keithley2400,
               SWITCH: Keithley2750, MAGNET: KepcoBOP3612}
    assert set(drivers) == set(bench.instruments)       # every instrument of the default bench
    with serve(bench) as server:
        for address, cls in drivers.items():
            terminations = ({} if cls is KepcoBOP3612     # the Kepco driver sets its own
                            else dict(read_termination="\n", write_termination="\n"))
            driver = cls(server.addresses[address], visa_library="@py", timeout=5000,
                         **terminations)
            try:
                assert driver.id == bench.instruments[address].IDN
                assert driver.check_errors() == []
            finally:
                driver.adapter.close()


# ---------------------------------------------------------------- the CLI process
def _bench_file(tmp_path) -> Path:
    text = default_bench_text()
    blocks = text.split("[[instrument]]")
    kept = [b for b in blocks[1:] if any(f'"{m}"' in b for m in ("Keithley2750", "KepcoBOP"))]
    # keep the header, the two instruments, and everything after the last instrument block
    tail = blocks[-1][blocks[-1].index("# ----"):]
    kept = [b if "# ----" not in b else b[:b.index("# ----")] for b in kept]
    path = tmp_path / "bench.toml"
    path.write_text(blocks[0] + "".join("[[instrument]]" + b for b in kept) + tail)
    return path


def _start_cli(tmp_path) -> tuple[subprocess.Popen, dict[str, str]]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulated_bench.server", str(_bench_file(tmp_path)), "--port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    resources: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while len(resources) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        parts = line.split()
        if parts and parts[0].startswith("GPIB") and parts[-1].startswith("TCPIP0::127.0.0.1::"):
            resources[parts[0]] = parts[-1]
    if len(resources) < 2:
        proc.kill()
        raise AssertionError(f"server did not print its table: {proc.stderr.read()}")
    return proc, resources


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_shuts_down_cleanly_on_a_signal(tmp_path, signum):
    proc, resources = _start_cli(tmp_path)
    try:
        client = RawClient(resources[SWITCH])
        assert "2750" in client.query("*IDN?")
        client.close()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(resources[SWITCH].split("::")[2])),
                                 timeout=2).close()


def test_cli_refuses_a_non_loopback_host(capsys):
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "127.0.0.1 only" in capsys.readouterr().err


def test_a_simulator_fault_becomes_an_execution_error(server, bench):
    def broken(*args):
        raise ZeroDivisionError("bug in a handler")

    with server.lock:
        bench.instruments[SWITCH].add("DIAGnostic:BROKen", on_set=broken)
    client = RawClient(server.addresses[SWITCH])
    try:
        client.send(b"DIAG:BROK\n")
        errors = all_errors(client)
        assert len(errors) == 1 and errors[0].startswith("-200,") and "ZeroDivisionError" in errors[0]
        assert client.query("*IDN?").startswith("KEITHLEY")
    finally:
        client.close()


# ---------------------------------------------------------------- framing, property-based
from hypothesis import given, settings, strategies as st  # noqa: E402

from simulated_bench.framing import MessageFramer as _Framer  # noqa: E402

_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E,
                                       blacklist_characters="#\"'"), max_size=40)
_message = st.tuples(_text, st.one_of(st.none(), st.binary(max_size=300)))


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(_message, min_size=1, max_size=8), cuts=st.lists(st.integers(1, 97)))
def test_framing_does_not_depend_on_how_tcp_cuts_the_stream(messages, cuts):
    expected, stream = [], b""
    for text, block in messages:
        body = text.encode()
        if block is not None:
            length = str(len(block)).encode()
            body += b"#" + str(len(length)).encode() + length + block
        expected.append(body)
        stream += body + b"\n"
    framer, got, position = _Framer(), [], 0
    for cut in cuts + [len(stream)]:
        got += framer.feed(stream[position:position + cut])
        position += cut
        if position >= len(stream):
            break
    got += framer.feed(stream[position:])
    assert [m for m in got if m] == [m for m in expected if m]
