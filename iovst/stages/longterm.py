"""``iovst longterm``: closest-first long-term weights of one chunk (:mod:`iovst.flow.longterm`)."""

from __future__ import annotations

import argparse

from .. import chunks
from ..config import load_stage_params
from ..flow.cuts import Cuts
from ..flow.longterm import longterm_chunk
from ..storage.meta import load_meta


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--masks", nargs="+", required=True, help="mask chunk HDF5 files holding the needed pairs")
    p.add_argument("--cuts", help="the video's cuts.json (no weight across a scene cut); default: no cuts")
    p.add_argument("--meta", required=True, help="meta.json written by extract")
    p.add_argument("--chunk", type=int, required=True, help="chunk index k")
    p.add_argument("--chunk-size", type=int, required=True, help="frames per chunk")
    p.add_argument("--out", required=True, help="output HDF5 (longterm chunk)")
    p.add_argument("--params", required=True, help="JSON (or @file): iovst.config.stage_params(config, 'longterm')")


def run(args: argparse.Namespace) -> int:
    meta = load_meta(args.meta)
    n_frames = meta["frame_count"]
    chunks.check_chunk_arg(args.chunk, args.chunk_size, n_frames)
    longterm_chunk(
        mask_paths=args.masks,
        n_frames=n_frames,
        size=(meta["height"], meta["width"]),
        chunk=args.chunk,
        chunk_size=args.chunk_size,
        params=load_stage_params("longterm", args.params),
        out=args.out,
        cuts=Cuts.load(args.cuts),
    )
    return 0
