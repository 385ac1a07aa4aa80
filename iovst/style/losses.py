"""Loss terms of optimization-based style transfer, all computed in fp32.

Every term is normalised so its size depends neither on the resolution, nor on the number of
layers, nor on the magnitude of the network's features:

* Gram matrices are divided by ``C * H * W`` (a mean over positions, scaled by 1/C), so an image and
  a tiling of it have the same Gram;
* content and style terms are *relative* squared errors per layer,
  ``mean((F - P)²) / mean(P²)`` and ``mean((G - A)²) / mean(A²)``; the content term is averaged
  over its layers and the style term uses per-layer weights normalised to sum 1. A relative error
  is ~1 when the image has nothing of the target and 0 when it matches, whichever weights produced
  the features (ImageNet VGG-19, another checkpoint, or the seeded random weights of the tests);
* total variation and the temporal term are means over pixels (and channels) of images in [0, 1].

Batches: every term is computed per frame of a ``(B, ...)`` batch (each frame normalised by its own
target); ``per_frame=True`` returns the ``(B,)`` terms (the batched optimiser's per-frame losses),
the default their sum, a scalar (``B = 1``: the frame's term).

Scale of the defaults (config ``stylize``): the Caffe-era weights of Gatys / Ruder / neural-style
(content 5, style 1e2, temporal 1e3 on 0-255 BGR features) do not carry over; with the relative
terms above, ``content 1, style 10, tv 1, temporal 200`` are the starting points. Print each term's
size at iteration 0 with your weights via ``iovst stylize --report-losses`` and adjust.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

#: keeps the relative errors finite for an all-zero target (e.g. a black frame's deep features)
EPS = 1e-12


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix of features ``f`` ``(B, C, H, W)`` -> ``(B, C, C)`` fp32, divided by ``C*H*W``.

    Always fp32, also inside an autocast region.
    """
    if f.ndim != 4:
        raise ValueError(f"gram expects (B, C, H, W) features, got {tuple(f.shape)}")
    b, c, h, w = f.shape
    with torch.autocast(device_type=f.device.type, enabled=False):
        v = f.float().reshape(b, c, h * w)
        return torch.bmm(v, v.transpose(1, 2)) / (c * h * w)


def normalise_weights(weights: Sequence[float], *, what: str = "weights") -> list[float]:
    """``weights`` divided by their sum; raises ``ValueError`` for negative values or a zero sum."""
    w = [float(x) for x in weights]
    if any(x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"{what} must be >= 0 with a positive sum, got {w}")
    total = sum(w)
    return [x / total for x in w]


def _frames(v: torch.Tensor, per_frame: bool) -> torch.Tensor:
    """Per-frame terms ``v`` ``(B,)`` as returned: themselves, or their sum (scalar)."""
    return v if per_frame else v.sum()


def _mean(t: torch.Tensor) -> torch.Tensor:
    """Mean over all but the first (frame) dimension: ``(B, ...)`` -> ``(B,)``."""
    return t.reshape(t.shape[0], -1).mean(1)


def content_loss(
    features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor], *, per_frame: bool = False
) -> torch.Tensor:
    """Relative squared error ``mean((F - P)²) / mean(P²)`` per frame, averaged over the layers of
    ``targets`` (fp32; ``(B,)`` with ``per_frame``, else their sum).

    ``features[l]`` ``(B, C, H, W)`` and ``targets[l]`` must have the same shape.
    """
    terms = []
    for name, t in targets.items():
        f = features[name]
        if f.shape != t.shape:
            raise ValueError(f"content layer {name}: features {tuple(f.shape)} vs target {tuple(t.shape)}")
        t32 = t.float()
        terms.append(_mean((f.float() - t32) ** 2) / (_mean(t32**2) + EPS))
    return _frames(torch.stack(terms).mean(0), per_frame)


def style_loss(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
    *,
    per_frame: bool = False,
) -> torch.Tensor:
    """``Σ_l w_l · mean((gram(F_l) − T_l)²) / mean(T_l²)`` per frame with ``w`` normalised to sum 1
    (fp32; ``(B,)`` with ``per_frame``, else their sum).

    Args:
        features: ``{layer: (B, C, H, W)}`` activations of the image being optimised.
        target_grams: ``{layer: (1 or B, C, C)}`` fp32 target Grams (one for all frames, or one per frame).
        layer_weights: ``{layer: weight >= 0}``; the layers summed over.
    """
    names = list(layer_weights)
    w = normalise_weights([layer_weights[n] for n in names], what="style layer weights")
    total = None
    for name, wl in zip(names, w):
        g = gram(features[name])
        t = target_grams[name]
        if g.shape[-2:] != t.shape[-2:]:
            raise ValueError(f"style layer {name}: Gram {tuple(g.shape)} vs target {tuple(t.shape)}")
        t32 = t.float()
        term = wl * _mean((g - t32) ** 2) / (_mean(t32**2) + EPS)
        total = term if total is None else total + term
    return _frames(total, per_frame)


def tv_loss(x: torch.Tensor, *, per_frame: bool = False) -> torch.Tensor:
    """Total variation of ``x`` ``(B, C, H, W)`` per frame: mean squared horizontal plus mean squared
    vertical neighbour difference (the smooth, squared form used by neural-style). fp32 (``(B,)``
    with ``per_frame``, else their sum); 0 for a constant image."""
    if x.ndim != 4:
        raise ValueError(f"tv_loss expects (B, C, H, W), got {tuple(x.shape)}")
    x = x.float()
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return _frames(_mean(dx**2) + _mean(dy**2), per_frame)


def temporal_loss(
    x: torch.Tensor, warped: Sequence[torch.Tensor], weights: Sequence[torch.Tensor], *, per_frame: bool = False
) -> torch.Tensor:
    """Masked temporal loss ``Σ_N mean(c_N · (x − ω_N)²)`` per frame (Ruder et al.; one term per
    offset, summed).

    Args:
        x: ``(B, C, H, W)`` the images being optimised (``C = 3`` RGB, or 1: the luminance of
            ``original_colors``).
        warped: per offset, the neighbours' stylised frames warped onto ``x``'s grid, ``(B, C, H, W)``.
        weights: per offset, the reliability / long-term weight ``c_N`` ``(B, 1, H, W)`` in ``[0, 1]``
            (a frame without this offset: weight 0).

    The mean runs over channels and pixels (``D = C·H·W``), as in the paper. fp32 (``(B,)`` with
    ``per_frame``, else their sum); 0 without terms.
    """
    if len(warped) != len(weights):
        raise ValueError(f"temporal_loss: {len(warped)} warped image(s) but {len(weights)} weight map(s)")
    x32 = x.float()
    total = x32.new_zeros(x.shape[0])
    for i, (w, c) in enumerate(zip(warped, weights)):
        if w.shape != x.shape:
            raise ValueError(f"temporal term {i}: warped {tuple(w.shape)} vs image {tuple(x.shape)}")
        if c.ndim != 4 or c.shape[0] != x.shape[0] or c.shape[1] != 1 or c.shape[2:] != x.shape[2:]:
            raise ValueError(
                f"temporal term {i}: weight {tuple(c.shape)} must be ({x.shape[0]}, 1, {x.shape[2]}, {x.shape[3]})"
            )
        total = total + _mean(c.float() * (x32 - w.float()) ** 2)
    return _frames(total, per_frame)
