"""Undeclared per-frame cache: the progress that survives a killed job.

Snakemake deletes the declared outputs of an interrupted job, so per-frame results also go to
``<cache_dir>/<stage>/<key[:2]>/<key>.npz``, where ``key`` hashes *everything* the frame depends
on (stage version, params, and the bytes of every input array). A stale entry therefore can't
match, and every entry is validated when read:

* written atomically (temp file + ``os.replace``), so a killed writer leaves no entry;
* the ``.npz`` (zip) carries a CRC-32 per member, checked when read to the end;
* the stored ``key`` must equal the requested key, and shape / dtype / finiteness are checked.

Anything that fails validation is logged, deleted and recomputed — never used.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import canonical_json
from .atomic import write_bytes

log = logging.getLogger(__name__)


def hash_arrays(*arrays: np.ndarray) -> str:
    """SHA-256 over the shapes, dtypes and bytes of ``arrays`` (hex)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.data)
    return h.hexdigest()


def make_key(stage: str, params: Any, *parts: str) -> str:
    """Cache key from the stage name, its JSON-able ``params`` and hex digests of its inputs."""
    h = hashlib.sha256()
    h.update(stage.encode())
    h.update(canonical_json(params).encode())
    for p in parts:
        h.update(b"|" + p.encode())
    return h.hexdigest()


@dataclass
class FrameCache:
    """Per-frame result cache for one stage.

    Counters (``hits``, ``misses``, ``corrupt``) are logged by the stages as
    ``cache: N reused, M computed, K corrupt`` so tests can count recomputed frames from the logs.
    """

    root: Path
    stage: str
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    _seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def path(self, key: str) -> Path:
        return self.root / self.stage / key[:2] / f"{key}.npz"

    def get(self, key: str, *, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
        """The cached array for ``key``, or ``None`` (missing or invalid; invalid is deleted)."""
        p = self.path(key)
        if not p.is_file():
            self.misses += 1
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                stored_key = str(z["key"])
                arr = np.array(z["value"])  # reading to the end checks the CRC
            if stored_key != key:
                raise ValueError("key mismatch")
            if shape is not None and tuple(arr.shape) != tuple(shape):
                raise ValueError(f"shape {arr.shape} != {shape}")
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise ValueError("non-finite values")
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            log.warning("cache: corrupt entry %s (%s): deleted, recomputing", p, exc)
            self.corrupt += 1
            self.misses += 1
            p.unlink(missing_ok=True)
            return None
        self.hits += 1
        return arr

    def put(self, key: str, value: np.ndarray) -> None:
        """Store ``value`` under ``key`` atomically."""
        buf = io.BytesIO()
        np.savez(buf, key=np.array(key), value=np.ascontiguousarray(value))
        write_bytes(self.path(key), buf.getvalue())

    def summary(self) -> str:
        return f"cache[{self.stage}]: {self.hits} reused, {self.misses} computed, {self.corrupt} corrupt"
