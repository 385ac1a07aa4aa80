"""Stroke initialisation from SLIC superpixels: one stroke per superpixel along its major axis.

Per superpixel (pixel coordinates ``(x, y)``; moments accumulated with ``np.bincount``):

* centre = mean pixel position; colour = mean colour;
* major axis = principal axis of the pixel positions (PCA of the 2x2 covariance); start and end =
  the extreme projections onto it (relative to the centre), the control point = their midpoint
  plus a seeded uniform jitter in [-1, 1] px per coordinate; start, end and control are scaled by
  ``length_scale``;
* width = ``width_scale * m²`` with ``m`` the extent along the minor axis + 1 px (width is
  compared with the squared distance, so the stroke's radius grows like ``m``).

Segments are the *connected* parts of the superpixels: masked SLIC (reseeding scattered uncovered
areas) can give one label to distant blobs, whose joint moments would make one long stroke
across the covered canvas between them. Segments with fewer than :data:`MIN_PIXELS` pixels get
no stroke.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from skimage.measure import label as connected_components
from skimage.segmentation import slic

from .strokes import Strokes

#: Smallest superpixel (px) that gets a stroke.
MIN_PIXELS = 5


def _segment_extents(labels: np.ndarray, proj: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-label minimum and maximum of ``proj`` (flat arrays; labels ``0..n_labels-1`` present)."""
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(n_labels))
    sorted_proj = proj[order]
    return np.minimum.reduceat(sorted_proj, starts), np.maximum.reduceat(sorted_proj, starts)


def init_strokes(
    image: np.ndarray,
    *,
    n_strokes: int,
    length_scale: float,
    width_scale: float,
    seed: int = 0,
    mask: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Strokes:
    """Strokes from SLIC superpixels of ``image`` (deterministic for a given ``seed``).

    Args:
        image: ``(H, W, 3)`` float RGB in [0, 1].
        n_strokes: SLIC ``n_segments`` (the result has about this many strokes, fewer where
            superpixels are tiny or the mask is small).
        length_scale: scale of start, end and control point around the centre.
        width_scale: width = ``width_scale * (minor extent + 1 px)²`` (px²).
        seed: seed of the control-point jitter.
        mask: optional ``(H, W)`` bool; superpixels (and strokes) only where True (reseeding).
        device, dtype: of the returned tensors.

    Returns:
        :class:`Strokes` with centres inside the canvas (on superpixel pixels' mean) and
        widths > 0; possibly empty (an all-False mask).
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"init_strokes expects an (H, W, 3) image, got {image.shape}")
    if n_strokes < 1:
        raise ValueError(f"n_strokes must be >= 1, got {n_strokes}")
    h, w = image.shape[:2]
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (h, w):
            raise ValueError(f"mask must be {(h, w)} like the image, got {mask.shape}")
        if not mask.any():
            return Strokes.empty(device=device, dtype=dtype)
    img = np.asarray(image, dtype=np.float64)
    with warnings.catch_warnings():
        # masked SLIC seeds its centres with k-means, which may warn about an empty cluster
        warnings.filterwarnings("ignore", message="One of the clusters is empty")
        labels = slic(img, n_segments=n_strokes, compactness=2, sigma=1, start_label=1, mask=mask, channel_axis=-1)
    labels = connected_components(labels, background=0, connectivity=1)
    keep_px = labels > 0
    lab = labels[keep_px]
    _, lab = np.unique(lab, return_inverse=True)  # 0..L-1
    n_lab = int(lab.max()) + 1 if lab.size else 0
    if n_lab == 0:
        return Strokes.empty(device=device, dtype=dtype)
    ys, xs = np.nonzero(keep_px)
    xs = xs.astype(np.float64)
    ys = ys.astype(np.float64)
    cnt = np.bincount(lab, minlength=n_lab).astype(np.float64)
    mx = np.bincount(lab, xs, n_lab) / cnt
    my = np.bincount(lab, ys, n_lab) / cnt
    dx, dy = xs - mx[lab], ys - my[lab]
    cxx = np.bincount(lab, dx * dx, n_lab) / cnt
    cyy = np.bincount(lab, dy * dy, n_lab) / cnt
    cxy = np.bincount(lab, dx * dy, n_lab) / cnt
    theta = 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)  # major-axis angle
    ux, uy = np.cos(theta), np.sin(theta)
    pmin, pmax = _segment_extents(lab, dx * ux[lab] + dy * uy[lab], n_lab)
    qmin, qmax = _segment_extents(lab, -dx * uy[lab] + dy * ux[lab], n_lab)
    colors = np.stack([np.bincount(lab, img[..., ch][keep_px], n_lab) / cnt for ch in range(3)], 1)

    u = np.stack((ux, uy), 1)
    start = u * pmin[:, None]
    end = u * pmax[:, None]
    rng = np.random.default_rng(seed)
    control = (start + end) / 2.0 + rng.uniform(-1.0, 1.0, size=(n_lab, 2))
    curve = np.stack((start, end, control), 1) * length_scale  # (L, 3, 2)
    width = width_scale * (qmax - qmin + 1.0) ** 2
    big = cnt >= MIN_PIXELS
    arr = np.concatenate(
        [np.stack((mx, my), 1), curve.reshape(-1, 6), width[:, None], np.clip(colors, 0.0, 1.0)], axis=1
    )[big]
    return Strokes.from_array(arr.astype(np.float32), device=device, dtype=dtype)
