"""``iovst stylize``: round 0, independent per-frame stylisation of one chunk of frames.

Command line::

    iovst stylize --frames-dir D --meta M --chunk K --chunk-size C --style IMG... \\
        [--style-weights W...] [--style-scale S] --out R.h5 --cache-dir CACHE --params JSON \\
        --device DEV [--report-losses] [--prev R0_{K-1}.h5] [--flow F.h5...] [--masks M.h5...]

``--params`` (inline JSON or ``@file``), one canonical JSON object::

    {"stylize": {...},       # the config's `stylize` section, defaults filled (method, layers, weights,
                             #   optimizer, iterations, init, original_colors, brushstroke, ...)
     "model": {"weights": "auto", "torch_home": null},   # the config's `model` section
     "seed": 0,              # the config's global seed (per-frame seeds derive from it)
     "stage_version": 1}     # iovst.config.STAGE_VERSIONS["stylize"]

Style images, their blend weights and scale come from ``--style``, ``--style-weights`` and
``--style-scale`` (config ``styles.<name>``); they enter the cache key through the decoded images'
hashes, so they need not be in ``--params``.

The model and the style targets (Grams) are built once per job; then each frame of chunk ``K`` is
either reused from the undeclared cache ``CACHE/stylize/`` or optimised from scratch (logged as
``frame 12: reused`` / ``frame 12: computed (3.1 s)``), and the chunk is written to ``R.h5``
(``kind=frames``, attrs ``first_frame``, ``round = 0``, ``method``, ``params_hash``, ``weights``,
``warning``, ``styles``, ``style_weights``, ``style_scale``). The cache key hashes the stage name,
the params, the frame's pixels, the per-frame seed, the style images' pixels, blend weights and
scale, and where the VGG weights came from.

``--report-losses`` prints each loss term (raw, weight, weighted) for the chunk's first frame at
iteration 0 with the configured weights, and exits without optimising or writing anything: the
evidence for tuning ``content_weight`` / ``style_weight`` / ``tv_weight`` against the real VGG.

Methods: ``stylize.method`` selects a stylizer factory in :data:`METHODS`: ``gatys`` is
:class:`GatysStylizer` (frames independent), ``brushstroke`` is :class:`BrushStylizer`.

Brushstroke (``method: brushstroke``) paints the chunk's frames *in order*: frame 0 of the video
starts from SLIC strokes; frame ``t > 0`` from frame ``t-1``'s final strokes moved by the flow
``FlowStore.flow(t-1, t)`` (``--flow``), with strokes whose new centre is unreliable
(``MaskStore.reliability(t, t-1)``, ``--masks``) dropped and uncovered areas reseeded
(:mod:`iovst.style.brush.video`); then the pixel stage. ``--flow``/``--masks`` must hold the pairs
``(t-1, t)`` of the chunk's frames (flow/mask chunks ``K-1`` and ``K``). The chunk file also gets
the dataset ``strokes_last`` ``(n, 12)`` float32 (:meth:`iovst.style.brush.strokes.Strokes.to_array`):
the last frame's strokes, which chunk ``K+1`` reads from its ``--prev`` (required for ``K > 0``).
A frame's cache entry holds its image and its final strokes, and its key also hashes the
incoming strokes, the flow and the reliability map, so a resumed job continues at the frame it
was on with a bit-identical result. ``--report-losses`` prints the stroke stage's terms (content,
style, curvature, orientation) for the SLIC strokes and the pixel stage's terms for their painting.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..storage import h5io
from ..storage.cache import FrameCache, hash_arrays, make_key
from ..chunks import chunk_frames
from ..config import canonical_json, params_hash, parse_params
from ..runtime.device import resolve_device
from ..errors import CacheError, ConfigError, InputError
from ..flow.flowstore import FlowStore, MaskStore
from ..video.frames import read_frame, read_image
from ..storage.meta import load_meta
from ..tensors import to_image, to_tensor
from .gatys import Gatys, GatysParams, frame_seed
from ..runtime.weights import WeightsInfo, set_torch_home

log = logging.getLogger(__name__)

STAGE = "stylize"
PARAMS_KEYS = ("stylize", "model", "seed", "stage_version")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames-dir", required=True, help="directory of %%06d.png frames")
    p.add_argument("--meta", required=True, help="meta.json written by 'iovst extract'")
    p.add_argument("--chunk", type=int, required=True, help="chunk index K (0-based)")
    p.add_argument("--chunk-size", type=int, required=True, help="frames per chunk C")
    p.add_argument("--style", action="append", required=True, metavar="IMG",
                   help="style image (repeat the option for a blend: --style=a.png --style=b.png)")
    p.add_argument("--style-weight", dest="style_weights", action="append", type=float, default=None, metavar="W",
                   help="blend weight per style image (normalised to sum 1; default equal)")
    p.add_argument("--style-scale", type=float, default=1.0,
                   help="style image area relative to the frame area (default 1)")
    p.add_argument("--out", help="result chunk R.h5 (required unless --report-losses)")
    p.add_argument("--cache-dir", help="undeclared per-frame cache root (required unless --report-losses)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--params", help="JSON (or @file): see 'iovst.style.stylize' docstring")
    src.add_argument("--config", help="take the params from this config file (handy with --report-losses)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--report-losses", action="store_true",
                   help="print each loss term at iteration 0 for the chunk's first frame and exit")
    p.add_argument("--prev", metavar="R.h5",
                   help="brushstroke, chunk K > 0: round-0 chunk K-1 (its last frame's strokes)")
    p.add_argument("--flow", nargs="+", metavar="F.h5", default=[],
                   help="brushstroke: flow chunks holding the pairs (t-1, t) of the chunk's frames")
    p.add_argument("--masks", nargs="+", metavar="M.h5", default=[],
                   help="brushstroke: mask chunks for the same pairs")


# ------------------------------------------------------------------------------------ stylizers
def _gatys_with_targets(params: GatysParams, *, styles: Sequence[np.ndarray], style_weights: Sequence[float] | None,
                        style_scale: float, frame_hw: tuple[int, int], device: torch.device, weights: str,
                        seed: int) -> tuple[Gatys, Any]:
    """The Gatys model and its style targets (computed once per job)."""
    model = Gatys(params=params, device=device, weights=weights, seed=seed)
    return model, model.style_targets(styles, style_weights, frame_hw=frame_hw, scale=style_scale)


class GatysStylizer:
    """Per-frame Gatys stylisation: model and style targets built once, then called per frame.

    Stylizer interface (shared by every entry of :data:`METHODS`): constructed with the keyword
    arguments below; attribute ``weights_info``; ``__call__(frame (H, W, 3) float32 in [0, 1], *,
    seed) -> (H, W, 3) float32 in [0, 1]``; ``report(frame, *, seed) -> str``.
    """

    def __init__(
        self,
        *,
        section: Mapping[str, Any],
        styles: Sequence[np.ndarray],
        style_weights: Sequence[float] | None,
        style_scale: float,
        frame_hw: tuple[int, int],
        device: torch.device,
        weights: str,
        seed: int,
    ) -> None:
        self.params = GatysParams.from_config(section)
        self.model, self.targets = _gatys_with_targets(
            self.params, styles=styles, style_weights=style_weights, style_scale=style_scale,
            frame_hw=frame_hw, device=device, weights=weights, seed=seed,
        )
        self.weights_info: WeightsInfo = self.model.weights_info

    def __call__(self, frame: np.ndarray, *, seed: int) -> np.ndarray:
        content = to_tensor(frame)
        out = self.model.optimize(content, targets=self.targets, iterations=self.params.iterations, seed=seed)
        return to_image(out)

    def report(self, frame: np.ndarray, *, seed: int) -> str:
        """Table of loss terms at iteration 0 (the configured init and, for contrast, noise)."""
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


class BrushStylizer:
    """Brushstroke stylisation (:class:`iovst.style.brush.paint.BrushPainter`): the stylizer interface
    of :class:`GatysStylizer`, except that frames depend on the previous frame's strokes and are
    painted in order with :meth:`paint` (instead of ``__call__``).

    A Gatys model built from the ``stylize`` section runs the pixel stage (its optimiser and
    weights) and provides the style targets; ``stylize.brushstroke`` configures the strokes.
    """

    def __init__(
        self,
        *,
        section: Mapping[str, Any],
        styles: Sequence[np.ndarray],
        style_weights: Sequence[float] | None,
        style_scale: float,
        frame_hw: tuple[int, int],
        device: torch.device,
        weights: str,
        seed: int,
    ) -> None:
        from .brush.paint import BrushPainter

        gatys, self.targets = _gatys_with_targets(
            GatysParams.from_config(section), styles=styles, style_weights=style_weights,
            style_scale=style_scale, frame_hw=frame_hw, device=device, weights=weights, seed=seed,
        )
        self.painter = BrushPainter(gatys=gatys, params=section.get("brushstroke", {}), weights=weights, seed=seed)
        self.weights_info: WeightsInfo = self.painter.weights_info

    def paint(self, frame: np.ndarray, *, seed: int, prev: np.ndarray | None,
              flow: np.ndarray | None, reliability: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Paint one frame.

        Args:
            frame: ``(H, W, 3)`` float32 in [0, 1].
            seed: per-frame seed.
            prev: the previous frame's strokes ``(n, 12)`` float32, or ``None`` (SLIC start).
            flow: with ``prev``, ``(2, H, W)`` float32 px, defined on the previous frame,
                pointing into this one.
            reliability: with ``prev``, ``(H, W)`` float32 in [0, 1] on this frame.

        Returns:
            The stylised frame ``(H, W, 3)`` float32 in [0, 1] and its final strokes ``(m, 12)``
            float32.
        """
        from .brush.strokes import Strokes

        image, strokes = self.painter.paint_frame(
            frame, targets=self.targets, prev_strokes=None if prev is None else Strokes.from_array(prev),
            flow_prev_to_cur=flow, reliability=reliability, seed=seed)
        return image, strokes.to_array()

    def report(self, frame: np.ndarray, *, seed: int) -> str:
        """Table of the stroke and pixel stages' loss terms at step 0 (SLIC strokes)."""
        return self.painter.report(frame, targets=self.targets, seed=seed)


#: stylize.method -> stylizer factory (see :class:`GatysStylizer` for the interface).
METHODS: dict[str, Callable[..., Any]] = {"gatys": GatysStylizer, "brushstroke": BrushStylizer}


# ------------------------------------------------------------------------------------ helpers
def _check_params(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise ConfigError("--params: expected a JSON object {stylize, model, seed, stage_version}")
    missing = [k for k in PARAMS_KEYS if k not in params]
    if missing:
        raise ConfigError(f"--params: missing key '{missing[0]}' (expected {', '.join(PARAMS_KEYS)})")
    if not isinstance(params["stylize"], dict) or not isinstance(params["model"], dict):
        raise ConfigError("--params: 'stylize' and 'model' must be objects (the config sections)")
    if not isinstance(params["seed"], int) or params["seed"] < 0:
        raise ConfigError(f"--params: 'seed' must be an integer >= 0, got {params['seed']!r}")
    return params


def params_from_config(path: str | Path) -> dict[str, Any]:
    """The ``--params`` object of this stage built from a config file (validated, defaults filled)."""
    from ..config import STAGE_VERSIONS, load

    cfg = load(path)
    return {"stylize": cfg["stylize"], "model": cfg["model"], "seed": cfg["seed"],
            "stage_version": STAGE_VERSIONS[STAGE]}


def _weights_key(info: WeightsInfo) -> dict[str, str]:
    """What the result depends on: the source, and the seed or file hash (not the cache path)."""
    return {"model": info.model, "source": info.source, "detail": "" if info.source == "imagenet" else info.detail}


def _frame(frames_dir: str, index: int, hw: tuple[int, int]) -> np.ndarray:
    frame = read_frame(frames_dir, index)
    if frame.shape[:2] != hw:
        raise InputError(f"frame {index} in '{frames_dir}': size {frame.shape[1]}x{frame.shape[0]} "
                         f"but meta says {hw[1]}x{hw[0]}")
    return frame


def load_stylizer(
    *,
    method: str,
    params: Mapping[str, Any],
    style_paths: Sequence[str | Path],
    style_weights: Sequence[float] | None,
    style_scale: float,
    frame_hw: tuple[int, int],
    device: torch.device,
) -> tuple[Any, str]:
    """Build a stylizer of ``method`` (model + style targets, once per job) and its style digest.

    Style images are read first, so a missing or corrupt one fails (``InputError`` naming it)
    before any model work. The digest (hex) covers the style images' pixels, blend weights, scale
    and where the VGG weights came from: it goes into every per-frame cache key.
    """
    styles = [read_image(p) for p in style_paths]
    set_torch_home(params["model"].get("torch_home"))
    stylizer = METHODS[method](
        section=params["stylize"], styles=styles, style_weights=style_weights,
        style_scale=style_scale, frame_hw=frame_hw, device=device,
        weights=params["model"].get("weights", "auto"), seed=params["seed"],
    )
    digest = make_key(
        "style", {"style_weights": list(style_weights or []), "style_scale": style_scale,
                  "weights": _weights_key(stylizer.weights_info)},
        *[hash_arrays(s) for s in styles],
    )
    return stylizer, digest


def _independent_frames(
    stylizer: Any,
    *,
    indices: range,
    frames_dir: str,
    hw: tuple[int, int],
    params: Mapping[str, Any],
    style_digest: str,
    cache: FrameCache,
) -> list[np.ndarray]:
    """Stylise each frame of ``indices`` on its own (reused from ``cache`` where possible).

    Returns:
        The stylised frames, ``(H, W, 3)`` float32 in [0, 1] (float16-rounded).
    """
    results = []
    for i in indices:
        frame = _frame(frames_dir, i, hw)
        fseed = frame_seed(params["seed"], i)
        key = make_key(STAGE, params, hash_arrays(frame), str(fseed), style_digest)
        out = cache.get(key, shape=frame.shape)
        if out is not None:
            log.info("frame %d: reused", i)
        else:
            t = time.perf_counter()
            out = stylizer(frame, seed=fseed).astype(np.float16)
            # log before caching: a kill between the two counts as (at most) one recomputed frame
            log.info("frame %d: computed (%.1f s)", i, time.perf_counter() - t)
            cache.put(key, out)
        results.append(out.astype(np.float32))
    return results


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
        raise CacheError(f"--prev '{path}': 'strokes_last' is {strokes.dtype} {strokes.shape}, expected float32 (n, 12)",
                         path=path)
    return strokes


def _pack(image: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """One cache entry for a brush frame: the float16 image's values, then the strokes, as one
    flat float32 array (both exact)."""
    return np.concatenate([image.astype(np.float32).ravel(), strokes.ravel()])


def _unpack(value: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`_pack`: ``(image (H, W, 3) float16, strokes (n, 12) float32)`` (the
    cache key fixes the layout: the frame's pixels fix ``H, W``)."""
    n_img = hw[0] * hw[1] * 3
    return value[:n_img].reshape(*hw, 3).astype(np.float16), value[n_img:].reshape(-1, 12)


def _brush_frames(
    stylizer: BrushStylizer,
    *,
    indices: range,
    frames_dir: str,
    hw: tuple[int, int],
    params: Mapping[str, Any],
    style_digest: str,
    cache: FrameCache,
    strokes: np.ndarray | None,
    flow_paths: Sequence[str],
    mask_paths: Sequence[str],
) -> tuple[list[np.ndarray], np.ndarray]:
    """Paint the frames ``indices`` in order, each from the previous frame's strokes.

    Args:
        strokes: the strokes ``(n, 12)`` float32 of frame ``indices.start - 1`` (from ``--prev``),
            or ``None`` when the chunk starts the video (SLIC start).

    Returns:
        The stylised frames (``(H, W, 3)`` float32 in [0, 1], float16-rounded) and the last
        frame's strokes ``(n, 12)`` float32.
    """
    results = []
    with FlowStore(flow_paths) as flows, MaskStore(mask_paths) as masks:
        for i in indices:
            frame = _frame(frames_dir, i, hw)
            fseed = frame_seed(params["seed"], i)
            flow = rel = None
            if strokes is not None:
                try:
                    flow, rel = flows.flow(i - 1, i), masks.reliability(i, i - 1)
                except KeyError as exc:
                    raise InputError(f"--flow/--masks: stylize.method brushstroke needs the pair ({i - 1}, {i}) "
                                     f"at offset 1: {exc.args[0]}") from None
            inputs = "slic" if strokes is None else hash_arrays(strokes, flow, rel)
            key = make_key(STAGE, params, hash_arrays(frame), str(fseed), style_digest, inputs)
            hit = cache.get(key)
            if hit is not None:
                log.info("frame %d: reused", i)
                out, strokes = _unpack(hit, hw)
            else:
                t = time.perf_counter()
                image, strokes = stylizer.paint(frame, seed=fseed, prev=strokes, flow=flow, reliability=rel)
                out = image.astype(np.float16)
                # log before caching: a kill between the two counts as (at most) one recomputed frame
                log.info("frame %d: computed (%.1f s, %d strokes)", i, time.perf_counter() - t, len(strokes))
                cache.put(key, _pack(out, strokes))
            results.append(out.astype(np.float32))
    return results, strokes


# ------------------------------------------------------------------------------------ stage
def run(args: argparse.Namespace) -> int:
    params = _check_params(parse_params(args.params) if args.params else params_from_config(args.config))
    method = params["stylize"].get("method", "gatys")
    if method not in METHODS:
        raise ConfigError(f"config key 'stylize.method': {method!r} is not available (have {sorted(METHODS)})")
    if not args.report_losses and (not args.out or not args.cache_dir):
        raise ConfigError("stylize: --out and --cache-dir are required (unless --report-losses)")
    if args.style_weights is not None and len(args.style_weights) != len(args.style):
        raise ConfigError(f"--style-weight: {len(args.style_weights)} weight(s) for {len(args.style)} style image(s)")
    if args.style_weights is not None and (min(args.style_weights) < 0 or sum(args.style_weights) <= 0):
        raise ConfigError(f"--style-weight: must be >= 0 with a positive sum, got {args.style_weights}")
    if args.style_scale <= 0:
        raise ConfigError(f"--style-scale: must be > 0, got {args.style_scale}")
    if method != "brushstroke" and (args.prev or args.flow or args.masks):
        raise ConfigError(f"--prev/--flow/--masks: only for stylize.method brushstroke (this is {method!r})")

    meta = load_meta(args.meta)
    hw = (meta["height"], meta["width"])
    try:
        indices = chunk_frames(args.chunk, args.chunk_size, meta["frame_count"])
    except ValueError as exc:
        raise ConfigError(f"--chunk/--chunk-size: {exc}") from None
    prev_strokes = None
    if method == "brushstroke" and not args.report_losses:
        if indices.start > 0 and not args.prev:
            raise ConfigError(f"--prev: stylize.method brushstroke needs round-0 chunk {args.chunk - 1} for chunk {args.chunk}")
        if indices.start == 0 and args.prev:
            raise ConfigError("--prev: chunk 0 starts from SLIC strokes; it has no previous chunk")
        if args.prev:
            prev_strokes = _prev_strokes(args.prev, first=indices.start)
    device = resolve_device(args.device)
    seed = params["seed"]
    t0 = time.perf_counter()
    stylizer, style_digest = load_stylizer(
        method=method, params=params, style_paths=args.style, style_weights=args.style_weights,
        style_scale=args.style_scale, frame_hw=hw, device=device,
    )
    log.info("%s model and style targets ready (%.1f s, weights %s)", method, time.perf_counter() - t0,
             stylizer.weights_info.source)

    if args.report_losses:
        i = indices.start
        print(f"loss terms at iteration 0, frame {i} ({hw[1]}x{hw[0]}), VGG weights: {stylizer.weights_info.source}")
        if stylizer.weights_info.warning:
            print(f"WARNING: {stylizer.weights_info.warning}")
        print(stylizer.report(_frame(args.frames_dir, i, hw), seed=frame_seed(seed, i)))
        return 0

    cache = FrameCache(Path(args.cache_dir), STAGE)
    extra = {}
    if method == "brushstroke":
        results, extra["strokes_last"] = _brush_frames(
            stylizer, indices=indices, frames_dir=args.frames_dir, hw=hw, params=params,
            style_digest=style_digest, cache=cache, strokes=prev_strokes, flow_paths=args.flow,
            mask_paths=args.masks,
        )
    else:
        results = _independent_frames(stylizer, indices=indices, frames_dir=args.frames_dir, hw=hw,
                                      params=params, style_digest=style_digest, cache=cache)

    blend = args.style_weights or [1.0] * len(args.style)
    h5io.write_frames(
        args.out, np.stack(results), first_frame=indices.start,
        attrs={
            "round": 0, "method": method, "params_hash": params_hash(params), "stage_version": params["stage_version"],
            "weights": canonical_json(stylizer.weights_info.as_dict()), "warning": stylizer.weights_info.warning,
            "styles": json.dumps([str(p) for p in args.style]),
            "style_weights": [w / sum(blend) for w in blend], "style_scale": args.style_scale,
        },
        extra=extra,
    )
    log.info("%s", cache.summary())
    return 0
