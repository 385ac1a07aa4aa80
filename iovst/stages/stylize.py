"""``iovst stylize``: round 0 of one chunk (:mod:`iovst.style.stylize`; ``--params`` described there)."""

from __future__ import annotations

import argparse
import logging
import time

from .. import config
from ..chunks import chunk_frames
from ..errors import ConfigError
from ..runtime.device import resolve_device
from ..storage.meta import load_meta
from ..style.stylize import report_losses, stylize_chunk
from ..style.stylizer import METHODS, STAGE, Chunk, load_stylizer

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames-dir", required=True, help="directory of %%06d.png frames")
    p.add_argument("--meta", required=True, help="meta.json written by 'iovst extract'")
    p.add_argument("--chunk", type=int, required=True, help="chunk index K (0-based)")
    p.add_argument("--chunk-size", type=int, required=True, help="frames per chunk C")
    p.add_argument(
        "--style",
        action="append",
        required=True,
        metavar="IMG",
        help="style image (repeat the option for a blend: --style=a.png --style=b.png)",
    )
    p.add_argument(
        "--style-weight",
        dest="style_weights",
        action="append",
        type=float,
        default=None,
        metavar="W",
        help="blend weight per style image (normalised to sum 1; default equal)",
    )
    p.add_argument(
        "--style-scale",
        type=float,
        required=True,
        help="style image area relative to the frame area (config styles.<name>.scale)",
    )
    p.add_argument("--out", help="result chunk R.h5 (required unless --report-losses)")
    p.add_argument("--cache-dir", help="undeclared per-frame cache root (required unless --report-losses)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--params", help="JSON (or @file): iovst.config.stage_params(config, 'stylize')")
    src.add_argument("--config", help="take the params from this config file (handy with --report-losses)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (required with --params; with --config: its device)")
    p.add_argument(
        "--report-losses",
        action="store_true",
        help="print each loss term at iteration 0 for the chunk's first frame and exit",
    )
    p.add_argument(
        "--prev", metavar="R.h5", help="brushstroke, chunk K > 0: round-0 chunk K-1 (its last frame's strokes)"
    )
    p.add_argument(
        "--flow",
        nargs="+",
        metavar="F.h5",
        default=[],
        help="brushstroke: flow chunks holding the pairs (t-1, t) of the chunk's frames",
    )
    p.add_argument("--masks", nargs="+", metavar="M.h5", default=[], help="brushstroke: mask chunks for the same pairs")
    p.add_argument("--cuts", metavar="cuts.json", help="brushstroke: the video's scene cuts (fresh strokes at a cut)")


def run(args: argparse.Namespace) -> int:
    if args.params:
        params, device_spec = config.load_stage_params(STAGE, args.params), args.device
        if device_spec is None:
            raise ConfigError("stylize: --device is required with --params")
    else:  # the params as the workflow would send them for this config
        cfg = config.load(args.config)
        params = config.load_stage_params(STAGE, config.stage_params(cfg, STAGE))
        device_spec = args.device or cfg["device"]
    method = params.stylize.method
    if not args.report_losses and (not args.out or not args.cache_dir):
        raise ConfigError("stylize: --out and --cache-dir are required (unless --report-losses)")
    if args.style_weights is not None and len(args.style_weights) != len(args.style):
        raise ConfigError(f"--style-weight: {len(args.style_weights)} weight(s) for {len(args.style)} style image(s)")
    if args.style_weights is not None and (min(args.style_weights) < 0 or sum(args.style_weights) <= 0):
        raise ConfigError(f"--style-weight: must be >= 0 with a positive sum, got {args.style_weights}")
    if args.style_scale <= 0:
        raise ConfigError(f"--style-scale: must be > 0, got {args.style_scale}")

    meta = load_meta(args.meta)
    hw = (meta["height"], meta["width"])
    try:
        indices = chunk_frames(args.chunk, args.chunk_size, meta["frame_count"])
    except ValueError as exc:
        raise ConfigError(f"--chunk/--chunk-size: {exc}") from None
    chunk = Chunk(
        frames_dir=args.frames_dir,
        hw=hw,
        chunk=args.chunk,
        indices=indices,
        prev=args.prev,
        flow=args.flow,
        masks=args.masks,
        cuts=args.cuts,
    )
    METHODS[method].check_inputs(chunk, report_only=args.report_losses)
    device = resolve_device(device_spec)
    t0 = time.perf_counter()
    stylizer, style_digest = load_stylizer(
        method=method,
        params=params,
        style_paths=args.style,
        style_weights=args.style_weights,
        style_scale=args.style_scale,
        frame_hw=hw,
        device=device,
    )
    log.info(
        "%s model and style targets ready (%.1f s, weights %s)",
        method,
        time.perf_counter() - t0,
        stylizer.weights_info.source,
    )
    if args.report_losses:
        print(report_losses(stylizer, chunk, seed=params.seed))
        return 0
    stylize_chunk(
        stylizer,
        chunk,
        params=params,
        style_digest=style_digest,
        style_paths=args.style,
        style_weights=args.style_weights,
        style_scale=args.style_scale,
        out=args.out,
        cache_dir=args.cache_dir,
    )
    return 0
