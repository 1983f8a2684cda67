"""One run at a time in an output folder: an exclusive lock held while a run writes it.

``with lock_folder(out):`` takes an OS lock (``flock``; ``msvcrt.locking`` on Windows) on
``out/.spin-hil.lock`` without waiting, and writes the holder's pid into it. A second run on
the folder - another process, or another thread of this one - is refused with
:class:`FolderInUseError` naming the holder's pid. The operating system drops the lock when
its holder exits in any way, ``kill -9`` included, so a stale lock file left behind never
blocks: it is simply locked again. The same thread may nest ``lock_folder`` on one folder (a
CLI locks the whole run, the runner inside it locks again).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from procedures.session import ParameterError

LOCK_NAME = ".spin-hil.lock"

_held: dict[str, tuple[int, int]] = {}      # folder -> (holding thread, depth)
_guard = threading.Lock()


class FolderInUseError(ParameterError):
    """The output folder is being written by another run."""


class NotAFolderError(ParameterError):
    """The output path names something that is not a folder."""


def check_folder(path: Path, option: str = "--out") -> None:
    if path.exists() and not path.is_dir():
        raise NotAFolderError(f"{option} {str(path)!r} is a file, not a folder: give a folder "
                              f"for the run's outputs")


def require_run_folder(folder, resume: bool, option: str = "--out") -> None:
    """A resume needs its folder: one that does not exist is an error, not a fresh start."""
    folder = Path(folder)
    check_folder(folder, option)
    if resume and not folder.is_dir():
        raise ParameterError(f"cannot resume: {option} {str(folder)!r} does not exist; give the "
                             f"folder of the interrupted run, or drop --resume to start a new one")


def _try_lock(fh) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt
        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


@contextlib.contextmanager
def lock_folder(folder, option: str = "--out"):
    """Hold the folder's lock for the ``with`` block (creating the folder); see the module doc."""
    folder = Path(folder)
    check_folder(folder, option)
    folder.mkdir(parents=True, exist_ok=True)
    key = str(folder.resolve())
    me = threading.get_ident()
    with _guard:
        holder = _held.get(key)
        if holder is not None and holder[0] == me:
            _held[key] = (me, holder[1] + 1)
            nested = True
        elif holder is not None:
            raise FolderInUseError(f"{option} {str(folder)!r} is in use by another run of this "
                                   f"process (pid {os.getpid()}): wait for it to finish or "
                                   f"choose another {option}")
        else:
            nested = False
    if nested:
        try:
            yield folder
        finally:
            with _guard:
                _held[key] = (me, _held[key][1] - 1)
        return
    path = folder / LOCK_NAME
    fh = open(path, "a+")  # noqa: SIM115 - closed in the finally below (releases the lock)
    try:
        if not _try_lock(fh):
            fh.seek(0)
            pid = fh.read().strip() or "unknown"
            raise FolderInUseError(f"{option} {str(folder)!r} is in use by another run (pid "
                                   f"{pid}): wait for it to finish, or choose another {option}")
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        with _guard:
            _held[key] = (me, 1)
        try:
            yield folder
        finally:
            with _guard:
                _held.pop(key, None)
    finally:
        fh.close()


__all__ = ["LOCK_NAME", "FolderInUseError", "NotAFolderError", "check_folder", "lock_folder",
           "require_run_folder"]
