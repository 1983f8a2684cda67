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
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from pyvisa import rname

from devices import kinds
from devices import nonideal as nonideal_table
from devices.benchschema import Flag, Integer, Number, Table, Tables, Text, check_table

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

    def __post_init__(self):
        # an inf ceiling passes every value: it would switch its check off
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value < math.inf:
                raise BenchFileError(f"safety limit {item.name} must be a finite positive "
                                     f"number, got {value!r}")
        if not self.min_pulse_width_s <= self.max_pulse_width_s:
            raise BenchFileError(f"safety limit min_pulse_width_s {self.min_pulse_width_s:g} s "
                                 f"is over max_pulse_width_s {self.max_pulse_width_s:g} s")


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
    #: a crossbar group: ``count`` row lines on card ``slot``, ``columns`` column lines on
    #: card ``column_slot``, one junction per crossing (0 / 0: one device per card column)
    columns: int = 0
    column_slot: int = 0

    @property
    def device_count(self) -> int:
        """Its devices: ``count``, or rows x columns junctions for a crossbar."""
        return self.count * self.columns if self.columns else self.count


@dataclass(frozen=True)
class DeviceAddress:
    """Where a device sits: chip, size, index within its group, and its switch channels."""

    chip: str
    size: str
    index: int
    slot: int
    column: int
    #: a crossbar junction's column line: its card slot and card column (0: not a crossbar;
    #: then ``slot`` / ``column`` are its row line's)
    column_slot: int = 0
    column_line: int = 0

    @property
    def name(self) -> str:
        return f"{self.chip}/{self.size}{self.index}"

    def channel(self, row: int) -> int:
        """7709 channel number SRCC: slot, row, two-digit column."""
        return self.slot * 1000 + row * 100 + self.column

    def column_channel(self, row: int) -> int:
        """A crossbar junction's column-line channel SRCC on matrix row ``row``."""
        return self.column_slot * 1000 + row * 100 + self.column_line


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
    #: the read SMU's digital I/O line that the pulse generator's Trigger Out drives (0: not
    #: wired); wired, one generator message plays every level of a batch
    generator_trigger_line: int = 0
    #: a 7709 row tied to ground (a shorting plug on the card's row): a crossbar's unselected
    #: and write-return lines go there (0: none)
    ground_row: int = 0


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
    #: each switch kind's non-idealities, resolved (devices.nonideal); all off by default
    nonideal: dict[str, dict] = field(default_factory=lambda: nonideal_table.parse({}, None))

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
            if group.columns:       # a crossbar: junction r * columns + c, row-major
                out += [DeviceAddress(group.chip, group.size, r * group.columns + c, group.slot,
                                      r + 1, group.column_slot, c + 1)
                        for r in range(group.count) for c in range(group.columns)]
                continue
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
            f"(sizes: {sorted({d.size for d in devices})}, indices 0..{max(g.device_count for g in self.groups) - 1})"
        )

    def group_of(self, device: DeviceAddress) -> DeviceGroup:
        for group in self.groups:
            if group.chip == device.chip and group.size == device.size:
                return group
        raise KeyError(device)

    def limits_for(self, device: DeviceAddress | str) -> SafetyLimits:
        device = self.device(device) if isinstance(device, str) else device
        return self.limits[device.size]


#: the role each driver class plays, and the models the drivers have that role class for
MODEL_ROLES = {"pulse": ("Keysight81160A",), "read_smu": ("Keithley2450",),
               "aux_smu": ("Keithley2400",), "switch": ("Keithley2750",), "magnet": ("KepcoBOP",)}

_NAME = r"[A-Za-z][A-Za-z0-9_.-]*"
# a size label ends in a letter, so that "S1" + index 0 never reads as size "S", index 10
_SIZE = r"[A-Za-z]([A-Za-z0-9_-]*[A-Za-z_])?"

TOP_SCHEMA = {
    "name": Text(pattern=_NAME, what="a name (letters, digits, _ . -)", default=None),
    "seed": Integer(0, 2**63 - 1, default=0),
    "instrument": Tables("a list of [[instrument]] tables"),
    "wiring": Table("a [wiring] table"),
    "variability": Table("a [variability] table of D2D spreads"),
    # required, but checked after the instruments (the file's order)
    "chip": Tables("a list of [[chip]] tables, each with [[chip.group]] tables", required=False),
    "limits": Table("a [limits.<size>] table per device size"),
    "nonideal": Table("a [nonideal] table (preset and per-item overrides; devices/nonideal.py)"),
}
INSTRUMENT_SCHEMA = {
    "address": Text(what="a VISA resource name such as 'GPIB0::18::INSTR'"),
    "model": Text(choices=KNOWN_MODELS),
    "role": Text(choices=ROLES),
}
WIRING_SCHEMA = {
    "pulse_channel": Integer(1, 2, "the 81160A has output channels 1 and 2", default=1),
    "source_impedance_ohm": Number(0.0, 1e3, "ohm", open_low=True, default=50.0),
    "pulse_row": Integer(1, 6, "a 7709 card has rows 1-6", default=1),
    "read_row": Integer(1, 6, "a 7709 card has rows 1-6", default=2),
    "aux_row": Integer(1, 6, "a 7709 card has rows 1-6", default=3),
    "magnet_T_per_A": Number(0.0, 1.0, "T/A", open_low=True, default=0.005),
    "magnet_axis": Text(choices=("x", "z"), default="x"),
    "trigger_link": Flag(default=True),
    "generator_trigger_line": Integer(0, 6, "the 2450's digital I/O lines are 1-6 (0: not "
                                            "wired)", default=0),
    "ground_row": Integer(0, 6, "a 7709 card has rows 1-6 (0: no ground row)", default=0),
}
CHIP_SCHEMA = {
    "name": Text(pattern=_NAME, what="a chip name (letters, digits, _ . -; no '/')",
                 default=None),
    "group": Tables("a list of [[chip.group]] tables (one per device size)"),
}
GROUP_SCHEMA = {
    "size": Text(pattern=_SIZE, what="a size label (letters, digits, _ -; starting and ending "
                                     "with a letter, e.g. 'S' or 'L2x')"),
    "kind": Text(choices=kinds.names()),
    "count": Integer(1, 8, "a 7709 card has 8 columns"),
    "slot": Integer(1, 5, "a 2750 has card slots 1..5"),
    "width_m": Number(0.0, 1e-3, "m", open_low=True),
    # a crossbar kind's column lines (its row lines: count on slot)
    "columns": Integer(0, 8, "a crossbar's column lines fill at most one 7709 card", default=0),
    "column_slot": Integer(0, 5, "a 2750 has card slots 1..5 (0: not a crossbar)", default=0),
}
# ceilings a lab could mean; a typo (a missing exponent) or inf is refused
LIMITS_SCHEMA = {
    "max_pulse_voltage_V": Number(0.0, 20.0, "V", open_low=True),
    "max_current_density_A_m2": Number(0.0, 1e13, "A/m^2", open_low=True),
    "max_pulse_width_s": Number(0.0, 1.0, "s", open_low=True),
    "max_compliance_V": Number(0.0, 200.0, "V", open_low=True),
    "max_read_current_A": Number(0.0, 1.0, "A", open_low=True),
    "max_field_T": Number(0.0, 10.0, "T", open_low=True),
    "line_cross_section_m2": Number(0.0, 1e-6, "m^2", open_low=True),
    "min_line_resistance_ohm": Number(0.0, 1e9, "ohm", open_low=True),
    "min_pulse_width_s": Number(0.0, 1.0, "s", open_low=True, default=1.5e-9),
}
_SPREAD = Number(0.0, 1.0, "(relative sigma)")


def _check_address(address: str) -> str | None:
    try:
        parsed = rname.parse_resource_name(address)
    except rname.InvalidResourceName as exc:
        return f"is not a VISA resource name: {exc}"
    primary = getattr(parsed, "primary_address", None)
    if primary is not None and not (primary.isdigit() and 0 <= int(primary) <= 30):
        return f"{address!r} has GPIB primary address {primary}; GPIB addresses are 0..30"
    return None


def parse_bench(data: dict[str, Any], text: str = "", source: str = "<dict>") -> BenchFile:
    """Validate a bench configuration (the parsed TOML, or an equivalent dict): every key
    known, every value of its type and in its range, and the relations between them."""
    locator = _Locator(text)

    def err(path: str, message: str) -> BenchFileError:
        line = locator.line(path)
        where = f"{source} line {line}" if line else source
        return BenchFileError(f"{where}: {path} {message}")

    top = check_table(data, TOP_SCHEMA, "", err, "bench-file key")

    instruments = []
    played: dict[str, str] = {}
    seen: dict[str, str] = {}
    for i, entry in enumerate(top["instrument"]):
        path = f"instrument[{i}]"
        entry = check_table(entry, INSTRUMENT_SCHEMA, path, err, "instrument key")
        address, model, role = entry["address"], entry["model"], entry["role"]
        if problem := _check_address(address):
            raise err(f"{path}.address", problem)
        if address in seen:
            raise err(f"{path}.address", f"{address!r} is already the address of {seen[address]}")
        if role in played:
            raise err(f"{path}.role", f"{role!r} is already played by {played[role]}; a bench "
                                      f"has one instrument per role (roles: {', '.join(ROLES)})")
        if model not in MODEL_ROLES[role]:
            raise err(f"{path}.model", f"{model} cannot play {role!r}: the drivers drive that role "
                                      f"with {', '.join(MODEL_ROLES[role])}")
        seen[address] = played[role] = f"{path} ({model} at {address})"
        instruments.append(InstrumentEntry(address, model, role))

    wiring = Wiring(**check_table(top["wiring"], WIRING_SCHEMA, "wiring", err, "wiring key"))
    rows = {"pulse_row": wiring.pulse_row, "read_row": wiring.read_row, "aux_row": wiring.aux_row}
    if wiring.ground_row:
        rows["ground_row"] = wiring.ground_row
    for n, (key, row) in enumerate(rows.items()):   # named on the later key of a clash
        other = next((k for k, r in list(rows.items())[:n] if r == row), None)
        if other is not None:
            raise err(f"wiring.{key}", f"is row {row}, the same 7709 row as wiring.{other}: each "
                                       f"path needs its own row")

    spreads = {name: _SPREAD for name in kinds.spread_names()}
    variability = dict(check_table(top["variability"], {}, "variability", err,
                                   "spread any device kind draws", extra=spreads))
    for key, value in variability.items():
        if not value < 1:
            raise err(f"variability.{key}", f"must be a relative sigma in [0, 1), got {value!r}")

    if not top["chip"]:
        raise err("chip", f"is missing (it must be {TOP_SCHEMA['chip'].what})")
    groups = []
    chip_names: dict[str, str] = {}
    slots: dict[int, str] = {}
    for c, chip in enumerate(top["chip"]):
        cpath = f"chip[{c}]"
        chip = check_table(chip, CHIP_SCHEMA, cpath, err, "chip key")
        name = chip["name"] or f"chip{c + 1}"
        if name in chip_names:
            raise err(f"{cpath}.name", f"{name!r} is already the name of {chip_names[name]}")
        chip_names[name] = cpath
        sizes: dict[str, str] = {}
        for g, group in enumerate(chip["group"]):
            gpath = f"{cpath}.group[{g}]"
            kind = group.get("kind") if isinstance(group, dict) else None
            if kind is not None and kind not in kinds.names():   # before its overrides
                raise err(f"{gpath}.kind", GROUP_SCHEMA["kind"].check(kind)[1])
            extra = kinds.kind(kind).parameters if kind is not None else {}
            group = check_table(group, GROUP_SCHEMA, gpath, err,
                                f"{kind} group key (material overrides included)", extra)
            size, slot = group["size"], group["slot"]
            if size in sizes:
                raise err(f"{gpath}.size", f"{size!r} is already a size of {name} ({sizes[size]}): "
                                           f"devices would share names")
            sizes[size] = gpath
            if slot in slots:
                raise err(f"{gpath}.slot", f"slot {slot} is already used by {slots[slot]}")
            slots[slot] = gpath
            crossbar = kinds.kind(group["kind"]).element == "crossbar_synapse"
            if crossbar != bool(group["columns"]) or crossbar != bool(group["column_slot"]):
                key = "columns" if crossbar != bool(group["columns"]) else "column_slot"
                raise err(f"{gpath}.{key}", (
                    f"is needed by a {group['kind']} group (a crossbar: count row lines on slot, "
                    "columns column lines on column_slot)") if crossbar else (
                    f"is only for a crossbar kind; a {group['kind']} group has one device "
                    "per card column"))
            if group["column_slot"]:
                if group["column_slot"] in slots:
                    raise err(f"{gpath}.column_slot", f"slot {group['column_slot']} is already "
                                                      f"used by {slots[group['column_slot']]}")
                slots[group["column_slot"]] = gpath
            params = {k: v for k, v in group.items() if k not in GROUP_SCHEMA}
            groups.append(DeviceGroup(name, size, group["kind"], group["count"], slot,
                                      group["width_m"], params, group["columns"],
                                      group["column_slot"]))

    group_sizes = sorted({g.size for g in groups})
    limits = {}
    for size, table in top["limits"].items():
        if size not in group_sizes:
            raise err(f"limits.{size}", f"is not a device size of the chips (sizes: "
                                        f"{', '.join(group_sizes)})")
        values = check_table(table, LIMITS_SCHEMA, f"limits.{size}", err, "safety limit")
        if not values["min_pulse_width_s"] <= values["max_pulse_width_s"]:
            raise err(f"limits.{size}.min_pulse_width_s",
                      f"{values['min_pulse_width_s']:g} s is over max_pulse_width_s "
                      f"{values['max_pulse_width_s']:g} s")
        limits[size] = SafetyLimits(**values)
    for group in groups:
        if group.size not in limits:
            raise err("limits", f"has no [limits.{group.size}] table for device size "
                                f"{group.size!r}; every size needs its safety limits")

    drawn = {s for g in groups for s in kinds.kind(g.kind).spreads}
    for key in top["variability"]:     # a spread no kind of this bench draws would do nothing
        if key not in drawn:
            owners = [k for k in kinds.names() if key in kinds.kind(k).spreads]
            raise err(f"variability.{key}", f"is drawn by {', '.join(owners)} devices only; this "
                                            f"bench's kinds draw {', '.join(sorted(drawn)) or 'none'}"
                                            f": remove it")
    resolved_nonideal = nonideal_table.parse(top["nonideal"], err)
    if not nonideal_table.is_off(resolved_nonideal) and not any(
            g.kind in nonideal_table.KINDS for g in groups):
        # the other kinds model no drift: the table would be ignored without a word
        raise err("nonideal.preset" if "preset" in top["nonideal"] else "nonideal",
                  f"acts on {' and '.join(nonideal_table.KINDS)} devices only; this bench's "
                  f"kinds ({', '.join(sorted({g.kind for g in groups}))}) model no drift: remove "
                  f"the [nonideal] table")

    return BenchFile(
        name=top["name"] or Path(source).stem,
        seed=top["seed"],
        instruments=tuple(instruments),
        wiring=wiring,
        groups=tuple(groups),
        limits=limits,
        variability=variability,
        source=source,
        raw=data,
        nonideal=resolved_nonideal,
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
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BenchFileError(f"bench file {source!r} does not exist") from None
        except IsADirectoryError:
            raise BenchFileError(f"bench file {source!r} is a directory; give the path of a "
                                 f"bench TOML file") from None
        except UnicodeDecodeError as exc:
            raise BenchFileError(f"bench file {source!r} is not UTF-8 text (byte {exc.start}): "
                                 f"give a bench TOML file") from None
        except OSError as exc:
            raise BenchFileError(f"bench file {source!r} cannot be read ({exc.strerror})") from None
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
