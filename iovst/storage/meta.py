"""Reading ``meta.json`` (written by ``iovst extract``) with validation.

A truncated or hand-edited ``meta.json`` must never be trusted: every field the later stages use
is checked for presence and type, and the frame count against the frames directory when given.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import CacheError

REQUIRED: dict[str, type | tuple[type, ...]] = {
    "fps_num": int,
    "fps_den": int,
    "frame_count": int,
    "width": int,
    "height": int,
}


def load_meta(path: str | Path, *, frames_dir: str | Path | None = None) -> dict[str, Any]:
    """Load and validate ``meta.json``.

    Raises:
        CacheError: unreadable, not JSON, a field missing or of the wrong type, non-positive
            sizes, or (with ``frames_dir``) a frame file missing.
    """
    p = Path(path)
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CacheError(f"'{p}': missing (rerun the extract stage)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CacheError(f"'{p}': corrupt meta.json ({exc.__class__.__name__})", path=p) from None
    if not isinstance(meta, dict):
        raise CacheError(f"'{p}': corrupt meta.json (not an object)", path=p)
    for key, typ in REQUIRED.items():
        if not isinstance(meta.get(key), typ) or isinstance(meta.get(key), bool) or meta[key] <= 0:
            raise CacheError(f"'{p}': corrupt meta.json (field '{key}' missing or invalid)", path=p)
    if frames_dir is not None:
        from ..video.frames import frame_path

        for i in (0, meta["frame_count"] - 1):
            if not frame_path(frames_dir, i).is_file():
                raise CacheError(f"'{p}': frame {i} missing in '{frames_dir}'")
    return meta


def frames_intact(meta: dict[str, Any], frames_dir: str | Path) -> bool | None:
    """Whether ``frames_dir`` still holds exactly the frame files extract recorded in ``meta``'s
    ``frame_digest`` (hashes all ``frame_count`` files: for the error path, not every read).
    ``None`` when ``meta`` has no digest (written by hand or by ``tests/synth.py``)."""
    from ..video.frames import digest, frame_path

    if not isinstance(meta.get("frame_digest"), str):
        return None
    try:
        return digest(frame_path(frames_dir, i) for i in range(meta["frame_count"])) == meta["frame_digest"]
    except OSError:
        return False


def fps(meta: dict[str, Any]) -> Fraction:
    """The exact frame rate as a :class:`Fraction`."""
    return Fraction(meta["fps_num"], meta["fps_den"])
