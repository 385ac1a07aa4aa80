"""Optical flow for one chunk of frame pairs: RAFT (torchvision) or OpenCV DIS, into HDF5.

For every offset ``N`` and every pair ``(t, t + N)`` whose first frame ``t`` lies in chunk ``k``
(:func:`iovst.chunks.pair_starts`), the forward flow ``t -> t+N`` (defined on ``t``) and the
backward flow ``t+N -> t`` (defined on ``t+N``) are computed and written to one HDF5 file per
chunk (layout in ``docs/ARCHITECTURE.md``, ``kind=flow``, float16 pixels).

Methods (config ``flow.method``):

* ``raft_large`` / ``raft_small`` — torchvision's RAFT with ``num_flow_updates`` refinement
  iterations; weights via :func:`iovst.runtime.weights.load_into` (``flow.weights``). Frames are normalised
  to ``[-1, 1]`` as torchvision's RAFT transforms do, padded (replicate, centred) to a multiple of 8
  — and to at least 128 px, the smallest input RAFT's correlation pyramid accepts — and the flow
  cropped back: the video is never resized, so no flow vector ever needs rescaling. Pairs
  are batched (``batch_size``) and run under ``torch.inference_mode()``. On CUDA the model runs
  in fp32 with autocast off: its convolutions in TF32 (cuDNN), the all-pairs correlation volume
  (a large matmul of 256-channel features) with TF32 matmuls disabled, so it keeps full precision
  — reduced precision there shifts the correlation peaks and hence the flow (RAFT's own
  mixed-precision mode also builds it from fp32 features). ``cudnn.benchmark`` is on: the padded
  frames of a job share one size.
* ``dis`` — OpenCV's DIS optical flow (``dis_preset``) on 8-bit grayscale; CPU only, no weights.
* ``auto`` — ``raft_large`` when its pretrained weights are usable without a download (cached
  checkpoint, or ``flow.weights`` naming a file, ``imagenet`` or ``random`` explicitly), else
  ``dis`` with a warning, which is logged and stored in the file's ``warning`` attribute.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models import optical_flow

from .. import chunks
from ..config import FlowParams, StageParams, params_hash
from ..errors import ConfigError, InputError
from ..runtime.device import cuda_flags
from ..runtime.weights import cached_file, load_into
from ..storage import h5io
from ..video.frames import read_frame, to_uint8

log = logging.getLogger(__name__)

DIS_PRESETS = ("ultrafast", "fast", "medium")


class FlowEstimator(Protocol):
    """Computes flows for batches of frame pairs."""

    #: attrs for the HDF5 file: ``method``, ``model``, ``num_flow_updates``, ``weights``, ``warning``
    info: dict[str, Any]
    #: preferred number of pairs per call
    batch_size: int

    def __call__(self, sources: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> np.ndarray:
        """Flows ``(B, 2, H, W)`` float32 defined on ``sources[b]`` pointing into ``targets[b]``.

        ``sources``/``targets``: ``(H, W, 3)`` float32 RGB in ``[0, 1]``, all the same size.
        """


class DisEstimator:
    """OpenCV DIS optical flow on 8-bit grayscale frames (CPU)."""

    def __init__(self, *, preset: str, warning: str = "") -> None:
        if preset not in DIS_PRESETS:
            raise ConfigError(f"config key 'flow.dis_preset': {preset!r} is not one of {list(DIS_PRESETS)}")
        const = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }[preset]
        self._dis = cv2.DISOpticalFlow_create(const)
        self.batch_size = 1
        self.info = {
            "method": "dis",
            "model": f"opencv-dis-{preset}",
            "num_flow_updates": 0,
            "weights": {},
            "warning": warning,
        }

    def _gray(self, image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2GRAY)

    def __call__(self, sources: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> np.ndarray:
        out = []
        for a, b in zip(sources, targets, strict=True):
            flow = self._dis.calc(self._gray(a), self._gray(b), None)  # (H, W, 2): (dx, dy)
            out.append(np.moveaxis(flow, -1, 0))
        return np.stack(out).astype(np.float32)


@contextlib.contextmanager
def _full_fp32(device: torch.device) -> Iterator[None]:
    """On CUDA: autocast off, TF32 matmuls off, TF32 convolutions and ``cudnn.benchmark`` on
    (restored afterwards); no-op elsewhere."""
    if device.type != "cuda":
        yield
        return
    with (
        cuda_flags(device, tf32_matmul=False, tf32_conv=True, cudnn_benchmark=True),
        torch.autocast(device_type="cuda", enabled=False),
    ):
        yield


#: RAFT's correlation pyramid needs feature maps of at least 16 px (inputs of 128 px)
RAFT_MIN_SIZE = 128


def _padded(n: int) -> int:
    """Padded RAFT input length for a frame side of ``n`` px: a multiple of 8, at least 128."""
    return max(-(-n // 8) * 8, RAFT_MIN_SIZE)


class RaftEstimator:
    """torchvision RAFT (large or small); the model is built and loaded once."""

    def __init__(
        self,
        *,
        model: str,
        weights: str,
        num_flow_updates: int,
        batch_size: int,
        device: torch.device,
    ) -> None:
        if model not in ("raft_large", "raft_small"):
            raise ValueError(f"RaftEstimator: model must be raft_large or raft_small, got {model!r}")
        net = getattr(optical_flow, model)(weights=None, progress=False)
        winfo = load_into(net, model=model, spec=weights)
        self.net = net.eval().to(device)
        self.device = device
        self.num_flow_updates = int(num_flow_updates)
        self.batch_size = int(batch_size)
        self.info = {
            "method": model,
            "model": model,
            "num_flow_updates": self.num_flow_updates,
            "weights": winfo.as_dict(),
            "warning": winfo.warning,
        }

    def _tensor(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(self.device, torch.float32)
        return x * 2.0 - 1.0  # torchvision's RAFT transforms: Normalize(mean=0.5, std=0.5)

    def __call__(self, sources: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> np.ndarray:
        if len(sources) != len(targets):
            raise ValueError(f"RaftEstimator: {len(sources)} sources for {len(targets)} targets")
        a, b = self._tensor(sources), self._tensor(targets)
        h, w = a.shape[-2:]
        ph, pw = _padded(h) - h, _padded(w) - w
        pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)  # left, right, top, bottom
        if ph or pw:
            a = F.pad(a, pad, mode="replicate")
            b = F.pad(b, pad, mode="replicate")
        with torch.inference_mode(), _full_fp32(self.device):
            flow = self.net(a, b, num_flow_updates=self.num_flow_updates)[-1]
        flow = flow[..., pad[2] : pad[2] + h, pad[0] : pad[0] + w]
        return flow.float().cpu().numpy()


def make_estimator(params: FlowParams, *, device: torch.device) -> FlowEstimator:
    """Build the estimator for the config ``flow`` section ``params`` (``auto`` resolved here)."""
    method, weights = params.method, params.weights
    warning = ""
    if method == "auto":
        cached = cached_file("raft_large")
        if weights != "auto" or cached.is_file():
            method = "raft_large"
        else:
            method = "dis"
            warning = (
                f"flow.method auto: no pretrained RAFT weights cached at {cached}; using OpenCV DIS "
                f"(lower quality; run 'iovst weights fetch' and rerun the flow stage)"
            )
            log.warning("!" * 20 + " %s " + "!" * 20, warning)
    if method == "dis":
        return DisEstimator(preset=params.dis_preset, warning=warning)
    return RaftEstimator(
        model=method,
        weights=weights,
        num_flow_updates=params.num_flow_updates,
        batch_size=params.batch_size,
        device=device,
    )


def load_frames(frames_dir: str | Path, indices: Sequence[int], *, size: tuple[int, int]) -> dict[int, np.ndarray]:
    """Read each frame of ``indices`` once: ``{index: (H, W, 3) float32}``; size checked against meta."""
    out: dict[int, np.ndarray] = {}
    for i in sorted(set(indices)):
        img = read_frame(frames_dir, i)
        if img.shape[:2] != tuple(size):
            raise InputError(
                f"frame {i} in '{frames_dir}': size {img.shape[1]}x{img.shape[0]} does not match "
                f"meta.json's {size[1]}x{size[0]}"
            )
        out[i] = img
    return out


def compute_pairs(
    estimator: FlowEstimator,
    frames: Mapping[int, np.ndarray],
    pairs: Sequence[tuple[int, int]],
) -> tuple[dict[tuple[int, int], np.ndarray], list[float]]:
    """Flows for ordered pairs ``(src, dst)``: ``{(src, dst): (2, H, W) float32}`` and per-pair seconds.

    Pairs are sent to ``estimator`` in batches of ``estimator.batch_size``; a batch's time is shared
    equally among its pairs.
    """
    flows: dict[tuple[int, int], np.ndarray] = {}
    seconds: list[float] = []
    bs = max(1, estimator.batch_size)
    for i in range(0, len(pairs), bs):
        batch = pairs[i : i + bs]
        t0 = time.perf_counter()
        out = estimator([frames[s] for s, _ in batch], [frames[d] for _, d in batch])
        dt = time.perf_counter() - t0
        for pair, f in zip(batch, out, strict=True):
            flows[pair] = f
        seconds.extend([dt / len(batch)] * len(batch))
        log.debug("pairs %s: %.2f s", batch, dt)
    return flows, seconds


def flow_chunk(
    *,
    frames_dir: str | Path,
    n_frames: int,
    size: tuple[int, int],
    chunk: int,
    chunk_size: int,
    params: StageParams,
    out: str | Path,
    device: torch.device,
    estimator: FlowEstimator | None = None,
) -> dict[str, Any]:
    """Compute and write flow chunk ``chunk``; return the file's root attributes.

    Args:
        frames_dir: directory of ``%06d.png`` frames.
        n_frames: frames in the video; ``size``: ``(H, W)`` processing size (from meta.json).
        chunk, chunk_size: which pairs (see :func:`iovst.chunks.pair_starts`).
        params: the stage's ``--params`` (``flow`` section); hashed into ``params_hash``.
        out: HDF5 path (written atomically).
        estimator: reuse an estimator (default: built from ``params``).
    """
    offsets = list(params.flow.offsets)
    starts = {n: chunks.pair_starts(chunk, chunk_size, n_frames, n) for n in offsets}
    unusable = [n for n in offsets if n >= n_frames]
    if unusable:
        log.warning(
            "the video has %d frame(s): flow offset(s) %s >= %d have no frame pairs (no flow, "
            "masks or long-term weights for them; temporal consistency uses %s)",
            n_frames,
            unusable,
            n_frames,
            [n for n in offsets if n < n_frames] or "nothing",
        )
    needed = [i for n, r in starts.items() for t in r for i in (t, t + n)]
    est = estimator if estimator is not None else make_estimator(params.flow, device=device)
    frames = load_frames(frames_dir, needed, size=size)
    pairs = [p for n, r in starts.items() for t in r for p in ((t, t + n), (t + n, t))]
    t0 = time.perf_counter()
    flows, seconds = compute_pairs(est, frames, pairs)
    total = time.perf_counter() - t0
    h, w = size
    datasets: dict[str, np.ndarray] = {}
    for n, r in starts.items():
        fwd = [flows[(t, t + n)] for t in r]
        bwd = [flows[(t + n, t)] for t in r]
        datasets[f"N{n}/forward"] = np.stack(fwd).astype(np.float16) if fwd else np.zeros((0, 2, h, w), np.float16)
        datasets[f"N{n}/backward"] = np.stack(bwd).astype(np.float16) if bwd else np.zeros((0, 2, h, w), np.float16)
    attrs = {
        "first_frame": chunk * chunk_size,
        "n_frames": int(n_frames),
        "offsets": offsets,
        "method": est.info["method"],
        "model": est.info["model"],
        "num_flow_updates": int(est.info["num_flow_updates"]),
        "height": int(h),
        "width": int(w),
        "params_hash": params_hash(params.raw),
        "weights": json.dumps(est.info["weights"], sort_keys=True),
        "warning": est.info["warning"],
    }
    h5io.write(out, datasets, kind="flow", attrs=attrs)
    if seconds:
        log.info(
            "flow chunk %d: %d flows (%d pairs x 2 directions) with %s in %.1f s: %.3f s/flow (min %.3f, max %.3f)",
            chunk,
            len(seconds),
            len(seconds) // 2,
            est.info["model"],
            total,
            float(np.mean(seconds)),
            min(seconds),
            max(seconds),
        )
    else:
        log.info("flow chunk %d: no pairs (end of video)", chunk)
    return attrs
