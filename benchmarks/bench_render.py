"""End-to-end round-0 render timing: ``iovst stylize`` on one chunk of synthetic frames, per batch size.

    python benchmarks/bench_render.py --device cuda [--frames 120] [--size 1024x576]
                                      [--batches 1 4 8] [--iterations 500] [--weights random|auto|PATH]
    python benchmarks/bench_render.py --device cpu --frames 4 --size 48x32 --batches 1 2 --iterations 2

Writes ``--frames`` demo frames (:func:`iovst.demo.demo_frames`: pan + zoom over a photo) of
``WxH`` and a demo style image to a temporary directory, then runs the ``iovst stylize`` command
(the same entry point the workflow's rule calls; model build, style targets, per-frame cache
writes, the HDF5 chunk) once per batch size, each with an empty cache, all frames in one chunk.
Prints the wall time, seconds per frame and the speed-up over the first batch size. The default
is the 120-frame 1024x576 GPU case; small ``--frames``/``--size`` make it a CPU check of the script.
Only round 0 (no flow, no multipass).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from iovst import config
from iovst.cli import main as iovst_main
from iovst.demo import demo_frames, make_style_image
from iovst.video.frames import write_png


def _size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> ``(W, H)``."""
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", type=_size, default=(1024, 576), help="WxH")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0], help="stylize.scales")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--weights", default="random", help="VGG weights: random | auto | imagenet | PATH")
    a = ap.parse_args()
    w, h = a.size
    print(f"device {a.device}, torch {torch.__version__}, {a.frames} frames {w}x{h}, {a.iterations} iterations")
    with tempfile.TemporaryDirectory(prefix="bench_render_") as tmp:
        d = Path(tmp)
        for i, frame in enumerate(demo_frames(a.frames, (h, w), seed=0)):
            write_png(d / "frames" / f"{i:06d}.png", frame)
        meta = {"frame_count": a.frames, "width": w, "height": h, "fps_num": 25, "fps_den": 1}
        (d / "meta.json").write_text(json.dumps(meta))
        make_style_image(d / "style.png")
        first = None
        for b in a.batches:
            cfg = config.validate(
                {
                    "videos": {"v": "v.mp4"},
                    "styles": {"s": {"images": ["s.png"]}},
                    "stylize": {"batch_size": b, "iterations": a.iterations, "scales": a.scales},
                    "model": {"weights": a.weights},
                }
            )
            params = config.stage_params(cfg, "stylize")
            argv = ["stylize", "--frames-dir", str(d / "frames"), "--meta", str(d / "meta.json")]
            argv += ["--chunk", "0", "--chunk-size", str(a.frames), "--style", str(d / "style.png")]
            argv += ["--style-scale", "1", "--out", str(d / f"b{b}.h5"), "--cache-dir", str(d / f"cache{b}")]
            argv += ["--params", json.dumps(params), "--device", a.device]
            t0 = time.perf_counter()
            rc = iovst_main(argv)
            dt = time.perf_counter() - t0
            if rc != 0:
                raise SystemExit(f"iovst stylize exited {rc} at batch size {b}")
            first = first or dt
            print(f"batch {b:2d}: {dt:8.1f} s   {dt / a.frames:7.3f} s/frame   speed-up {first / dt:5.2f}")


if __name__ == "__main__":
    main()
