"""Read access to flow, mask and long-term weight chunks by frame index.

A store is given the chunk files it may use (any order, possibly from several chunks) and indexes
them by frame pair; it never guesses file names. Files are opened with
:func:`iovst.storage.h5io.open_checked` (complete and of the right kind, else :class:`CacheError`) and kept
open until :meth:`close` (stores are context managers). Datasets are read lazily, one frame at a
time; a checksum failure on read is a :class:`CacheError` too. Asking for a pair or frame no
given file holds raises :class:`KeyError` naming it and what the files do hold.

* ``FlowStore(paths).flow(t, s)`` -> ``(2, H, W)`` float32: flow defined on frame ``t`` pointing
  into frame ``s`` (``|t - s|`` one of the offsets).
* ``MaskStore(paths).reliability(t, s)`` -> ``(H, W)`` float32 in ``[0, 1]``: reliability on frame
  ``t`` of warping frame ``s`` into ``t`` (i.e. of ``warp(image_s, flow(t, s))``).
* ``LongtermStore(paths).weights(i, direction)`` -> ``{n: (H, W) float32}``: closest-first weights
  on frame ``i`` for neighbours ``i - n`` (``direction="from_prev"``) or ``i + n`` (``"from_next"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..errors import CacheError
from ..storage import h5io

DIRECTIONS = ("from_prev", "from_next")


class _Store:
    """Open checked files of one ``kind``; subclasses index them in :meth:`_index_file`."""

    kind = ""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self._files: list[h5py.File] = []
        try:
            for p in self.paths:
                f = h5io.open_checked(p, kind=self.kind)
                self._files.append(f)
                self._index_file(f)
        except BaseException:
            self.close()
            raise

    def _index_file(self, f: h5py.File) -> None:
        raise NotImplementedError

    def _dataset(self, f: h5py.File, name: str) -> h5py.Dataset:
        try:
            if name not in f:
                raise CacheError(f"'{f.filename}': dataset '{name}' missing", path=f.filename)
            return f[name]
        except (OSError, KeyError, RuntimeError, ValueError) as exc:  # metadata checksum failure
            raise CacheError(
                f"'{f.filename}': dataset '{name}' is corrupt ({str(exc).splitlines()[0][:120]})", path=f.filename
            ) from None

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files = []

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, f: h5py.File, name: str, index: int) -> np.ndarray:
        return h5io.read_dataset(f, name, index).astype(np.float32)


class _PairStore(_Store):
    """Index ``(t, n) -> (file, row)`` over files with ``N{n}/forward|backward`` datasets."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self._index: dict[tuple[int, int], tuple[h5py.File, int]] = {}
        super().__init__(paths)

    def _index_file(self, f: h5py.File) -> None:
        first = int(f.attrs["first_frame"])
        for n in (int(v) for v in f.attrs["offsets"]):
            for j in range(self._dataset(f, f"N{n}/forward").shape[0]):
                self._index[(first + j, n)] = (f, j)

    @property
    def offsets(self) -> list[int]:
        """Offsets held by at least one file."""
        return sorted({n for _, n in self._index})

    def _lookup(self, t: int, s: int) -> tuple[str, h5py.File, int]:
        """Dataset name, file and row holding frame ``t``'s data for pair ``{t, s}``."""
        if t == s:
            raise KeyError(f"{type(self).__name__}: no data for a frame with itself ({t}, {s})")
        first, n = min(t, s), abs(t - s)
        hit = self._index.get((first, n))
        if hit is None:
            have = sorted(t0 for t0, m in self._index if m == n)
            span = f"pairs starting at {have[0]}..{have[-1]}" if have else "no pairs"
            raise KeyError(
                f"{type(self).__name__}: pair ({first}, {first + n}) (offset {n}) not in the given "
                f"{self.kind} files ({span} for offset {n}; offsets {self.offsets}; files "
                f"{[str(p) for p in self.paths]})"
            )
        f, row = hit
        return f"N{n}/{'forward' if t < s else 'backward'}", f, row


class FlowStore(_PairStore):
    """Flow chunks (``kind=flow``) by frame pair."""

    kind = "flow"

    def flow(self, t: int, s: int) -> np.ndarray:
        """``(2, H, W)`` float32 pixels: flow defined on frame ``t`` pointing into frame ``s``."""
        name, f, row = self._lookup(t, s)
        return self._read(f, name, row)


class MaskStore(_PairStore):
    """Reliability-mask chunks (``kind=masks``) by frame pair."""

    kind = "masks"

    def reliability(self, t: int, s: int) -> np.ndarray:
        """``(H, W)`` float32 in ``[0, 1]``: reliability on frame ``t`` of warping frame ``s`` into ``t``."""
        name, f, row = self._lookup(t, s)
        return self._read(f, name, row)


class LongtermStore(_Store):
    """Long-term closest-first weight chunks (``kind=longterm``) by target frame."""

    kind = "longterm"

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self._index: dict[int, tuple[h5py.File, int]] = {}
        super().__init__(paths)

    def _index_file(self, f: h5py.File) -> None:
        first = int(f.attrs["first_frame"])
        n0 = int(f.attrs["offsets"][0])
        for j in range(self._dataset(f, f"from_prev/N{n0}").shape[0]):
            self._index[first + j] = (f, j)

    def weights(self, i: int, direction: str) -> dict[int, np.ndarray]:
        """``{n: (H, W) float32}`` closest-first weights on frame ``i`` for neighbour ``i ∓ n``.

        ``direction``: ``"from_prev"`` (neighbours ``i - n``) or ``"from_next"`` (``i + n``). A weight
        is 0 everywhere where the neighbour does not exist.
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        hit = self._index.get(i)
        if hit is None:
            raise KeyError(
                f"LongtermStore: frame {i} not in the given longterm files "
                f"(frames {sorted(self._index)[:1]}..{sorted(self._index)[-1:]}; files {[str(p) for p in self.paths]})"
            )
        f, row = hit
        return {int(n): self._read(f, f"{direction}/N{int(n)}", row) for n in f.attrs["offsets"]}
