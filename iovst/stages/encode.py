"""``iovst encode``: result frames to H.264 with the source's audio (:mod:`iovst.video.encode`)."""

from __future__ import annotations

import argparse
import logging

from ..config import load_stage_params
from ..storage.meta import load_meta
from ..video.encode import chunk_frames, dir_frames, encode_video, side_by_side

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames-dir", help="directory of %%06d.png frames to encode")
    src.add_argument("--chunks", nargs="+", help="result chunk files (HDF5, kind=frames)")
    parser.add_argument("--meta", required=True, help="extract's meta.json")
    parser.add_argument("--source", help="source video whose audio is added (omit: no audio)")
    parser.add_argument("--out", required=True, help="output .mp4")
    parser.add_argument("--params", required=True, help="JSON (or @file): iovst.config.stage_params(config, 'encode')")
    parser.add_argument(
        "--side-by-side-source",
        metavar="DIR",
        help="extracted source frames: write source | result side by side to --out",
    )


def run(args: argparse.Namespace) -> int:
    params = load_stage_params("encode", args.params)
    meta = load_meta(args.meta)
    count = meta["frame_count"]
    if args.chunks:
        frames = chunk_frames(args.chunks, frame_count=count)
    else:
        frames = dir_frames(args.frames_dir, count)
    if args.side_by_side_source:
        frames = side_by_side(dir_frames(args.side_by_side_source, count), frames)
    n = encode_video(frames, meta=meta, out=args.out, params=params.encode, source=args.source)
    log.info("wrote %d frames to '%s'", n, args.out)
    return 0
