"""Lossless frame files: ``<frames_dir>/%06d.png`` (0-based), 8-bit RGB or 16-bit RGB PNG.

On-disk-facing images are ``(H, W, 3)`` ``float32`` RGB in ``[0, 1]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import FrameError, InputError
from ..storage.atomic import atomic_path

PATTERN = "%06d.png"


def frame_path(frames_dir: str | Path, index: int) -> Path:
    """Path of 0-based frame ``index`` in ``frames_dir``."""
    return Path(frames_dir) / (PATTERN % index)


def read_image(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG/TIFF image as ``(H, W, 3)`` float32 RGB in ``[0, 1]``.

    8- and 16-bit, gray, gray+alpha, RGBA (composited over white) and palette images are
    accepted; CMYK JPEGs are converted by Pillow. Raises :class:`InputError` naming the file.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with Image.open(p) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float32)
                scale = 65535.0 if arr.max(initial=0) > 255 or im.mode.startswith("I;16") else 255.0
                arr = np.repeat((arr / scale)[..., None], 3, axis=2)
                return np.clip(arr, 0, 1).astype(np.float32)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im2 = Image.alpha_composite(bg, rgba).convert("RGB")
            else:
                im2 = im.convert("RGB")
            return np.asarray(im2, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise InputError(f"image '{p}': file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"image '{p}': not a readable image ({exc.__class__.__name__}: {exc})") from None


def read_frame(frames_dir: str | Path, index: int) -> np.ndarray:
    """Frame ``index`` as ``(H, W, 3)`` float32 in ``[0, 1]`` (16-bit PNGs keep their precision)."""
    import cv2

    p = frame_path(frames_dir, index)
    arr = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.ndim != 3 or arr.shape[2] != 3:
        raise FrameError(f"frame '{p}': missing or unreadable", frames_dir=frames_dir)
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    return (arr[..., ::-1].astype(np.float32) / scale).copy()


def digest(files: Iterable[str | Path]) -> str:
    """sha256 hex digest over the sha256 hex digests of ``files`` in order: meta.json's
    ``frame_digest`` of the frame files (raises ``OSError`` when one cannot be read)."""
    total = hashlib.sha256()
    for f in files:
        total.update(hashlib.sha256(Path(f).read_bytes()).hexdigest().encode())
    return total.hexdigest()


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float in ``[0, 1]`` -> uint8 with rounding (values clipped)."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Atomically write ``(H, W, 3)`` uint8/uint16 RGB, or float in ``[0, 1]`` (-> uint8), as PNG."""
    import cv2

    if image.dtype not in (np.uint8, np.uint16):
        image = to_uint8(image)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise ValueError(f"could not encode PNG '{path}' from {image.dtype} {image.shape}")
    with atomic_path(path) as tmp:  # written by Python, so a full disk raises OSError with its errno
        tmp.write_bytes(buf.tobytes())
