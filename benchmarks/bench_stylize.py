"""Cost of one Gatys iteration vs a bare VGG-19 pass (per batch size), L-BFGS implementations,
coarse-to-fine vs single scale, and the GPU figures against the FLOP floor.

    python benchmarks/bench_stylize.py [--sizes 128 256] [--batches 1 4 8] [--iterations 20]
                                       [--device cpu|cuda] [--weights random|auto|imagenet|PATH]
                                       [--threads N] [--optimizer lbfgs|adam]
    python benchmarks/bench_stylize.py --mode lbfgs [--sizes 64 128] [--batches 1 4] ...
    python benchmarks/bench_stylize.py --mode scales [--sizes 128] [--budgets 20 40 80]
    python benchmarks/bench_stylize.py --mode divergence [--sizes 32] [--batches 3] [--budgets 5 10 30]
    python benchmarks/bench_stylize.py --mode gpu --device cuda [--shapes 512x512 576x1024]
                                       [--batches 1 4 8] [--peak-tflops 989]

Mode ``iteration`` (default), for each square size S and batch B, on the same machine in one run:

1. bare: median seconds of one VGG-19 forward + backward to the input of ``(B, 3, S, S)`` (layers up
   to relu5_1, the same precision / memory format as the optimiser uses: bf16 + channels_last on
   CUDA);
2. full: seconds per iteration of :meth:`iovst.style.gatys.Gatys.optimize_batch` (B frames) with
   content + style + TV + one temporal term (``--optimizer``, default L-BFGS: one loss evaluation
   per iteration), measured as ``(t(4 iterations) − t(0 iterations)) / 4``, median over
   ``--repeats`` runs interleaved with 1. (other processes' load hits both alike); printed with the
   ratio full / bare (the loss and optimiser overhead above the network's own cost; 1.0 would be
   free losses) and the seconds per frame relative to B = 1;
3. at B = 1: the total loss after ``--iterations`` iterations of L-BFGS and of Adam from the content
   image.

With random weights (the default; all there is offline) the loss values say nothing about real
stylisation quality, only about the optimisers on this objective.

Mode ``scales``: loss reached per second, coarse-to-fine ``stylize.scales [0.5, 1.0]`` vs single
scale at the same size S, on a demo frame (:func:`iovst.demo.demo_frames`) and the demo style
image: for each iteration budget the final full-resolution total loss and the wall time of both
(L-BFGS from the content image, runs interleaved), and the loss single scale reaches in the time
coarse-to-fine took (linear interpolation between budgets).

Mode ``divergence``: how far a frame of a batch (B = ``--batches``' first, default 3) ends from
its own B = 1 run after each ``--budgets`` iterations (L-BFGS, content and noise init): kernel
rounding (oneDNN rounds a batch's rows differently), amplified by the optimisation.

Mode ``gpu`` (meant for an H100/H200; runs anywhere, e.g. ``--device cpu --shapes 32x32`` to check
it): for each ``HxW`` shape and batch B, ms per full-loss L-BFGS iteration (as in ``iteration``),
the bare bf16 VGG forward + backward, and the FLOP floor: the VGG-19 convolutions' FLOPs up to the
deepest loss layer (counted analytically: ``2·Cin·Cout·9·H·W`` per conv and frame, twice that for
forward + backward to the input; the frozen weights get no gradient) divided by ``--peak-tflops``
(bf16 dense peak; 989 for H100 SXM / H200). Printed: ms, ratios iteration / bare and bare / floor.

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
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from iovst.config import section_params
from iovst.demo import demo_frames, make_style_image
from iovst.runtime.device import resolve_device
from iovst.style import losses
from iovst.style.gatys import Gatys
from iovst.style.lbfgs import BatchedLBFGS
from iovst.style.vgg import LAYER_NAMES
from iovst.tensors import to_tensor
from iovst.video.frames import read_image


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


def _inputs(hw: tuple[int, int], batch: int, device: torch.device) -> tuple[torch.Tensor, list]:
    """``B`` random frames ``(B, 3, H, W)`` and one temporal term for them (seeded)."""
    g = torch.Generator().manual_seed(0)
    content = torch.rand(batch, 3, *hw, generator=g).to(device)
    warped = torch.rand(batch, 3, *hw, generator=g).to(device)
    mask = (torch.rand(batch, 1, *hw, generator=g) > 0.3).float().to(device)
    return content, [(warped, mask)]


def _model(device: torch.device, weights: str, **stylize) -> Gatys:
    return Gatys(params=section_params("stylize", stylize), device=device, weights=weights, seed=0)


def time_iteration(
    model: Gatys, hw: tuple[int, int], batch: int, *, device: torch.device, repeats: int
) -> tuple[float, float]:
    """Median seconds of ``(bare VGG forward + backward, one full-loss iteration)`` at ``(B, 3, H, W)``,
    measured interleaved (see the module docstring)."""
    style = [np.random.default_rng(0).random((*hw, 3), dtype=np.float32)]
    targets = model.style_targets(style, None, frame_hw=hw)
    content, temporal = _inputs(hw, batch, device)
    x = content.clone().requires_grad_(True)
    seeds = list(range(batch))

    def bare() -> None:
        feats = model.features(x)
        sum(f.float().mean() for f in feats.values()).backward()

    def run(k: int) -> None:
        model.optimize_batch(
            content, targets=targets, iterations=k, temporal=temporal, temporal_weight=1e3, seeds=seeds
        )

    n = 4
    bare()  # warm-up
    run(1)
    bares, fulls = [], []
    for _ in range(repeats):
        bares.append(_timed(bare, device))
        fulls.append((_timed(lambda: run(n), device) - _timed(lambda: run(0), device)) / n)
    return float(np.median(bares)), float(np.median(fulls))


def bench_size(
    size: int, batches: list[int], *, device: torch.device, weights: str, optimizer: str, iterations: int, repeats: int
) -> None:
    model = _model(device, weights, optimizer=optimizer)
    per_frame_1 = None
    for batch in batches:
        t_bare, t_full = time_iteration(model, (size, size), batch, device=device, repeats=repeats)
        per_frame = t_full / batch
        per_frame_1 = per_frame_1 or (per_frame if batch == 1 else None)
        rel = f"   per frame vs B=1 {per_frame / per_frame_1:5.2f}" if per_frame_1 else ""
        print(
            f"{size:5d}px B={batch}  bare VGG fwd+bwd {t_bare:8.4f} s   full loss iteration ({optimizer}) "
            f"{t_full:8.4f} s   ratio {t_full / t_bare:5.2f}{rel}"
        )
    if 1 not in batches:
        return
    content, temporal = _inputs((size, size), 1, device)
    models = {opt: _model(device, weights, optimizer=opt) for opt in ("adam", "lbfgs")}
    style = [np.random.default_rng(0).random((size, size, 3), dtype=np.float32)]
    targets = {opt: m.style_targets(style, None, frame_hw=(size, size)) for opt, m in models.items()}
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


def bench_scales(size: int, budgets: list[int], *, device: torch.device, weights: str, repeats: int) -> None:
    """Final full-resolution loss and seconds per iteration budget, single scale vs [0.5, 1.0]."""
    hw = (size, size)
    with tempfile.TemporaryDirectory() as tmp:  # a photo frame and a painterly style: structure at every scale
        make_style_image(Path(tmp) / "style.png")
        style = [read_image(Path(tmp) / "style.png")]
    content = to_tensor(next(demo_frames(1, hw, seed=0)), device)
    models = {"[1.0]": _model(device, weights), "[0.5, 1.0]": _model(device, weights, scales=[0.5, 1.0])}
    targets = {k: m.style_targets(style, None, frame_hw=hw) for k, m in models.items()}
    ref = models["[1.0]"]
    for m, t in zip(models.values(), targets.values()):
        m.optimize(content, targets=t, iterations=2)  # warm-up
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in models}
    for n in budgets:
        for k, m in models.items():
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                out = m.optimize(content, targets=targets[k], iterations=n)
                _sync(device)
                times.append(time.perf_counter() - t0)
            res[k].append((float(np.median(times)), ref.loss_terms(out, content, targets["[1.0]"])["total"]))
        (ts, ls), (tc, lc) = res["[1.0]"][-1], res["[0.5, 1.0]"][-1]
        print(f"{size:5d}px {n:4d} it   single {ls:.4e} in {ts:6.2f} s   coarse-to-fine {lc:.4e} in {tc:6.2f} s")
    single_t, single_l = np.array(res["[1.0]"]).T
    for n, (tc, lc) in zip(budgets, res["[0.5, 1.0]"]):
        if single_t[0] <= tc <= single_t[-1]:
            at = float(np.interp(tc, single_t, single_l))
            print(
                f"{size:5d}px {n:4d} it   in {tc:6.2f} s: coarse-to-fine {lc:.4e} vs single scale {at:.4e} "
                f"(ratio {lc / at:5.3f}; < 1: coarse-to-fine wins)"
            )


def bench_divergence(size: int, batch: int, budgets: list[int], *, device: torch.device, weights: str) -> None:
    """Largest pixel difference between each frame of a batched run and its own ``B = 1`` run."""
    for init in ("content", "noise"):
        model = _model(device, weights, init=init)
        style = [np.random.default_rng(0).random((size, size, 3), dtype=np.float32)]
        targets = model.style_targets(style, None, frame_hw=(size, size))
        content, _ = _inputs((size, size), batch, device)
        seeds = list(range(batch))
        for n in budgets:
            out = model.optimize_batch(content, targets=targets, iterations=n, seeds=seeds)
            diff = max(
                float(
                    (out[i : i + 1] - model.optimize(content[i : i + 1], targets=targets, iterations=n, seed=s))
                    .abs()
                    .max()
                )
                for i, s in enumerate(seeds)
            )
            print(f"{size:5d}px B={batch} init {init:7s} {n:4d} it   max |batched - alone| {diff:.2e}")


def vgg_conv_flops(model: Gatys, hw: tuple[int, int]) -> float:
    """FLOPs of one frame's forward pass through the VGG-19 convolutions up to the deepest loss
    layer: ``Σ 2·Cin·Cout·k²·H·W`` (multiply + add), the size halved by each max-pool."""
    h, w = hw
    last = max(LAYER_NAMES.index(n) for n in model.params.content_layers + model.params.style_layers)
    flops = 0.0
    for m in model.vgg.body[: last + 1]:
        if isinstance(m, torch.nn.Conv2d):
            flops += 2.0 * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1] * h * w
        elif isinstance(m, torch.nn.MaxPool2d):
            h, w = h // 2, w // 2
    return flops


def bench_gpu(
    shapes: list[tuple[int, int]], batches: list[int], *, device: torch.device, weights: str, peak: float, repeats: int
) -> None:
    model = _model(device, weights)
    print(f"FLOP floor at {peak:g} TFLOP/s (bf16 dense peak); fwd+bwd = 2 x forward conv FLOPs; bf16 on CUDA")
    for hw in shapes:
        for batch in batches:
            t_bare, t_full = time_iteration(model, hw, batch, device=device, repeats=repeats)
            floor = 2 * batch * vgg_conv_flops(model, hw) / (peak * 1e12)
            print(
                f"{hw[1]:5d}x{hw[0]:<5d} B={batch}  iteration {1e3 * t_full:9.2f} ms "
                f"({1e3 * t_full / batch:8.2f} ms/frame)"
                f"   bare VGG fwd+bwd {1e3 * t_bare:9.2f} ms   floor {1e3 * floor:8.3f} ms   "
                f"iteration/bare {t_full / t_bare:5.2f}   bare/floor {t_bare / floor:6.2f}   "
                f"iteration/floor {t_full / floor:6.2f}"
            )


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


def _shape(text: str) -> tuple[int, int]:
    """``"HxW"`` -> ``(H, W)``."""
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["iteration", "lbfgs", "scales", "divergence", "gpu"], default="iteration")
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="default 128 256 (lbfgs: 64 128; scales: 128)")
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="frames per batch (default 1 4 8; lbfgs: 1 4)")
    ap.add_argument("--shapes", type=_shape, nargs="+", default=[(512, 512), (576, 1024)], help="gpu mode: HxW")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="gpu mode: bf16 dense peak (H100 SXM/H200: 989)")
    ap.add_argument(
        "--optimizer", choices=["lbfgs", "adam"], default="lbfgs", help="iteration mode: the timed optimiser"
    )
    ap.add_argument("--iterations", type=int, default=20, help="iterations for the L-BFGS vs Adam comparison")
    ap.add_argument("--budgets", type=int, nargs="+", default=[20, 40, 80], help="scales mode: iteration budgets")
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
    kw = {"device": device, "weights": a.weights}
    batches = a.batches or [1, 4, 8]
    modes = {
        "lbfgs": lambda: [
            bench_lbfgs(s, b, timed=a.timed, repeats=a.repeats, **kw)
            for s in a.sizes or [64, 128]
            for b in a.batches or [1, 4]
        ],
        "scales": lambda: [bench_scales(s, a.budgets, repeats=a.repeats, **kw) for s in a.sizes or [128]],
        "divergence": lambda: [bench_divergence(s, (a.batches or [3])[0], a.budgets, **kw) for s in a.sizes or [32]],
        "gpu": lambda: bench_gpu(a.shapes, batches, peak=a.peak_tflops, repeats=a.repeats, **kw),
        "iteration": lambda: [
            bench_size(s, batches, optimizer=a.optimizer, iterations=a.iterations, repeats=a.repeats, **kw)
            for s in a.sizes or [128, 256]
        ],
    }
    modes[a.mode]()


if __name__ == "__main__":
    main()
