"""``iovst extract``: probe a video and decode its frames losslessly (:mod:`iovst.video.extract`)."""

from __future__ import annotations

import argparse

from ..config import load_stage_params
from ..video.extract import extract


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", required=True, help="source video file")
    parser.add_argument("--frames-dir", required=True, help="output directory of %%06d.png frames")
    parser.add_argument("--meta", required=True, help="output meta.json")
    parser.add_argument("--params", required=True, help="JSON (or @file): iovst.config.stage_params(config, 'extract')")


def run(args: argparse.Namespace) -> int:
    extract(
        args.video, frames_dir=args.frames_dir, meta_path=args.meta, params=load_stage_params("extract", args.params)
    )
    return 0
