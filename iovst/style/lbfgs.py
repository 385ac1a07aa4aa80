"""Sync-free batched L-BFGS: ``B`` frames optimised at once, each with its own history.

:class:`BatchedLBFGS` is ``torch.optim.LBFGS(lr=lr, line_search_fn=None)`` called with
``max_iter=1`` per step, vectorised over a leading frame dimension and written without a single
host synchronisation (no ``.item()``, ``float()``, ``.cpu()`` or Python ``if`` on tensor values):
every per-frame decision is a ``torch.where``. One :meth:`BatchedLBFGS.step` = one loss evaluation
(the closure) + one update, like Adam.

What is matched, per frame, from ``torch/optim/lbfgs.py``:

* first step ``d = -g`` with step length ``t = min(1, 1/|g|_1) * lr``; later steps ``t = lr``;
* the curvature pair ``(s, y) = (t·d_prev, g - g_prev)`` enters the history only if
  ``y·s > 1e-10`` (``curvature_eps``); the oldest pair is dropped when ``history_size`` are held;
  the initial inverse Hessian ``H0 = y·s / y·y`` of the newest accepted pair (1 before any);
* the two-loop recursion newest -> oldest, then oldest -> newest;
* ``max|g| <= tolerance_grad`` (torch returns without a step) and ``g·d > -tolerance_change``
  (torch leaves the step before moving) *freeze* the frame: torch would return at the same point
  again on every later call (same ``x``, same gradient), so the frame stays where it is.
  The end-of-step checks of torch (``|t·d| <= tolerance_change``, ``|Δloss| < tolerance_change``)
  only end a ``max_iter > 1`` call early and never fire with ``max_iter=1``.

Differences: dot products are batched reductions, so results agree with torch's to rounding (fp32
trajectories diverge slowly on non-convex problems), and a frame's row of a batch equals its own
``B = 1`` run (frames never mix).

History storage: per-frame ring buffers ``(B, m, 2, N)`` (``s`` and ``y`` of a pair side by side),
a per-frame write position and ``rho = 1 / y·s`` ``(B, m)`` (0 = empty slot, which makes an empty
slot an exact no-op in the recursion, so the loops always run ``m`` times).

:func:`minimize` runs a fixed number of iterations with an optional early stop checked once per
window: the window's first losses are read back once (the only host synchronisation) and a frame
whose loss changed relatively by less than the tolerance since the previous check is frozen; the
run ends when every frame is frozen.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: ``torch.optim.LBFGS``'s threshold on ``y·s`` for accepting a curvature pair.
CURVATURE_EPS = 1e-10


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise dot product of ``(B, N)`` tensors -> ``(B,)``."""
    return (a * b).sum(-1)


class BatchedLBFGS:
    """L-BFGS over the frames of ``x`` (its first dimension), one history per frame.

    Args:
        x: ``(B, ...)`` floating leaf tensor with ``requires_grad``; updated in place.
        history_size: curvature pairs kept per frame (``m``).
        lr: fixed step length after the first step (no line search).
        tolerance_grad: a frame with ``max|g| <= tolerance_grad`` is frozen.
        tolerance_change: a frame whose direction has ``g·d > -tolerance_change`` is frozen.
        curvature_eps: pairs with ``y·s <= curvature_eps`` are skipped.

    Attributes:
        active: ``(B,)`` bool on ``x``'s device: frames that still move.
        iterations: steps taken so far (host counter).
    """

    def __init__(
        self,
        x: torch.Tensor,
        *,
        history_size: int,
        lr: float = 1.0,
        tolerance_grad: float = 0.0,
        tolerance_change: float = 0.0,
        curvature_eps: float = CURVATURE_EPS,
    ) -> None:
        if x.ndim < 1 or x.shape[0] < 1 or not x.is_floating_point() or not x.requires_grad or not x.is_leaf:
            raise ValueError(
                f"BatchedLBFGS needs a floating (B, ...) leaf tensor with requires_grad, got {tuple(x.shape)}"
            )
        if history_size < 1:
            raise ValueError(f"history_size must be >= 1, got {history_size}")
        b, n = x.shape[0], x[0].numel()
        self.x = x
        self.history_size = history_size
        self.lr = float(lr)
        self.tolerance_grad = float(tolerance_grad)
        self.tolerance_change = float(tolerance_change)
        self.curvature_eps = float(curvature_eps)
        self.iterations = 0
        dev = x.device
        self.active = torch.ones(b, dtype=torch.bool, device=dev)
        self._pairs = x.new_zeros(b, history_size, 2, n)  # [:, slot, 0] = s, [:, slot, 1] = y
        self._rho = x.new_zeros(b, history_size)
        self._head = torch.zeros(b, dtype=torch.long, device=dev)  # next slot to write, per frame
        self._h_diag = x.new_ones(b)
        self._rows = torch.arange(b, device=dev)
        self._ages = torch.arange(history_size, device=dev)
        self._prev_g = x.new_zeros(b, n)
        self._d = x.new_zeros(b, n)
        self._t = x.new_zeros(b)

    def freeze(self, frames: torch.Tensor) -> None:
        """Stop the frames where the ``(B,)`` bool ``frames`` is true (no sync)."""
        self.active &= ~frames.to(self.active.device)

    def step(self, loss_fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        """One iteration: evaluate ``loss_fn()`` at ``x`` and move every active frame.

        Args:
            loss_fn: returns the per-frame losses ``(B,)`` of the current ``x`` (frames independent:
                frame ``b``'s loss depends on ``x[b]`` only); its sum is differentiated.

        Returns:
            the ``(B,)`` losses at ``x`` before the step, detached.
        """
        x, b = self.x, self.x.shape[0]
        with torch.enable_grad():
            loss = loss_fn()
            if loss.shape != (b,):
                raise ValueError(f"loss_fn must return per-frame losses ({b},), got {tuple(loss.shape)}")
            (grad,) = torch.autograd.grad(loss.sum(), x)
        with torch.no_grad():
            g = grad.reshape(b, -1)
            self.active &= g.abs().amax(-1) > self.tolerance_grad
            if self.iterations == 0:
                d = g.neg()
                t = (1.0 / g.abs().sum(-1)).clamp(max=1.0) * self.lr
            else:
                self._remember(g)
                d = self._direction(g)
                t = torch.full_like(self._t, self.lr)
            self.active &= _dot(g, d) <= -self.tolerance_change
            self._prev_g.copy_(g)
            self._d, self._t = d, t
            x.add_(torch.where(self.active[:, None], d * t[:, None], 0.0).view_as(x))
        self.iterations += 1
        return loss.detach()

    def _remember(self, g: torch.Tensor) -> None:
        """Store the pair of the last step where ``y·s > curvature_eps`` (and the frame is active)."""
        y = g - self._prev_g
        s = self._d * self._t[:, None]
        ys = _dot(y, s)
        keep = (ys > self.curvature_eps) & self.active
        rows, slot = self._rows, self._head
        self._pairs[rows, slot] = torch.where(keep[:, None, None], torch.stack([s, y], 1), self._pairs[rows, slot])
        self._rho[rows, slot] = torch.where(keep, 1.0 / ys, self._rho[rows, slot])
        self._head = torch.where(keep, (slot + 1) % self.history_size, slot)
        self._h_diag = torch.where(keep, ys / _dot(y, y), self._h_diag)

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        """Two-loop recursion ``-H g`` ``(B, N)``, each frame over its own pairs."""
        rows = self._rows
        slots = (self._head[:, None] - 1 - self._ages) % self.history_size  # (B, m): k-th newest slot
        rho = self._rho.gather(1, slots)
        q = g.neg()
        al = []
        for k in range(self.history_size):  # newest -> oldest
            pair = self._pairs[rows, slots[:, k]]
            a = _dot(pair[:, 0], q) * rho[:, k]
            q.addcmul_(pair[:, 1], a[:, None], value=-1)
            al.append(a)
        r = q * self._h_diag[:, None]
        for k in reversed(range(self.history_size)):  # oldest -> newest
            pair = self._pairs[rows, slots[:, k]]
            r.addcmul_(pair[:, 0], (al[k] - _dot(pair[:, 1], r) * rho[:, k])[:, None])
        return r


def relative_change_below(prev: torch.Tensor, cur: torch.Tensor, tol: float) -> torch.Tensor:
    """``|prev - cur| <= tol * max(|prev|, 1e-30)`` elementwise (the early-stop rule)."""
    return (prev - cur).abs() <= tol * prev.abs().clamp_min(1e-30)


def minimize(
    x: torch.Tensor,
    loss_fn: Callable[[], torch.Tensor],
    *,
    iterations: int,
    history_size: int,
    lr: float = 1.0,
    early_stop_tol: float = 0.0,
    early_stop_window: int = 50,
) -> BatchedLBFGS:
    """Run :class:`BatchedLBFGS` on ``x`` ``(B, ...)`` for ``iterations`` steps (loss evaluations).

    Early stop (``early_stop_tol > 0``): at the end of every ``early_stop_window`` steps the losses
    at the window's start are read back (one host sync per window) and compared with those of the
    previous window; frames whose loss changed relatively by at most ``early_stop_tol`` are frozen;
    the run ends when all are. Returns the optimiser (its ``active`` and ``iterations``).
    """
    opt = BatchedLBFGS(x, history_size=history_size, lr=lr)
    window = early_stop_window if early_stop_tol > 0 else iterations
    done, prev = 0, None
    stopped = torch.zeros(x.shape[0], dtype=torch.bool)
    while done < iterations:
        n = min(window, iterations - done)
        first = opt.step(loss_fn)
        for _ in range(n - 1):
            opt.step(loss_fn)
        done += n
        if early_stop_tol > 0:
            cur = first.to("cpu", torch.float64)  # the window's one host sync
            if prev is not None:
                stopped |= relative_change_below(prev, cur, early_stop_tol)
                opt.freeze(stopped)
                if bool(stopped.all()):
                    break
            prev = cur
    return opt
