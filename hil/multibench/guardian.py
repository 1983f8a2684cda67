"""A bench's guardian: a small process of its own that turns the bench's outputs off when the
driver of a multi-bench run is killed (SIGKILL, out of memory): then no handler of the driver
runs, and Ray tears the bench actors down without letting them close their instruments.

The driver starts one per bench that outlives the processes driving it (real instruments, or
a simulated bench served by another process; a simulated bench in a worker's process dies
with it), in a session of its own, and keeps a pipe to it open. A run that ends (normally or
not) with the driver alive writes one byte and the guardian exits without touching the bench
(the driver closed it, or turned a lost bench off itself). The pipe closing with no byte means
the driver died: the guardian waits for the bench's worker process to be gone (at most
:data:`WORKER_GRACE_S`), then opens the bench through a fresh connection, which turns every
output off and checks it (:func:`~hil.multibench.worker.safe_off_bench`). It holds no
connection to the bench before. (A worker on another node of a cluster: the guardian cannot
see its process and waits the grace.)

    python -m hil.multibench.guardian     (the job and the worker's pid arrive pickled on stdin)
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time

#: the byte of a run that ended with its driver alive
DISMISSED = b"d"
#: how long a guardian waits for the worker to be gone before it opens the bench
WORKER_GRACE_S = 30.0


def start_guardian(job, worker_pid: int | None) -> subprocess.Popen:
    """The guardian of ``job``'s bench, whose worker runs as ``worker_pid`` (None: on another
    node); :func:`dismiss` it when the run ends with the driver alive."""
    process = subprocess.Popen([sys.executable, "-m", "hil.multibench.guardian"],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               start_new_session=True)
    data = pickle.dumps((job, worker_pid))
    process.stdin.write(len(data).to_bytes(8, "big") + data)
    process.stdin.flush()
    return process


def dismiss(process: subprocess.Popen) -> None:
    try:
        process.stdin.write(DISMISSED)
        process.stdin.close()
        process.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> int:
    stdin = sys.stdin.buffer
    size = int.from_bytes(stdin.read(8), "big")
    job, worker_pid = pickle.loads(stdin.read(size))
    if stdin.read(1) == DISMISSED:      # blocks while the driver lives
        return 0
    deadline = time.monotonic() + WORKER_GRACE_S
    while time.monotonic() < deadline and (worker_pid is None or _alive(worker_pid)):
        time.sleep(0.2)                 # two connections at once would interleave commands
    from hil.multibench.worker import safe_off_bench

    print(f"guardian of bench {job.label!r} (driver gone): {safe_off_bench(job)}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
