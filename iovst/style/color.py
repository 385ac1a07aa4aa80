"""Colour space of luminance-only style transfer (``stylize.original_colors``; Gatys, Bethge,
Hertzmann & Shechtman 2016, "Preserving color in neural artistic style transfer").

YIQ (FCC NTSC), applied to the frames' RGB values in ``[0, 1]`` as they are (no gamma decoding)::

    [Y]   [0.299     0.587     0.114   ] [R]
    [I] = [0.595716 -0.274453 -0.321263] [G]
    [Q]   [0.211456 -0.522591  0.311135] [B]

:func:`yiq_to_rgb` applies this matrix's inverse, computed in float64 (then cast to the input's
dtype), so the two transforms are inverses up to float rounding (~1e-7 in float32). The Y row sums
to 1 and the I, Q rows sum to 0: gray ``(v, v, v)`` is ``Y = v, I = Q = 0``, the inverse's first
column is ``(1, 1, 1)``, and changing a pixel's Y by ``d`` adds ``d`` to each of R, G and B.

Recombination (:func:`with_luminance`) clamps Y per pixel to the range in which the pixel, with its
frame's I and Q, stays inside the RGB cube, so the result needs no RGB clipping and its chroma is
exactly the frame's (a saturated red can get darker or brighter only as far as it stays red).
"""

from __future__ import annotations

import torch

#: RGB -> YIQ (rows Y, I, Q), float64.
RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=torch.float64,
)
#: YIQ -> RGB, the float64 inverse of :data:`RGB_TO_YIQ`.
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)

#: keeps the style luminance's std finite for a flat style image
EPS = 1e-8


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 4 or x.shape[1] != matrix.shape[1]:
        raise ValueError(f"expected (B, {matrix.shape[1]}, H, W), got {tuple(x.shape)}")
    return torch.einsum("ij,bjhw->bihw", matrix.to(x.device, x.dtype), x)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB -> ``(B, 3, H, W)`` YIQ (Y in [0, 1] for RGB in [0, 1]; I, Q signed)."""
    return _mix(RGB_TO_YIQ, x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_yiq`, ``(B, 3, H, W)`` -> ``(B, 3, H, W)`` (not clamped)."""
    return _mix(YIQ_TO_RGB, x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Y of ``x`` ``(B, 3, H, W)`` RGB -> ``(B, 1, H, W)``, same dtype."""
    return _mix(RGB_TO_YIQ[:1], x)


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """``style_y`` with its mean and std set to those of ``content_y`` (both ``(1, 1, h, w)``, any
    sizes): ``(Y_s - μ_s) · σ_c / σ_s + μ_c`` (population std; not clamped). A flat style gives
    a flat image at ``μ_c``."""
    mu_s, sd_s = style_y.mean(), style_y.std(unbiased=False)
    mu_c, sd_c = content_y.mean(), content_y.std(unbiased=False)
    return (style_y - mu_s) * (sd_c / (sd_s + EPS)) + mu_c


def with_luminance(y: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """The frame's chroma with luminance ``y``: ``yiq_to_rgb([Y', I_frame, Q_frame])``.

    Args:
        y: ``(B, 1, H, W)`` luminance, clamped per pixel to ``[Y_f - min(R, G, B), Y_f + 1 -
            max(R, G, B)]`` of the frame pixel (the Y range that keeps it in the RGB cube with its
            own I and Q; it contains ``Y_f`` and lies within ``[0, 1]``).
        frame: ``(B, 3, H, W)`` RGB in ``[0, 1]``.

    Returns:
        ``(B, 3, H, W)`` RGB in ``[0, 1]`` (clamped only against float rounding) whose I, Q equal
        the frame's.
    """
    yiq = rgb_to_yiq(frame)
    yf = yiq[:, :1]
    lo = yf - frame.amin(dim=1, keepdim=True)
    hi = yf + 1 - frame.amax(dim=1, keepdim=True)
    y = torch.minimum(torch.maximum(y, lo), hi)
    return yiq_to_rgb(torch.cat([y, yiq[:, 1:]], dim=1)).clamp(0, 1)
