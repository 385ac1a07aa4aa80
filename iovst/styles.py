"""Style setup shared by the stylize and multipass stages: model once, style targets once."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from .cache import hash_arrays
from .config import params_hash
from .frames import read_image
from .weights import set_torch_home

log = logging.getLogger(__name__)


def load_style_images(paths: Sequence[Path]) -> list:
    """Read every style image (``(H, W, 3)`` float32); raises ``InputError`` naming a bad one."""
    return [read_image(p) for p in paths]


def setup_stylizer(
    *,
    params: dict[str, Any],
    device: torch.device,
    styles: Sequence[Path],
    style_weights: Sequence[float] | None,
    style_scale: float,
    frame_hw: tuple[int, int],
):
    """Build the Gatys stylizer and its style targets once per job.

    Args:
        params: stage params JSON with ``stylize``, ``model`` and ``seed``.
        styles: style image paths (blended with ``style_weights``, default equal).
        frame_hw: processing ``(H, W)``; style images are resized to ``style_scale`` x its area.

    Returns:
        ``(stylizer, targets, digest)``: digest is a hex string identifying the style targets and
        the weights actually loaded, for cache keys.
    """
    from .gatys import Gatys, GatysParams

    images = load_style_images(styles)  # before any model work: bad input fails fast
    set_torch_home(params["model"].get("torch_home"))
    stylizer = Gatys(
        params=GatysParams.from_config(params["stylize"]), device=device,
        weights=params["model"]["weights"], seed=int(params["seed"]),
    )
    targets = stylizer.style_targets(images, list(style_weights) if style_weights else None, frame_hw=frame_hw, scale=style_scale)
    info = getattr(stylizer, "weights_info", None)
    info_d = info.as_dict() if hasattr(info, "as_dict") else {}
    digest = params_hash(
        {"images": hash_arrays(*images), "weights": list(style_weights or []), "scale": style_scale,
         "vgg": json.dumps(info_d, sort_keys=True)}, n=32,
    )
    return stylizer, targets, digest
