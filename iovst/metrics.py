"""Run metrics: warping error (Lai et al., ECCV 2018) of a finished run.

Warping error of an output video ``O`` (temporal consistency; lower is steadier)::

    E = mean over pairs t of  sum_i M_t(i) ||O_t(i) - warp(O_{t+1}, F_t)(i)||² / sum_i M_t(i)

with ``F_t`` the flow ``t -> t+1`` estimated on the *input* frames (the flow stage's), ``warp`` =
:func:`iovst.flow.warp.warp` (``warp(O_{t+1}, F_t)`` brings ``O_{t+1}`` onto frame ``t``), ``M_t`` the
reliability on ``t`` of that warp (the masks stage's, Ruder's thresholds), ``||.||²`` the squared
L2 norm over the RGB channels, images in ``[0, 1]``. A frozen or blurred video also scores low:
report it next to a style/content measure.

The workflow's ``metrics`` stage (:func:`round_metrics`) measures every round of a render: the
warping error of each pair, the content and style loss of each frame, and a thumbnail frame;
:mod:`iovst.plots` draws them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import InputError
from .flow.cuts import NO_CUTS, Cuts
from .flow.flowstore import FlowStore, MaskStore
from .flow.warp import warp
from .layout import Layout
from .storage import h5io


def pair_warping_error(
    output_t: np.ndarray, output_next: np.ndarray, flow: np.ndarray, mask: np.ndarray
) -> float | None:
    """Masked mean squared warping error of one pair; ``None`` when the mask is all zero.

    Args:
        output_t, output_next: ``(H, W, 3)`` float output frames ``t`` and ``t+1`` in ``[0, 1]``.
        flow: ``(2, H, W)`` flow ``t -> t+1`` (pixels) on the input frames.
        mask: ``(H, W)`` reliability ``M_t`` in ``[0, 1]`` (weights, soft masks allowed).
    """
    h, w = output_t.shape[:2]
    if output_t.shape != (h, w, 3) or output_next.shape != (h, w, 3) or flow.shape != (2, h, w) or mask.shape != (h, w):
        raise ValueError(
            f"pair_warping_error: outputs {output_t.shape}, {output_next.shape}, flow {flow.shape}, "
            f"mask {mask.shape} (expected (H, W, 3), (H, W, 3), (2, H, W), (H, W))"
        )
    nxt = torch.from_numpy(np.ascontiguousarray(output_next, np.float32)).permute(2, 0, 1)
    warped = warp(nxt, torch.from_numpy(np.ascontiguousarray(flow, np.float32))).permute(1, 2, 0).numpy()
    m = np.asarray(mask, np.float64)
    total = m.sum()
    if total <= 0:
        return None
    err = ((np.asarray(output_t, np.float64) - warped) ** 2).sum(axis=-1)
    return float((m * err).sum() / total)


def warping_error(
    outputs: Sequence[np.ndarray],
    flows_fwd: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
) -> float:
    """Warping error of consecutive ``outputs`` (see the module docstring).

    Args:
        outputs: ``T`` frames ``(H, W, 3)`` float in ``[0, 1]``.
        flows_fwd: ``T - 1`` flows ``(2, H, W)``, ``flows_fwd[t]`` = input flow ``t -> t+1``.
        masks: ``T - 1`` reliabilities ``(H, W)`` on frame ``t`` of warping ``t+1`` into ``t``.

    Returns:
        The mean over pairs whose mask is not all zero.

    Raises:
        ValueError: wrong counts/shapes, or no pair with a reliable pixel.
    """
    if len(outputs) < 2 or len(flows_fwd) != len(outputs) - 1 or len(masks) != len(outputs) - 1:
        raise ValueError(
            f"warping_error: {len(outputs)} outputs need {len(outputs) - 1} flows and masks "
            f"(at least 2 outputs), got {len(flows_fwd)} flows and {len(masks)} masks"
        )
    errs = [
        e
        for t in range(len(flows_fwd))
        if (e := pair_warping_error(outputs[t], outputs[t + 1], flows_fwd[t], masks[t])) is not None
    ]
    if not errs:
        raise ValueError("warping_error: every mask is all zero (no reliable pixel)")
    return float(np.mean(errs))


def _frames_in_order(chunk_paths: Sequence[str | Path]) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, (H, W, 3) float32)`` of all result chunks in frame order, one chunk in memory."""
    firsts = []
    for p in chunk_paths:
        with h5io.open_checked(p, kind="frames") as f:
            firsts.append((int(f.attrs["first_frame"]), p))
    for _, p in sorted(firsts):
        first, arr = h5io.read_frames(p)
        for j in range(arr.shape[0]):
            yield first + j, arr[j]


def chunks_by_round(chunk_paths: Sequence[str | Path]) -> dict[int | None, list[str | Path]]:
    """Result chunks grouped by their ``round`` attribute (``None``: chunks without one), rounds
    ascending."""
    groups: dict[int | None, list[str | Path]] = {}
    for p in chunk_paths:
        with h5io.open_checked(p, kind="frames") as f:
            r = f.attrs.get("round")
        groups.setdefault(None if r is None else int(r), []).append(p)
    return dict(sorted(groups.items(), key=lambda kv: -1 if kv[0] is None else kv[0]))


def read_result_frame(chunk_paths: Sequence[str | Path], index: int) -> np.ndarray:
    """Frame ``index`` ``(H, W, 3)`` float32 in ``[0, 1]`` of the result chunks ``chunk_paths``."""
    for p in chunk_paths:
        with h5io.open_checked(p, kind="frames") as f:
            first, n = int(f.attrs["first_frame"]), int(f.attrs["n_frames"])
        if first <= index < first + n:
            return h5io.read_frames(p)[1][index - first]
    raise InputError(f"metrics: frame {index} is in none of {len(chunk_paths)} result chunk(s)")


def run_metrics(
    *,
    chunk_paths: Sequence[str | Path],
    flow_paths: Sequence[str | Path],
    mask_paths: Sequence[str | Path],
    cuts: Cuts = NO_CUTS,
) -> dict[str, Any]:
    """Metrics of a finished run: ``{"warping_error": float, "pairs": int, "frames": int,
    "warping_error_per_pair": [[t, error of pair (t, t+1)], ...]}``.

    Frames are streamed chunk by chunk; only consecutive frames present in ``chunk_paths`` form
    pairs, and none across a scene cut (``cuts``).
    """
    errs: list[float] = []
    per_pair: list[list[float]] = []
    n_frames = 0
    prev: tuple[int, np.ndarray] | None = None
    with FlowStore(flow_paths) as flows, MaskStore(mask_paths) as masks:
        for i, frame in _frames_in_order(chunk_paths):
            n_frames += 1
            if prev is not None and prev[0] == i - 1 and not cuts.crosses(i - 1, i):
                t = i - 1
                try:
                    flow, mask = flows.flow(t, i), masks.reliability(t, i)
                except KeyError as exc:
                    raise InputError(f"metrics: {exc.args[0]}") from None
                e = pair_warping_error(prev[1], frame, flow, mask)
                if e is not None:
                    errs.append(e)
                    per_pair.append([t, e])
            prev = (i, frame)
    if not errs:
        raise InputError(
            f"metrics: no pair of consecutive frames with reliable pixels in {len(chunk_paths)} result chunk(s)"
        )
    return {
        "warping_error": float(np.mean(errs)),
        "pairs": len(errs),
        "frames": n_frames,
        "warping_error_per_pair": per_pair,
    }


def style_content_losses(
    *,
    chunk_paths: Sequence[str | Path],
    frames_dir: str | Path,
    style_paths: Sequence[str | Path],
    weights: str | None = None,
    stylize: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    style_weights: Sequence[float] | None = None,
    style_scale: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Content and style loss per frame and their means (the stylize stage's definitions,
    unweighted): ``{"content_loss": float, "style_loss": float, "content_loss_per_frame": [[i, v],
    ...], "style_loss_per_frame": [[i, v], ...]}``.

    Args:
        chunk_paths: result chunks (``kind=frames``).
        frames_dir: the source frames (content targets).
        style_paths: style images (equal blend).
        weights: VGG-19 weights spec (use the run's; ``random`` numbers only compare runs made
            with the same random weights); ``None``: the default of ``model.weights``.
        stylize: the config's ``stylize`` section (layers); absent keys take the schema defaults.
        style_weights, style_scale: the style's blend weights (``None``: equal) and scale, as the
            render used them.
        seed: the seed of random weights (the render's ``seed``).
    """
    from .config import section_params
    from .style.gatys import Gatys
    from .tensors import to_tensor
    from .video.frames import read_frame, read_image

    model = section_params("model", {} if weights is None else {"weights": weights})
    dev = torch.device(device)
    g = Gatys(params=section_params("stylize", dict(stylize or {})), device=dev, weights=model.weights, seed=seed)
    targets = None
    content: list[list[float]] = []
    style: list[list[float]] = []
    for i, frame in _frames_in_order(chunk_paths):
        src = read_frame(frames_dir, i)
        if targets is None:
            styles = [read_image(p) for p in style_paths]
            targets = g.style_targets(styles, style_weights, frame_hw=src.shape[:2], scale=style_scale)
        terms = g.loss_terms(to_tensor(frame).to(dev), to_tensor(src).to(dev), targets, weighted=False)
        content.append([i, float(terms["content"])])
        style.append([i, float(terms["style"])])
    return {
        "content_loss": float(np.mean([v for _, v in content])) if content else 0.0,
        "style_loss": float(np.mean([v for _, v in style])) if style else 0.0,
        "content_loss_per_frame": content,
        "style_loss_per_frame": style,
    }


def run_dir_files(run_dir: Path, round_: int | None) -> tuple[int, list[Path], list[Path], list[Path], Path]:
    """Files of a finished render ``results/<video>/<style>``: (round, chunks, flow, masks, frames)."""
    layout, video, style = Layout.of_run_dir(run_dir)
    rounds = sorted(
        int(p.name[1:]) for p in layout.existing("round_dir", video, style, "*") if p.is_dir() and p.name[1:].isdigit()
    )
    if not rounds:
        raise InputError(
            f"metrics: '{run_dir}' holds no round directories r0, r1, ... (not a results/<video>/<style> dir)"
        )
    r = rounds[-1] if round_ is None else round_
    chunks = layout.existing("round", video, style, r, "*")
    flow, masks = layout.existing("flow", video, "*"), layout.existing("masks", video, "*")
    if not chunks or not flow or not masks:
        raise InputError(f"metrics: '{run_dir}' round {r}: result, flow or mask chunks missing")
    return r, chunks, flow, masks, Path(layout.frames(video))
