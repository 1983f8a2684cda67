"""``hil demo``: the whole pipeline on the default simulated bench, in a few minutes.

1. Characterize the chip: every device through the switch matrix, batched write-read
   trials through the real pyvisa path, Neel-Brown and logistic fits, a calibration file.
2. Learn with the devices in the loop: software baseline, ideal stochastic neurons,
   ex-situ deployment and in-situ training, per device size, low and high D2D variability.
3. Print the results table (and where the CSVs, plots and reports are).
"""

from __future__ import annotations

import time
from pathlib import Path

# The demo's budget: enough trials and seeds for honest numbers, small enough for 2 cores.
DEMO_SURVEY = {"trials": 64, "points": 16}
QUICK_SURVEY = {"trials": 24, "points": 10}
QUICK_TRAINING = {"epochs": 2, "seeds": [0], "hidden": 32}


def run_demo(args) -> int:
    from hil import report
    from hil.config import DEMO_CONFIG
    from hil.experiment import run_experiment
    from procedures.session import open_bench
    from procedures.variability import survey_chip

    # a fresh folder per run: a demo never overwrites (or refuses to overwrite) earlier results
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    survey_settings = QUICK_SURVEY if args.quick else DEMO_SURVEY
    training_settings = QUICK_TRAINING if args.quick else {
        k: v for k, v in DEMO_CONFIG.items() if k != "out_dir"}
    started = time.perf_counter()

    print("== 1/2  characterizing the default simulated chip (3 sizes x 8 devices)")
    with open_bench(None) as bench:
        survey_chip(bench, out / "characterization", **survey_settings)
    print(f"   files in {out / 'characterization'}")

    print("\n== 2/2  training with the devices in the loop (8x8 digits)")
    config = {
        **training_settings,
        "calibration": "fit",
        "out_dir": str(out / "training"),
        "progress": True,
    }
    result = run_experiment(config)
    print()
    print(report.format_table(result))
    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s; results in {out.resolve()}")
    return 0
