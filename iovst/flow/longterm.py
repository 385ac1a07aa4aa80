"""Closest-first long-term weights (Ruder et al.) per target frame of one chunk, into HDF5.

For target frame ``i`` and the offsets ``J`` actually used (sorted ascending), per direction
(``from_prev``: neighbours ``i - n``; ``from_next``: neighbours ``i + n``)::

    c_long(n) = max(c(n) - sum_{m in J, m < n} c_long(m), 0)

where ``c(n)`` is the reliability on frame ``i`` of warping the neighbour into ``i``
(:meth:`iovst.flow.flowstore.MaskStore.reliability`) and 0 where the neighbour does not exist or
lies across a scene cut (:class:`iovst.flow.cuts.Cuts`; ``--cuts``). By
induction the running sum equals ``max_{m <= n} c(m)``, so the weights of one direction sum to at
most 1 per pixel: each pixel is taken from the closest neighbour that sees it reliably, and only
the part a closer neighbour leaves uncovered from farther ones.

The masks needed for chunk ``k`` live in the mask chunks holding the pairs ``(i - n, i)`` (earlier
chunks) and ``(i, i + n)`` (chunk ``k``); pass all of them with ``--masks``.

Output (``kind=longterm``; attrs ``first_frame`` = ``k * C``, ``offsets``, ``n_frames``,
``height``, ``width``, ``params_hash``): ``from_prev/N{n}`` and ``from_next/N{n}`` ``(c, H, W)``
float16 for the ``c`` frames of the chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import chunks
from ..config import StageParams, params_hash
from ..errors import InputError
from ..storage import h5io
from .cuts import NO_CUTS, Cuts
from .flowstore import DIRECTIONS, MaskStore

log = logging.getLogger(__name__)


def closest_first(masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Closest-first weights for reliabilities ordered closest first.

    Args:
        masks: ``K`` arrays ``(H, W)`` float in ``[0, 1]``, ``masks[j]`` for the ``j``-th smallest offset.

    Returns:
        ``K`` float32 arrays ``c_long(j) = max(c(j) - sum_{l < j} c_long(l), 0)``.
    """
    out: list[np.ndarray] = []
    total: np.ndarray | None = None
    for c in masks:
        c = np.asarray(c, np.float32)
        if total is not None and c.shape != total.shape:
            raise ValueError(f"closest_first: mask shapes differ, {c.shape} vs {total.shape}")
        w = c if total is None else np.maximum(c - total, 0.0)
        out.append(w.astype(np.float32))
        total = w if total is None else total + w
    return out


def chunk_weights(
    store: MaskStore,
    frames: range,
    *,
    offsets: Sequence[int],
    n_frames: int,
    size: tuple[int, int],
    cuts: Cuts = NO_CUTS,
) -> dict[str, np.ndarray]:
    """Datasets ``{direction}/N{n}`` ``(len(frames), H, W)`` float32 for the target ``frames``
    (0 for neighbours across one of ``cuts``)."""
    out = {f"{d}/N{n}": np.zeros((len(frames),) + tuple(size), np.float32) for d in DIRECTIONS for n in offsets}
    zero = np.zeros(size, np.float32)
    for j, i in enumerate(frames):
        for direction, sign in (("from_prev", -1), ("from_next", 1)):
            nbs = [i + sign * n for n in offsets]
            cs = [store.reliability(i, s) if 0 <= s < n_frames and not cuts.crosses(i, s) else zero for s in nbs]
            for n, w in zip(offsets, closest_first(cs)):
                out[f"{direction}/N{n}"][j] = w
    return out


def longterm_chunk(
    *,
    mask_paths: Sequence[str | Path],
    n_frames: int,
    size: tuple[int, int],
    chunk: int,
    chunk_size: int,
    params: StageParams,
    out: str | Path,
    cuts: Cuts = NO_CUTS,
) -> dict[str, Any]:
    """Compute and write long-term chunk ``chunk``; return its root attributes.

    ``params``: the stage's ``--params``; the offsets are ``multipass.offsets``, or all
    ``flow.offsets`` when that is ``None``. ``cuts``: the video's scene cuts.
    """
    offsets = list(params.multipass["offsets"] or params.flow["offsets"])
    frames = chunks.chunk_frames(chunk, chunk_size, n_frames)
    with MaskStore(mask_paths) as store:
        try:
            datasets = chunk_weights(store, frames, offsets=offsets, n_frames=n_frames, size=size, cuts=cuts)
        except KeyError as exc:
            raise InputError(f"longterm chunk {chunk}: {exc.args[0]}") from None
    attrs = {
        "first_frame": frames.start,
        "offsets": offsets,
        "n_frames": int(n_frames),
        "height": int(size[0]),
        "width": int(size[1]),
        "params_hash": params_hash(params.raw),
    }
    h5io.write(out, {k: v.astype(np.float16) for k, v in datasets.items()}, kind="longterm", attrs=attrs)
    for d in DIRECTIONS:
        cover = sum(datasets[f"{d}/N{n}"] for n in offsets)
        log.info(
            "chunk %d %s: mean coverage %.3f (%s)",
            chunk,
            d,
            float(cover.mean()),
            ", ".join(f"N{n} {float(datasets[f'{d}/N{n}'].mean()):.3f}" for n in offsets),
        )
    return attrs
