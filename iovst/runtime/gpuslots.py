"""GPU slots on one workstation with several GPUs: one lock file per GPU.

Snakemake's ``--resources gpu=N`` caps how many GPU jobs run at once, but it does not say *which*
GPU a job should use. Each GPU job therefore claims a slot: it takes an exclusive ``fcntl.flock``
on ``<lock_dir>/gpu<i>.lock`` for the first free ``i`` and restricts itself to that GPU with
``CUDA_VISIBLE_DEVICES=i`` (so inside the job the GPU is always ``cuda:0``).

A flock belongs to the open file, not to the file on disk: it disappears when the holder exits,
however it exits (``kill -9``, OOM killer, a Snakemake interrupt). A killed job never leaks a slot,
and stale lock files are harmless (they are never deleted; only the lock on them counts).

Two ways to use it::

    with gpu_slot(n_slots=2, lock_dir="/tmp/iovst-gpu") as idx:   # released at exit of the block
        ...

    claim_gpu_from_env()   # at the start of a stage command; held until the process exits

The stage commands call :func:`claim_gpu_from_env` before CUDA is initialised. It reads
``IOVST_GPU_SLOTS`` (the number of GPUs), ``IOVST_GPU_LOCK_DIR`` (default
``$TMPDIR/iovst-gpu-slots-<uid>``) and ``IOVST_GPU_WAIT`` (seconds to wait for a free slot, default
86400), and does nothing when ``IOVST_GPU_SLOTS`` is unset/0/1 or when the GPU was already chosen
by someone else (``CUDA_VISIBLE_DEVICES`` set, e.g. by SLURM, or running inside a SLURM job).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError, IovstError

log = logging.getLogger(__name__)

#: slots held by this process via claim_gpu_from_env (kept open = kept locked until exit)
_HELD: dict[str, int] = {}


class GpuSlotTimeout(IovstError):
    """All GPU slots stayed busy for longer than the timeout."""


def _lock_path(lock_dir: Path, idx: int) -> Path:
    return lock_dir / f"gpu{idx}.lock"


def try_acquire(n_slots: int, lock_dir: str | os.PathLike) -> tuple[int, int] | None:
    """One non-blocking pass over the slots: ``(idx, fd)`` of the first free one, else ``None``.

    The caller owns ``fd``; closing it (or exiting) releases the slot.
    """
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    for idx in range(n_slots):
        path = _lock_path(lock_dir, idx)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                continue
            raise
        # for humans looking at the lock dir: who holds it (informational only)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        return idx, fd
    return None


def acquire(
    n_slots: int,
    lock_dir: str | os.PathLike,
    timeout: float | None = None,
    poll: float = 0.5,
) -> tuple[int, int]:
    """Wait until a slot is free; ``(idx, fd)``. ``timeout=None`` waits forever.

    Raises :class:`GpuSlotTimeout` naming the lock dir when no slot frees up in time.
    """
    if n_slots < 1:
        raise ConfigError(f"IOVST_GPU_SLOTS: need at least 1 GPU slot, got {n_slots}")
    deadline = None if timeout is None else time.monotonic() + timeout
    logged = False
    while True:
        got = try_acquire(n_slots, lock_dir)
        if got is not None:
            return got
        if deadline is not None and time.monotonic() >= deadline:
            raise GpuSlotTimeout(
                f"GPU lock dir '{lock_dir}': all {n_slots} GPU slot(s) busy for {timeout:g} s "
                f"(other iovst jobs hold gpu0..gpu{n_slots - 1}.lock; raise IOVST_GPU_WAIT or "
                f"run fewer GPU jobs at once: --resources gpu={n_slots})"
            )
        if not logged:
            log.info("all %d GPU slots in %s busy; waiting", n_slots, lock_dir)
            logged = True
        sleep = poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
        time.sleep(sleep)


@contextlib.contextmanager
def gpu_slot(
    n_slots: int,
    lock_dir: str | os.PathLike,
    timeout: float | None = None,
    poll: float = 0.5,
    set_env: bool = True,
) -> Iterator[int]:
    """Hold a GPU slot for the ``with`` block; sets ``CUDA_VISIBLE_DEVICES`` to it (restored after).

    Must be entered before CUDA is initialised in this process (``CUDA_VISIBLE_DEVICES`` is read
    once, at CUDA initialisation).
    """
    idx, fd = acquire(n_slots, lock_dir, timeout=timeout, poll=poll)
    old = os.environ.get("CUDA_VISIBLE_DEVICES")
    if set_env:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(idx)
    log.info("GPU slot %d of %d (%s)", idx, n_slots, lock_dir)
    try:
        yield idx
    finally:
        if set_env:
            if old is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = old
        os.close(fd)


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"iovst-gpu-slots-{os.getuid()}"


def claim_gpu_from_env(environ: os._Environ | dict | None = None) -> int | None:
    """Claim a GPU slot for the rest of this process, as configured by the environment.

    Returns the slot index (also put into ``CUDA_VISIBLE_DEVICES``) or ``None`` when nothing was
    done: ``IOVST_GPU_SLOTS`` unset, empty, 0 or 1 (one GPU needs no choosing), or the GPU already
    chosen (``CUDA_VISIBLE_DEVICES`` set, or inside a SLURM job, whose allocation decides). Calling
    it twice in one process returns the slot it already holds.
    """
    env = os.environ if environ is None else environ
    raw = env.get("IOVST_GPU_SLOTS", "").strip()
    if not raw:
        return None
    try:
        n_slots = int(raw)
    except ValueError:
        raise ConfigError(f"IOVST_GPU_SLOTS: {raw!r} is not a number of GPUs") from None
    if n_slots < 0:
        raise ConfigError(f"IOVST_GPU_SLOTS: {raw!r} must be >= 0")
    if n_slots <= 1:
        return None
    lock_dir = Path(env.get("IOVST_GPU_LOCK_DIR") or default_lock_dir())
    key = str(lock_dir.resolve())
    if key in _HELD:
        return _HELD[key]
    if "CUDA_VISIBLE_DEVICES" in env or "SLURM_JOB_ID" in env:
        log.debug("GPU slots: CUDA_VISIBLE_DEVICES/SLURM already decide the GPU; not claiming")
        return None
    wait_raw = env.get("IOVST_GPU_WAIT", "").strip()
    try:
        timeout = float(wait_raw) if wait_raw else 86400.0
    except ValueError:
        raise ConfigError(f"IOVST_GPU_WAIT: {wait_raw!r} is not a number of seconds") from None
    idx, _fd = acquire(n_slots, lock_dir, timeout=timeout)  # fd stays open: held until exit
    _HELD[key] = idx
    env["CUDA_VISIBLE_DEVICES"] = str(idx)
    log.info("GPU slot %d of %d (%s): CUDA_VISIBLE_DEVICES=%d", idx, n_slots, lock_dir, idx)
    return idx
