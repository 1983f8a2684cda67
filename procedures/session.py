"""Opening a bench for a procedure, and the per-device facts the procedures need.

This is the one place where the procedures choose a VISA library: ``backend="sim"`` builds
the simulated bench's pyvisa library from the bench file (the default: no hardware needed;
found by pyvisa's backend name ``spinhil``, so nothing here imports the simulator),
``backend="visa"`` uses the system VISA (a real lab; ``"@py"`` for pyvisa-py). Everything
else in ``procedures`` talks to :class:`drivers.bench.Bench` only, so the simulated and the
real bench run the same code path.

Write current: the pulse generator's open-circuit EMF over the 50 ohm source impedance plus
the device's two-terminal line resistance, ``I = EMF / (R_source + R_line)``
(:func:`drivers.limits.write_current_A`, and its inverse ``level_for_current_V``); the current
density divides by the write line's cross-section (from the bench file's safety limits).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from drivers import limits as limits_mod
from devices.benchfile import BenchFile, DeviceAddress, SafetyLimits, as_bench_file

BACKENDS = ("sim", "visa")
#: pyvisa's name of the simulated bench's VISA library (``ResourceManager("@spinhil")``)
SIM_BACKEND = "spinhil"


class ParameterError(ValueError):
    """A procedure parameter that cannot run; raised before anything is sent to the bench."""


def load_bench(bench: BenchFile | str | Path | dict | None) -> BenchFile:
    """The bench file of a run: a BenchFile, a path, a dict, or None / "" for the default."""
    if isinstance(bench, str) and bench.strip() in ("", "default"):
        bench = None
    return as_bench_file(bench)


def visa_library_for(bench_file: BenchFile, backend: str = "sim", visa_library=None):
    """The VISA library a bench is opened with (the single simulated/real switch).

    ``visa_library`` overrides: a pyvisa library name such as ``"@py"`` (pyvisa-py: LAN
    instruments, or the simulated instruments behind ``hil serve``) or a library object.
    """
    if visa_library is not None:
        return visa_library
    if backend == "sim":
        return simulated_library(bench_file)
    if backend == "visa":
        return ""
    raise ParameterError(f"backend {backend!r} is not one of {BACKENDS}: use 'sim' for the "
                         f"simulated bench or 'visa' for real instruments")


def simulated_library(bench_file: BenchFile):
    """A simulated bench of its own for this run, fresh from the bench file's seed.

    Found by name, through pyvisa's backend door (``pyvisa_spinhil``, as ``@spinhil``), so
    the procedures never import the simulator. Not ``"@spinhil"`` itself: that name gives
    one bench shared by the whole process, and two surveys in a row must start alike.
    """
    from pyvisa.highlevel import get_wrapper_class

    try:
        backend = get_wrapper_class(SIM_BACKEND)
    except ValueError:
        raise ParameterError(f"backend 'sim' needs pyvisa's '@{SIM_BACKEND}' backend (the "
                             f"pyvisa_spinhil package of spin-hil), which is not importable: "
                             f"reinstall spin-hil (pip install -e .)") from None
    return backend.private(bench_file)


@contextlib.contextmanager
def open_bench(bench_path: BenchFile | str | Path | dict | None = None, backend: str = "sim",
               visa_library=None, addresses: dict[str, str] | None = None):
    """``with open_bench() as bench:`` a :class:`drivers.bench.Bench`, outputs off on exit.

    ``addresses`` maps a bench-file address to the VISA resource that reaches it, e.g.
    ``{"GPIB0::10::INSTR": "TCPIP0::127.0.0.1::5025::SOCKET"}`` (``hil serve`` prints them).
    """
    from drivers.bench import Bench

    bench_file = load_bench(bench_path)
    if addresses and visa_library is None and backend == "sim":
        raise ParameterError("addresses map the bench to other VISA resources: use them with "
                             "backend 'visa' (and visa_library '@py' for TCPIP sockets)")
    library = visa_library_for(bench_file, backend, visa_library)
    with Bench.open(bench_file=bench_file, visa_library=library,
                    addresses=dict(addresses or {})) as bench:
        yield bench


def parse_addresses(items) -> dict[str, str]:
    """``["GPIB0::10::INSTR=TCPIP0::127.0.0.1::5025::SOCKET", ...]`` -> a mapping."""
    out = {}
    for item in items or ():
        configured, sep, resource = str(item).partition("=")
        if not sep or not configured.strip() or not resource.strip():
            raise ParameterError(f"--address {item!r} must read BENCH_ADDRESS=VISA_RESOURCE, e.g. "
                                 f"GPIB0::10::INSTR=TCPIP0::127.0.0.1::5025::SOCKET")
        out[configured.strip()] = resource.strip()
    return out


@dataclass(frozen=True)
class DeviceFacts:
    """What the procedures need to know about one device, from the bench file alone."""

    name: str
    size: str
    chip: str
    address: DeviceAddress
    limits: SafetyLimits
    source_impedance_ohm: float
    max_level_V: float           # largest pulse level the safety limits allow

    def emf_V(self, level_V):
        return limits_mod.emf_V(level_V, self.source_impedance_ohm)

    def current_A(self, level_V, line_resistance_ohm: float):
        """Write current of a pulse of programmed level ``level_V`` (signed, A)."""
        return limits_mod.write_current_A(level_V, self.source_impedance_ohm, line_resistance_ohm)

    def level_for_current_V(self, current_A, line_resistance_ohm: float):
        """Programmed level (signed, V) for a write current ``current_A``."""
        return limits_mod.level_for_current_V(current_A, self.source_impedance_ohm,
                                              line_resistance_ohm)

    def current_density_A_m2(self, current_A):
        return current_A / self.limits.line_cross_section_m2


def device_facts(bench_file: BenchFile, device: str | DeviceAddress) -> DeviceFacts:
    """Facts of a device; an unknown name raises ParameterError listing how names look."""
    try:
        address = bench_file.device(device)
    except KeyError as exc:
        raise ParameterError(str(exc.args[0]) if exc.args else f"unknown device {device!r}") from None
    lim = bench_file.limits_for(address)
    source = bench_file.wiring.source_impedance_ohm
    return DeviceFacts(address.name, address.size, address.chip, address, lim, source,
                       limits_mod.max_pulse_level_V(lim, source))


def select_devices(bench_file: BenchFile, devices: str = "all") -> list[DeviceFacts]:
    """``"all"``, a size list ``"S,L"``, or device names ``"chip1/S0,S1"``."""
    spec = [s.strip() for s in str(devices or "all").split(",") if s.strip()]
    every = bench_file.devices()
    sizes = {d.size for d in every}
    if spec in ([], ["all"]):
        return [device_facts(bench_file, d) for d in every]
    out: list[DeviceFacts] = []
    for item in spec:
        if item in sizes:
            out += [device_facts(bench_file, d) for d in every if d.size == item]
        else:
            out.append(device_facts(bench_file, item))
    seen, unique = set(), []
    for facts in out:
        if facts.name not in seen:
            seen.add(facts.name)
            unique.append(facts)
    return unique


__all__ = ["BACKENDS", "DeviceFacts", "ParameterError", "device_facts", "load_bench",
           "open_bench", "parse_addresses", "select_devices", "visa_library_for"]
