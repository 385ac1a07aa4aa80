"""Round 0 of one chunk: per-frame stylisation by a :class:`~iovst.style.stylizer.Stylizer`
(command ``iovst stylize``, :mod:`iovst.stages.stylize`).

Command line::

    iovst stylize --frames-dir D --meta M --chunk K --chunk-size C --style IMG... \\
        [--style-weight W...] --style-scale S --out R.h5 --cache-dir CACHE --params JSON \\
        --device DEV [--report-losses] [--prev R0_{K-1}.h5] [--flow F.h5...] [--masks M.h5...]

``--params`` (inline JSON or ``@file``), one canonical JSON object, every key present
(:func:`iovst.config.stage_params`, read back by :func:`iovst.config.load_stage_params`)::

    {"stylize": {...},       # the config's `stylize` section (method, layers, weights,
                             #   optimizer, iterations, init, original_colors, brushstroke, ...)
     "model": {"weights": "auto", "torch_home": null},   # the config's `model` section
     "seed": 0,              # the config's global seed (per-frame seeds derive from it)
     "stage_version": 3}     # iovst.config.STAGES["stylize"].version

Style images, their blend weights and scale come from ``--style``, ``--style-weights`` and
``--style-scale`` (config ``styles.<name>``); they enter the cache key through the decoded images'
hashes, so they need not be in ``--params``.

The model and the style targets (Grams) are built once per job; then each frame of chunk ``K`` is
either reused from the undeclared cache ``CACHE/stylize/`` or optimised from scratch (logged as
``frame 12: reused`` / ``frame 12: computed (3.1 s)``; the uncached frames ``stylize.batch_size``
at a time, each cached when its batch is done), and the chunk is written to ``R.h5``
(``kind=frames``, attrs ``first_frame``, ``round = 0``, ``method``, ``params_hash``, ``weights``,
``warning``, ``styles``, ``style_weights``, ``style_scale``). The cache key hashes the stage name,
the params (less ``stylize.batch_size``: :data:`iovst.config.NOT_IN_RESULT`), the frame's pixels,
the per-frame seed, the style images' pixels, blend weights and scale, and where the VGG weights
came from.

``--report-losses`` prints each loss term (raw, weight, weighted) for the chunk's first frame at
iteration 0 with the configured weights, and exits without optimising or writing anything: the
evidence for tuning ``content_weight`` / ``style_weight`` / ``tv_weight`` against the real VGG.

Methods: ``stylize.method`` selects a stylizer class in :data:`iovst.style.stylizer.METHODS`:
``gatys`` is :class:`~iovst.style.stylizer.GatysStylizer` (frames independent), ``brushstroke`` is
:class:`~iovst.style.stylizer.BrushStylizer`.

Brushstroke (``method: brushstroke``) paints the chunk's frames *in order*: frame 0 of the video
starts from SLIC strokes; frame ``t > 0`` from frame ``t-1``'s final strokes moved by the flow
``FlowStore.flow(t-1, t)`` (``--flow``), with strokes whose new centre is unreliable
(``MaskStore.reliability(t, t-1)``, ``--masks``) dropped and uncovered areas reseeded
(:mod:`iovst.style.brush.video`); then the pixel stage. ``--flow``/``--masks`` must hold the pairs
``(t-1, t)`` of the chunk's frames (flow/mask chunks ``K-1`` and ``K``). The chunk file also gets
the dataset ``strokes_last`` ``(n, 12)`` float32 (:meth:`iovst.style.brush.strokes.Strokes.to_array`):
the last frame's strokes, which chunk ``K+1`` reads from its ``--prev`` (required for ``K > 0``),
and ``paintings`` ``(c, H, W, 3)`` float16, each frame's stroke painting before the pixel stage
(the multipass content targets). With ``--cuts`` (the video's ``cuts.json``) the first frame of
every shot starts from SLIC strokes like frame 0. A frame's cache entry holds its image, its
painting and its final strokes, and its key also hashes the incoming strokes, the flow and the
reliability map, so a resumed job continues at the frame it was on with a bit-identical result.
``--report-losses`` prints the stroke stage's terms (content, style, curvature, orientation) for
the SLIC strokes and the pixel stage's terms for their painting.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import StageParams, canonical_json, params_hash
from ..storage import h5io
from ..storage.cache import FrameCache
from .gatys import frame_seed
from .stylizer import STAGE, Chunk, FrameKeys, Stylizer

log = logging.getLogger(__name__)


def report_losses(stylizer: Stylizer, chunk: Chunk, *, seed: int) -> str:
    """The loss terms at iteration 0 for the chunk's first frame (``--report-losses``)."""
    i = chunk.indices.start
    hw = chunk.hw
    lines = [f"loss terms at iteration 0, frame {i} ({hw[1]}x{hw[0]}), VGG weights: {stylizer.weights_info.source}"]
    if stylizer.weights_info.warning:
        lines.append(f"WARNING: {stylizer.weights_info.warning}")
    lines.append(stylizer.report(chunk.frame(i), seed=frame_seed(seed, i)))
    return "\n".join(lines)


def stylize_chunk(
    stylizer: Stylizer,
    chunk: Chunk,
    *,
    params: StageParams,
    style_digest: str,
    style_paths: Sequence[str],
    style_weights: Sequence[float] | None,
    style_scale: float,
    out: str | Path,
    cache_dir: str | Path,
) -> None:
    """Stylise ``chunk`` (reusing cached frames) and write it to ``out`` (``kind=frames``)."""
    cache = FrameCache(Path(cache_dir), STAGE)
    results, extra = stylizer.stylize_chunk(chunk, cache=cache, keys=FrameKeys(params.raw, style_digest))
    blend = list(style_weights or [1.0] * len(style_paths))
    h5io.write_frames(
        out,
        np.stack(results),
        first_frame=chunk.indices.start,
        attrs={
            "round": 0,
            "method": stylizer.method,
            "params_hash": params_hash(params.raw),
            "stage_version": params.version,
            "weights": canonical_json(stylizer.weights_info.as_dict()),
            "warning": stylizer.weights_info.warning,
            "styles": json.dumps([str(p) for p in style_paths]),
            "style_weights": [w / sum(blend) for w in blend],
            "style_scale": style_scale,
        },
        extra=extra,
    )
    log.info("%s", cache.summary())
