"""Conversions between the on-disk image layout and the model layout.

numpy ``(H, W, 3)`` float32 RGB in ``[0, 1]``  <->  torch ``(1, 3, H, W)`` float32.
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(image: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """``(H, W, 3)`` float -> contiguous ``(1, 3, H, W)`` float32 (on ``device`` if given)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got {image.shape}")
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None].contiguous()
    return t if device is None else t.to(device)


def to_image(t: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` -> ``(H, W, 3)`` float32 numpy (detached host copy)."""
    if t.ndim != 4 or t.shape[:2] != (1, 3):
        raise ValueError(f"expected a (1, 3, H, W) tensor, got {tuple(t.shape)}")
    return t.detach()[0].permute(1, 2, 0).float().cpu().numpy()
