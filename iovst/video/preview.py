"""Flow preview video: colour-coded short-term flow next to its reliability mask.

Frame ``t`` of the preview (``t = 0 .. F-2``) shows, left, the flow ``t -> t+1`` on the HSV colour
wheel (hue = direction, saturation = magnitude relative to the clip's 99th-percentile magnitude,
value = 1: white means no motion) and, right, the reliability mask on ``t`` of warping ``t+1``
into ``t`` (white = reliable, black = occluded / out of frame / motion boundary). Encoded with
H.264 (yuv420p, CRF 18) at the source's exact frame rate, written atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..flow.flowstore import FlowStore, MaskStore
from ..storage.atomic import atomic_path
from ..storage.meta import load_meta
from . import ffmpeg
from .frames import to_uint8

log = logging.getLogger(__name__)


def flow_to_rgb(flow: np.ndarray, *, max_magnitude: float) -> np.ndarray:
    """``(2, H, W)`` flow -> ``(H, W, 3)`` float32 RGB in ``[0, 1]`` on the HSV wheel.

    Hue is the direction (``atan2(dy, dx)``, image y pointing down), saturation the magnitude
    divided by ``max_magnitude`` (clipped to 1), value 1.
    """
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"flow_to_rgb expects (2, H, W), got {flow.shape}")
    dx, dy = flow.astype(np.float32)
    mag, ang = cv2.cartToPolar(dx, dy, angleInDegrees=True)
    hsv = np.stack([ang, np.clip(mag / max(max_magnitude, 1e-6), 0.0, 1.0), np.ones_like(mag)], axis=-1)
    return cv2.cvtColor(hsv.astype(np.float32), cv2.COLOR_HSV2RGB)


def _frames(flows: FlowStore, masks: MaskStore, n_pairs: int, max_magnitude: float) -> Iterator[np.ndarray]:
    for t in range(n_pairs):
        try:
            mask = masks.reliability(t, t + 1)
        except KeyError as exc:
            raise InputError(f"flow-preview: {exc.args[0]}") from None
        panel = np.concatenate(
            [flow_to_rgb(flows.flow(t, t + 1), max_magnitude=max_magnitude), np.repeat(mask[..., None], 3, axis=2)],
            axis=1,
        )
        yield to_uint8(panel)


def write_preview(
    *, flow_paths: Sequence[str | Path], mask_paths: Sequence[str | Path], meta_path: str | Path, out: str | Path
) -> int:
    """Write the preview to ``out``; return the number of frames (``frame_count - 1``)."""
    meta = load_meta(meta_path)
    n_pairs = meta["frame_count"] - 1
    h, w = meta["height"], meta["width"]
    if n_pairs < 1:
        raise InputError(f"'{meta_path}': a single frame has no flow to preview")
    with FlowStore(flow_paths) as flows, MaskStore(mask_paths) as masks:
        try:
            mags = [np.percentile(np.hypot(*flows.flow(t, t + 1)), 99) for t in range(n_pairs)]
        except KeyError as exc:
            raise InputError(f"flow-preview: {exc.args[0]}") from None
        max_mag = float(max(max(mags), 1.0))
        log.info("flow-preview: %d frames, colour saturation at %.2f px", n_pairs, max_mag)
        video = ffmpeg.raw_rgb24_input(2 * w, h, Fraction(meta["fps_num"], meta["fps_den"]))
        video = video.filter("pad", "ceil(iw/2)*2", "ceil(ih/2)*2")
        with atomic_path(out) as tmp:
            stream = video.output(
                ffmpeg.media_path(tmp),
                an=None,
                vcodec="libx264",
                preset="medium",
                crf=18,
                pix_fmt="yuv420p",
                movflags="+faststart",
            )
            n = ffmpeg.pipe_frames(stream, _frames(flows, masks, n_pairs, max_mag), context=f"flow preview '{out}'")
    return n
