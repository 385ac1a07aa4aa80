"""Reliability masks (Ruder et al., GCPR 2016) for one flow chunk, into HDF5.

For a flow ``w`` defined on frame ``t`` pointing into frame ``s`` and the opposite flow ``ŵ``
(``s -> t``, defined on ``s``), the reliability ``c(x)`` on frame ``t`` of warping ``s`` into ``t``:

1. out of frame: ``x + w(x)`` outside ``[0, W-1] x [0, H-1]`` -> 0 (:func:`iovst.flow.warp.out_of_frame`);
2. disocclusion: with ``ŵ`` sampled bilinearly at ``x + w(x)`` (:func:`iovst.flow.warp.warp`, the same
   ``align_corners=True`` convention as all warping),
   ``|w + ŵ|² >= fb_ratio · (|w|² + |ŵ|²) + fb_abs`` -> 0;
3. motion boundary: ``|∂x u|² + |∂y u|² + |∂x v|² + |∂y v|²`` of ``w`` (central differences
   ``[-0.5, 0, 0.5]``, replicated border) ``> mb_ratio · |w|² + mb_abs`` -> 0;
4. otherwise 1. Softening (``sigma > 0``): ``c = min(clip(G_σ * (2c - 1), 0, 1), c)`` — the hard
   mask with holes marked -1 is blurred, so holes *grow* softly into their surroundings
   (a pixel 0.5 px from a straight hole edge gets ≈ 0.47 at σ = 0.8, 1.5 px ≈ 0.94) while every
   flagged pixel stays exactly 0.

Output (``kind=masks``, layout in ``docs/ARCHITECTURE.md``): ``N{n}/forward`` ``(m, H, W)`` float16
— reliability on ``t`` of warping ``t+n`` into ``t`` (``w`` = flow ``t -> t+n``);
``N{n}/backward`` — reliability on ``t+n`` of warping ``t`` into ``t+n`` (``w`` = flow ``t+n -> t``).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import MasksParams, StageParams, params_hash, section_params
from ..errors import CacheError
from ..storage import h5io
from .warp import out_of_frame, warp

log = logging.getLogger(__name__)

#: pairs processed per batch in the CLI (bounds memory at large frame sizes)
BATCH = 8


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, 1, H, W)`` with replicated borders (radius ``ceil(3σ)``)."""
    r = max(1, math.ceil(3.0 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def _grad_sq(flow: torch.Tensor) -> torch.Tensor:
    """``|∂x u|² + |∂y u|² + |∂x v|² + |∂y v|²`` of ``(B, 2, H, W)`` (central differences)."""
    p = F.pad(flow, (1, 1, 1, 1), mode="replicate")
    dx = 0.5 * (p[..., 1:-1, 2:] - p[..., 1:-1, :-2])
    dy = 0.5 * (p[..., 2:, 1:-1] - p[..., :-2, 1:-1])
    return (dx * dx + dy * dy).sum(dim=1)


def reliability(
    flow: np.ndarray | torch.Tensor,
    flow_back: np.ndarray | torch.Tensor,
    params: MasksParams | None = None,
    **overrides: float,
) -> np.ndarray | torch.Tensor:
    """Reliability of warping frame ``s`` into frame ``t`` (see the module docstring).

    Args:
        flow: ``(2, H, W)`` or ``(B, 2, H, W)`` flow ``w`` defined on ``t`` pointing into ``s`` (pixels).
        flow_back: same shape, the opposite flow ``ŵ`` defined on ``s`` pointing into ``t``.
        params: the config ``masks`` section (``None``: the schema's defaults): forward-backward
            (disocclusion) thresholds ``fb_ratio``, ``fb_abs``, motion-boundary thresholds
            ``mb_ratio``, ``mb_abs``, Gaussian softening ``sigma`` in pixels (0 = the hard {0, 1}
            mask).
        overrides: fields of ``params`` replaced (``sigma=0``).

    Returns:
        ``(H, W)`` or ``(B, H, W)`` float32 in ``[0, 1]`` on ``t``'s grid; a numpy array for
        numpy input, else a tensor on ``flow``'s device.
    """
    p = replace(params or section_params("masks"), **overrides)
    as_numpy = isinstance(flow, np.ndarray)
    w, wh = (
        torch.from_numpy(np.asarray(x, np.float32)) if isinstance(x, np.ndarray) else x.float()
        for x in (flow, flow_back)
    )
    wh = wh.to(w.device)
    if w.shape != wh.shape or w.dim() not in (3, 4) or w.shape[-3] != 2:
        raise ValueError(
            f"reliability expects two (B, 2, H, W) or (2, H, W) flows, got {tuple(w.shape)} and {tuple(wh.shape)}"
        )
    squeeze = w.dim() == 3
    if squeeze:
        w, wh = w.unsqueeze(0), wh.unsqueeze(0)
    wh_at = warp(wh, w)  # ŵ(x + w(x)); border padding, out-of-frame pixels are flagged below
    d2 = ((w + wh_at) ** 2).sum(dim=1)
    w2 = (w * w).sum(dim=1)
    disoccluded = d2 >= p.fb_ratio * (w2 + (wh_at * wh_at).sum(dim=1)) + p.fb_abs
    boundary = _grad_sq(w) > p.mb_ratio * w2 + p.mb_abs
    hard = (~(out_of_frame(w) | disoccluded | boundary)).float()
    c = hard
    if p.sigma > 0:
        soft = _gaussian_blur((2.0 * hard - 1.0).unsqueeze(1), p.sigma).squeeze(1).clamp(0.0, 1.0)
        c = torch.minimum(soft, hard)
    if squeeze:
        c = c.squeeze(0)
    return c.cpu().numpy() if as_numpy else c


def masks_file(*, flow_path: str | Path, out: str | Path, params: StageParams) -> dict[str, Any]:
    """Compute the masks of every pair in flow file ``flow_path`` and write them to ``out``.

    Returns the output's root attributes.
    """
    t0 = time.perf_counter()
    datasets: dict[str, np.ndarray] = {}
    with h5io.open_checked(flow_path, kind="flow") as f:
        offsets = [int(n) for n in f.attrs["offsets"]]
        h, w = int(f.attrs["height"]), int(f.attrs["width"])
        attrs = {
            "first_frame": int(f.attrs["first_frame"]),
            "n_frames": int(f.attrs["n_frames"]),
            "offsets": offsets,
            "height": h,
            "width": w,
            "params_hash": params_hash(params.raw),
            "flow_params_hash": str(f.attrs["params_hash"]),
            "flow_method": str(f.attrs["method"]),
        }
        n_pairs = 0
        for n in offsets:
            fwd = h5io.read_dataset(f, f"N{n}/forward")
            bwd = h5io.read_dataset(f, f"N{n}/backward")
            if fwd.shape != bwd.shape or fwd.shape[1:] != (2, h, w):
                raise CacheError(
                    f"'{flow_path}': N{n} forward {fwd.shape} / backward {bwd.shape} do not match {h}x{w}",
                    path=flow_path,
                )
            out_f = np.zeros((fwd.shape[0], h, w), np.float16)
            out_b = np.zeros((fwd.shape[0], h, w), np.float16)
            for i in range(0, fwd.shape[0], BATCH):
                a = torch.from_numpy(fwd[i : i + BATCH].astype(np.float32))
                b = torch.from_numpy(bwd[i : i + BATCH].astype(np.float32))
                out_f[i : i + BATCH] = reliability(a, b, params.masks).numpy().astype(np.float16)
                out_b[i : i + BATCH] = reliability(b, a, params.masks).numpy().astype(np.float16)
            datasets[f"N{n}/forward"] = out_f
            datasets[f"N{n}/backward"] = out_b
            n_pairs += fwd.shape[0]
            if fwd.shape[0]:
                log.info(
                    "N%d: %d pairs, mean reliability forward %.3f, backward %.3f",
                    n,
                    fwd.shape[0],
                    float(out_f.astype(np.float32).mean()),
                    float(out_b.astype(np.float32).mean()),
                )
    h5io.write(out, datasets, kind="masks", attrs=attrs)
    log.info("masks: %d pairs x 2 directions in %.1f s", n_pairs, time.perf_counter() - t0)
    return attrs
