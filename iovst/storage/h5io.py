"""HDF5 artifacts: written atomically, checksummed (fletcher32 per chunk), validated on read.

Every iovst HDF5 file carries root attributes ``iovst_kind`` (``flow``, ``masks``, ``longterm``,
``frames``), ``iovst_version`` and ``complete = 1`` (set last, just before the atomic rename), plus
stage-specific attributes. Datasets are chunked one frame per HDF5 chunk with shuffle + gzip(1) +
fletcher32, so a flipped bit anywhere raises on read instead of being consumed.

File locking is disabled (``locking=False``): the workflow guarantees one writer per file and
writers use a temporary name, and POSIX locks break on many cluster network file systems.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import CacheError
from .atomic import write_bytes

VERSION = 1


def _h5_value(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return np.asarray(v)
    if v is None:
        return "null"
    return v


def write(
    path: str | Path,
    datasets: Mapping[str, np.ndarray],
    *,
    kind: str,
    attrs: Mapping[str, Any] | None = None,
    dataset_attrs: Mapping[str, Mapping[str, Any]] | None = None,
    compress: bool = True,
) -> None:
    """Atomically write ``datasets`` (name -> array; ``/`` in names makes groups) to ``path``.

    Arrays with ``ndim >= 3`` are chunked one leading index per chunk; every dataset gets
    fletcher32. The root gets ``attrs`` plus ``iovst_kind``, ``iovst_version`` and ``complete``.
    """
    # Built in memory and written by Python: HDF5's C library does not survive a failing write
    # (a full disk crashed the process on close), Python's OSError becomes a clean StorageError.
    # v1.10 format or later: superblock and object headers (attributes included) carry
    # checksums too, so a flipped bit in the metadata is found as well as one in the data.
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver=("v110", "latest")) as f:
        for name, arr in datasets.items():
            arr = np.asarray(arr)
            kw: dict[str, Any] = {"fletcher32": True}
            if arr.size and arr.ndim >= 1:
                kw["chunks"] = (1,) + arr.shape[1:] if arr.ndim >= 3 else True
                if compress:
                    kw.update(compression="gzip", compression_opts=1, shuffle=True)
            d = f.create_dataset(name, data=arr, **kw) if arr.size else f.create_dataset(name, data=arr)
            for k, v in (dataset_attrs or {}).get(name, {}).items():
                d.attrs[k] = _h5_value(v)
        for k, v in (attrs or {}).items():
            f.attrs[k] = _h5_value(v)
        f.attrs["iovst_kind"] = kind
        f.attrs["iovst_version"] = VERSION
        f.attrs["complete"] = 1
    write_bytes(path, buf.getbuffer())


def open_checked(path: str | Path, *, kind: str) -> h5py.File:
    """Open an iovst HDF5 file read-only after checking it is complete and of ``kind``.

    Raises:
        CacheError: missing, truncated, not HDF5, incomplete or of another kind.
    """
    p = Path(path)
    try:
        f = h5py.File(p, "r", locking=False)
    except FileNotFoundError:
        raise CacheError(f"'{p}': missing") from None
    except OSError as exc:
        raise CacheError(f"'{p}': not a readable HDF5 file ({str(exc).splitlines()[0][:120]})", path=p) from None
    try:
        if f.attrs.get("iovst_kind") != kind or int(f.attrs.get("complete", 0)) != 1:
            raise CacheError(f"'{p}': not a complete iovst {kind} file (kind={f.attrs.get('iovst_kind')!r})", path=p)
    except CacheError:
        f.close()
        raise
    except (OSError, KeyError, RuntimeError, ValueError) as exc:  # garbled header/attributes
        f.close()
        raise CacheError(f"'{p}': corrupt HDF5 attributes ({str(exc).splitlines()[0][:120]})", path=p) from None
    return f


def read_dataset(f: h5py.File, name: str, index: Any = ()) -> np.ndarray:
    """Read ``f[name][index]``; a checksum/decompression failure becomes :class:`CacheError`."""
    try:
        return f[name][index]
    except KeyError:
        raise CacheError(f"'{f.filename}': dataset '{name}' missing", path=f.filename) from None
    except (OSError, ValueError, RuntimeError) as exc:  # checksum (data or metadata), filter, ...
        raise CacheError(
            f"'{f.filename}': dataset '{name}' is corrupt ({str(exc).splitlines()[0][:120]})", path=f.filename
        ) from None


def verify(path: str | Path, *, kind: str) -> None:
    """Read every dataset of ``path`` fully (checksums verified); raise :class:`CacheError` if bad."""
    with open_checked(path, kind=kind) as f:
        names: list[str] = []
        try:
            f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        except (OSError, KeyError, RuntimeError, ValueError) as exc:
            raise CacheError(
                f"'{path}': corrupt HDF5 structure ({str(exc).splitlines()[0][:120]})", path=path
            ) from None
        for n in names:
            read_dataset(f, n)


# --------------------------------------------------------------------------- stylized frame chunks
def write_frames(
    path: str | Path,
    frames: np.ndarray,
    *,
    first_frame: int,
    attrs: Mapping[str, Any] | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Write a chunk of result frames: ``frames`` ``(n, H, W, 3)`` float in ``[0, 1]`` -> float16.

    ``extra``: further datasets stored as given (name -> array, not ``frames``), e.g. the
    brushstroke stage's ``strokes_last`` ``(n, 12)`` float32; :func:`read_frames` ignores them.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"write_frames expects (n, H, W, 3), got {frames.shape}")
    if extra and "frames" in extra:
        raise ValueError("write_frames: 'frames' cannot be an extra dataset")
    a = dict(attrs or {})
    a.update(first_frame=int(first_frame), n_frames=int(frames.shape[0]))
    datasets = {"frames": np.clip(frames, 0, 1).astype(np.float16), **(extra or {})}
    write(path, datasets, kind="frames", attrs=a)


def read_frames(path: str | Path) -> tuple[int, np.ndarray]:
    """Read a result chunk: ``(first_frame, frames (n, H, W, 3) float32 in [0, 1])``."""
    with open_checked(path, kind="frames") as f:
        arr = read_dataset(f, "frames").astype(np.float32)
        return int(f.attrs["first_frame"]), arr


def chunk_frames_files(paths: Sequence[str | Path]) -> dict[int, np.ndarray]:
    """Read several result chunks into ``{frame_index: (H, W, 3) float32}``."""
    out: dict[int, np.ndarray] = {}
    for p in paths:
        first, arr = read_frames(p)
        for j in range(arr.shape[0]):
            out[first + j] = arr[j]
    return out
