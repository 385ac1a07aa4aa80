"""``iovst cuts``: scene cuts of one video from its offset-1 masks and frames (:mod:`iovst.flow.cuts`)."""

from __future__ import annotations

import argparse

from ..config import load_stage_params
from ..flow.cuts import cuts_file
from ..storage.meta import load_meta


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--masks", nargs="+", required=True, help="every mask chunk HDF5 of the video")
    p.add_argument("--frames-dir", required=True, help="directory of %%06d.png frames")
    p.add_argument("--meta", required=True, help="meta.json written by extract")
    p.add_argument("--out", required=True, help="output cuts.json")
    p.add_argument("--params", required=True, help="JSON (or @file): iovst.config.stage_params(config, 'cuts')")


def run(args: argparse.Namespace) -> int:
    cuts_file(
        frames_dir=args.frames_dir,
        mask_paths=args.masks,
        n_frames=load_meta(args.meta)["frame_count"],
        params=load_stage_params("cuts", args.params),
        out=args.out,
    )
    return 0
