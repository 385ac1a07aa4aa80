"""Backward warping with optical flow.

Convention (used by flow, masks, multipass and metrics alike): ``flow`` is defined on the frame we
warp *into* (the target grid) and points to where each pixel is found in the ``image`` being
warped::

    out(x) = image(x + flow(x))        # bilinear, pixel centres at integer coordinates

With the package-wide flow convention (flow on frame ``t`` points into frame ``s``), warping frame
``s``'s image with ``flow(t -> s)`` brings it onto frame ``t``'s grid.

``grid_sample`` is called with ``align_corners=True`` and the sampling grid normalised for exactly
that: pixel ``i`` of an axis of length ``L`` maps to ``-1 + 2 * i / (L - 1)``. (IOVST normalised for
``True`` and called with ``False``: a half-pixel, size-dependent shift.) With this pairing an integer
flow is an exact pixel shift and zero flow is the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _grid(flow: torch.Tensor) -> torch.Tensor:
    """Normalised ``(B, H, W, 2)`` sampling grid for a ``(B, 2, H, W)`` pixel flow."""
    b, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    x = gx.unsqueeze(0) + flow[:, 0]
    y = gy.unsqueeze(0) + flow[:, 1]
    # align_corners=True: pixel 0 -> -1, pixel L-1 -> +1.
    x = 2.0 * x / max(w - 1, 1) - 1.0
    y = 2.0 * y / max(h - 1, 1) - 1.0
    return torch.stack((x, y), dim=-1)


def warp(image: torch.Tensor, flow: torch.Tensor, *, padding_mode: str = "border") -> torch.Tensor:
    """Warp ``image`` onto the grid ``flow`` is defined on: ``out(x) = image(x + flow(x))``.

    Args:
        image: ``(B, C, H, W)`` or ``(C, H, W)`` float tensor.
        flow: ``(B, 2, H, W)`` or ``(2, H, W)`` float pixels ``(dx, dy)``, same ``H, W`` as ``image``.
        padding_mode: ``grid_sample`` padding for samples outside the image (``"border"``,
            ``"zeros"`` or ``"reflection"``). Out-of-frame pixels are unreliable anyway; the
            reliability mask is 0 there.

    Returns:
        Tensor shaped like ``image`` (float32 computation, image's dtype kept).
    """
    squeeze = image.dim() == 3
    if squeeze:
        image = image.unsqueeze(0)
    if flow.dim() == 3:
        flow = flow.unsqueeze(0)
    if image.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(
            f"warp expects image (B, C, H, W) and flow (B, 2, H, W), got {tuple(image.shape)} and {tuple(flow.shape)}"
        )
    if image.shape[-2:] != flow.shape[-2:] or flow.shape[0] not in (1, image.shape[0]):
        raise ValueError(f"warp: image {tuple(image.shape)} and flow {tuple(flow.shape)} do not match")
    dtype = image.dtype
    grid = _grid(flow.to(torch.float32))
    if grid.shape[0] != image.shape[0]:
        grid = grid.expand(image.shape[0], -1, -1, -1)
    out = F.grid_sample(
        image.to(torch.float32),
        grid,
        mode="bilinear",
        padding_mode=padding_mode,
        align_corners=True,
    ).to(dtype)
    return out.squeeze(0) if squeeze else out


def warp_np(image, flow, *, padding_mode: str = "border"):
    """NumPy convenience: ``image`` ``(H, W, C)`` float32, ``flow`` ``(2, H, W)``; same result layout."""
    import numpy as np

    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)
    f = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32))
    return warp(t, f, padding_mode=padding_mode).permute(1, 2, 0).numpy()


def out_of_frame(flow: torch.Tensor) -> torch.Tensor:
    """Boolean ``(..., H, W)`` mask of pixels whose target ``x + flow(x)`` leaves the frame.

    A target inside ``[0, W-1] x [0, H-1]`` (inclusive, so bilinear sampling has all four
    neighbours or lies exactly on the last row/column) is in frame.
    """
    h, w = flow.shape[-2:]
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(h, 1)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, w)
    x = xs + flow[..., 0, :, :]
    y = ys + flow[..., 1, :, :]
    return (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)
