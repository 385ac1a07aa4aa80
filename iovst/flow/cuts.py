"""Scene cuts: where consecutive frames belong to different shots (``results/<video>/cuts.json``).

Per pair of consecutive frames ``(t, t+1)`` two figures (config ``flow.cuts``):

* ``reliable``: the fraction of pixels whose reliability (the masks stage's offset-1 masks) is at
  least :data:`RELIABLE`, the mean of both directions (warping ``t+1`` into ``t`` and ``t`` into
  ``t+1``). Flow between unrelated images is inconsistent almost everywhere: it collapses from
  ~0.6-0.9 inside a shot to < 0.1 across a cut (DIS, 32-64 px synthetic clips).
* ``histogram``: the total-variation distance ``½ Σ |h_t - h_{t+1}|`` of the frames' normalised
  RGB histograms (:data:`BINS` bins per channel) in ``[0, 1]``: ~0.03-0.06 inside a pan, > 0.7
  between different photos. It keeps fast motion (reliability low, colours unchanged) from
  counting as a cut.

The pair is a cut when ``reliable < reliable_below`` and ``histogram > histogram_above``; the
frame ``t+1`` then starts a shot. Consumers never warp, blend or compare across a cut
(:meth:`Cuts.crosses`): the long-term weights of such pairs are 0, a multipass sweep starts anew
at a shot's first frame, brushstroke round 0 paints it from fresh strokes.

File (written atomically)::

    {"cuts": [s, ...],                      # first frames of the shots after the first, ascending
     "n_frames": F, "flow_cuts": {...},      # the config's flow.cuts
     "pairs": [{"t": 0, "reliable": 0.91, "histogram": 0.04, "cut": false}, ...],
     "params_hash": "...", "stage_version": 1}
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import StageParams, params_hash
from ..errors import CacheError, InputError
from ..storage.atomic import write_json
from ..video.frames import read_frame
from .flowstore import MaskStore

log = logging.getLogger(__name__)

#: a pixel counts as reliable from this mask value on
RELIABLE = 0.5
#: histogram bins per RGB channel
BINS = 8


@dataclass(frozen=True)
class Cuts:
    """The shots of a video: ``starts`` are the first frames of the shots after the first
    (ascending, each >= 1). ``Cuts()`` is a video without cuts."""

    starts: tuple[int, ...] = ()

    def crosses(self, t: int, s: int) -> bool:
        """Frames ``t`` and ``s`` lie in different shots (a cut between them)."""
        lo, hi = min(t, s), max(t, s)
        i = bisect.bisect_right(self.starts, lo)
        return i < len(self.starts) and self.starts[i] <= hi

    @classmethod
    def load(cls, path: str | Path | None) -> Cuts:
        """The cuts of ``cuts.json`` at ``path`` (``None``: no cuts).

        Raises:
            CacheError: (naming ``path``) missing, not JSON, or without a valid ``cuts`` list.
        """
        if path is None:
            return cls()
        p = Path(path)
        try:
            starts = json.loads(p.read_text(encoding="utf-8"))["cuts"]
        except FileNotFoundError:
            raise CacheError(f"'{p}': missing") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CacheError(f"'{p}': not a valid cuts file ({type(exc).__name__}: {exc})", path=p) from None
        valid = isinstance(starts, list) and all(type(s) is int and s >= 1 for s in starts)
        if not valid or starts != sorted(starts):
            raise CacheError(f"'{p}': 'cuts' must be ascending frame indices >= 1, got {starts!r}"[:200], path=p)
        return cls(tuple(starts))


#: a video without cuts (one shot)
NO_CUTS = Cuts()


def histogram(frame: np.ndarray) -> np.ndarray:
    """Normalised RGB histogram of ``frame`` ``(H, W, 3)`` float in [0, 1]: ``(BINS**3,)`` float64
    summing to 1."""
    q = np.clip((np.asarray(frame) * BINS).astype(np.int64), 0, BINS - 1)
    idx = (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]
    h = np.bincount(idx.ravel(), minlength=BINS**3).astype(np.float64)
    return h / max(h.sum(), 1.0)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance of two :func:`histogram` s, in ``[0, 1]``."""
    return 0.5 * float(np.abs(a - b).sum())


def pair_figures(masks: MaskStore, t: int, hist_t: np.ndarray, hist_s: np.ndarray) -> tuple[float, float]:
    """``(reliable, histogram)`` of the pair ``(t, t+1)`` (module docstring)."""
    fwd, bwd = masks.reliability(t, t + 1), masks.reliability(t + 1, t)
    reliable = 0.5 * (float((fwd >= RELIABLE).mean()) + float((bwd >= RELIABLE).mean()))
    return reliable, histogram_distance(hist_t, hist_s)


def detect(
    *, frames_dir: str | Path, mask_paths: Sequence[str | Path], n_frames: int, params: StageParams
) -> dict[str, Any]:
    """The cuts.json object of a video of ``n_frames`` frames (frames streamed one at a time).

    Args:
        mask_paths: every mask chunk of the video (the offset-1 pairs).
        params: the ``cuts`` stage's ``--params`` (``flow.cuts``).

    Raises:
        InputError: an offset-1 pair is in none of ``mask_paths``.
    """
    p = params.flow["cuts"]
    pairs: list[dict[str, Any]] = []
    with MaskStore(mask_paths) as masks:
        prev = histogram(read_frame(frames_dir, 0)) if n_frames else None
        for t in range(n_frames - 1):
            cur = histogram(read_frame(frames_dir, t + 1))
            try:
                reliable, hist = pair_figures(masks, t, prev, cur)
            except KeyError as exc:
                raise InputError(f"cuts: {exc.args[0]}") from None
            cut = p["detect"] and reliable < p["reliable_below"] and hist > p["histogram_above"]
            pairs.append({"t": t, "reliable": round(reliable, 4), "histogram": round(hist, 4), "cut": bool(cut)})
            if cut:
                log.info("cut between frames %d and %d (reliable %.3f, histogram %.3f)", t, t + 1, reliable, hist)
            prev = cur
    cuts = [q["t"] + 1 for q in pairs if q["cut"]]
    log.info("%d cut(s) in %d frames: %s", len(cuts), n_frames, cuts)
    return {
        "cuts": cuts,
        "n_frames": int(n_frames),
        "flow_cuts": dict(p),
        "pairs": pairs,
        "params_hash": params_hash(params.raw),
        "stage_version": params.version,
    }


def cuts_file(
    *, frames_dir: str | Path, mask_paths: Sequence[str | Path], n_frames: int, params: StageParams, out: str | Path
) -> dict[str, Any]:
    """:func:`detect` written atomically to ``out``; returns the object."""
    obj = detect(frames_dir=frames_dir, mask_paths=mask_paths, n_frames=n_frames, params=params)
    write_json(out, obj)
    return obj
