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
``1/w, 2/w, …, 1``), so the two sweeps meet without a seam.

Lockstep sub-sweeps (``parallel``, ``multipass.sub_sweeps = S``): a chunk is split into ``S``
sub-chunks of near-equal size, each swept from a lead of its own in the sub-chunk before it (the
first one's in the chunk before), and each sub-chunk cross-fades into the sweep that starts in it,
exactly as chunks do (one code path: :func:`iovst.chunks.multipass_sweeps`). The job's sweeps (its
``S`` sub-chunks' and the next chunk's lead) are independent; they advance in lockstep, step ``k``
refining the ``k``-th frame of each in batches of ``stylize.batch_size`` (:meth:`_Job.run`: one
batched VGG forward/backward per iteration, each frame with its own start image, temporal terms,
optimiser state and seed), so a GPU is fed ``S + 1`` frames at once instead of one.

Frame ``i`` starts from::

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
params; not the batching), so a killed job loses at most the batch in flight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..chunks import chunk_frames, multipass_sweeps
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
from .gatys import TemporalTerm
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
class _Frame:
    """One frame of a sweep, ready to refine (:meth:`_Job.run`)."""

    index: int
    content: np.ndarray  #: ``(H, W, 3)`` float32 content target
    x0: torch.Tensor  #: ``(1, 3, H, W)`` start image
    temporal: list[TemporalTerm]  #: ``((1, 3, H, W), (1, 1, H, W))`` per term
    key: str  #: per-frame cache key
    seed: int
    current: dict[int, np.ndarray]  #: its sweep's newest results, where the result goes


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

    def _frame(self, i: int, current: dict[int, np.ndarray]) -> _Frame:
        """Frame ``i``'s inputs, from :attr:`previous` and its neighbours' newest results in
        ``current`` (``(H, W, 3)`` float32 by frame: its sweep's)."""
        mp, device, round_, n_frames = self.params.multipass, self.device, self.round_, self.n_frames
        use_temporal = round_ >= mp.temporal_from and mp.temporal_weight > 0
        direction = "from_prev" if round_ % 2 == 1 else "from_next"
        sign = -1 if round_ % 2 == 1 else 1
        content = read_frame(self.frames_dir, i) if self.paintings is None else self.paintings[i]
        x_prev = to_tensor(self.previous[i], device)
        nb = neighbour_of(i, round_, n_frames, self.cuts)
        if nb is not None:
            warped = warp(to_tensor(current[nb], device), torch.from_numpy(self.flows.flow(i, nb)).to(device))
            rel = torch.from_numpy(self.masks.reliability(i, nb)).to(device)
            x0 = blend_init(x_prev, warped, rel, mp.blend)
        else:
            x0 = x_prev
        temporal: list[TemporalTerm] = []
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
        seed = self.params.seed * 1_000_003 + round_ * 10_007 + i
        return _Frame(index=i, content=content, x0=x0, temporal=temporal, key=key, seed=seed, current=current)

    def _refine(self, batch: list[_Frame]) -> None:
        """Refine ``batch`` in one batched call, cache each result and put it into its sweep's
        ``current``. A frame with fewer temporal terms than another gets zero-weight ones (zero
        image, weight 0), which add exactly 0 to its loss and gradient (``mean(c·(x − w)²)``)."""
        t0 = time.perf_counter()
        mp, n_terms = self.params.multipass, max(len(f.temporal) for f in batch)

        def term(f: _Frame, t: int) -> TemporalTerm:
            return f.temporal[t] if t < len(f.temporal) else (torch.zeros_like(f.x0), torch.zeros_like(f.x0[:, :1]))

        temporal = [tuple(torch.cat(parts) for parts in zip(*(term(f, t) for f in batch))) for t in range(n_terms)]
        out = self.stylizer.refine(
            torch.cat([to_tensor(f.content, self.device) for f in batch]),
            init=torch.cat([f.x0 for f in batch]),
            iterations=mp.iterations,
            temporal=temporal,
            temporal_weight=mp.temporal_weight if n_terms else 0.0,
            seeds=[f.seed for f in batch],
        )
        dt = (time.perf_counter() - t0) / len(batch)  # seconds per frame
        for f, image in zip(batch, out.split(1), strict=True):
            result = _f16(to_image(image))
            # log before caching: a kill between the two is counted as (at most) one recomputation
            step = self.progress.step(dt)
            log.info("frame %d: computed (%.1f s, %d temporal terms); %s", f.index, dt, len(f.temporal), step)
            self.cache.put(f.key, result)
            f.current[f.index] = result

    def run(self, sweeps: Sequence[tuple[list[int], dict[int, np.ndarray]]]) -> None:
        """Advance ``sweeps`` in lockstep. Each is ``(frame order, current)``: its frames are
        refined in turn, each from :attr:`previous` and its neighbours in that sweep's ``current``
        (``(H, W, 3)`` float32 by frame; updated with each result). Step ``k`` takes the ``k``-th
        frame of every sweep not yet finished (a shorter sweep finishes early, the batch shrinks);
        cached frames are reused (their sweep just advances), the others are refined
        ``stylize.batch_size`` at a time (:meth:`_refine`), each cached as soon as its batch is done,
        so a killed job loses at most the batch in flight. A frame's cache key does not depend on
        the batching."""
        size = self.params.stylize.batch_size
        for k in range(max((len(order) for order, _ in sweeps), default=0)):
            todo = []
            for order, current in sweeps:
                if k >= len(order):
                    continue
                f = self._frame(order[k], current)
                result = self.cache.get(f.key, shape=f.content.shape)
                if result is None:
                    todo.append(f)
                    continue
                self.progress.step()
                log.info("frame %d: reused", f.index)
                current[f.index] = result
            for b in range(0, len(todo), size):
                self._refine(todo[b : b + size])


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
    mp = params.multipass
    parallel = mp.schedule == "parallel"
    # (frames swept, its lead); sequential: one sweep over the chunk, continuing the chunks before it
    sweeps = (
        multipass_sweeps(chunk, round_, chunk_size, n_frames, mp.overlap, mp.sub_sweeps)
        if parallel
        else [(frames, range(0))]
    )

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
        progress=ChunkProgress(sum(len(span) for span, _ in sweeps)),
        cuts=cuts,
        paintings=None if paintings is None else {i: paintings[i - frames.start] for i in frames},
    )
    currents = [dict(job.previous) for _ in sweeps] if parallel else [neighbours]
    job.run([(sweep_order(span, round_), current) for (span, _), current in zip(sweeps, currents)])
    results = {i: current[i] for (span, lead), current in zip(sweeps, currents) for i in span if i not in lead}
    for (_, lead), current in zip(sweeps, currents):
        if lead and frames.start <= lead.start and lead.stop <= frames.stop:
            # a sweep starts here (a later sub-chunk's, or the next chunk's): fade into it, reaching it at the seam
            order = sweep_order(lead, round_)
            for j, i in enumerate(order):
                a = (j + 1) / len(order)
                results[i] = _f16((1 - a) * results[i] + a * current[i])
    log.info("%s", job.cache.summary())
    return frames.start, np.stack([results[i] for i in frames]), job.cache
