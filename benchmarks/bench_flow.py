"""Flow-stage cost: seconds per frame pair (DIS, RAFT large/small) and HDF5 bytes per frame.

Usage::

    python benchmarks/bench_flow.py [--size 256 448] [--device cpu] [--updates 12] [--pairs 2]

RAFT runs with *random* weights (its cost does not depend on the values). A "pair" is one flow
direction; the flow stage computes two per frame pair and offset. The storage figure is measured
on a real chunk (the demo clip's pan + zoom, DIS flow, default offsets 1/4/16, gzip float16) and includes the
masks file; RAFT flow is smoother than DIS flow and compresses at least as well.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from iovst.config import load_stage_params, stage_params, validate
from iovst.demo import demo_frames
from iovst.flow.estimate import DisEstimator, RaftEstimator, flow_chunk
from iovst.flow.masks import masks_file
from iovst.video.frames import frame_path, write_png


def _time(est, a: np.ndarray, b: np.ndarray, pairs: int) -> float:
    est([a], [b])  # warm-up (allocations, thread pools)
    t0 = time.perf_counter()
    est([a] * pairs, [b] * pairs)
    return (time.perf_counter() - t0) / pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=2, default=[256, 448], metavar=("H", "W"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--updates", type=int, default=12, help="RAFT num_flow_updates")
    ap.add_argument("--pairs", type=int, default=2, help="pairs per timed RAFT batch")
    ap.add_argument("--offsets", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--chunk-size", type=int, default=32)
    args = ap.parse_args()
    size = tuple(args.size)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}, frame {size[0]}x{size[1]}")

    a, b = demo_frames(2, size, seed=0)
    for preset in ("ultrafast", "fast", "medium"):
        print(f"dis ({preset:9s}): {_time(DisEstimator(preset=preset), a, b, 5):8.3f} s/pair")
    for model in ("raft_small", "raft_large"):
        est = RaftEstimator(
            model=model, weights="random", num_flow_updates=args.updates, batch_size=args.pairs, device=device
        )
        print(f"{model} ({args.updates} updates, batch {args.pairs}): {_time(est, a, b, args.pairs):8.3f} s/pair")

    n = args.chunk_size + max(args.offsets)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for t, frame in enumerate(demo_frames(n, size, seed=0)):
            write_png(frame_path(tmp_path / "frames", t), frame)
        flow_path, mask_path = tmp_path / "flow.h5", tmp_path / "masks.h5"
        cfg = validate(
            {
                "videos": {"v": "v.mp4"},
                "styles": {"s": {"images": ["s.png"]}},
                "flow": {"method": "dis", "offsets": args.offsets, "dis_preset": "medium"},
            }
        )
        t0 = time.perf_counter()
        flow_chunk(
            frames_dir=tmp_path / "frames",
            n_frames=n,
            size=size,
            chunk=0,
            chunk_size=args.chunk_size,
            params=load_stage_params("flow", stage_params(cfg, "flow")),
            out=flow_path,
            device=torch.device("cpu"),
        )
        t1 = time.perf_counter()
        masks_file(flow_path=flow_path, out=mask_path, params=load_stage_params("masks", stage_params(cfg, "masks")))
        t2 = time.perf_counter()
        fb, mb = flow_path.stat().st_size, mask_path.stat().st_size
    c = args.chunk_size
    raw_flow = len(args.offsets) * 2 * 2 * size[0] * size[1] * 2
    print(
        f"chunk of {c} frames, offsets {args.offsets}: flow stage (dis) {t1 - t0:.1f} s, masks stage {t2 - t1:.1f} s "
        f"({(t2 - t1) / c:.3f} s/frame)"
    )
    print(
        f"HDF5 per frame: flow {fb / c / 1e6:.2f} MB (raw float16 {raw_flow / 1e6:.2f} MB), "
        f"masks {mb / c / 1e6:.2f} MB, total {(fb + mb) / c / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
