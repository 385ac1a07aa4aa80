"""Differentiable brushstroke renderer (fast, tiled) and a naive reference renderer.

Rendering model (Kotovenko et al. 2021). Each stroke's Bézier curve is sampled at ``S`` points
(an ``S - 1`` segment polyline). For pixel ``p`` and stroke ``i``:

* ``D_i(p)`` = squared distance (px²) from the pixel centre to the polyline;
* assignment ``a_i(p) = softmax_i(sharpness / (D_i(p) + EPS))`` over the candidate strokes —
  with the default ``sharpness = 1e5`` effectively one-hot: the nearest stroke wins;
* coverage ``sigma_i(p) = sigmoid(width_i - D_i(p))``;
* ``image(p) = background + sum_i a_i(p) * sigma_i(p) * (color_i - background)``.

:func:`render_naive` evaluates this literally on ``(H, W, K, S - 1)`` tensors, with ``K`` either
every stroke (``k=None``, exact; tests only) or — like the reference implementation — the ``k``
strokes whose centres are nearest to the pixel's ``cell``-px grid cell (long strokes are clipped
where the candidate set changes: seams).

:func:`render` gives the exact (all-strokes) result at a fraction of the cost:

1. Candidates (no autograd). A stroke can only matter for pixels within ``sqrt(R)`` of its
   polyline, ``R = max(width) + COVERAGE_MARGIN`` (coverage beyond is ``< sigmoid(-16) ≈ 1e-7``,
   and because ``R`` is the same for all strokes, a pixel with any stroke within ``R`` has its
   nearest strokes among those within ``R``). Each stroke's polyline bounding box, inflated by
   ``sqrt(R)``, is binned into ``tile`` x ``tile`` pixel tiles; tiles are processed in batches of
   similar candidate counts, and per pixel only the ``top`` nearest strokes and their nearest
   segment are kept (``(H, W, top)`` integer maps).
2. Differentiable pass. Only the kept ``(pixel, stroke, segment)`` triples are re-evaluated with
   autograd: ``O(H W top)`` memory instead of ``O(H W K S)``. The minimum over segments has the
   gradient of its argmin segment, so this is the exact gradient of the model (with the softmax
   truncated to the ``top`` nearest strokes, whose weights are ``exp(-huge)`` beyond the second).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .strokes import Strokes

#: Coverage below ``sigmoid(-COVERAGE_MARGIN)`` (≈ 1.1e-7) is treated as none.
COVERAGE_MARGIN = 16.0
#: Added to the squared distance in the assignment logits ``sharpness / (D + EPS)`` (px²).
EPS = 1e-3
#: Default element count of the largest search temporary (tile batch x pixels x candidates x
#: segments): 256K elements = 1 MB in float32; small batches stay in cache (measured faster than
#: 1M or 4M at 512², 5000 strokes).
BUDGET = 1 << 18


def _background(background: float | Sequence[float] | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Background colour as a ``(3,)`` tensor like ``like``."""
    bg = torch.as_tensor(background, dtype=like.dtype, device=like.device).reshape(-1)
    if bg.numel() == 1:
        bg = bg.expand(3)
    if bg.shape != (3,):
        raise ValueError(f"background must be a scalar or 3 values, got shape {tuple(bg.shape)}")
    return bg


def _check(height: int, width: int, samples: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"canvas must be at least 1x1, got {height}x{width}")
    if samples < 2:
        raise ValueError(f"samples must be >= 2, got {samples}")


def _segment_dist2(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distance from points ``p`` to segments ``a -> b`` (broadcast ``(..., 2)`` -> ``(...)``)."""
    ab = b - a
    ap = p - a
    t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)).clamp(0.0, 1.0)
    d = ap - t[..., None] * ab
    return (d * d).sum(-1)


def _pixel_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """``(H, W, 2)`` pixel centres ``(x, y)``."""
    ys = torch.arange(height, dtype=like.dtype, device=like.device)
    xs = torch.arange(width, dtype=like.dtype, device=like.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1)


def _composite(
    dist2: torch.Tensor,
    valid: torch.Tensor,
    stroke_idx: torch.Tensor,
    strokes: Strokes,
    bg: torch.Tensor,
    sharpness: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend the candidates of each pixel.

    Args:
        dist2: ``(H, W, K)`` squared distance of each pixel to each candidate's polyline.
        valid: ``(H, W, K)`` bool, False for padding candidates (weight 0).
        stroke_idx: ``(H, W, K)`` int64 stroke index of each candidate (any index where invalid).

    Returns:
        image ``(3, H, W)`` and alpha ``(H, W)`` (the assignment-weighted coverage).
    """
    logits = torch.where(valid, sharpness / (dist2 + EPS), torch.full_like(dist2, -1e30))
    weight = torch.softmax(logits, dim=-1) * valid
    cover = torch.sigmoid(strokes.width[stroke_idx] - dist2)
    wc = weight * cover
    color = strokes.color[stroke_idx]  # (H, W, K, 3)
    image = bg + (wc[..., None] * (color - bg)).sum(-2)
    return image.permute(2, 0, 1), wc.sum(-1)


# ---------------------------------------------------------------------------------------------
# naive reference
# ---------------------------------------------------------------------------------------------
def render_naive(
    strokes: Strokes,
    *,
    height: int,
    width: int,
    background: float | Sequence[float] | torch.Tensor,
    samples: int,
    sharpness: float = 1e5,
    k: int | None = None,
    cell: int = 5,
    return_alpha: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Brute-force renderer on full ``(H, W, K, samples - 1)`` tensors (tests and benchmark).

    Args:
        strokes: ``n >= 1`` strokes.
        height, width: canvas size in px.
        background: canvas colour, scalar or RGB in [0, 1].
        samples: points per curve ``S``.
        sharpness: assignment constant (see module docstring).
        k: ``None``: every stroke is a candidate for every pixel (exact, ``O(H W n S)`` memory).
            An int: the reference implementation's scheme — the ``k`` strokes whose centres are
            nearest to the centre of the pixel's ``cell`` x ``cell`` grid cell.
        cell: grid cell size in px for ``k``.
        return_alpha: also return the ``(H, W)`` coverage.

    Returns:
        ``(3, H, W)`` image in the strokes' dtype (and the alpha if asked).
    """
    _check(height, width, samples)
    n = len(strokes)
    if n == 0:
        raise ValueError("render_naive needs at least one stroke")
    bg = _background(background, strokes.location)
    pts = strokes.polyline(samples)  # (n, S, 2)
    pix = _pixel_grid(height, width, pts)  # (H, W, 2)
    if k is None:
        cand = torch.arange(n, device=pts.device).expand(height, width, n)
    else:
        kk = min(k, n)
        cy = torch.div(torch.arange(height, device=pts.device), cell, rounding_mode="floor")
        cx = torch.div(torch.arange(width, device=pts.device), cell, rounding_mode="floor")
        ny, nx = int(cy[-1]) + 1, int(cx[-1]) + 1
        centres = _pixel_grid(ny, nx, pts) * cell + (cell - 1) / 2.0  # (ny, nx, 2)
        d = torch.cdist(centres.reshape(-1, 2), strokes.location.detach())  # (ny*nx, n)
        near = d.topk(kk, dim=1, largest=False).indices.reshape(ny, nx, kk)
        cand = near[cy[:, None], cx[None, :]]  # (H, W, kk)
    seg = pts[cand]  # (H, W, K, S, 2)
    p = pix[:, :, None, None, :]
    dist2 = _segment_dist2(p, seg[..., :-1, :], seg[..., 1:, :]).amin(-1)  # (H, W, K)
    valid = torch.ones_like(dist2, dtype=torch.bool)
    image, alpha = _composite(dist2, valid, cand, strokes, bg, sharpness)
    return (image, alpha) if return_alpha else image


# ---------------------------------------------------------------------------------------------
# fast tiled renderer
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def _tile_candidates(
    pts: torch.Tensor, reach2: torch.Tensor, height: int, width: int, tile: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate strokes per tile.

    A stroke *touches* a tile if its polyline's bounding box inflated by ``sqrt(reach2_i)``
    (``reach2 = width + COVERAGE_MARGIN``, px²) overlaps the tile. With ``R_T`` the largest reach²
    of the strokes touching tile ``T``, the candidates of ``T`` are all strokes whose bounding box
    inflated by ``sqrt(R_T)`` overlaps it. That is exact for the nearest-stroke model: if some
    stroke ``j`` covers pixel ``p`` in ``T`` (``D_j(p) < reach2_j <= R_T``), every stroke nearer
    to ``p`` than ``j`` lies within ``sqrt(R_T)`` of ``p`` and is a candidate; if none covers
    ``p``, any winner leaves the background.

    Args:
        pts: ``(n, S, 2)`` polylines (detached).
        reach2: ``(n,)`` squared reach of each stroke in px².

    Returns:
        ``table`` ``(n_tiles, C)`` int64 stroke indices per tile (row-major tiles), ``-1`` padded,
        and ``counts`` ``(n_tiles,)`` int64.
    """
    nty, ntx = math.ceil(height / tile), math.ceil(width / tile)
    n_tiles = nty * ntx
    dev = pts.device
    lo, hi = pts.amin(1), pts.amax(1)  # (n, 2)

    def pairs(radius: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tile id, stroke, squared gap between the tile and the bbox) of overlapping pairs."""
        low, high = lo - radius[:, None], hi + radius[:, None]
        inside = (high[:, 0] >= 0) & (low[:, 0] <= width - 1) & (high[:, 1] >= 0) & (low[:, 1] <= height - 1)
        x0 = torch.div(low[:, 0], tile, rounding_mode="floor").clamp(0, ntx - 1).long()
        x1 = torch.div(high[:, 0], tile, rounding_mode="floor").clamp(0, ntx - 1).long()
        y0 = torch.div(low[:, 1], tile, rounding_mode="floor").clamp(0, nty - 1).long()
        y1 = torch.div(high[:, 1], tile, rounding_mode="floor").clamp(0, nty - 1).long()
        nx = x1 - x0 + 1
        per_stroke = torch.where(inside, nx * (y1 - y0 + 1), torch.zeros_like(nx))
        total = int(per_stroke.sum())
        stroke = torch.repeat_interleave(torch.arange(len(pts), device=dev), per_stroke)
        first = torch.cumsum(per_stroke, 0) - per_stroke
        local = torch.arange(total, device=dev) - first[stroke]
        tx = x0[stroke] + local % nx[stroke]
        ty = y0[stroke] + torch.div(local, nx[stroke], rounding_mode="floor")
        # gap between the tile's pixel-centre rectangle and the stroke's (uninflated) bbox
        gx = torch.maximum(lo[stroke, 0] - (tx * tile + tile - 1), tx * tile - hi[stroke, 0])
        gy = torch.maximum(lo[stroke, 1] - (ty * tile + tile - 1), ty * tile - hi[stroke, 1])
        gap2 = gx.clamp_min(0) ** 2 + gy.clamp_min(0) ** 2
        return ty * ntx + tx, stroke, gap2

    tid, stroke_own, _ = pairs(reach2.sqrt())
    tile_reach2 = torch.zeros(n_tiles, dtype=pts.dtype, device=dev).scatter_reduce(
        0, tid, reach2[stroke_own], reduce="amax"
    )
    tid, stroke, gap2 = pairs(reach2.max().sqrt().expand(len(pts)))
    keep = gap2 < tile_reach2[tid]
    tid, stroke = tid[keep], stroke[keep]
    if tid.numel() == 0:
        return torch.full((n_tiles, 0), -1, dtype=torch.long, device=dev), torch.zeros(
            n_tiles, dtype=torch.long, device=dev
        )
    order = torch.argsort(tid, stable=True)
    tid, stroke = tid[order], stroke[order]
    counts = torch.bincount(tid, minlength=n_tiles)
    start = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(tid), device=dev) - start[tid]
    table = torch.full((n_tiles, int(counts.max())), -1, dtype=torch.long, device=dev)
    table[tid, slot] = stroke
    return table, counts


@torch.no_grad()
def _nearest_strokes(
    pts: torch.Tensor, reach2: torch.Tensor, *, height: int, width: int, tile: int, top: int, budget: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per pixel, the ``top`` nearest candidate strokes (see :func:`_tile_candidates`).

    Distances are evaluated in the strokes' dtype (float32 normally; float64 in gradient tests)
    in tile-local coordinates as two batched matrix products (``|p - a|²`` and ``(p - a)·(b - a)``
    are affine in the pixel position ``p``) plus a few elementwise passes; they only pick the
    winners (the differentiable pass recomputes the distances).

    Returns ``(H, W, top)`` stroke index (int64), nearest segment index (int64) and validity
    (bool; False where a pixel has fewer than ``top`` candidates).
    """
    dev, dt = pts.device, pts.dtype
    table, counts = _tile_candidates(pts, reach2.to(dt), height, width, tile)
    nty, ntx = math.ceil(height / tile), math.ceil(width / tile)
    tp = tile * tile
    out_s = torch.zeros(nty * ntx, tp, top, dtype=torch.long, device=dev)
    out_g = torch.zeros(nty * ntx, tp, top, dtype=torch.long, device=dev)
    out_v = torch.zeros(nty * ntx, tp, top, dtype=torch.bool, device=dev)
    local = _pixel_grid(tile, tile, pts).reshape(tp, 2)  # (tp, 2)
    pix = torch.cat((local, torch.ones(tp, 1, device=dev, dtype=dt)), 1)  # (tp, 3)
    pix2 = (local * local).sum(1)[:, None]  # (tp, 1)
    gy, gx = torch.meshgrid(torch.arange(nty, device=dev), torch.arange(ntx, device=dev), indexing="ij")
    origin = (torch.stack((gx, gy), -1).reshape(-1, 2) * tile).to(dt)
    segs = pts.shape[1] - 1
    a_all, ab_all = pts[:, :-1], pts[:, 1:] - pts[:, :-1]  # (n, S-1, 2)
    len2_all = (ab_all * ab_all).sum(-1)
    inv_all = 1.0 / len2_all.clamp_min(1e-12)
    tiles = torch.nonzero(counts > 0).squeeze(1)
    tiles = tiles[torch.argsort(counts[tiles], descending=True)]
    sorted_counts = counts[tiles].tolist()  # one host transfer
    i = 0
    while i < len(tiles):
        c = sorted_counts[i]  # the batch's largest count
        batch = tiles[i : i + max(1, budget // (tp * c * segs))]
        i += len(batch)
        bsz = len(batch)
        cand = table[batch, :c]  # (B, c)
        ci = cand.clamp_min(0)
        a = a_all[ci] - origin[batch][:, None, None, :]  # (B, c, S-1, 2)
        ab = ab_all[ci]
        feats = torch.stack(
            (ab[..., 0], ab[..., 1], -(a * ab).sum(-1), -2 * a[..., 0], -2 * a[..., 1], (a * a).sum(-1)), 1
        )
        res = torch.matmul(pix, feats.reshape(bsz, 2, 3, c * segs))  # (B, 2, tp, c*segs)
        proj, dist2 = res[:, 0], res[:, 1].add_(pix2)  # (p-a)·ab, |p-a|²
        t = (proj * inv_all[ci].reshape(bsz, 1, -1)).clamp_(0.0, 1.0)
        d = t * len2_all[ci].reshape(bsz, 1, -1)
        d.sub_(proj, alpha=2.0).mul_(t).add_(dist2)  # |p - a - t ab|²
        dmin, gmin = d.view(bsz, tp, c, segs).min(-1)  # (B, tp, c)
        dmin.masked_fill_((cand < 0)[:, None, :], math.inf)
        kk = min(top, c)
        val, pos = dmin.topk(kk, dim=-1, largest=False)  # (B, tp, kk)
        out_s[batch, :, :kk] = torch.gather(cand[:, None, :].expand(-1, tp, -1), 2, pos)
        out_g[batch, :, :kk] = torch.gather(gmin, 2, pos)
        out_v[batch, :, :kk] = torch.isfinite(val)

    def to_image(x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(nty, ntx, tile, tile, top).permute(0, 2, 1, 3, 4)
        return x.reshape(nty * tile, ntx * tile, top)[:height, :width]

    return to_image(out_s), to_image(out_g), to_image(out_v)


def render(
    strokes: Strokes,
    *,
    height: int,
    width: int,
    background: float | Sequence[float] | torch.Tensor,
    samples: int,
    sharpness: float = 1e5,
    top: int = 2,
    tile: int = 8,
    budget: int = BUDGET,
    return_alpha: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Render strokes (fast; same model as :func:`render_naive` with ``k=None``).

    Args:
        strokes: the strokes (any ``n >= 0``; tensors may require grad).
        height, width: canvas size in px.
        background: canvas colour, scalar or RGB in [0, 1].
        samples: points per curve ``S`` (``S - 1`` segments).
        sharpness: assignment constant (module docstring).
        top: strokes kept per pixel for the soft assignment (2 captures ties; the rest have
            weight ``exp(-huge)`` at the default sharpness). The renderer matches the all-strokes
            model for near-hard assignments; with a soft ``sharpness`` only if ``top >= n`` and
            every stroke is a candidate everywhere (strokes farther than their coverage reach
            are never candidates).
        tile: tile size in px for candidate binning.
        budget: elements of the largest search temporary (see :data:`BUDGET`).
        return_alpha: also return the ``(H, W)`` coverage (assignment-weighted).

    Returns:
        ``(3, H, W)`` image in the strokes' dtype, differentiable w.r.t. all stroke tensors
        (and the alpha if asked).
    """
    _check(height, width, samples)
    loc = strokes.location
    bg = _background(background, loc)
    if len(strokes) == 0:
        image = bg[:, None, None].expand(3, height, width).clone()
        alpha = torch.zeros(height, width, dtype=loc.dtype, device=loc.device)
        return (image, alpha) if return_alpha else image
    pts = strokes.polyline(samples)  # (n, S, 2)
    reach2 = strokes.width.detach().clamp_min(0) + COVERAGE_MARGIN
    sidx, gidx, valid = _nearest_strokes(
        pts.detach(), reach2, height=height, width=width, tile=tile, top=top, budget=budget
    )
    a = pts[sidx, gidx]  # (H, W, top, 2)
    b = pts[sidx, gidx + 1]
    pix = _pixel_grid(height, width, pts)[:, :, None, :]
    dist2 = _segment_dist2(pix, a, b)  # (H, W, top)
    image, alpha = _composite(dist2, valid, sidx, strokes, bg, sharpness)
    return (image, alpha) if return_alpha else image


@torch.no_grad()
def winning_counts(strokes: Strokes, *, height: int, width: int, samples: int, tile: int = 8) -> torch.Tensor:
    """``(n,)`` int64: how many pixels each stroke wins (is the nearest candidate of, see
    :func:`render`). Strokes with 0 are hidden by others or off the canvas: they contribute
    nothing to the image (beyond ``exp(-huge)`` assignment weights)."""
    _check(height, width, samples)
    n = len(strokes)
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=strokes.location.device)
    reach2 = strokes.width.clamp_min(0) + COVERAGE_MARGIN
    sidx, _, valid = _nearest_strokes(
        strokes.polyline(samples), reach2, height=height, width=width, tile=tile, top=1, budget=BUDGET
    )
    return torch.bincount(sidx[..., 0][valid[..., 0]], minlength=n)
