"""Benchmark: fast tiled brushstroke renderer vs the naive K-nearest-centre reference renderer.

Same image (skimage's astronaut photo, resized to ``--size``²) and the same strokes (SLIC init with
``--strokes`` segments) for both. Each renderer runs in its own fresh subprocess (so peak
memories don't mix) and reports:

* time of forward and backward (the backward of ``(image * R).sum()`` for a fixed random ``R``),
  the minimum over ``--repeats`` runs;
* peak memory: the process's peak resident set size (``resource.getrusage(...).ru_maxrss``,
  which does see torch's CPU allocations) and its increase over the RSS measured just before the
  first render (the renderer's own peak; imports, the strokes and ``R`` are in the baseline);
* the image, from which the parent computes the max / mean absolute pixel difference and the
  share of pixels differing by more than 1/255 (the reference's K-nearest-centre candidates clip
  long strokes, so a difference is expected; ``tests/test_brush.py`` checks that the fast
  renderer equals the all-strokes brute force).

Usage::

    python benchmarks/bench_brush_render.py                    # 512², 5000 strokes, K = 20
    python benchmarks/bench_brush_render.py --size 256 --strokes 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _rss_bytes() -> int:
    """Current resident set size (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _child(args: argparse.Namespace) -> None:
    """Run one renderer on the saved strokes; print a JSON line and save the image."""
    import torch

    from iovst.config import section_params
    from iovst.style.brush.render import render, render_naive
    from iovst.style.brush.strokes import Strokes

    brush = section_params("stylize").brushstroke
    look = {"background": brush.background, "samples": brush.samples_per_curve}

    torch.set_num_threads(args.threads)
    size = args.size
    strokes = Strokes.from_array(np.load(args.strokes_file)).requires_grad_()
    weight = torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))
    if args.renderer == "fast":

        def fn():
            return render(strokes, height=size, width=size, **look)
    else:

        def fn():
            return render_naive(strokes, height=size, width=size, k=args.k, **look)

    base = _rss_bytes()
    fwd, bwd = [], []
    for _ in range(args.repeats):
        for t in (strokes.location, strokes.curve, strokes.width, strokes.color):
            t.grad = None
        t0 = time.perf_counter()
        image = fn()
        t1 = time.perf_counter()
        (image * weight).sum().backward()
        t2 = time.perf_counter()
        fwd.append(t1 - t0)
        bwd.append(t2 - t1)
        out = image.detach().numpy()
        del image
    np.save(args.image_file, out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(
        json.dumps(
            {
                "forward_s": min(fwd),
                "backward_s": min(bwd),
                "total_s": min(f + b for f, b in zip(fwd, bwd)),
                "peak_rss_mb": peak / 2**20,
                "peak_increase_mb": (peak - base) / 2**20,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="canvas size (square), px")
    ap.add_argument("--strokes", type=int, default=5000, help="SLIC segments (strokes)")
    ap.add_argument("--k", type=int, default=20, help="candidates per pixel of the reference")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per renderer (min reported)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--renderer", choices=("fast", "naive"), help=argparse.SUPPRESS)
    ap.add_argument("--strokes-file", help=argparse.SUPPRESS)
    ap.add_argument("--image-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.renderer:
        _child(args)
        return

    from skimage import data, transform

    from iovst.config import section_params
    from iovst.style.brush.init import init_strokes

    brush = section_params("stylize").brushstroke
    photo = transform.resize(data.astronaut(), (args.size, args.size), anti_aliasing=True).astype(np.float32)
    strokes = init_strokes(
        photo, n_strokes=args.strokes, length_scale=brush.length_scale, width_scale=brush.width_scale, seed=0
    )
    print(
        f"canvas {args.size}x{args.size}, {len(strokes)} strokes (SLIC n_segments "
        f"{args.strokes}), reference K = {args.k}, {args.threads} threads, "
        f"min of {args.repeats} runs"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "strokes.npy", strokes.to_array())
        for name in ("naive", "fast"):
            cmd = [
                sys.executable,
                __file__,
                "--renderer",
                name,
                "--size",
                str(args.size),
                "--k",
                str(args.k),
                "--repeats",
                str(args.repeats),
                "--threads",
                str(args.threads),
                "--strokes-file",
                str(Path(tmp) / "strokes.npy"),
                "--image-file",
                str(Path(tmp) / f"{name}.npy"),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"{name}: failed (exit {proc.returncode})\n{proc.stderr[-2000:]}")
                return
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[name]["image"] = np.load(Path(tmp) / f"{name}.npy")
    print(
        f"{'renderer':10s} {'forward s':>10s} {'backward s':>11s} {'total s':>8s} "
        f"{'peak RSS MB':>12s} {'peak incr. MB':>14s}"
    )
    for name, label in (("naive", f"naive K={args.k}"), ("fast", "fast")):
        r = results[name]
        print(
            f"{label:10s} {r['forward_s']:10.3f} {r['backward_s']:11.3f} {r['total_s']:8.3f} "
            f"{r['peak_rss_mb']:12.0f} {r['peak_increase_mb']:14.0f}"
        )
    n, f = results["naive"], results["fast"]
    diff = np.abs(n["image"] - f["image"])
    print(
        f"fast / naive: time {f['total_s'] / n['total_s']:.3f}x, "
        f"peak increase {f['peak_increase_mb'] / n['peak_increase_mb']:.3f}x, "
        f"peak RSS {f['peak_rss_mb'] / n['peak_rss_mb']:.3f}x"
    )
    print(
        f"image difference: max {diff.max():.4f}, mean {diff.mean():.5f}, "
        f"pixels > 1/255: {100 * float((diff.max(0) > 1 / 255).mean()):.2f} %"
    )


if __name__ == "__main__":
    main()
