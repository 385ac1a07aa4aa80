"""``iovst flow``: optical flow of one chunk of frame pairs (:mod:`iovst.flow.estimate`)."""

from __future__ import annotations

import argparse

from .. import chunks
from ..config import load_stage_params
from ..flow.estimate import flow_chunk
from ..storage.meta import load_meta


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames-dir", required=True, help="directory of %%06d.png frames")
    p.add_argument("--meta", required=True, help="meta.json written by extract")
    p.add_argument("--chunk", type=int, required=True, help="chunk index k")
    p.add_argument("--chunk-size", type=int, required=True, help="frames per chunk")
    p.add_argument("--out", required=True, help="output HDF5 (flow chunk)")
    p.add_argument("--params", required=True, help="JSON (or @file): iovst.config.stage_params(config, 'flow')")
    p.add_argument("--device", required=True, help="auto | cpu | cuda | cuda:N (config device)")


def run(args: argparse.Namespace) -> int:
    from ..runtime.device import resolve_device
    from ..runtime.weights import set_torch_home

    params = load_stage_params("flow", args.params)
    set_torch_home(params.model["torch_home"])
    meta = load_meta(args.meta)
    n_frames = meta["frame_count"]
    chunks.check_chunk_arg(args.chunk, args.chunk_size, n_frames)
    flow_chunk(
        frames_dir=args.frames_dir,
        n_frames=n_frames,
        size=(meta["height"], meta["width"]),
        chunk=args.chunk,
        chunk_size=args.chunk_size,
        params=params,
        out=args.out,
        device=resolve_device(args.device),
    )
    return 0
