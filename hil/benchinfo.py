"""``hil bench show``: a bench file as a person reads it, with the simulated truth.

The true parameters printed here are what the simulated bench drew for each device; fits
made by the characterization procedures are checked against them.
"""

from __future__ import annotations

from devices.benchfile import as_bench_file
from devices.laws import neel_brown
from simulated_bench.bench import SimulatedBench

REFERENCE_WIDTH_S = 10e-9


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
        f"  magnet: field = {w.magnet_T_per_A * 1e3:g} mT/A x current, axis {w.magnet_axis}",
        f"  trigger link (read SMU digital out -> pulse generator trigger in): {w.trigger_link}",
        f"  variability: {bench_file.variability}",
        "",
        f"devices (true parameters; I50 at {REFERENCE_WIDTH_S * 1e9:g} ns):",
        (f"  {'device':<12} {'kind':<13} {'pulse ch':>8} {'read ch':>7} {'width':>8} "
         f"{'Delta':>6} {'Ic0 uA':>8} {'I50 uA':>8} {'domains':>7} {'R_line':>8} "
         f"{'R_off|R_P':>9} {'R_AHE|TMR':>9} {'Hk mT':>6}"),
    ]
    for address in bench_file.devices():
        chip, i = bench.device(address.name)
        i50 = neel_brown.current_for_probability(0.5, REFERENCE_WIDTH_S, chip.ic0_A[i], chip.delta[i],
                                              chip.tau0_s[i], chip.exponent[i])
        lines.append(
            f"  {address.name:<12} {chip.kind[i]:<13} {address.channel(w.pulse_row):>8} "
            f"{address.channel(w.read_row):>7} {chip.width_m[i] * 1e9:>6.0f}nm {chip.delta[i]:>6.1f} "
            f"{chip.ic0_A[i] * 1e6:>8.2f} {float(i50) * 1e6:>8.2f} {int(chip.n_domains[i]):>7} "
            f"{chip.line_resistance_ohm[i]:>8.0f} {chip.r_offset_ohm[i]:>9.6g} "
            f"{chip.r_ahe_ohm[i]:>9.3f} {chip.hk_T[i] * 1e3:>6.1f}")
    lines += [("  (R_line: write line, for an MTJ the leads in series with the junction; "
               "R_off|R_P: Hall offset of a bar, R_P of a junction;"),
              "   R_AHE|TMR: AHE step in ohm of a bar, zero-bias TMR of a junction; Hk = 2 Ku / Ms)"]
    lines += ["", "safety limits:"]
    for size, limits in bench_file.limits.items():
        lines.append(f"  {size}: " + ", ".join(f"{k}={v:g}" for k, v in vars(limits).items()))
    return "\n".join(lines)
