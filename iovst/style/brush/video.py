"""Coherent strokes across frames: move the previous frame's strokes by the flow, drop the ones
that became invalid, and seed new strokes where the kept ones leave the canvas uncovered.

Flow convention (``docs/ARCHITECTURE.md``): a flow is defined on its source frame and points into
its target. To move points *from* frame ``t-1`` *to* frame ``t`` we need the flow defined on
``t-1`` pointing into ``t`` (the ``N1/forward`` flow of ``t-1``): a point ``x`` of ``t-1`` goes to
``x + flow(x)``, with the flow sampled bilinearly at ``x`` (pixel centres at integer
coordinates, the :mod:`iovst.flow.warp` pairing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import binary_opening
from skimage.morphology import disk

from .init import init_strokes
from .render import render
from .strokes import Strokes

#: A moved stroke is dropped where the reliability at its new centre is below this.
RELIABILITY_THRESHOLD = 0.5
#: Pixels whose coverage by the kept strokes is below this are "uncovered" (reseeded).
COVERAGE_THRESHOLD = 0.5
#: Radius (px) of the morphological opening of the uncovered mask: gaps narrower than about
#: twice this (the thin slivers between strokes) are not reseeded.
OPENING_RADIUS = 2


def sample_at(field: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``field`` at ``points``, border padding.

    Args:
        field: ``(C, H, W)`` float tensor.
        points: ``(..., 2)`` ``(x, y)`` in px, pixel centres at integer coordinates.

    Returns:
        ``(..., C)`` samples in ``field``'s dtype.
    """
    if field.dim() != 3 or points.shape[-1] != 2:
        raise ValueError(
            f"sample_at expects field (C, H, W) and points (..., 2), got {tuple(field.shape)} and {tuple(points.shape)}"
        )
    c, h, w = field.shape
    flat = points.reshape(-1, 2).to(field.dtype)
    gx = 2.0 * flat[:, 0] / max(w - 1, 1) - 1.0
    gy = 2.0 * flat[:, 1] / max(h - 1, 1) - 1.0
    grid = torch.stack((gx, gy), -1)[None, None]  # (1, 1, P, 2)
    out = F.grid_sample(field[None], grid, mode="bilinear", padding_mode="border", align_corners=True)  # (1, C, 1, P)
    return out[0, :, 0].T.reshape(*points.shape[:-1], c)


@torch.no_grad()
def advect(strokes: Strokes, flow_prev_to_cur: torch.Tensor) -> Strokes:
    """Move strokes of frame ``t-1`` onto frame ``t``.

    The centre and the three Bézier points are each displaced by the flow sampled at them (so
    strokes follow rotation and scaling, not just translation); the new relative points are taken
    to the new centre. Width and colour are kept.

    Args:
        strokes: strokes on frame ``t-1``.
        flow_prev_to_cur: ``(2, H, W)`` float px ``(dx, dy)``, defined on ``t-1``, pointing into
            ``t``.

    Returns:
        New (detached) strokes; possibly with centres off the canvas (see :func:`keep_mask`).
    """
    if flow_prev_to_cur.dim() != 3 or flow_prev_to_cur.shape[0] != 2:
        raise ValueError(f"flow must be (2, H, W), got {tuple(flow_prev_to_cur.shape)}")
    s = strokes.detach()
    flow = flow_prev_to_cur.to(device=s.location.device, dtype=s.location.dtype)
    loc = s.location + sample_at(flow, s.location)
    pts = s.points()
    moved = pts + sample_at(flow, pts)  # (n, 3, 2)
    return Strokes(location=loc, curve=moved - loc[:, None, :], width=s.width, color=s.color)


@torch.no_grad()
def keep_mask(
    strokes: Strokes,
    *,
    height: int,
    width: int,
    reliability: torch.Tensor | None = None,
    threshold: float = RELIABILITY_THRESHOLD,
) -> torch.Tensor:
    """``(n,)`` bool: the stroke's centre is on the canvas ``[0, W-1] x [0, H-1]`` and, with a
    ``reliability`` map ``(H, W)`` in [0, 1] of the current frame, reliability sampled at the centre
    is ``>= threshold`` (disoccluded and motion-boundary regions are dropped)."""
    loc = strokes.location
    ok = (loc[:, 0] >= 0) & (loc[:, 0] <= width - 1) & (loc[:, 1] >= 0) & (loc[:, 1] <= height - 1)
    if reliability is not None:
        if tuple(reliability.shape) != (height, width):
            raise ValueError(f"reliability must be ({height}, {width}), got {tuple(reliability.shape)}")
        r = sample_at(reliability.to(loc.device, loc.dtype)[None], loc)[:, 0]
        ok &= r >= threshold
    return ok


@dataclass
class Carried:
    """Strokes carried over to frame ``t``.

    Attributes:
        strokes: kept moved strokes followed by the new ones (``n_kept + n_new``).
        n_kept: how many of ``strokes`` (the first ones) were moved from ``t-1``.
        previous: ``(3, H, W)`` the kept strokes rendered on ``t`` (the temporal target).
        previous_alpha: ``(H, W)`` their coverage.
        uncovered: ``(H, W)`` bool numpy, where new strokes were seeded.
    """

    strokes: Strokes
    n_kept: int
    previous: torch.Tensor
    previous_alpha: torch.Tensor
    uncovered: np.ndarray


@torch.no_grad()
def carry_strokes(
    prev: Strokes,
    frame: np.ndarray,
    *,
    flow_prev_to_cur: torch.Tensor,
    reliability: torch.Tensor | None,
    n_strokes: int,
    length_scale: float,
    width_scale: float,
    samples: int,
    background: float,
    seed: int,
) -> Carried:
    """Advect ``prev`` to the current frame, drop invalid strokes and reseed uncovered areas.

    Args:
        prev: the optimised strokes of frame ``t-1``.
        frame: ``(H, W, 3)`` float RGB in [0, 1], frame ``t`` (colours and SLIC of new strokes).
        flow_prev_to_cur: ``(2, H, W)`` flow defined on ``t-1`` pointing into ``t``.
        reliability: ``(H, W)`` in [0, 1] on frame ``t`` (e.g. the masks' ``N1/backward``), or
            ``None`` (only off-canvas strokes are dropped).
        n_strokes: the per-frame stroke budget; the uncovered fraction ``f`` of the canvas gets
            SLIC with ``ceil(f * n_strokes)`` segments.
        length_scale, width_scale: of new strokes (:func:`~iovst.style.brush.init.init_strokes`).
        samples, background: renderer settings.
        seed: of the new strokes' jitter.
    """
    h, w = frame.shape[:2]
    if tuple(flow_prev_to_cur.shape) != (2, h, w):
        raise ValueError(f"flow must be (2, {h}, {w}) like the frame, got {tuple(flow_prev_to_cur.shape)}")
    moved = advect(prev, flow_prev_to_cur)
    kept = moved.select(keep_mask(moved, height=h, width=w, reliability=reliability))
    previous, alpha = render(kept, height=h, width=w, background=background, samples=samples, return_alpha=True)
    uncovered = alpha.cpu().numpy() < COVERAGE_THRESHOLD
    r = OPENING_RADIUS  # pad by edge replication: uncovered strips at the border survive
    uncovered = binary_opening(np.pad(uncovered, r, mode="edge"), structure=disk(r))[r:-r, r:-r]
    frac = float(uncovered.mean())
    new = Strokes.empty(device=kept.location.device, dtype=kept.location.dtype)
    if frac > 0:
        new = init_strokes(
            frame,
            n_strokes=max(1, int(np.ceil(frac * n_strokes))),
            length_scale=length_scale,
            width_scale=width_scale,
            seed=seed,
            mask=uncovered,
            device=kept.location.device,
            dtype=kept.location.dtype,
        )
    return Carried(
        strokes=Strokes.cat([kept, new]), n_kept=len(kept), previous=previous, previous_alpha=alpha, uncovered=uncovered
    )
