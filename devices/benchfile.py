"""The bench file: one TOML file that says what is connected to what on a bench.

It names the instruments (VISA address -> model and role), the chips and their device
groups (size label, count, which 7709 card/slot), the wiring, the per-size safety limits,
and, for the simulated bench, the physics (variability, material overrides, seed).

The format sits in ``devices``, under both the drivers and the simulator: a real lab with no
simulation reads it through the drivers, the simulated bench reads the same file for the
physics, and neither reaches into the other.

Errors name the key and the line: ``BenchFileError: bench.toml line 42: [limits.S]
max_pulse_voltage_V must be a positive number, got -1``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from devices import kinds

KNOWN_MODELS = ("Keysight81160A", "Keithley2450", "Keithley2400", "Keithley2750", "KepcoBOP")
ROLES = ("pulse", "read_smu", "aux_smu", "switch", "magnet")


class BenchFileError(ValueError):
    """A bench file that cannot be used, with the file, line and key that are wrong."""


class _Locator:
    """Finds the line of a dotted key in TOML text, so errors can point at it."""

    _header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _assign = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")

    def __init__(self, text: str):
        self._lines: dict[str, int] = {}
        table = ""
        counts: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if m := self._header.match(line):
                name = m.group(1)
                if line.lstrip().startswith("[["):
                    counts[name] = counts.get(name, -1) + 1
                    table = f"{name}[{counts[name]}]"
                    # nested arrays of tables ([[chip.group]]) belong to the latest parent
                    parent = name.rsplit(".", 1)[0] if "." in name else None
                    if parent is not None and parent in counts:
                        child = name.rsplit(".", 1)[1]
                        key = f"{parent}[{counts[parent]}].{child}"
                        counts[key] = counts.get(key, -1) + 1
                        table = f"{key}[{counts[key]}]"
                else:
                    table = name
                self._lines.setdefault(table, number)
            elif m := self._assign.match(line):
                key = m.group(1).strip("\"'")
                self._lines.setdefault(f"{table}.{key}" if table else key, number)

    def line(self, path: str) -> int | None:
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return None


@dataclass(frozen=True)
class InstrumentEntry:
    address: str
    model: str
    role: str


@dataclass(frozen=True)
class SafetyLimits:
    """What may be applied to one device size. Every value is a hard ceiling."""

    max_pulse_voltage_V: float
    max_current_density_A_m2: float
    max_pulse_width_s: float
    max_compliance_V: float
    max_read_current_A: float
    max_field_T: float
    # to turn a pulse voltage into a worst-case current density in the write line:
    line_cross_section_m2: float
    min_line_resistance_ohm: float
    min_pulse_width_s: float = 1.5e-9


@dataclass(frozen=True)
class DeviceGroup:
    """Devices of one size on one chip, wired to one 7709 card (slot)."""

    chip: str
    size: str
    kind: str
    count: int
    slot: int
    width_m: float
    params: dict[str, Any] = field(default_factory=dict)  # material overrides (simulation)


@dataclass(frozen=True)
class DeviceAddress:
    """Where a device sits: chip, size, index within its group, and its switch channels."""

    chip: str
    size: str
    index: int
    slot: int
    column: int

    @property
    def name(self) -> str:
        return f"{self.chip}/{self.size}{self.index}"

    def channel(self, row: int) -> int:
        """7709 channel number SRCC: slot, row, two-digit column."""
        return self.slot * 1000 + row * 100 + self.column


@dataclass(frozen=True)
class Wiring:
    pulse_channel: int = 1
    source_impedance_ohm: float = 50.0
    pulse_row: int = 1
    read_row: int = 2
    aux_row: int = 3          # 7709 row of the aux SMU (Keithley 2400): the second read path
    magnet_T_per_A: float = 0.005
    magnet_axis: str = "x"
    trigger_link: bool = True


@dataclass(frozen=True)
class BenchFile:
    """A validated bench file. Plain data: serializable, no global state."""

    name: str
    seed: int
    instruments: tuple[InstrumentEntry, ...]
    wiring: Wiring
    groups: tuple[DeviceGroup, ...]
    limits: dict[str, SafetyLimits]
    variability: dict[str, float]
    source: str = "<dict>"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def address_of(self, role: str) -> str:
        for entry in self.instruments:
            if entry.role == role:
                return entry.address
        raise BenchFileError(
            f"{self.source}: no instrument has role {role!r}; add an [[instrument]] entry "
            f"with role = {role!r} (roles present: {[i.role for i in self.instruments]})"
        )

    def devices(self) -> list[DeviceAddress]:
        out = []
        for group in self.groups:
            for index in range(group.count):
                out.append(DeviceAddress(group.chip, group.size, index, group.slot, index + 1))
        return out

    def device(self, name: str) -> DeviceAddress:
        """Look up a device by ``chip/S3``, ``S3`` (first chip) or a DeviceAddress."""
        if isinstance(name, DeviceAddress):
            return name
        devices = self.devices()
        for dev in devices:
            if name in (dev.name, f"{dev.size}{dev.index}") and (
                "/" in name or dev.chip == devices[0].chip
            ):
                return dev
        raise KeyError(
            f"unknown device {name!r} on bench {self.name!r}; devices are named like "
            f"{devices[0].name!r} or {devices[0].size}{devices[0].index!s} "
            f"(sizes: {sorted({d.size for d in devices})}, indices 0..{max(g.count for g in self.groups) - 1})"
        )

    def group_of(self, device: DeviceAddress) -> DeviceGroup:
        for group in self.groups:
            if group.chip == device.chip and group.size == device.size:
                return group
        raise KeyError(device)

    def limits_for(self, device: DeviceAddress | str) -> SafetyLimits:
        device = self.device(device) if isinstance(device, str) else device
        return self.limits[device.size]


def _positive(value, where, err):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise err(where, f"must be a positive number, got {value!r}")
    return float(value)


def parse_bench(data: dict[str, Any], text: str = "", source: str = "<dict>") -> BenchFile:
    """Validate a bench configuration (the parsed TOML, or an equivalent dict)."""
    locator = _Locator(text)

    def err(path: str, message: str) -> BenchFileError:
        line = locator.line(path)
        where = f"{source} line {line}" if line else source
        return BenchFileError(f"{where}: {path} {message}")

    known_top = {"name", "seed", "instrument", "wiring", "variability", "chip", "limits"}
    for key in data:
        if key not in known_top:
            raise err(key, f"is not a bench-file key (expected one of {sorted(known_top)})")

    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise err("seed", f"must be a non-negative integer, got {seed!r}")

    instruments = []
    entries = data.get("instrument", [])
    if not isinstance(entries, list) or not entries:
        raise err("instrument", "must list at least one [[instrument]] table")
    for i, entry in enumerate(entries):
        path = f"instrument[{i}]"
        for key in ("address", "model", "role"):
            if key not in entry:
                raise err(path, f"is missing {key!r}")
        if entry["model"] not in KNOWN_MODELS:
            raise err(f"{path}.model", f"{entry['model']!r} is not a supported model {KNOWN_MODELS}")
        if entry["role"] not in ROLES:
            raise err(f"{path}.role", f"{entry['role']!r} is not one of {ROLES}")
        instruments.append(InstrumentEntry(str(entry["address"]), entry["model"], entry["role"]))
    addresses = [i.address for i in instruments]
    if len(set(addresses)) != len(addresses):
        raise err("instrument", f"repeats an address: {addresses}")

    wiring_data = dict(data.get("wiring", {}))
    fields = {f.name: f for f in dataclasses.fields(Wiring)}
    for key, value in wiring_data.items():
        if key not in fields:
            raise err(f"wiring.{key}", f"is not a wiring key (expected one of {sorted(fields)})")
        default = fields[key].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise err(f"wiring.{key}", f"must be true or false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            _positive(value, f"wiring.{key}", err)
    wiring = Wiring(**wiring_data)
    if wiring.magnet_axis not in ("x", "z"):
        raise err("wiring.magnet_axis", f"must be 'x' or 'z', got {wiring.magnet_axis!r}")

    variability = {}
    for key, value in data.get("variability", {}).items():
        if key not in kinds.spread_names():
            raise err(f"variability.{key}", f"is not a spread any device kind draws; known: "
                                            f"{', '.join(kinds.spread_names())}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise err(f"variability.{key}", f"must be a relative sigma in [0, 1), got {value!r}")
        variability[key] = float(value)

    groups = []
    chips = data.get("chip", [])
    if not isinstance(chips, list) or not chips:
        raise err("chip", "must list at least one [[chip]] with [[chip.group]] tables")
    slots: set[int] = set()
    for c, chip in enumerate(chips):
        cpath = f"chip[{c}]"
        name = chip.get("name", f"chip{c + 1}")
        for g, group in enumerate(chip.get("group", [])):
            gpath = f"{cpath}.group[{g}]"
            for key in ("size", "kind", "count", "slot", "width_m"):
                if key not in group:
                    raise err(gpath, f"is missing {key!r}")
            if group["kind"] not in kinds.names():
                raise err(f"{gpath}.kind", f"{group['kind']!r} is not one of {kinds.names()} "
                                           f"(the device kinds of devices/kinds/)")
            count, slot = group["count"], group["slot"]
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 8:
                raise err(f"{gpath}.count", f"must be an integer 1..8 (a 7709 card has 8 columns), got {count!r}")
            if isinstance(slot, bool) or not isinstance(slot, int) or not 1 <= slot <= 5:
                raise err(f"{gpath}.slot", f"must be a card slot 1..5, got {slot!r}")
            if slot in slots:
                raise err(f"{gpath}.slot", f"slot {slot} is already used by another group")
            slots.add(slot)
            width = _positive(group["width_m"], f"{gpath}.width_m", err)
            params = {k: v for k, v in group.items()
                      if k not in ("size", "kind", "count", "slot", "width_m")}
            groups.append(DeviceGroup(name, str(group["size"]), group["kind"], count, slot,
                                      width, params))
        if not chip.get("group"):
            raise err(cpath, "has no [[chip.group]] tables")

    limits = {}
    limit_fields = {f.name for f in dataclasses.fields(SafetyLimits)}
    required = {f.name for f in dataclasses.fields(SafetyLimits)
                if f.default is dataclasses.MISSING}
    for size, table in data.get("limits", {}).items():
        for key in table:
            if key not in limit_fields:
                raise err(f"limits.{size}.{key}",
                          f"is not a safety limit (expected one of {sorted(limit_fields)})")
        missing = required - set(table)
        if missing:
            raise err(f"limits.{size}", f"is missing {sorted(missing)}")
        limits[size] = SafetyLimits(**{k: _positive(v, f"limits.{size}.{k}", err)
                                       for k, v in table.items()})
    for group in groups:
        if group.size not in limits:
            raise err("limits", f"has no [limits.{group.size}] table for device size "
                                f"{group.size!r}; every size needs its safety limits")

    return BenchFile(
        name=str(data.get("name", Path(source).stem)),
        seed=seed,
        instruments=tuple(instruments),
        wiring=wiring,
        groups=tuple(groups),
        limits=limits,
        variability=variability,
        source=source,
        raw=data,
    )


def default_bench_text() -> str:
    return resources.files("devices").joinpath("default_bench.toml").read_text()


def load_bench_file(path: str | Path | None = None) -> BenchFile:
    """Load and validate a bench file; ``None`` loads the built-in default bench."""
    if path is None:
        text, source = default_bench_text(), "default_bench.toml"
    else:
        source = str(path)
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise BenchFileError(f"bench file {source!r} does not exist") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchFileError(f"{source}: not valid TOML: {exc}") from None
    return parse_bench(data, text, source)


def as_bench_file(config: BenchFile | str | Path | dict | None) -> BenchFile:
    """Accept what a user or a Ray task would pass: a BenchFile, a path, a dict or None."""
    if isinstance(config, BenchFile):
        return config
    if isinstance(config, dict):
        return parse_bench(config)
    return load_bench_file(config)
