"""Issue 12 B1: an unreachable instrument address fails in bounded time with a message naming
it, never spinning at 100 % CPU (pyvisa-py's device clear looped on a refused socket); the
first Ctrl-C stops a run that waits on a silent address."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.transport import BusCounter, InstrumentConnectionError, open_adapter

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_OPEN = """
from drivers.transport import BusCounter, open_adapter
open_adapter("TCPIP0::127.0.0.1::{port}::SOCKET", "@py", "Keysight81160A", "pulse", BusCounter(),
             configured_address="GPIB0::10::INSTR")
"""


def _open_in_subprocess(port: int) -> subprocess.Popen:
    """What ``hil characterize ... --backend visa --visa-library @py --address
    GPIB0::10::INSTR=TCPIP0::127.0.0.1::<port>::SOCKET`` does first, without the CLI's imports."""
    return subprocess.Popen([sys.executable, "-c", _OPEN.format(port=port)], cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_refused_address_fails_fast_naming_it():
    port = _free_port()                      # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(InstrumentConnectionError) as info:
        open_adapter(f"TCPIP0::127.0.0.1::{port}::SOCKET", "@py", "Keysight81160A", "pulse",
                     BusCounter(), configured_address="GPIB0::10::INSTR")
    assert time.monotonic() - t0 < 2.0      # was: forever, at 100 % CPU
    message = str(info.value)
    assert f"127.0.0.1::{port}" in message and "running and listening" in message


def test_the_first_ctrl_c_stops_a_run_waiting_on_a_silent_address():
    with socket.socket() as listener:        # accepts, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        proc = _open_in_subprocess(listener.getsockname()[1])
        try:
            listener.settimeout(30)
            conn, _ = listener.accept()      # it is waiting on *IDN?
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            t0 = time.monotonic()
            _out, err = proc.communicate(timeout=5)
            stopped_s = time.monotonic() - t0
            conn.close()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert stopped_s < 2.0


def test_the_cli_names_an_unreachable_address_in_one_line_and_exits_2(capsys, tmp_path):
    """A wrong VISA address is bad input: one line naming it, exit 2, in seconds."""
    from procedures.cli import main

    port = _free_port()
    started = time.monotonic()
    rc = main(["switching", "--device", "S0", "--backend", "visa", "--visa-library", "@py",
               "--address", f"GPIB0::10::INSTR=TCPIP0::127.0.0.1::{port}::SOCKET",
               "--no-progress", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert time.monotonic() - started < 10
    assert f"127.0.0.1::{port}" in err and err.count("\n") == 1 and "Traceback" not in err
