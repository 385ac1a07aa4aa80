"""Atomic writes: nothing half-written is ever visible under its final name.

Every artifact is written to a temporary file in the same directory (so ``os.replace`` is an
atomic rename on POSIX file systems, NFS and Lustre included) and renamed into place only after it
was fully written and flushed. If the writer is killed, only a ``.tmp-*`` file is left behind, which
no reader ever opens and :func:`clean_temp` removes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import StorageError

TMP_PREFIX = ".tmp-"

#: errno values and message fragments (h5py/HDF5 and OpenCV do not always set ``errno``) that
#: mean "the storage is full": no space, quota, file-size limit (``ulimit -f``, RLIMIT_FSIZE).
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_FULL_TEXT = ("no space left on device", "disk quota exceeded", "file too large")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the file system is full / over quota / over the file-size limit."""
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    text = str(exc).lower()
    return isinstance(exc, (OSError, RuntimeError)) and any(t in text for t in _FULL_TEXT)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it to ``path``.

    On any exception (including ``KeyboardInterrupt``) the temporary file is removed and ``path``
    is left untouched; a full disk / quota / file-size limit becomes a one-line
    :class:`~iovst.errors.StorageError` naming ``path``. ``suffix`` defaults to ``path``'s suffix so
    tools that sniff the extension (ffmpeg, OpenCV) still work.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=TMP_PREFIX + final.name + ".",
        suffix=final.suffix if suffix is None else suffix,
        dir=final.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; results are shared
        os.replace(tmp_path, final)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if is_disk_full(exc) and not isinstance(exc, StorageError):
            first = (str(exc).splitlines() or [exc.__class__.__name__])[0][:160]
            raise StorageError(
                f"'{final}': could not be written, the disk is full or over its quota / "
                f"file-size limit ({first}); nothing was left under that name"
            ) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as pretty, key-sorted JSON (trailing newline)."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def clean_temp(directory: str | os.PathLike[str]) -> int:
    """Remove leftover ``.tmp-*`` files of killed writers below ``directory``; return how many."""
    n = 0
    root = Path(directory)
    if not root.exists():
        return 0
    for p in root.rglob(TMP_PREFIX + "*"):
        with contextlib.suppress(OSError):
            if p.is_file():
                p.unlink()
                n += 1
    return n
