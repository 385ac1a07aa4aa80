"""Stylizers: one per ``stylize.method``, all implementing the :class:`Stylizer` protocol.

A stylizer is built once per job (VGG-19, style targets) by :func:`load_stylizer` and then

* stylises round 0 of one chunk (:meth:`Stylizer.stylize_chunk`), reusing frames from the
  per-frame cache;
* refines a batch of frames at pixel level, each from its start image with optional temporal
  terms (:meth:`Stylizer.refine`, the multipass rounds);
* reports its loss terms at iteration 0 (:meth:`Stylizer.report`, ``--report-losses``).

:class:`GatysStylizer` stylises every frame on its own. :class:`BrushStylizer` paints the chunk's
frames in order, each from the previous frame's strokes moved by the flow, then runs the Gatys
pixel stage on the same model (one VGG-19 for both stages).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ..config import StageParams, StylizeParams, result_params
from ..errors import CacheError, ConfigError, InputError
from ..flow.cuts import Cuts
from ..flow.flowstore import FlowStore, MaskStore
from ..progress import ChunkProgress
from ..runtime.weights import WeightsInfo, set_torch_home
from ..storage import h5io
from ..storage.cache import FrameCache, hash_arrays, make_key
from ..tensors import to_image, to_tensor
from ..video.frames import read_frame, read_image
from .gatys import Gatys, TemporalTerm, frame_seed

log = logging.getLogger(__name__)

#: Stage name in the per-frame cache keys of round 0.
STAGE = "stylize"


@dataclass(frozen=True)
class Chunk:
    """The inputs of one round-0 job.

    Attributes:
        frames_dir: directory of ``%06d.png`` frames.
        hw: ``(H, W)`` of the frames (meta.json's processing size).
        chunk: chunk index; ``indices`` its frames.
        prev: the previous chunk's round-0 file (methods that carry state across frames).
        flow, masks: flow / mask chunk files holding the pairs ``(t-1, t)`` of the chunk's frames.
        cuts: the video's ``cuts.json`` (brushstrokes start afresh at a shot's first frame).
    """

    frames_dir: str
    hw: tuple[int, int]
    chunk: int
    indices: range
    prev: str | None = None
    flow: Sequence[str] = field(default_factory=tuple)
    masks: Sequence[str] = field(default_factory=tuple)
    cuts: str | None = None

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index``, ``(H, W, 3)`` float32 in [0, 1]; ``InputError`` unless it is ``hw``."""
        frame = read_frame(self.frames_dir, index)
        if frame.shape[:2] != self.hw:
            raise InputError(
                f"frame {index} in '{self.frames_dir}': size {frame.shape[1]}x{frame.shape[0]} "
                f"but meta says {self.hw[1]}x{self.hw[0]}"
            )
        return frame


@dataclass(frozen=True)
class FrameKeys:
    """Per-frame seeds and cache keys of one job: the key hashes the stage, its params (less
    :data:`iovst.config.NOT_IN_RESULT`), the frame's pixels, the per-frame seed, the style digest
    and any further ``inputs``."""

    params: Mapping[str, Any]
    style_digest: str

    def __call__(self, index: int, frame: np.ndarray, *inputs: str) -> tuple[int, str]:
        """``(per-frame seed, cache key)`` of frame ``index``."""
        seed = frame_seed(self.params["seed"], index)
        key = make_key(STAGE, result_params(self.params), hash_arrays(frame), str(seed), self.style_digest, *inputs)
        return seed, key


class Stylizer(Protocol):
    """What round 0 and multipass need from a stylisation method."""

    #: the value of ``stylize.method``
    method: str
    #: where the VGG-19 weights came from
    weights_info: WeightsInfo

    @classmethod
    def check_inputs(cls, chunk: Chunk, *, report_only: bool) -> None:
        """Raise ``ConfigError`` (before any model work) when ``chunk``'s inputs do not fit."""

    def stylize_chunk(
        self, chunk: Chunk, *, cache: FrameCache, keys: FrameKeys
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """Round 0 of ``chunk``: the stylised frames (``(H, W, 3)`` float32 in [0, 1],
        float16-rounded) and further datasets for the chunk file."""

    def refine(
        self,
        content: torch.Tensor,
        *,
        init: torch.Tensor | None,
        iterations: int,
        temporal: Sequence[TemporalTerm] = (),
        temporal_weight: float = 0.0,
        seeds: Sequence[int],
    ) -> torch.Tensor:
        """Pixel-level optimisation of ``B`` frames ``content`` ``(B, 3, H, W)``, each on its own,
        from ``init`` ``(B, 3, H, W)`` (``None``: the configured init) with per-frame ``temporal``
        terms (:meth:`iovst.style.gatys.Gatys.optimize_batch`) and one seed each; ``(B, 3, H, W)``
        fp32 in [0, 1]."""

    def report(self, frame: np.ndarray, *, seed: int) -> str:
        """Table of the loss terms at iteration 0 for ``frame`` ``(H, W, 3)`` float32."""


class GatysStylizer:
    """Per-frame Gatys stylisation (:class:`Stylizer`): frames are independent.

    Args:
        stylize: the config ``stylize`` section.
        styles: style images ``(h, w, 3)`` float32 in [0, 1].
        style_weights: blend weight per style image (``None``: equal).
        style_scale: style image area relative to the frame area.
        frame_hw: ``(H, W)`` of the frames.
        device, weights, seed: where the model runs, VGG-19 weights spec, seed of random weights.
        extra_layers: further VGG-19 layers the model computes for a subclass.
    """

    method = "gatys"

    def __init__(
        self,
        *,
        stylize: StylizeParams,
        styles: Sequence[np.ndarray],
        style_weights: Sequence[float] | None,
        style_scale: float,
        frame_hw: tuple[int, int],
        device: torch.device,
        weights: str,
        seed: int,
        extra_layers: Sequence[str] = (),
    ) -> None:
        self.params = stylize
        self.model = Gatys(params=self.params, device=device, weights=weights, seed=seed, extra_layers=extra_layers)
        self.targets = self.model.style_targets(styles, style_weights, frame_hw=frame_hw, scale=style_scale)
        self.weights_info: WeightsInfo = self.model.weights_info

    @classmethod
    def check_inputs(cls, chunk: Chunk, *, report_only: bool) -> None:
        if chunk.prev or chunk.flow or chunk.masks or chunk.cuts:
            raise ConfigError(
                f"--prev/--flow/--masks/--cuts: only for stylize.method brushstroke (this is {cls.method!r})"
            )

    def refine(
        self,
        content: torch.Tensor,
        *,
        init: torch.Tensor | None,
        iterations: int,
        temporal: Sequence[TemporalTerm] = (),
        temporal_weight: float = 0.0,
        seeds: Sequence[int],
    ) -> torch.Tensor:
        return self.model.optimize_batch(
            content,
            targets=self.targets,
            init=init,
            iterations=iterations,
            temporal=temporal,
            temporal_weight=temporal_weight,
            seeds=seeds,
        )

    def stylize_chunk(
        self, chunk: Chunk, *, cache: FrameCache, keys: FrameKeys
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """Frames not in the cache are optimised ``stylize.batch_size`` at a time (in frame order,
        cached frames skipped), each cached as soon as its batch is done: a kill loses at most the
        batch in flight."""
        results: dict[int, np.ndarray] = {}
        progress = ChunkProgress(len(chunk.indices))
        pending: list[tuple[int, np.ndarray, int, str]] = []  # (index, frame, seed, key)

        def run_batch() -> None:
            t = time.perf_counter()
            images = self.model.optimize_batch(
                torch.cat([to_tensor(f) for _, f, _, _ in pending]),
                targets=self.targets,
                iterations=self.params.iterations,
                seeds=[s for _, _, s, _ in pending],
            )
            dt = (time.perf_counter() - t) / len(pending)  # seconds per frame
            for (i, _, _, key), image in zip(pending, images.split(1), strict=True):
                out = to_image(image).astype(np.float16)
                # log before caching: a kill between the two counts as (at most) one recomputed frame
                log.info("frame %d: computed (%.1f s); %s", i, dt, progress.step(dt))
                cache.put(key, out)
                results[i] = out
            pending.clear()

        for i in chunk.indices:
            frame = chunk.frame(i)
            fseed, key = keys(i, frame)
            out = cache.get(key, shape=frame.shape)
            if out is not None:
                progress.step()
                log.info("frame %d: reused", i)
                results[i] = out
                continue
            pending.append((i, frame, fseed, key))
            if len(pending) == self.params.batch_size:
                run_batch()
        if pending:
            run_batch()
        return [results[i].astype(np.float32) for i in chunk.indices], {}

    def report(self, frame: np.ndarray, *, seed: int) -> str:
        """Loss terms at iteration 0 (the configured init and, for contrast, noise)."""
        content = to_tensor(frame)
        inits = {f"init={self.params.init}": self.model.initial(content, seed=seed)}
        if self.params.init == "content":
            g = torch.Generator().manual_seed(seed)
            inits["noise (for scale)"] = torch.rand(tuple(content.shape), generator=g)
        p = self.params
        weights = {"content": p.content_weight, "style": p.style_weight, "tv": p.tv_weight}
        lines = [f"{'image':20s} {'term':8s} {'raw':>12s} {'weight':>10s} {'weighted':>12s}"]
        for label, x in inits.items():
            raw = self.model.loss_terms(x, content, self.targets, weighted=False)
            for term, w in weights.items():
                lines.append(f"{label:20s} {term:8s} {raw[term]:12.4e} {w:10.3g} {raw[term] * w:12.4e}")
            lines.append(f"{label:20s} {'total':8s} {'':>12s} {'':>10s} {raw['total']:12.4e}")
        return "\n".join(lines)


class BrushStylizer(GatysStylizer):
    """Brushstroke stylisation (:class:`Stylizer`, :class:`iovst.style.brush.paint.BrushPainter`).

    Frames are painted in order: frame 0 of the video from SLIC strokes, frame ``t > 0`` from frame
    ``t-1``'s strokes moved by the flow ``t-1 -> t`` (unreliable ones dropped, uncovered areas
    reseeded), then the pixel stage of the Gatys model built from the ``stylize`` section (whose
    VGG-19 the stroke stage shares); ``stylize.brushstroke`` configures the strokes. The first
    frame of a shot (``Chunk.cuts``) starts from SLIC strokes like frame 0. The chunk file gets
    ``strokes_last`` ``(n, 12)`` float32, the last frame's strokes, from which the next chunk
    continues (its ``--prev``), and ``paintings`` ``(c, H, W, 3)`` float16, each frame's stroke
    painting before the pixel stage (multipass refines against it, :func:`read_paintings`). A
    frame's cache entry holds its image, its painting and its strokes; its key also hashes the
    incoming strokes, the flow and the reliability map.
    """

    method = "brushstroke"

    def __init__(self, *, stylize: StylizeParams, **kwargs: Any) -> None:
        from .brush.paint import CONTENT_LAYERS, BrushPainter

        super().__init__(stylize=pixel_stylize(stylize), **kwargs, extra_layers=CONTENT_LAYERS)
        self.painter = BrushPainter(gatys=self.model, params=stylize.brushstroke)

    @classmethod
    def check_inputs(cls, chunk: Chunk, *, report_only: bool) -> None:
        if report_only:
            return
        if chunk.indices.start > 0 and not chunk.prev:
            raise ConfigError(
                f"--prev: stylize.method brushstroke needs round-0 chunk {chunk.chunk - 1} for chunk {chunk.chunk}"
            )
        if chunk.indices.start == 0 and chunk.prev:
            raise ConfigError("--prev: chunk 0 starts from SLIC strokes; it has no previous chunk")

    def paint(
        self,
        frame: np.ndarray,
        *,
        seed: int,
        prev: np.ndarray | None,
        flow: np.ndarray | None,
        reliability: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Paint one frame.

        Args:
            frame: ``(H, W, 3)`` float32 in [0, 1].
            seed: per-frame seed.
            prev: the previous frame's strokes ``(n, 12)`` float32, or ``None`` (SLIC start).
            flow: with ``prev``, ``(2, H, W)`` float32 px, defined on the previous frame,
                pointing into this one.
            reliability: with ``prev``, ``(H, W)`` float32 in [0, 1] on this frame.

        Returns:
            The stylised frame ``(H, W, 3)`` float32 in [0, 1], its stroke painting (same shape)
            and its final strokes ``(m, 12)`` float32.
        """
        from .brush.strokes import Strokes

        image, painting, strokes = self.painter.paint_frame(
            frame,
            targets=self.targets,
            prev_strokes=None if prev is None else Strokes.from_array(prev),
            flow_prev_to_cur=flow,
            reliability=reliability,
            seed=seed,
        )
        return image, painting, strokes.to_array()

    def stylize_chunk(
        self, chunk: Chunk, *, cache: FrameCache, keys: FrameKeys
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        strokes = _prev_strokes(chunk.prev, first=chunk.indices.start) if chunk.prev else None
        cuts = Cuts.load(chunk.cuts)
        results, paintings = [], []
        progress = ChunkProgress(len(chunk.indices))
        with FlowStore(chunk.flow) as flows, MaskStore(chunk.masks) as masks:
            for i in chunk.indices:
                frame = chunk.frame(i)
                flow = rel = None
                if strokes is not None and cuts.crosses(i - 1, i):
                    log.info("scene cut before frame %d: fresh strokes", i)
                    strokes = None
                if strokes is not None:
                    try:
                        flow, rel = flows.flow(i - 1, i), masks.reliability(i, i - 1)
                    except KeyError as exc:
                        raise InputError(
                            f"--flow/--masks: stylize.method brushstroke needs the pair ({i - 1}, {i}) "
                            f"at offset 1: {exc.args[0]}"
                        ) from None
                inputs = "slic" if strokes is None else hash_arrays(strokes, flow, rel)
                fseed, key = keys(i, frame, inputs)
                hit = cache.get(key)
                if hit is not None:
                    progress.step()
                    log.info("frame %d: reused", i)
                    out, painting, strokes = _unpack(hit, chunk.hw)
                else:
                    t = time.perf_counter()
                    image, painting, strokes = self.paint(frame, seed=fseed, prev=strokes, flow=flow, reliability=rel)
                    out, painting = image.astype(np.float16), painting.astype(np.float16)
                    # log before caching: a kill between the two counts as (at most) one recomputed frame
                    dt = time.perf_counter() - t
                    log.info("frame %d: computed (%.1f s, %d strokes); %s", i, dt, len(strokes), progress.step(dt))
                    cache.put(key, _pack(out, painting, strokes))
                results.append(out.astype(np.float32))
                paintings.append(painting)
        return results, {"strokes_last": strokes, "paintings": np.stack(paintings)}

    def report(self, frame: np.ndarray, *, seed: int) -> str:
        """Table of the stroke and pixel stages' loss terms at step 0 (SLIC strokes)."""
        return self.painter.report(frame, targets=self.targets, seed=seed)


#: stylize.method -> stylizer class.
METHODS: dict[str, type[GatysStylizer]] = {"gatys": GatysStylizer, "brushstroke": BrushStylizer}


def _prev_strokes(path: str, *, first: int) -> np.ndarray:
    """``strokes_last`` ``(n, 12)`` float32 of round-0 chunk ``path``, which must end at frame
    ``first - 1`` (the chunk before this one).

    Raises:
        InputError: the chunk does not end at ``first - 1``.
        CacheError: (naming ``path``, so the CLI removes it for regeneration) unreadable, or no
            valid ``strokes_last`` (e.g. a Gatys chunk).
    """
    with h5io.open_checked(path, kind="frames") as f:
        end = int(f.attrs["first_frame"]) + int(f.attrs["n_frames"])
        if end != first:
            raise InputError(f"--prev '{path}': ends at frame {end - 1}, but this chunk starts at frame {first}")
        strokes = h5io.read_dataset(f, "strokes_last")
    if strokes.ndim != 2 or strokes.shape[1] != 12 or strokes.dtype != np.float32:
        raise CacheError(
            f"--prev '{path}': 'strokes_last' is {strokes.dtype} {strokes.shape}, expected float32 (n, 12)", path=path
        )
    return strokes


def read_paintings(path: str | Path, frames: range) -> np.ndarray:
    """``paintings`` ``(len(frames), H, W, 3)`` float32 of brushstroke round-0 chunk ``path``,
    which must hold exactly ``frames``.

    Raises:
        InputError: the chunk holds other frames.
        CacheError: (naming ``path``, so the CLI removes it for regeneration) unreadable, or no
            valid ``paintings`` (e.g. a Gatys chunk).
    """
    with h5io.open_checked(path, kind="frames") as f:
        first, n = int(f.attrs["first_frame"]), int(f.attrs["n_frames"])
        if range(first, first + n) != frames:
            raise InputError(
                f"--paintings '{path}': holds frames {first}..{first + n - 1}, "
                f"expected {frames.start}..{frames.stop - 1}"
            )
        paintings = h5io.read_dataset(f, "paintings")
        shape = h5io.read_dataset(f, "frames").shape
    if paintings.shape != shape:
        raise CacheError(f"--paintings '{path}': 'paintings' is {paintings.shape}, frames are {shape}", path=path)
    return paintings.astype(np.float32)


def _pack(image: np.ndarray, painting: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """One cache entry for a brush frame: the float16 image's and painting's values, then the
    strokes, as one flat float32 array (all exact)."""
    return np.concatenate([image.astype(np.float32).ravel(), painting.astype(np.float32).ravel(), strokes.ravel()])


def _unpack(value: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`_pack`: ``(image, painting (H, W, 3) float16, strokes (n, 12) float32)``
    (the cache key fixes the layout: the frame's pixels fix ``H, W``)."""
    n = hw[0] * hw[1] * 3
    image, painting = (value[j * n : (j + 1) * n].reshape(*hw, 3).astype(np.float16) for j in (0, 1))
    return image, painting, value[2 * n :].reshape(-1, 12)


def _weights_key(info: WeightsInfo) -> dict[str, str]:
    """What the result depends on: the source, and the seed or file hash (not the cache path)."""
    return {"model": info.model, "source": info.source, "detail": "" if info.source == "imagenet" else info.detail}


def pixel_stylize(stylize: StylizeParams) -> StylizeParams:
    """The Gatys settings of pixel-level refinement after round 0 of ``stylize.method``:
    ``stylize`` itself, or for ``brushstroke`` with ``style_weight`` replaced by
    ``brushstroke.pixel_style_weight`` (the pixel stage and the multipass rounds refine the stroke
    painting with a lower style weight than a Gatys render from the photo, so the strokes stay:
    docs/tuning.md, "Brushstrokes")."""
    if stylize.method != "brushstroke":
        return stylize
    return dataclasses.replace(stylize, style_weight=stylize.brushstroke.pixel_style_weight)


def load_stylizer(
    *,
    method: str,
    params: StageParams,
    style_paths: Sequence[str | Path],
    style_weights: Sequence[float] | None,
    style_scale: float,
    frame_hw: tuple[int, int],
    device: torch.device,
    stylize: StylizeParams | None = None,
) -> tuple[Stylizer, str]:
    """Build a stylizer of ``method`` (model + style targets, once per job) and its style digest.

    Args:
        params: the stage's ``--params`` (``stylize``, ``model``, ``seed``).
        stylize: the stylizer's settings in place of ``params.stylize`` (multipass:
            :func:`pixel_stylize`).

    Style images are read first, so a missing or corrupt one fails (``InputError`` naming it)
    before any model work. The digest (hex) covers the style images' pixels, blend weights, scale
    and where the VGG weights came from: it goes into every per-frame cache key.
    """
    styles = [read_image(p) for p in style_paths]
    set_torch_home(params.model.torch_home)
    stylizer = METHODS[method](
        stylize=params.stylize if stylize is None else stylize,
        styles=styles,
        style_weights=style_weights,
        style_scale=style_scale,
        frame_hw=frame_hw,
        device=device,
        weights=params.model.weights,
        seed=params.seed,
    )
    digest = make_key(
        "style",
        {
            "style_weights": list(style_weights or []),
            "style_scale": style_scale,
            "weights": _weights_key(stylizer.weights_info),
        },
        *[hash_arrays(s) for s in styles],
    )
    return stylizer, digest
