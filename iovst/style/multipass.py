"""Ruder et al.'s multipass algorithm: one chunk of one round.

Round ``p >= 1`` refines every frame of the previous round's result. Odd rounds sweep forward
(frame ``i`` is reached from ``i - 1``), even rounds backward (from ``i + 1``); the neighbour is
taken in its newest version: inside the chunk the one already updated in this round; outside it
whatever ``neighbor_files`` hold, this round's chunks (``multipass.schedule: sequential``, one sweep
over the whole video) or the previous round's (``parallel``: every chunk of a round at once; see
:func:`iovst.chunks.multipass_neighbor_round`). In ``parallel`` a chunk's sweep starts
``multipass.overlap`` frames early, in the chunk it comes from (its *lead*,
:func:`iovst.chunks.multipass_lead`, refined from the previous round); the chunk that holds the lead
sweeps it as well and cross-fades its own sweep into that one over those frames (weight of the other
``1/w, 2/w, …, 1``), so the two sweeps meet without a seam. Frame ``i`` starts from::

    x0 = (1 - δ·c) · x_prev + δ·c · warp(x_neighbour, flow(i -> neighbour))

with ``c`` the reliability of that warp (offset 1), and from round ``temporal_from`` on the loss
adds ``λ Σ_N mean(c_long(N) · (x - warp(x_{i∓N}))²)`` over the multipass offsets, with the
closest-first long-term weights. The first frame of a sweep has no neighbour: it is refined from
its own previous result without the temporal term. Unlike IOVST, a round never restarts from the
content photo.

Scene cuts (:class:`iovst.flow.cuts.Cuts`): each shot is its own sweep. A frame whose neighbour
lies across a cut starts a sweep (no blend), and no temporal term reaches across a cut.

Content target: the frame, or after a brushstroke round 0 (``stylize.method: brushstroke``) the
frame's stroke painting from round 0 (``paintings``; as Kotovenko et al.'s pixel stage), so the
rounds keep the brushstroke look instead of pulling it toward a Gatys render of the photo; their
style weight is then the pixel stage's (``stylize.brushstroke.pixel_style_weight``,
:func:`iovst.style.stylizer.pixel_stylize`).

Every result is rounded to float16 (what the chunk files store) before it is used as a neighbour,
so the output does not depend on the chunk size or on which frames came from the cache.

Per-frame progress goes to the undeclared :class:`iovst.storage.cache.FrameCache` keyed by a hash of
everything the frame depends on (start image, temporal targets and weights, content frame, style,
params), so a killed job loses at most the frame it was working on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..chunks import chunk_frames, multipass_lead, n_chunks
from ..config import StageParams, result_params
from ..errors import InputError
from ..flow.cuts import NO_CUTS, Cuts
from ..flow.flowstore import FlowStore, LongtermStore, MaskStore
from ..flow.warp import warp
from ..progress import ChunkProgress
from ..storage import h5io
from ..storage.cache import FrameCache, hash_arrays, make_key
from ..tensors import to_image, to_tensor
from ..video.frames import read_frame
from .stylizer import load_stylizer, pixel_stylize, read_paintings

log = logging.getLogger(__name__)


def sweep_order(frames: range, round_: int) -> list[int]:
    """Frame order of round ``round_`` (>= 1): odd rounds forward, even rounds backward."""
    if round_ < 1:
        raise ValueError(f"multipass rounds start at 1, got {round_}")
    return list(frames) if round_ % 2 == 1 else list(reversed(frames))


def neighbour_of(i: int, round_: int, n_frames: int, cuts: Cuts = NO_CUTS) -> int | None:
    """The frame ``i`` is reached from in round ``round_`` (``None`` at the start of a sweep: the
    video's or, across one of ``cuts``, a shot's)."""
    j = i - 1 if round_ % 2 == 1 else i + 1
    return j if 0 <= j < n_frames and not cuts.crosses(i, j) else None


def blend_init(x_prev: torch.Tensor, warped: torch.Tensor, reliability: torch.Tensor, delta: float) -> torch.Tensor:
    """``(1 - δ·c)·x_prev + δ·c·warped``.

    Args:
        x_prev: ``(1, 3, H, W)`` previous-round result of this frame.
        warped: ``(1, 3, H, W)`` neighbour's newest result warped onto this frame.
        reliability: ``(1, 1, H, W)`` or ``(H, W)`` in ``[0, 1]``.
        delta: blend strength δ in ``[0, 1]``.
    """
    c = reliability.reshape(1, 1, *reliability.shape[-2:]).to(x_prev.dtype)
    if x_prev.shape != warped.shape or c.shape[-2:] != x_prev.shape[-2:]:
        raise ValueError(
            f"blend_init: x_prev {tuple(x_prev.shape)}, warped {tuple(warped.shape)}, "
            f"reliability {tuple(reliability.shape)} do not match"
        )
    a = delta * c
    return (1.0 - a) * x_prev + a * warped


def _f16(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0, 1).astype(np.float16).astype(np.float32)


@dataclass
class _Job:
    """What one multipass job's frames are refined from (see :func:`run_chunk`)."""

    frames_dir: Path
    n_frames: int
    round_: int
    previous: dict[int, np.ndarray]  #: frame -> its previous-round result
    flows: FlowStore
    masks: MaskStore
    longterm: LongtermStore
    stylizer: Any
    style_digest: str
    params: StageParams
    cache: FrameCache
    device: torch.device
    progress: ChunkProgress
    cuts: Cuts = NO_CUTS
    paintings: dict[int, np.ndarray] | None = None  #: frame -> content target (brushstroke round 0)

    def sweep(self, order: list[int], current: dict[int, np.ndarray]) -> None:
        """Refine the frames of ``order`` in turn, each from :attr:`previous` and its neighbours in
        ``current`` (``(H, W, 3)`` float32 by frame; updated with each result)."""
        mp, device, round_, n_frames = self.params.multipass, self.device, self.round_, self.n_frames
        use_temporal = round_ >= mp.temporal_from and mp.temporal_weight > 0
        direction = "from_prev" if round_ % 2 == 1 else "from_next"
        sign = -1 if round_ % 2 == 1 else 1
        for i in order:
            t0 = time.perf_counter()
            content = read_frame(self.frames_dir, i) if self.paintings is None else self.paintings[i]
            x_prev = to_tensor(self.previous[i], device)
            nb = neighbour_of(i, round_, n_frames, self.cuts)
            if nb is not None:
                warped = warp(to_tensor(current[nb], device), torch.from_numpy(self.flows.flow(i, nb)).to(device))
                rel = torch.from_numpy(self.masks.reliability(i, nb)).to(device)
                x0 = blend_init(x_prev, warped, rel, mp.blend)
            else:
                x0 = x_prev
            temporal: list[tuple[torch.Tensor, torch.Tensor]] = []
            if use_temporal and nb is not None:
                for n, w in self.longterm.weights(i, direction).items():
                    j = i + sign * n
                    if not 0 <= j < n_frames or self.cuts.crosses(i, j) or not w.any():
                        continue
                    wj = warp(to_tensor(current[j], device), torch.from_numpy(self.flows.flow(i, j)).to(device))
                    temporal.append((wj, torch.from_numpy(w).to(device).reshape(1, 1, *w.shape)))
            x0_np = to_image(x0)
            arrays = [content, x0_np, *[to_image(a) for a, _ in temporal], *[b.cpu().numpy() for _, b in temporal]]
            key = make_key(
                "multipass",
                result_params(self.params.raw),
                self.style_digest,
                f"round={round_}",
                f"frame={i}",
                hash_arrays(*arrays),
            )
            result = self.cache.get(key, shape=content.shape)
            if result is None:
                out = self.stylizer.refine(
                    to_tensor(content, device),
                    init=x0,
                    iterations=mp.iterations,
                    temporal=temporal,
                    temporal_weight=mp.temporal_weight if temporal else 0.0,
                    seed=self.params.seed * 1_000_003 + round_ * 10_007 + i,
                )
                result = _f16(to_image(out))
                # log before caching: a kill between the two is counted as (at most) one recomputation
                dt = time.perf_counter() - t0
                step = self.progress.step(dt)
                log.info("frame %d: computed (%.1f s, %d temporal terms); %s", i, dt, len(temporal), step)
                self.cache.put(key, result)
            else:
                self.progress.step()
                log.info("frame %d: reused", i)
            current[i] = result


def _parallel_ranges(chunk: int, round_: int, chunk_size: int, n_frames: int, overlap: int) -> tuple[range, range]:
    """Parallel schedule: ``(frames this chunk's sweep covers: its lead + the chunk, the lead of
    the chunk it cross-fades into, inside this chunk; empty at the video's end)``."""
    frames = chunk_frames(chunk, chunk_size, n_frames)
    lead = multipass_lead(chunk, round_, chunk_size, n_frames, overlap)
    span = range(min(lead.start, frames.start), max(lead.stop, frames.stop))
    partner = chunk + 1 if round_ % 2 == 1 else chunk - 1
    if not 0 <= partner < n_chunks(n_frames, chunk_size):
        return span, range(0)
    return span, multipass_lead(partner, round_, chunk_size, n_frames, overlap)


def run_chunk(
    *,
    frames_dir: Path,
    meta: dict[str, Any],
    round_: int,
    chunk: int,
    chunk_size: int,
    prev_file: Path,
    neighbor_files: list[Path],
    flow_files: list[Path],
    mask_files: list[Path],
    longterm_files: list[Path],
    styles: list[Path],
    style_weights: list[float] | None,
    style_scale: float,
    params: StageParams,
    cache_dir: Path,
    device: torch.device,
    cuts: Cuts = NO_CUTS,
    paintings_file: Path | None = None,
) -> tuple[int, np.ndarray, FrameCache]:
    """Refine the frames of ``chunk`` for round ``round_``; return ``(first_frame, frames, cache)``.

    ``frames`` is ``(n, H, W, 3)`` float32 in ``[0, 1]`` (float16-exact values) in frame order.
    ``cuts``: the video's scene cuts. ``paintings_file``: brushstroke round 0's chunk ``chunk``
    (its stroke paintings are the content targets; required for ``stylize.method: brushstroke``,
    which the config allows with ``multipass.schedule: sequential`` only).
    """
    n_frames = int(meta["frame_count"])
    frames = chunk_frames(chunk, chunk_size, n_frames)

    first, prev = h5io.read_frames(prev_file)
    if first != frames.start or prev.shape[0] != len(frames):
        raise InputError(
            f"'{prev_file}': holds frames {first}..{first + prev.shape[0] - 1}, "
            f"expected {frames.start}..{frames.stop - 1}"
        )
    brush = params.stylize.method == "brushstroke"
    if brush != (paintings_file is not None):
        raise InputError(
            "--paintings: stylize.method brushstroke refines against round 0's stroke paintings, give its chunk"
            if brush
            else f"--paintings: only for stylize.method brushstroke (this is {params.stylize.method!r})"
        )
    paintings = read_paintings(paintings_file, frames) if brush else None
    neighbours: dict[int, np.ndarray] = h5io.chunk_frames_files(neighbor_files)
    parallel = params.multipass.schedule == "parallel"
    span, partner_lead = frames, range(0)
    if parallel:
        span, partner_lead = _parallel_ranges(chunk, round_, chunk_size, n_frames, params.multipass.overlap)

    # multipass always refines at pixel level (also after a brushstroke round 0, with its pixel stage's weights)
    stylizer, style_digest = load_stylizer(
        method="gatys",
        params=params,
        stylize=pixel_stylize(params.stylize),
        style_paths=styles,
        style_weights=style_weights,
        style_scale=style_scale,
        frame_hw=(int(meta["height"]), int(meta["width"])),
        device=device,
    )
    job = _Job(
        frames_dir=frames_dir,
        n_frames=n_frames,
        round_=round_,
        # parallel: the neighbour files hold the previous round too
        previous={**neighbours, **{i: prev[i - frames.start] for i in frames}},
        flows=FlowStore(flow_files),
        masks=MaskStore(mask_files),
        longterm=LongtermStore(longterm_files),
        stylizer=stylizer,
        style_digest=style_digest,
        params=params,
        cache=FrameCache(cache_dir, "multipass"),
        device=device,
        progress=ChunkProgress(len(span) + len(partner_lead)),
        cuts=cuts,
        paintings=None if paintings is None else {i: paintings[i - frames.start] for i in frames},
    )
    current = dict(job.previous) if parallel else neighbours
    job.sweep(sweep_order(span, round_), current)
    results = {i: current[i] for i in frames}
    if partner_lead:  # the next chunk's sweep starts here: fade into it, reaching it at the seam
        theirs = dict(job.previous)
        order = sweep_order(partner_lead, round_)
        job.sweep(order, theirs)
        for j, i in enumerate(order):
            a = (j + 1) / len(order)
            results[i] = _f16((1 - a) * results[i] + a * theirs[i])
    log.info("%s", job.cache.summary())
    return frames.start, np.stack([results[i] for i in frames]), job.cache
