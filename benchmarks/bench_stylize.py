"""Cost of one Gatys iteration vs a bare VGG-19 pass, and L-BFGS vs Adam at equal iterations.

    python benchmarks/bench_stylize.py [--sizes 128 256] [--iterations 20] [--device cpu|cuda]
                                       [--weights random|auto|imagenet|PATH]

For each square size S, on the same machine in one run:

1. bare: median seconds of one VGG-19 forward + backward to the input (layers up to relu5_1, the same
   precision / memory format as the optimiser uses: bf16 + channels_last on CUDA);
2. full: seconds per iteration of :meth:`iovst.style.gatys.Gatys.optimize` with content + style + TV +
   one temporal term (Adam, so one loss evaluation per iteration), measured as
   ``(t(4 iterations) − t(0 iterations)) / 4``, median over ``--repeats`` runs interleaved with 1.
   (other processes' load hits both alike); printed with the ratio full / bare (the loss overhead
   above the network's own cost; 1.0 would be free losses);
3. the total loss after ``--iterations`` iterations of L-BFGS and of Adam from the content image.

With random weights (the default; all there is offline) the loss values say nothing about real
stylisation quality, only about the optimisers on this objective.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from iovst.runtime.device import resolve_device
from iovst.config import section_params
from iovst.style.gatys import Gatys


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device) -> float:
    """Seconds of one ``fn()`` call (device synchronised)."""
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def bench_size(size: int, *, device: torch.device, weights: str, iterations: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    style = [rng.random((size, size, 3), dtype=np.float32)]
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, size, size, generator=g).to(device)
    warped = torch.rand(1, 3, size, size, generator=g).to(device)
    mask = (torch.rand(1, 1, size, size, generator=g) > 0.3).float().to(device)
    temporal = [(warped, mask)]

    models = {opt: Gatys(params=section_params("stylize", {"optimizer": opt}), device=device, weights=weights,
                        seed=0)
              for opt in ("adam", "lbfgs")}
    adam = models["adam"]
    targets = {opt: m.style_targets(style, None, frame_hw=(size, size)) for opt, m in models.items()}

    x = content.clone().requires_grad_(True)

    def bare() -> None:
        feats = adam._features(x)
        sum(f.float().mean() for f in feats.values()).backward()

    def run(k: int) -> None:
        adam.optimize(content, targets=targets["adam"], iterations=k, temporal=temporal, temporal_weight=1e3)

    n = 4
    bare()  # warm-up
    run(1)
    bares, fulls = [], []
    for _ in range(repeats):
        bares.append(_timed(bare, device))
        fulls.append((_timed(lambda: run(n), device) - _timed(lambda: run(0), device)) / n)
    t_bare, t_full = float(np.median(bares)), float(np.median(fulls))
    print(f"{size:5d}px  bare VGG fwd+bwd {t_bare:8.4f} s   full loss iteration {t_full:8.4f} s   "
          f"ratio {t_full / t_bare:5.2f}")

    start = models["adam"].loss_terms(content, content, targets["adam"], temporal, 1e3)["total"]
    line = [f"{size:5d}px  loss at init {start:.4e}"]
    for opt, m in models.items():
        t0 = time.perf_counter()
        out = m.optimize(content, targets=targets[opt], iterations=iterations, temporal=temporal, temporal_weight=1e3)
        _sync(device)
        dt = time.perf_counter() - t0
        total = m.loss_terms(out, content, targets[opt], temporal, 1e3)["total"]
        line.append(f"{opt} after {iterations} it {total:.4e} ({dt:.1f} s)")
    print("   ".join(line))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--iterations", type=int, default=20, help="iterations for the L-BFGS vs Adam comparison")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (median)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", default="random", help="VGG weights: random | auto | imagenet | PATH")
    a = ap.parse_args()
    device = resolve_device(a.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, weights {a.weights}")
    for s in a.sizes:
        bench_size(s, device=device, weights=a.weights, iterations=a.iterations, repeats=a.repeats)


if __name__ == "__main__":
    main()
