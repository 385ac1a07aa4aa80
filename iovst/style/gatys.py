"""Gatys et al. image-optimisation style transfer, with Ruder et al.'s masked temporal term.

One :class:`Gatys` object holds the frozen VGG-19 (built once per job); :meth:`Gatys.style_targets`
computes the blended style Grams once (reused for every frame); :meth:`Gatys.optimize_batch`
stylises a batch of ``B`` frames in one batched VGG forward/backward per iteration, each from its
own init, optionally with per-frame temporal terms; :meth:`Gatys.optimize` is its ``B = 1`` case.

Batches: every loss term is per frame (:mod:`iovst.style.losses` ``per_frame``), the optimisers keep
per-frame state (Adam is elementwise; :class:`iovst.style.lbfgs.BatchedLBFGS` keeps one history per
frame) and the early stop freezes each frame on its own loss, so a frame's result does not depend
on the other frames of its batch (equal to its ``B = 1`` run up to the rounding of batched kernels).

Coarse-to-fine (``scales``, e.g. ``[0.5, 1.0]``), for frames stylised from the configured init
(round 0; a given start image, as in the multipass rounds, is refined at full scale only): the
frame (and init, temporal terms) are resized to each scale in turn, ``iterations`` split evenly
over the scales (the remainder to the last), each scale starts from the previous scale's result
upsampled (bilinear), and each scale has its own style targets (the style images resized to
``scale`` × the scaled frame area: :attr:`StyleTargets.levels`).

Optimisation space: pixels are optimised *directly* in ``[0, 1]`` image units (so ``lr`` and the
loss scales refer to image values), not through a sigmoid, which would stall dark and bright pixels.

* Adam is a projected method: the image is clamped to ``[0, 1]`` after every step.
* L-BFGS runs unconstrained (projecting between its steps would corrupt its curvature pairs) and
  the result is clamped to ``[0, 1]`` once at the end. It uses no line search (one loss evaluation
  per iteration, like Adam) and ``lr = 1``: the sync-free :mod:`iovst.style.lbfgs` (the steps of
  ``torch.optim.LBFGS`` without its host syncs).

Early stop (``early_stop_tol > 0``): every ``early_stop_window`` iterations each frame's loss is
compared with the previous check and the frame stops (is held where it is) when it changed
relatively by less than the tolerance; the run ends when every frame has stopped. This is the only
host synchronisation in the Adam and in the L-BFGS loop.

CUDA: the VGG passes run under bf16 autocast with ``channels_last``, the network stored in bf16
(autocast caches no casts of frozen weights, it would re-cast them every forward); Grams and losses
stay fp32 (:mod:`iovst.style.losses`). The optimisation loop runs with TF32 matmuls (the Grams'
inputs are bf16 features, which TF32 holds exactly, so only their backward's fp32 gradient is
rounded to TF32) and ``cudnn.benchmark`` (every iteration has the same shapes).

Original colours (``original_colors: true``): luminance-only transfer (Gatys et al. 2016, "Preserving
color in neural artistic style transfer"; colour space in :mod:`iovst.style.color`). The optimised
image is the luminance Y ``(1, 1, H, W)`` (VGG sees it replicated to 3 channels); the content term
compares it with the frame's Y; the style Grams are those of the style images' Y with mean and std
matched to the frame's Y (:meth:`Gatys.frame_targets`, once per frame); tv and temporal terms act
on Y (a start image or warped neighbour given in RGB enters as its Y). The result is Y recombined
with the frame's own chroma (I, Q).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..config import StylizeParams
from ..runtime.device import cuda_flags
from . import color, lbfgs, losses
from .vgg import LAYER_NAMES, VGGFeatures

#: One temporal term: (neighbour's stylised frame warped onto this frame ``(B, 3, H, W)``,
#: its weight ``c`` ``(B, 1, H, W)`` in [0, 1]; 0 for a frame of the batch without this term).
TemporalTerm = tuple[torch.Tensor, torch.Tensor]


def frame_seed(seed: int, index: int) -> int:
    """Per-frame seed (32 bit) derived from the global ``seed`` and the 0-based frame ``index``."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def scaled_hw(hw: Sequence[int], scale: float) -> tuple[int, int]:
    """``(H, W)`` times ``scale``, rounded, at least 1 px; ``hw`` itself at scale 1."""
    return (int(hw[0]), int(hw[1])) if scale == 1 else (max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale)))


def resize(t: torch.Tensor, hw: Sequence[int]) -> torch.Tensor:
    """``t`` ``(B, C, h, w)`` resized to ``hw`` (bilinear, antialiased when shrinking); ``t`` itself
    when it already has that size."""
    if tuple(t.shape[2:]) == tuple(hw):
        return t
    return F.interpolate(t, size=tuple(hw), mode="bilinear", align_corners=False, antialias=True)


def split_iterations(iterations: int, n: int) -> list[int]:
    """``iterations`` split evenly over ``n`` scales, the remainder to the last (finest) one."""
    return [iterations // n] * (n - 1) + [iterations - (n - 1) * (iterations // n)]


@dataclass(frozen=True)
class StyleTargets:
    """Blended style Grams, computed once per job by :meth:`Gatys.style_targets`.

    Attributes:
        grams: ``{layer: (1, C, C)}`` fp32 on the model's device, ``Σ_i b_i · gram_i``; with
            ``luminance_only``, of the images' unmatched luminance (a frame's Grams:
            :meth:`Gatys.frame_targets`).
        blend: normalised blend weights ``b_i`` (sum 1), one per style image.
        sizes: ``(h, w)`` each style image was resized to (area ≈ ``scale`` × frame area).
        luminance_only: luminance-only transfer (``original_colors``).
        luminance: with ``luminance_only``, each resized style image's Y ``(1, 1, h, w)`` fp32 on
            the model's device; else empty.
        levels: ``{scale: targets}`` for the coarse scales ``< 1`` of ``stylize.scales`` (frames of
            size :func:`scaled_hw`), empty without.
    """

    grams: Mapping[str, torch.Tensor]
    blend: tuple[float, ...]
    sizes: tuple[tuple[int, int], ...]
    luminance_only: bool
    luminance: tuple[torch.Tensor, ...] = ()
    levels: Mapping[float, StyleTargets] = field(default_factory=dict)


class Gatys:
    """Gatys stylisation with a frozen VGG-19.

    Args:
        params: the config ``stylize`` section (the optimisation; ``method``, ``brushstroke`` unused here).
        device: where VGG and the optimisation run.
        weights: VGG-19 weights spec (``auto | imagenet | random | <path>``).
        seed: seed of random VGG weights (only used when the weights are random).
        extra_layers: further VGG-19 layers :meth:`features` can return to other users of the same
            network (the brushstroke stage's content layers).

    Attributes:
        style_layer_weights: ``{style layer: weight}``, normalised to sum 1.
    """

    def __init__(
        self,
        *,
        params: StylizeParams,
        device: torch.device | str,
        weights: str,
        seed: int,
        extra_layers: Sequence[str] = (),
    ) -> None:
        self.params = params
        self.device = torch.device(device)
        self._cuda = self.device.type == "cuda"
        self._layers = tuple(dict.fromkeys(params.content_layers + params.style_layers))
        vgg = VGGFeatures(layers=dict.fromkeys(self._layers + tuple(extra_layers)), weights=weights, seed=seed).to(
            self.device
        )
        if self._cuda:
            vgg = vgg.to(memory_format=torch.channels_last)
            vgg.body.to(torch.bfloat16)  # stored as autocast would cast it (frozen weights: no cast cache)
        self.vgg = vgg
        self.weights_info = vgg.weights_info
        #: smallest frame side with at least one pixel at the deepest loss layer (one per max-pool before it)
        last = max(LAYER_NAMES.index(n) for n in self._layers)
        self._min_side = 2 ** sum(n.startswith("pool") for n in LAYER_NAMES[:last])
        lw = params.style_layer_weights or (1.0,) * len(params.style_layers)
        self.style_layer_weights = dict(zip(params.style_layers, losses.normalise_weights(lw)))

    def features(self, x: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """VGG activations of ``x`` ``(B, 3, H, W)`` (or a luminance ``(B, 1, H, W)``, replicated to
        3 channels) at ``layers`` (default: the content and style layers), bf16 autocast +
        channels_last on CUDA."""
        if x.ndim == 4 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self._cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._cuda):
            return self.vgg(x, self._layers if layers is None else layers)

    # ------------------------------------------------------------------------------ internals

    def _image(self, t: torch.Tensor, what: str, hw: tuple[int, int] | None = None, b: int | None = 1) -> torch.Tensor:
        """Check ``t`` is ``(b, 3, H, W)`` (of size ``hw`` if given; any ``B`` for ``b=None``);
        return it fp32 on the device."""
        bad_b = t.ndim < 1 or t.shape[0] < 1 or (b is not None and t.shape[0] != b)
        if t.ndim != 4 or bad_b or t.shape[1] != 3 or (hw is not None and tuple(t.shape[2:]) != hw):
            lead = "B" if b is None else b
            want = f"({lead}, 3, {hw[0]}, {hw[1]})" if hw else f"({lead}, 3, H, W)"
            raise ValueError(f"{what} must be {want}, got {tuple(t.shape)}")
        return t.detach().to(self.device, torch.float32)

    def _scaled(self, hw: tuple[int, int], scale: float) -> tuple[int, int]:
        """:func:`scaled_hw`; ``ValueError`` naming ``stylize.scales`` when a coarse scale is too small
        for the VGG layers."""
        size = scaled_hw(hw, scale)
        if scale != 1 and min(size) < self._min_side:
            raise ValueError(
                f"stylize.scales: scale {scale} makes {hw[1]}x{hw[0]} frames {size[1]}x{size[0]}, "
                f"smaller than the {self._min_side} px the VGG-19 layers need"
            )
        return size

    def _content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            feats = self.features(content)
        return {n: feats[n].detach() for n in self.params.content_layers}

    def _add_grams(self, grams: dict[str, torch.Tensor], image: torch.Tensor, b: float) -> dict[str, torch.Tensor]:
        """``grams`` plus ``b`` × the style-layer Grams of ``image`` ``(1, 3 or 1, h, w)``."""
        with torch.no_grad():
            feats = self.features(image.to(self.device))
        for n in self.params.style_layers:
            g = b * losses.gram(feats[n])
            grams[n] = g if n not in grams else grams[n] + g
        return grams

    def _space(
        self, content: torch.Tensor, targets: StyleTargets, temporal: Sequence[TemporalTerm], x: torch.Tensor
    ) -> tuple[torch.Tensor, StyleTargets, list[TemporalTerm], torch.Tensor]:
        """``(content, targets, temporal, x)`` in the optimisation space: as given (RGB), or with
        ``original_colors`` the luminance ``(1, 1, H, W)`` of every image and the frame's targets."""
        if not self.params.original_colors:
            return content, targets, list(temporal), x
        y = color.luminance
        return y(content), self.frame_targets(targets, content), [(y(w), c) for w, c in temporal], y(x)

    def _terms(
        self,
        x: torch.Tensor,
        content_feats: Mapping[str, torch.Tensor],
        targets: StyleTargets,
        temporal: Sequence[TemporalTerm],
        temporal_weight: float,
        *,
        all_terms: bool,
    ) -> dict[str, tuple[torch.Tensor, float]]:
        """``{name: (raw per-frame term (B,) fp32, weight)}``; zero-weight terms skipped unless ``all_terms``."""
        p = self.params
        want = {
            "content": all_terms or p.content_weight > 0,
            "style": all_terms or p.style_weight > 0,
            "tv": all_terms or p.tv_weight > 0,
            "temporal": bool(temporal) and (all_terms or temporal_weight > 0),
        }
        out: dict[str, tuple[torch.Tensor, float]] = {}
        feats = self.features(x) if want["content"] or want["style"] else {}
        if want["content"]:
            out["content"] = (losses.content_loss(feats, content_feats, per_frame=True), p.content_weight)
        if want["style"]:
            out["style"] = (
                losses.style_loss(feats, targets.grams, self.style_layer_weights, per_frame=True),
                p.style_weight,
            )
        if want["tv"]:
            out["tv"] = (losses.tv_loss(x, per_frame=True), p.tv_weight)
        if want["temporal"]:
            out["temporal"] = (
                losses.temporal_loss(x, [w for w, _ in temporal], [c for _, c in temporal], per_frame=True),
                float(temporal_weight),
            )
        return out

    def _prepare(
        self, content: torch.Tensor, targets: StyleTargets, temporal: Sequence[TemporalTerm], *, batch: bool = False
    ) -> tuple[torch.Tensor, list[TemporalTerm]]:
        content = self._image(content, "content", b=None if batch else 1)
        b, hw = content.shape[0], tuple(content.shape[2:])
        if targets.luminance_only != self.params.original_colors:
            raise ValueError(
                f"style targets luminance_only={targets.luminance_only} "
                f"but original_colors={self.params.original_colors}"
            )
        missing = [n for n in self.params.style_layers if n not in targets.grams]
        if missing:
            raise ValueError(f"style targets lack Grams for layers {missing}")
        terms = []
        for i, (w, c) in enumerate(temporal):
            w = self._image(w, f"temporal term {i}: warped image", hw, b)
            if c.shape != (b, 1) + hw:
                raise ValueError(f"temporal term {i}: weight must be ({b}, 1, {hw[0]}, {hw[1]}), got {tuple(c.shape)}")
            terms.append((w, c.detach().to(self.device, torch.float32)))
        return content, terms

    # ------------------------------------------------------------------------------ public API
    def style_targets(
        self,
        images: Sequence[np.ndarray],
        weights: Sequence[float] | None,
        *,
        frame_hw: tuple[int, int],
        scale: float = 1.0,
    ) -> StyleTargets:
        """Blended style Grams of ``images`` for frames of size ``frame_hw``.

        Args:
            images: style images ``(h, w, 3)`` float RGB in ``[0, 1]``.
            weights: blend weight per image (normalised to sum 1); ``None`` = equal.
            frame_hw: ``(H, W)`` of the frames to stylise.
            scale: each style image is resized (aspect kept, antialiased) so that its area is
                ``scale × H × W``.
        """
        if not images:
            raise ValueError("style_targets needs at least one style image")
        if weights is not None and len(weights) != len(images):
            raise ValueError(f"{len(weights)} style weight(s) for {len(images)} style image(s)")
        if scale <= 0:
            raise ValueError(f"style scale must be > 0, got {scale}")
        blend = losses.normalise_weights(weights if weights is not None else [1.0] * len(images), what="style weights")
        levels = {
            s: self._style_targets(images, blend, self._scaled(frame_hw, s), scale)
            for s in self.params.scales
            if s != 1
        }
        return replace(self._style_targets(images, blend, frame_hw, scale), levels=levels)

    def _style_targets(
        self, images: Sequence[np.ndarray], blend: Sequence[float], frame_hw: tuple[int, int], scale: float
    ) -> StyleTargets:
        """:meth:`style_targets` (without levels) for checked ``images`` and normalised ``blend``."""
        area = scale * frame_hw[0] * frame_hw[1]
        grams: dict[str, torch.Tensor] = {}
        sizes, lum = [], []
        for i, (img, b) in enumerate(zip(images, blend)):
            if img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f"style image {i} must be (h, w, 3), got {img.shape}")
            h, w = img.shape[:2]
            s = math.sqrt(area / (h * w))
            size = (max(1, round(h * s)), max(1, round(w * s)))
            t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
            t = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
            if self.params.original_colors:
                t = color.luminance(t).to(self.device)
                lum.append(t)
            grams = self._add_grams(grams, t, b)
            sizes.append(size)
        return StyleTargets(grams, tuple(blend), tuple(sizes), self.params.original_colors, tuple(lum))

    def frame_targets(self, targets: StyleTargets, frame: torch.Tensor) -> StyleTargets:
        """The style targets for stylising ``frame`` ``(B, 3, H, W)`` (on the model's device):
        ``targets`` itself, or with ``luminance_only`` per frame the blended Grams of the style
        images' luminance with mean and std matched to the frame's luminance (one VGG pass per
        style image and frame; Grams ``(B, C, C)``), so that a dark style does not darken a bright
        frame."""
        if not targets.luminance_only:
            return targets
        per_frame = []
        for f in frame.split(1):
            y = color.luminance(f)
            grams: dict[str, torch.Tensor] = {}
            for lum, b in zip(targets.luminance, targets.blend):
                grams = self._add_grams(grams, color.match_luminance(lum, y), b)
            per_frame.append(grams)
        return replace(targets, grams={n: torch.cat([g[n] for g in per_frame]) for n in per_frame[0]})

    def initial(self, content: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
        """Init image per ``params.init``: a copy of ``content``, or uniform noise in ``[0, 1]``
        drawn on the CPU from ``seed`` (identical on every device), ``(1, 3, H, W)`` fp32."""
        if self.params.init == "content":
            return content.detach().clone()
        g = torch.Generator().manual_seed(int(seed))
        return torch.rand(tuple(content.shape), generator=g).to(content.device)

    def optimize(
        self,
        content: torch.Tensor,
        *,
        targets: StyleTargets,
        init: torch.Tensor | None = None,
        iterations: int,
        temporal: Sequence[TemporalTerm] = (),
        temporal_weight: float = 0.0,
        seed: int = 0,
    ) -> torch.Tensor:
        """Stylise one frame: :meth:`optimize_batch` with ``B = 1`` (shapes ``(1, ...)``, one ``seed``)."""
        content = self._image(content, "content")
        return self.optimize_batch(
            content,
            targets=targets,
            init=init,
            iterations=iterations,
            temporal=temporal,
            temporal_weight=temporal_weight,
            seeds=(seed,),
        )

    def optimize_batch(
        self,
        content: torch.Tensor,
        *,
        targets: StyleTargets,
        init: torch.Tensor | None = None,
        iterations: int,
        temporal: Sequence[TemporalTerm] = (),
        temporal_weight: float = 0.0,
        seeds: Sequence[int],
    ) -> torch.Tensor:
        """Stylise ``B`` frames at once, each on its own (see the module docstring).

        Args:
            content: the frames ``(B, 3, H, W)`` in ``[0, 1]`` (content features computed once here).
            targets: from :meth:`style_targets` (with ``levels`` for every coarse ``params.scales``).
            init: start images ``(B, 3, H, W)``; ``None`` = :meth:`initial` of each frame with its seed.
            iterations: optimiser iterations (L-BFGS iterations = loss evaluations, no line search),
                split over ``params.scales`` (without ``init`` only: a given start image is refined at
                full scale, its detail is not thrown away).
            temporal: ``(warped (B, 3, H, W), weight (B, 1, H, W))`` per term (per-frame targets).
            temporal_weight: weight of the (summed) temporal terms.
            seeds: one noise seed per frame (used when ``init`` is ``None`` and ``params.init == "noise"``).

        Returns:
            ``(B, 3, H, W)`` fp32 in ``[0, 1]`` on the model's device.
        """
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        content, temporal = self._prepare(content, targets, temporal, batch=True)
        b, hw = content.shape[0], tuple(content.shape[2:])
        if len(seeds) != b:
            raise ValueError(f"{len(seeds)} seed(s) for {b} frame(s)")
        scales = self.params.scales if init is None else (1.0,)
        if init is None:
            init = torch.cat([self.initial(c, seed=s) for c, s in zip(content.split(1), seeds)])
        x = self._image(init, "init", hw, b)
        for scale, n in zip(scales, split_iterations(iterations, len(scales))):
            level = targets if scale == 1 else targets.levels.get(scale)
            if level is None:
                raise ValueError(f"style targets lack the level of scale {scale} (built for other stylize.scales)")
            size = self._scaled(hw, scale)
            x = self._optimize_at(
                resize(content, size),
                level,
                [(resize(w, size), resize(c, size)) for w, c in temporal],
                temporal_weight,
                resize(x, size).clamp(0, 1),
                n,
            )
        return x

    def _optimize_at(
        self,
        content: torch.Tensor,
        targets: StyleTargets,
        temporal: Sequence[TemporalTerm],
        temporal_weight: float,
        start: torch.Tensor,
        iterations: int,
    ) -> torch.Tensor:
        """:meth:`optimize_batch` at one scale: checked ``(B, ...)`` tensors of one size, ``targets``
        for that size; the result ``(B, 3, H, W)`` fp32 in ``[0, 1]``."""
        target, targets, temporal, start = self._space(content, targets, temporal, start)
        x = start.clone(memory_format=torch.contiguous_format).requires_grad_(True)
        content_feats = self._content_targets(target)

        def loss_fn() -> torch.Tensor:
            terms = self._terms(x, content_feats, targets, temporal, temporal_weight, all_terms=False)
            if not terms:
                raise ValueError("all loss weights are 0: nothing to optimise")
            return sum((w * v for v, w in terms.values()), start=x.new_zeros(x.shape[0]))

        if iterations > 0:
            run = self._run_lbfgs if self.params.optimizer == "lbfgs" else self._run_adam
            with cuda_flags(self.device, tf32_matmul=True, cudnn_benchmark=True):
                run(x, loss_fn, iterations)
        out = x.detach().clamp(0, 1)
        if self.params.original_colors:
            out = color.with_luminance(out, content)
        return out

    def _run_lbfgs(self, x: torch.Tensor, loss_fn: Callable[[], torch.Tensor], iterations: int) -> None:
        p = self.params
        lbfgs.minimize(
            x,
            loss_fn,
            iterations=iterations,
            history_size=p.history_size,
            early_stop_tol=p.early_stop_tol,
            early_stop_window=p.early_stop_window,
        )

    def _run_adam(self, x: torch.Tensor, loss_fn: Callable[[], torch.Tensor], iterations: int) -> None:
        """Projected Adam; early stop per frame (a stopped frame is held where it stopped)."""
        p = self.params
        opt = torch.optim.Adam([x], lr=p.lr)
        prev = None
        stopped = torch.zeros(x.shape[0], dtype=torch.bool)
        for i in range(iterations):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.sum().backward()
            if p.early_stop_tol > 0 and i % p.early_stop_window == 0:
                cur = loss.detach().to("cpu", torch.float64)  # the only host sync, once per window
                if prev is not None:
                    stopped |= lbfgs.relative_change_below(prev, cur, p.early_stop_tol)
                    if bool(stopped.all()):
                        break
                prev = cur
            frozen = stopped.to(x.device) if bool(stopped.any()) else None
            held = None if frozen is None else x.detach()[frozen].clone()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
                if frozen is not None:
                    x[frozen] = held

    def loss_terms(
        self,
        x: torch.Tensor,
        content: torch.Tensor,
        targets: StyleTargets,
        temporal: Sequence[TemporalTerm] = (),
        temporal_weight: float = 0.0,
        *,
        weighted: bool = True,
    ) -> dict[str, float]:
        """Loss terms of image ``x`` ``(1, 3, H, W)`` at full scale, for reporting / metrics.

        Returns:
            ``content``, ``style``, ``tv``, ``temporal`` — each term times its weight (``weighted``)
            or raw — and ``total``, always the weighted sum that :meth:`optimize` minimises.
            ``temporal`` is 0 without temporal terms.
        """
        content, temporal = self._prepare(content, targets, temporal)
        x = self._image(x, "x", tuple(content.shape[2:]))
        target, targets, temporal, x = self._space(content, targets, temporal, x)
        with torch.no_grad():
            terms = self._terms(x, self._content_targets(target), targets, temporal, temporal_weight, all_terms=True)
            vals = {k: (float(v), w) for k, (v, w) in terms.items()}
        out = {k: (v * w if weighted else v) for k, (v, w) in vals.items()}
        out.setdefault("temporal", 0.0)
        out["total"] = sum(v * w for v, w in vals.values())
        return out
