"""Batched sync-free L-BFGS (iovst.style.lbfgs) against torch.optim.LBFGS, per frame, without syncs."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from iovst.style import losses
from iovst.style.lbfgs import BatchedLBFGS, minimize
from iovst.style.vgg import VGGFeatures

M, ITERS, N = 5, 50, 8


def quadratic(seed: int, dtype: torch.dtype):
    """``f(x) = ½ xᵀAx − cᵀx`` on ``(..., N)`` -> ``(...)`` with a random SPD ``A``."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(N, N, generator=g, dtype=torch.float64)
    a = (a @ a.T + torch.eye(N, dtype=torch.float64)).to(dtype)
    c = torch.randn(N, generator=g, dtype=torch.float64).to(dtype)
    return lambda x: 0.5 * ((x @ a) * x).sum(-1) - (c * x).sum(-1)


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return ((1 - x[..., :-1]) ** 2 + 10 * (x[..., 1:] - x[..., :-1] ** 2) ** 2).sum(-1)


def torch_lbfgs(f, x0: torch.Tensor, iterations: int) -> list[torch.Tensor]:
    """Reference: ``torch.optim.LBFGS(lr=1, max_iter=1)`` stepped ``iterations`` times; x after each."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=M, line_search_fn=None)

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    out = []
    for _ in range(iterations):
        opt.step(closure)
        out.append(x.detach().clone())
    return out


def batched(f, x0: torch.Tensor, iterations: int, **kw) -> list[torch.Tensor]:
    """:class:`BatchedLBFGS` on ``x0`` ``(B, ...)`` with per-frame losses ``f(x)`` ``(B,)``; x after each step."""
    x = x0.clone().requires_grad_(True)
    opt = BatchedLBFGS(x, history_size=M, **kw)
    out = []
    for _ in range(iterations):
        opt.step(lambda: f(x))
        out.append(x.detach().clone())
    return out


def tiny_gatys():
    """A Gatys loss (content relu2_1 + style relu1_1/relu2_1) at 32 px with random VGG weights, fp64
    network (the loss terms are fp32, as in the product)."""
    vgg = VGGFeatures(layers=["relu1_1", "relu2_1"], weights="random", seed=0).double()
    g = torch.Generator().manual_seed(1)
    content, style = torch.rand(2, 1, 3, 32, 32, generator=g, dtype=torch.float64)
    with torch.no_grad():
        target = {"relu2_1": vgg(content)["relu2_1"]}
        grams = {n: losses.gram(f) for n, f in vgg(style).items()}

    def f(x):
        feats = vgg(x)
        return losses.content_loss(feats, target) + 10 * losses.style_loss(feats, grams, {n: 1.0 for n in grams})

    return f, content


# fp64, from a start where the path has no loss spike (without a line search, some starts jump to
# 1e9 and back, which amplifies rounding differences of the dot products)
@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
def test_one_frame_matches_torch_lbfgs(problem):
    f = quadratic(0, torch.float64) if problem == "quadratic" else rosenbrock
    x0 = torch.linspace(-0.5, 0.5, N, dtype=torch.float64)
    ref = torch_lbfgs(f, x0, ITERS)
    ours = batched(lambda x: f(x[0])[None], x0[None], ITERS, tolerance_grad=1e-7, tolerance_change=1e-9)
    for i, (r, o) in enumerate(zip(ref, ours)):
        torch.testing.assert_close(o[0], r, rtol=0, atol=1e-10, msg=f"iteration {i + 1}")
    assert f(ours[-1][0]) < 1e-3 * f(x0).abs()  # it did optimise


def test_one_frame_matches_torch_lbfgs_on_a_tiny_gatys_loss():
    f, content = tiny_gatys()
    ref = torch_lbfgs(f, content, ITERS)
    ours = batched(lambda x: f(x)[None], content, ITERS, tolerance_grad=1e-7, tolerance_change=1e-9)
    for i, (r, o) in enumerate(zip(ref, ours)):
        torch.testing.assert_close(o, r, rtol=0, atol=1e-12, msg=f"iteration {i + 1}")
    assert f(ours[-1]) < 0.3 * f(content)


def test_frames_of_a_batch_equal_their_own_runs():
    problems = [quadratic(1, torch.float32), rosenbrock, quadratic(2, torch.float32)]
    x0 = torch.stack([torch.linspace(-1.0, 1.0, N), torch.full((N,), -1.2), torch.linspace(2.0, 0.0, N)])

    def f(x):
        return torch.stack([p(x[i]) for i, p in enumerate(problems)])

    together = batched(f, x0, ITERS)
    for i, p in enumerate(problems):
        alone = batched(lambda x, p=p: p(x[0])[None], x0[i : i + 1], ITERS)
        for k, (a, t) in enumerate(zip(alone, together)):
            torch.testing.assert_close(t[i], a[0], rtol=0, atol=1e-5, msg=f"frame {i}, iteration {k + 1}")


class _Ops(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func)] += 1
        return func(*args, **(kwargs or {}))


def test_no_host_sync_in_the_loop():
    problems = [quadratic(3, torch.float32), rosenbrock]
    x = torch.full((2, N), 0.5).requires_grad_(True)

    def f():
        return torch.stack([p(x[i]) for i, p in enumerate(problems)])

    opt = BatchedLBFGS(x, history_size=M)
    with _Ops() as counted:
        for _ in range(2 * M):  # through a full history
            opt.step(f)
    assert counted.ops["aten._local_scalar_dense.default"] == 0
    # the same reference count catches torch.optim.LBFGS's syncs
    with _Ops() as counted:
        torch_lbfgs(problems[0], x[0].detach(), 3)
    assert counted.ops["aten._local_scalar_dense.default"] > 0
    # and on the meta device (no data at all) every .item()/.cpu()/if-on-tensor would raise
    xm = torch.zeros(2, N, device="meta", requires_grad=True)
    opt = BatchedLBFGS(xm, history_size=M)
    for _ in range(M + 2):
        opt.step(lambda: (xm**2).sum(-1))


def test_early_stop_freezes_converged_frames_with_one_sync_per_window():
    q = quadratic(4, torch.float32)
    alone = torch.zeros(1, N).requires_grad_(True)
    opt = minimize(alone, lambda: q(alone), iterations=40, history_size=M, early_stop_tol=1e-4, early_stop_window=5)
    stop = opt.iterations
    assert 10 <= stop < 40 and not opt.active.any()
    # frame 0 never converges (a linear loss), frame 1 is the quadratic: it freezes where it stopped alone
    x = torch.zeros(2, N).requires_grad_(True)
    with _Ops() as counted:
        opt = minimize(
            x,
            lambda: torch.stack([-x[0].sum(), q(x[1])]),
            iterations=40,
            history_size=M,
            early_stop_tol=1e-4,
            early_stop_window=5,
        )
    assert opt.iterations == 40 and opt.active.tolist() == [True, False]
    assert torch.equal(x[1], alone[0])
    assert counted.ops["aten._local_scalar_dense.default"] == 40 // 5 - 1  # one per window check
