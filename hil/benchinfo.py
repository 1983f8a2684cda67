"""``hil bench show``: a bench file as a person reads it, with the simulated truth.

The true parameters printed here are what the simulated bench drew for each device; fits
made by the characterization procedures are checked against them.
"""

from __future__ import annotations

from devices.benchfile import as_bench_file
from simulated_bench.bench import SimulatedBench
from simulated_bench.kinds import REFERENCE_WIDTH_S, truth

__all__ = ["REFERENCE_WIDTH_S", "describe_bench"]


def describe_bench(config=None) -> str:
    bench_file = as_bench_file(config)
    bench = SimulatedBench(bench_file)
    w = bench_file.wiring
    lines = [f"bench {bench_file.name!r}  (seed {bench_file.seed}, from {bench_file.source})", "",
             "instruments:"]
    for entry in bench_file.instruments:
        idn = bench.instruments[entry.address].IDN
        lines.append(f"  {entry.address:<18} {entry.model:<15} {entry.role:<9} {idn}")
    lines += [
        "",
        "wiring:",
        f"  pulse generator channel {w.pulse_channel} ({w.source_impedance_ohm:g} ohm) -> 7709 row {w.pulse_row}",
        f"  read SMU -> 7709 row {w.read_row}; channel SRCC = slot, row, column",
        f"  aux SMU -> 7709 row {w.aux_row}" + (f"; ground -> 7709 row {w.ground_row}"
                                               if w.ground_row else ""),
        *[f"  crossbar {g.chip}/{g.size}: {g.count} row lines on card {g.slot} (columns "
          f"1-{g.count}), {g.columns} column lines on card {g.column_slot}; junction r,c = "
          f"{g.size}<r*{g.columns}+c>" for g in bench_file.groups if g.columns],
        f"  magnet: field = {w.magnet_T_per_A * 1e3:g} mT/A x current, axis {w.magnet_axis}",
        f"  trigger link (read SMU digital out -> pulse generator trigger in): {w.trigger_link}",
        f"  variability: {bench_file.variability}",
    ]
    lines += _device_tables(bench_file, bench)
    lines += ["", "safety limits:"]
    for size, limits in bench_file.limits.items():
        lines.append(f"  {size}: " + ", ".join(f"{k}={v:g}" for k, v in vars(limits).items()))
    return "\n".join(lines)


def _device_tables(bench_file, bench) -> list[str]:
    """One table per device kind, its columns and notes from the kind's truth module
    (``describe``, ``DESCRIBE_NOTE``): a new kind brings its own columns."""
    w = bench_file.wiring
    by_kind: dict[str, list] = {}
    for address in bench_file.devices():
        chip, i = bench.device(address.name)
        by_kind.setdefault(chip.kind[i], []).append((address, chip, i))
    lines = []
    for kind, devices in by_kind.items():
        module = truth(kind)
        kind_width = max(13, len(kind))
        columns = module.describe(devices[0][1], devices[0][2])
        lines += ["", f"devices of kind {kind} (true parameters):",
                  f"  {'device':<12} {'kind':<{kind_width}} {'pulse ch':>8} {'read ch':>7} "
                  + " ".join(f"{title:>{width}}" for title, width, _ in columns)]
        for address, chip, i in devices:
            lines.append(f"  {address.name:<12} {kind:<{kind_width}} {address.channel(w.pulse_row):>8} "
                         f"{address.channel(w.read_row):>7} "
                         + " ".join(f"{text:>{width}}" for _, width, text in module.describe(chip, i)))
        lines += list(module.DESCRIBE_NOTE)
    return lines
