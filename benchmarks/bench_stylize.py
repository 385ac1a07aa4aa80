"""Cost of one Gatys iteration vs a bare VGG-19 pass, and L-BFGS vs Adam at equal iterations.

    python benchmarks/bench_stylize.py [--sizes 128 256] [--iterations 20] [--device cpu|cuda]
                                       [--weights random|auto|imagenet|PATH] [--threads N]
    python benchmarks/bench_stylize.py --mode lbfgs [--sizes 64 128] [--batches 1 4] ...

Mode ``iteration`` (default), for each square size S, on the same machine in one run:

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

Mode ``lbfgs``: seconds per L-BFGS iteration, ``torch.optim.LBFGS`` vs the batched sync-free
:class:`iovst.style.lbfgs.BatchedLBFGS`, for each size S and batch B, as ratios against the bare VGG
forward + backward at the same S and B. The loss is content + style per frame (B frames, B content
images). ``torch.optim.LBFGS`` at B > 1 optimises the ``(B, 3, S, S)`` tensor as one variable (one
joint history: a different method, timed for its cost only). Both run ``history_size`` (default 10)
iterations first so their histories are full, then ``--timed`` iterations are timed; medians over
``--repeats``, the measurements interleaved so other processes' load hits all alike. Also printed:
``loss``, one loss evaluation (forward + backward, no optimiser), so ``iteration - loss`` is the
optimiser's own cost.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from iovst.config import section_params
from iovst.runtime.device import resolve_device
from iovst.style import losses
from iovst.style.gatys import Gatys
from iovst.style.lbfgs import BatchedLBFGS


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

    models = {
        opt: Gatys(params=section_params("stylize", {"optimizer": opt}), device=device, weights=weights, seed=0)
        for opt in ("adam", "lbfgs")
    }
    adam = models["adam"]
    targets = {opt: m.style_targets(style, None, frame_hw=(size, size)) for opt, m in models.items()}

    x = content.clone().requires_grad_(True)

    def bare() -> None:
        feats = adam.features(x)
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
    print(
        f"{size:5d}px  bare VGG fwd+bwd {t_bare:8.4f} s   full loss iteration {t_full:8.4f} s   "
        f"ratio {t_full / t_bare:5.2f}"
    )

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


def bench_lbfgs(size: int, batch: int, *, device: torch.device, weights: str, timed: int, repeats: int) -> None:
    model = Gatys(params=section_params("stylize"), device=device, weights=weights, seed=0)
    p = model.params
    g = torch.Generator().manual_seed(0)
    content = torch.rand(batch, 3, size, size, generator=g).to(device)
    style = [np.random.default_rng(0).random((size, size, 3), dtype=np.float32)]
    grams = model.style_targets(style, None, frame_hw=(size, size)).grams
    with torch.no_grad():
        target = {n: f.float() for n, f in model.features(content).items() if n in p.content_layers}

    def frame_losses(x: torch.Tensor) -> torch.Tensor:
        """Per-frame content + style loss ``(B,)``."""
        feats = model.features(x)
        total = x.new_zeros(batch)
        for n, t in target.items():
            total = total + p.content_weight * ((feats[n].float() - t) ** 2).mean((1, 2, 3)) / (t**2).mean()
        for n, w in model.style_layer_weights.items():
            a = grams[n]
            total = total + p.style_weight * w * ((losses.gram(feats[n]) - a) ** 2).mean((1, 2)) / (a**2).mean()
        return total

    x_bare = content.clone().requires_grad_(True)

    def bare() -> None:
        feats = model.features(x_bare)
        sum(f.float().mean() for f in feats.values()).backward()

    def loss_only() -> None:
        frame_losses(x_bare).sum().backward()

    x_t = content.clone().requires_grad_(True)
    opt_t = torch.optim.LBFGS(
        [x_t],
        lr=1,
        max_iter=p.history_size,
        max_eval=p.history_size + 1,
        history_size=p.history_size,
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )

    def closure() -> torch.Tensor:
        opt_t.zero_grad()
        loss = frame_losses(x_t).sum()
        loss.backward()
        return loss

    x_b = content.clone().requires_grad_(True)
    opt_b = BatchedLBFGS(x_b, history_size=p.history_size)

    def batched(n: int) -> None:
        for _ in range(n):
            opt_b.step(lambda: frame_losses(x_b))

    opt_t.step(closure)  # fill the histories (and warm up)
    batched(p.history_size)
    opt_t.param_groups[0].update(max_iter=timed, max_eval=timed + 1)
    bare()
    t = {"bare": [], "loss": [], "torch.optim.LBFGS": [], "BatchedLBFGS": []}
    for _ in range(repeats):
        t["bare"].append(_timed(bare, device))
        t["loss"].append(_timed(loss_only, device))
        t["torch.optim.LBFGS"].append(_timed(lambda: opt_t.step(closure), device) / timed)
        t["BatchedLBFGS"].append(_timed(lambda: batched(timed), device) / timed)
    med = {k: float(np.median(v)) for k, v in t.items()}
    print(
        f"{size:5d}px B={batch}  bare VGG fwd+bwd {med['bare']:7.4f} s   per iteration / bare:  "
        + "   ".join(f"{k} {v / med['bare']:5.2f}" for k, v in med.items() if k != "bare")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["iteration", "lbfgs"], default="iteration")
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="default 128 256 (lbfgs: 64 128)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4], help="lbfgs mode: frames per batch")
    ap.add_argument("--iterations", type=int, default=20, help="iterations for the L-BFGS vs Adam comparison")
    ap.add_argument("--timed", type=int, default=3, help="lbfgs mode: iterations per timing")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (median)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", default="random", help="VGG weights: random | auto | imagenet | PATH")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, weights {a.weights}")
    if a.mode == "lbfgs":
        for s in a.sizes or [64, 128]:
            for b in a.batches:
                bench_lbfgs(s, b, device=device, weights=a.weights, timed=a.timed, repeats=a.repeats)
        return
    for s in a.sizes or [128, 256]:
        bench_size(s, device=device, weights=a.weights, iterations=a.iterations, repeats=a.repeats)


if __name__ == "__main__":
    main()
