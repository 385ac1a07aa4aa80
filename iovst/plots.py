"""Plots of the metrics stage (matplotlib, Agg backend; PNG written atomically).

Input: the metrics report of :mod:`iovst.stages.metrics`, ``{name: result}`` per round with
``result`` as :func:`iovst.metrics.run_metrics` + :func:`iovst.metrics.style_content_losses` return
it and ``"round"`` (int).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .storage.atomic import write_bytes


def _figure(ncols: int = 1, *, width: float = 6.4, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return fig, axes[0]


def _save(fig: Any, out: str | Path) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_bytes(out, buf.getvalue())


def warping_error_plot(report: Mapping[str, Mapping[str, Any]], out: str | Path) -> None:
    """Warping error of each pair ``(t, t+1)`` over ``t``, one line per round, to PNG ``out``."""
    fig, (ax,) = _figure()
    for name, r in report.items():
        t, e = zip(*r["warping_error_per_pair"]) if r["warping_error_per_pair"] else ((), ())
        ax.plot(t, e, marker="." if len(t) < 50 else None, label=name)
    ax.set_xlabel("frame t (pair t, t+1)")
    ax.set_ylabel("warping error")
    ax.set_title("temporal consistency per frame (lower is steadier)")
    ax.legend(fontsize="small")
    _save(fig, out)


def losses_plot(report: Mapping[str, Mapping[str, Any]], out: str | Path) -> None:
    """Mean warping error, content loss and style loss per round (three panels) to PNG ``out``."""
    rounds = [r["round"] for r in report.values()]
    fig, axes = _figure(3, width=9.6)
    for ax, key in zip(axes, ("warping_error", "content_loss", "style_loss")):
        ax.plot(rounds, [r.get(key, np.nan) for r in report.values()], marker="o")
        ax.set_xlabel("round")
        ax.set_title(key.replace("_", " "))
        ax.set_xticks(rounds)
    _save(fig, out)


def thumbnails_plot(source: np.ndarray, frames: Sequence[tuple[str, np.ndarray]], index: int, out: str | Path) -> None:
    """A strip of frame ``index``: the source ``(H, W, 3)`` float in ``[0, 1]``, then each
    ``(title, (H, W, 3) frame)`` of ``frames`` (one per round), to PNG ``out``."""
    images = [("source", source), *frames]
    h, w = source.shape[:2]
    fig, axes = _figure(len(images), width=2.2 * len(images), height=2.2 * h / w + 0.5)
    for ax, (title, img) in zip(axes, images):
        ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
        ax.set_title(title, fontsize="small")
        ax.axis("off")
    fig.suptitle(f"frame {index}", fontsize="small")
    _save(fig, out)
