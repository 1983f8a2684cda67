"""On a local Ray (``num_cpus=2``, started once for the module): a sweep's points as Ray tasks
give the in-process numbers; a bench actor killed with SIGKILL mid-run stops the run in one
line, with that bench's outputs off. (Bench actors giving the in-process numbers, digit for
digit, is checked by benchmarks/bench_multibench.py: another ~10 s of actor start-up here.)

Skipped only when Ray (an optional extra, ``pip install 'spin-hil[ray]'``) is not installed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from hil.config import ExperimentConfig
from hil.multibench import MultiBenchError, load_jobs, run_multibench
from hil.multibench.worker import BenchJob
from hil.sweep import load_spec, run_sweep
from tests.test_multibench import SMALL, bench_files
from tests.test_sweep import SURVEY

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'spin-hil[ray]'")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for every test here (its start is most of their time)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_sweep_points_on_ray_give_the_in_process_numbers(tmp_path):
    # two points, one per worker (the 200-point comparison is benchmarks/bench_sweep.py)
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text('[axes]\n"variability.delta_rel" = [0.05, 0.3]\nseed = [5]\n' + SURVEY)
    spec = load_spec(spec_path)
    local = run_sweep(spec, tmp_path / "local", progress=False, plot=False)
    on_ray = run_sweep(spec, tmp_path / "ray", ray=True, num_cpus=2, progress=False, plot=False)
    assert len(on_ray.ran) == 2 and all(r["status"] == "ok" for r in local.records)
    assert [r["metrics"] for r in on_ray.records] == [r["metrics"] for r in local.records]
    assert {r["id"] for r in on_ray.records} == {r["id"] for r in local.records}
    assert ray.is_initialized()          # a Ray started by the caller is left running


def test_a_killed_bench_actor_stops_the_run_with_its_outputs_off(tmp_path):
    """Bench b's instruments are the simulated bench served over TCP by this process (as a
    real bench outlives the process driving it); its actor trains through them and is killed
    with SIGKILL after the first batch, its magnet still on. The run ends in one line; the
    magnet is off (turned off through a fresh connection)."""
    from simulated_bench.bench import SimulatedBench
    from simulated_bench.server import serve

    a, b = load_jobs(bench_files(tmp_path, [101, 102]))
    served = SimulatedBench(b.bench)
    magnet = served.instruments[b.bench.address_of("magnet")]
    config = ExperimentConfig(**{**SMALL, "epochs": 1, "hidden": 8, "batch_size": 64},
                              bench_projection=False, out_dir=str(tmp_path / "out"))
    seen = {}
    with serve(served) as handle:
        remote_b = BenchJob(b.bench, b.label, "visa", "@py", dict(handle.addresses), "bench")

        def kill_b(epoch, batch, pool):
            with handle.lock:
                seen["magnet_on"] = magnet.output_on      # the bias field of its trials
            os.kill(pool.pids[1], signal.SIGKILL)

        with pytest.raises(MultiBenchError) as lost:
            run_multibench(config, [a, remote_b], ray=True, on_batch=kill_b)
        with handle.lock:
            assert seen["magnet_on"] and not magnet.output_on
            assert not served.instruments[b.bench.address_of("pulse")].channels[1].output
    message = str(lost.value)
    assert len(message.splitlines()) == 1
    assert f"bench 2 of 2 ({Path(b.label).as_posix()!r}) was lost at epoch 1, batch 2" in message
    assert "turned off through a fresh connection" in message
