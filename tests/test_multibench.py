"""hil train --benches: data-parallel in-situ training over several simulated benches in
process (the Ray actors are tests/test_sweep_ray.py's); refusals in one line; every bench's
outputs off when the run is interrupted."""

from __future__ import annotations

import json
import os
import sys

import pytest

from devices.benchfile import default_bench_text
from hil.cli import main
from hil.config import ExperimentConfig
from hil.multibench import MultiBenchError, load_jobs, run_multibench
from hil.multibench.dataparallel import MultiBenchRun
from tests.simhelpers import one_line_error

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DEFAULT_SEED = "seed = 20240503"


def bench_files(folder, seeds) -> list[str]:
    """The default bench with another chip (seed) each: benches of one lab, different chips."""
    paths = []
    for seed in seeds:
        path = folder / f"bench_{seed}.toml"
        path.write_text(default_bench_text().replace(DEFAULT_SEED, f"seed = {seed}"))
        paths.append(str(path))
    return paths


#: small and quick: 8 S devices under 16 neurons, 2 trials an answer
SMALL = dict(epochs=2, hidden=16, batch_size=32, repeats=2, eval_repeats=8, seeds=(0,),
             sizes=("S",), calibration="truth", progress=False)


def test_two_benches_reach_the_one_bench_accuracy_in_about_half_its_bench_time(tmp_path, capsys):
    paths = bench_files(tmp_path, [101, 102])
    config = ExperimentConfig(**SMALL, out_dir=str(tmp_path / "out"))
    (one,) = run_multibench(config, load_jobs(paths[:1])).runs
    # the same settings through hil train: the table, and results.json holding the run
    assert main(["train", "--benches", *paths, "--epochs", "2", "--hidden", "16",
                 "--batch-size", "32", "--repeats", "2", "--eval-repeats", "8", "--seeds", "0",
                 "--sizes", "S", "--calibration", "truth", "--no-progress",
                 "--out", str(tmp_path / "two")]) == 0
    printed = capsys.readouterr().out
    assert "in situ on 2 bench(es) (in process)" in printed and "trips/batch" in printed
    saved = json.loads((tmp_path / "two" / "results.json").read_text())
    assert saved["benches"] == paths and saved["config"]["modes"] == ["insitu"]
    two = MultiBenchRun(**saved["runs"][0])
    assert one.benches == 1 and two.benches == 2 and len(two.per_bench_acc) == 2
    # a 16-neuron network after 2 epochs (~70-80 % over seeds 0-2, one bench or two): far
    # above chance (10 %), two benches within the seed spread of one
    assert one.test_acc > 0.6 and two.test_acc > 0.6
    assert two.test_acc > one.test_acc - 0.08
    assert min(two.per_bench_acc) > 0.6          # the shared weights work on each chip
    # each bench plays half of every batch's trials; each still pays its per-device round
    # trips, which at 64 trials a device and batch (16 rows x 2 neurons x 2 repeats) are a
    # third of one bench's time: 0.64 of one bench per batch here (-> 1/2 with more trials)
    assert two.batches == one.batches
    ratio = two.bench_time_s_per_batch / one.bench_time_s_per_batch
    assert 0.5 < ratio < 0.75, ratio
    assert two.projected_bench_time_s < 0.75 * one.projected_bench_time_s
    assert two.round_trips_per_batch == pytest.approx(2 * one.round_trips_per_batch, rel=0.05)
    assert 0 < two.floor_s_per_batch < two.bench_time_s_per_batch


def test_an_interrupted_run_closes_every_bench(tmp_path):
    jobs = load_jobs(bench_files(tmp_path, [101, 102]))
    config = ExperimentConfig(**{**SMALL, "epochs": 1, "hidden": 8}, bench_projection=False,
                              out_dir=str(tmp_path / "out"))
    opened = []

    def interrupt(epoch, batch, pool):
        opened.extend(w for w in pool.workers if w.outputs_on())
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_multibench(config, jobs, on_batch=interrupt)
    assert len(opened) == 2 and not any(w.outputs_on() for w in opened)
    assert all(not w.bench._opened for w in opened)     # every instrument closed (outputs off first)


@pytest.mark.parametrize("extra, message", [
    (["--modes", "software", "insitu"], "--benches trains in situ only"),
    (["--bench", "x.toml"], "--benches does not take --bench"),
    (["--hidden", "16", "8"], "one hidden layer"),
    (["--sizes", "XL"], "has no size 'XL'"),
    (["--workers", "2"], "--workers sets the CPUs of a local Ray: add --ray"),
    (["--resume"], "--benches does not take --resume"),
])
def test_refusals_are_one_line_and_exit_2(tmp_path, capsys, extra, message):
    paths = bench_files(tmp_path, [101, 102])
    argv = ["train", "--benches", *paths, "--out", str(tmp_path / "o"), "--no-progress", *extra]
    assert main(argv) == 2
    err = one_line_error(capsys)
    assert err.startswith("hil train: error: ") and message in err


def test_a_bench_named_twice_or_a_missing_file_is_refused(tmp_path, capsys):
    (path,) = bench_files(tmp_path, [101])
    with pytest.raises(MultiBenchError, match="names .* twice"):
        load_jobs([path, path])
    assert main(["train", "--benches", path, str(tmp_path / "none.toml"), "--no-progress"]) == 2
    assert "none.toml" in one_line_error(capsys)


def test_ray_missing_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)     # import ray -> ImportError
    paths = bench_files(tmp_path, [101, 102])
    assert main(["train", "--benches", *paths, "--ray", "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "o")]) == 2
    assert one_line_error(capsys).startswith("hil train: error: --ray needs Ray")


def test_a_guardian_turns_the_bench_off_when_the_driver_dies_and_not_when_dismissed(tmp_path):
    """The guardian of a bench served by this process: its pipe closed with no word (the
    driver killed) -> the magnet left on goes off; dismissed -> the bench is not touched."""
    from drivers.bench import Bench
    from hil.multibench.guardian import dismiss, start_guardian
    from hil.multibench.worker import BenchJob
    from simulated_bench.bench import SimulatedBench
    from simulated_bench.server import serve

    (job,) = load_jobs(bench_files(tmp_path, [101]))
    served = SimulatedBench(job.bench)
    magnet = served.instruments[job.bench.address_of("magnet")]
    with serve(served) as handle:
        remote = BenchJob(job.bench, job.label, "visa", "@py", dict(handle.addresses), "bench")
        bench = Bench.open(job.bench, "@py", dict(handle.addresses))
        bench.field.set_field(0.01)          # a bias field on, then the "driver" vanishes
        bench.close()
        kept = start_guardian(remote, None)
        dismiss(kept)                        # a run that ended with its driver alive
        assert kept.returncode == 0 and magnet.output_on
        guardian = start_guardian(remote, os.getpid() + 10**6)   # its worker already gone
        guardian.stdin.close()               # the driver died: no word
        guardian.wait(timeout=60)
        with handle.lock:
            assert not magnet.output_on
