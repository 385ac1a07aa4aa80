"""``iovst multipass``: one chunk of one multipass round (:mod:`iovst.style.multipass`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import load_stage_params
from ..flow.cuts import Cuts
from ..runtime.device import resolve_device
from ..storage import h5io
from ..storage.meta import load_meta
from ..style.multipass import run_chunk


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames-dir", required=True, type=Path)
    p.add_argument("--meta", required=True, type=Path)
    p.add_argument("--round", required=True, type=int, help="round p >= 1 (odd: forward, even: backward)")
    p.add_argument("--chunk", required=True, type=int)
    p.add_argument("--chunk-size", required=True, type=int)
    p.add_argument("--prev", required=True, type=Path, help="round p-1 result chunk k")
    p.add_argument(
        "--neighbors",
        nargs="*",
        default=[],
        type=Path,
        help="result chunks next to this one that its sweep reads: round p (schedule sequential) or p-1 (parallel)",
    )
    p.add_argument("--flow", nargs="+", required=True, type=Path)
    p.add_argument("--masks", nargs="+", required=True, type=Path)
    p.add_argument(
        "--longterm", nargs="+", required=True, type=Path, help="longterm chunks of the frames this job sweeps"
    )
    p.add_argument("--cuts", type=Path, help="the video's cuts.json (each shot its own sweep); default: no cuts")
    p.add_argument(
        "--paintings", type=Path, help="stylize.method brushstroke: round-0 chunk k (its stroke paintings: content)"
    )
    p.add_argument("--style", action="append", required=True, type=Path, help="style image (repeat for a blend)")
    p.add_argument("--style-weight", action="append", type=float, default=None)
    p.add_argument("--style-scale", type=float, required=True, help="config styles.<name>.scale")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--cache-dir", required=True, type=Path)
    p.add_argument("--params", required=True, help="JSON (or @file): iovst.config.stage_params(config, 'multipass')")
    p.add_argument("--device", required=True, help="auto | cpu | cuda | cuda:N (config device)")


def run(args: argparse.Namespace) -> int:
    params = load_stage_params("multipass", args.params)
    meta = load_meta(args.meta)
    first, frames, cache = run_chunk(
        frames_dir=args.frames_dir,
        meta=meta,
        round_=args.round,
        chunk=args.chunk,
        chunk_size=args.chunk_size,
        prev_file=args.prev,
        neighbor_files=list(args.neighbors),
        flow_files=list(args.flow),
        mask_files=list(args.masks),
        longterm_files=list(args.longterm),
        styles=list(args.style),
        style_weights=args.style_weight,
        style_scale=args.style_scale,
        params=params,
        cache_dir=args.cache_dir,
        device=resolve_device(args.device),
        cuts=Cuts.load(args.cuts),
        paintings_file=args.paintings,
    )
    h5io.write_frames(args.out, frames, first_frame=first, attrs={"round": args.round})
    return 0
