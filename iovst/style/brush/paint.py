"""Paint one frame with brushstrokes, then refine it in pixel space (Kotovenko et al. 2021).

Stroke stage (``steps`` iterations of two Adam optimisers on the same rendered canvas):

* geometry (centre, Bézier points, width), ``lr_geometry``, on the total loss
  ``content_weight · content + style_weight · style + curvature_weight · curvature
  + orientation_weight · orientation (+ temporal_weight · temporal)``;
* colour, ``lr_color``, on the VGG terms ``content_weight · content + style_weight · style``
  (the reference optimises colour on the style term alone; Adam is invariant to the scale of a
  single loss, so there the style weight cannot temper the colours, and with real VGG features
  60 steps turned every stroke into the style's palette and the frame unrecognisable, content loss
  1.3–1.4 at any style weight: docs/tuning.md, "Brushstrokes");
* after each step colours are clipped to [0, 1], centres to the canvas and widths to ``>= 0``.

Content = mean squared VGG-19 features at :data:`CONTENT_LAYERS` (``relu4_2``, ``relu5_2``) against
the frame's; style = the Gram loss of :mod:`iovst.style.losses` on ``stylize.style_layers`` against the
job's style targets (:meth:`iovst.style.gatys.Gatys.style_targets`); curvature and orientation from
:mod:`iovst.style.brush.losses` (orientation over each stroke's :data:`ORIENTATION_NEIGHBOURS` nearest
strokes, found once per frame). Video (``prev_strokes`` given): strokes start from the previous
frame's, moved by the flow (:mod:`iovst.style.brush.video`), and the optional temporal term is
``mean(c · (canvas − previous)²)`` with ``previous`` the kept moved strokes rendered on this frame
and ``c`` = reliability × their coverage.

Pixel stage: ``pixel_iterations`` iterations of :meth:`iovst.style.gatys.Gatys.optimize` (the job's
``stylize`` optimiser settings, its style weight ``stylize.brushstroke.pixel_style_weight``: the
model is built so by :class:`iovst.style.stylizer.BrushStylizer`) from the painting, with the
painting as the content target. The painting itself (before the pixel stage) is also returned:
multipass refines against it, with the same model.

Original colours (``stylize.original_colors``): as in the Gatys stage (:mod:`iovst.style.color`),
the VGG terms see the luminance only, of the canvas and of the frame (content), against the style
images' luminance matched to the frame's (:meth:`iovst.style.gatys.Gatys.frame_targets`); the
painting is the strokes' luminance with the frame's chroma, so the strokes take the frame's
colours (the pixel stage then keeps the painting's, i.e. the frame's, chroma).

Loss scales: the VGG terms are the Gatys stage's own (:mod:`iovst.style.losses`: means, Grams
divided by ``C·H·W``, relative errors, style layer weights summing to 1), so the defaults of
``stylize.brushstroke`` use the Gatys defaults' units (content 1, style 3: tuned on real features,
docs/tuning.md); the regularisers are scale-free (curvature a ratio, orientation ``1 − cos²`` in [0,
1]) and weighted to about half a unit at the SLIC init. The reasoning is in the schema's description
of ``stylize.brushstroke``; :meth:`BrushPainter.report` (``iovst stylize --report-losses``) prints
every term at step 0 for tuning with real weights, and the step-0 sizes are also logged at DEBUG
level.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import torch

from ...config import BrushstrokeParams
from ...tensors import to_tensor
from .. import color, losses
from ..gatys import Gatys, StyleTargets
from .init import init_strokes
from .losses import curvature_loss, nearest_neighbours, orientation_loss
from .render import render, winning_counts
from .strokes import Strokes
from .video import carry_strokes

log = logging.getLogger(__name__)

#: VGG-19 layers of the stroke stage's content term.
CONTENT_LAYERS: tuple[str, ...] = ("relu4_2", "relu5_2")
#: Neighbours per stroke in the orientation term.
ORIENTATION_NEIGHBOURS = 10


class BrushPainter:
    """Brushstroke stylisation of frames, on the job's Gatys model and its VGG-19.

    Args:
        gatys: the job's Gatys model (style layers, style layer weights and pixel-stage optimiser
            settings), built with ``extra_layers=CONTENT_LAYERS``.
        params: config ``stylize.brushstroke``.
    """

    def __init__(self, *, gatys: Gatys, params: BrushstrokeParams) -> None:
        missing = [n for n in CONTENT_LAYERS if n not in gatys.vgg.layers]
        if missing:
            raise ValueError(
                f"BrushPainter: the Gatys model lacks VGG layers {missing} (build it with extra_layers=CONTENT_LAYERS)"
            )
        self.gatys = gatys
        self.params = params
        self.device = gatys.device
        self.weights_info = gatys.weights_info
        self._layers = tuple(dict.fromkeys(CONTENT_LAYERS + tuple(gatys.params.style_layers)))

    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """VGG activations of ``x`` ``(1, 3, H, W)`` (:meth:`Gatys.features`; losses stay fp32), of
        its luminance with ``original_colors``."""
        return self.gatys.features(color.luminance(x) if self.gatys.params.original_colors else x, self._layers)

    def _terms(
        self,
        strokes: Strokes,
        canvas: torch.Tensor,
        content_feats: Mapping[str, torch.Tensor],
        targets: StyleTargets,
        neighbours: torch.Tensor,
        temporal: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> dict[str, tuple[torch.Tensor, float]]:
        """``{term: (raw scalar fp32, weight)}`` of the stroke stage for the rendered ``canvas``
        ``(1, 3, H, W)`` of ``strokes``; ``temporal`` only when given."""
        p = self.params
        feats = self._features(canvas)
        out = {
            "content": (losses.content_loss(feats, content_feats), p.content_weight),
            "style": (losses.style_loss(feats, targets.grams, self.gatys.style_layer_weights), p.style_weight),
            "curvature": (curvature_loss(strokes), p.curvature_weight),
            "orientation": (orientation_loss(strokes, neighbours), p.orientation_weight),
        }
        if temporal is not None:
            out["temporal"] = (losses.temporal_loss(canvas, [temporal[0]], [temporal[1]]), p.temporal_weight)
        return out

    def _render(self, strokes: Strokes, hw: tuple[int, int]) -> torch.Tensor:
        """``(1, 3, H, W)`` canvas of ``strokes`` (differentiable)."""
        p = self.params
        return render(strokes, height=hw[0], width=hw[1], background=p.background, samples=p.samples_per_curve)[None]

    def _content_features(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            feats = self._features(content)
        return {n: feats[n].detach() for n in CONTENT_LAYERS}

    def optimize_strokes(
        self,
        strokes: Strokes,
        content: torch.Tensor,
        *,
        targets: StyleTargets,
        steps: int,
        temporal: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[Strokes, list[float]]:
        """Run the stroke stage.

        Args:
            strokes: initial strokes (copied; float32 on the model's device).
            content: ``(1, 3, H, W)`` float32 frame in [0, 1].
            targets: the job's style targets (Grams on ``stylize.style_layers``).
            steps: Adam steps (0 returns the strokes unchanged).
            temporal: ``(previous (1, 3, H, W), weight (1, 1, H, W))`` for the temporal term
                (used when ``temporal_weight > 0``).

        Returns:
            The optimised strokes (detached) and the total loss before each step (``steps``
            floats).
        """
        p = self.params
        hw = tuple(content.shape[-2:])
        s = strokes.to(device=self.device, dtype=torch.float32).requires_grad_()
        if steps == 0 or len(s) == 0:
            return s.detach(), []
        content = content.to(self.device, torch.float32)
        targets = self.gatys.frame_targets(targets, content)
        content_feats = self._content_features(content)
        neighbours = nearest_neighbours(s.location.detach(), k=ORIENTATION_NEIGHBOURS)
        opt_geo = torch.optim.Adam(s.geometry(), lr=p.lr_geometry)
        opt_col = torch.optim.Adam([s.color], lr=p.lr_color)
        temporal = temporal if p.temporal_weight > 0 else None
        history: list[float] = []
        for step in range(steps):
            terms = {
                k: w * v
                for k, (v, w) in self._terms(
                    s, self._render(s, hw), content_feats, targets, neighbours, temporal
                ).items()
            }
            total = sum(terms.values())
            if step == 0:
                log.debug(
                    "stroke stage step 0 (weighted): %s",
                    ", ".join(f"{k} {float(v.detach()):.4g}" for k, v in terms.items()),
                )
            history.append(float(total.detach()))
            opt_geo.zero_grad(set_to_none=True)
            opt_col.zero_grad(set_to_none=True)
            grads = torch.autograd.grad(total, s.geometry(), retain_graph=True, allow_unused=True)
            for t, g in zip(s.geometry(), grads):
                t.grad = g
            (s.color.grad,) = torch.autograd.grad(terms["content"] + terms["style"], [s.color], allow_unused=True)
            opt_geo.step()
            opt_col.step()
            s.clamp_(height=hw[0], width=hw[1])
        return s.detach(), history

    def initial_strokes(self, content: np.ndarray, *, seed: int) -> Strokes:
        """SLIC strokes of ``content`` ``(H, W, 3)`` float32 in [0, 1] (the first frame's start)."""
        p = self.params
        return init_strokes(
            content,
            n_strokes=p.n_strokes,
            length_scale=p.length_scale,
            width_scale=p.width_scale,
            seed=seed,
            device=self.device,
        )

    def report(self, content: np.ndarray, *, targets: StyleTargets, seed: int) -> str:
        """Table of every loss term (raw, weight, weighted) at step 0 of both stages.

        Stroke stage: the SLIC strokes of ``content`` ``(H, W, 3)`` float32 in [0, 1] (the first
        frame's start; no temporal term). Pixel stage: the rendered SLIC painting, which is both
        its start and its content target (so its content term is 0), with the ``stylize``
        weights. For tuning the ``stylize.brushstroke`` weights against real VGG weights.
        """
        frame = to_tensor(content, self.device)
        hw = tuple(frame.shape[-2:])
        strokes = self.initial_strokes(content, seed=seed)
        neighbours = nearest_neighbours(strokes.location, k=ORIENTATION_NEIGHBOURS)
        with torch.no_grad():
            canvas = self._render(strokes, hw)
            frame_targets = self.gatys.frame_targets(targets, frame)
            terms = self._terms(strokes, canvas, self._content_features(frame), frame_targets, neighbours, None)
            canvas = self._colored(canvas, frame)
            pixel = self.gatys.loss_terms(canvas, canvas, targets, weighted=False)
        gp = self.gatys.params
        stages = {
            f"strokes (SLIC, {len(strokes)})": [(k, float(v), w) for k, (v, w) in terms.items()],
            "pixel (init = painting)": [
                (k, pixel[k], w)
                for k, w in (("content", gp.content_weight), ("style", gp.style_weight), ("tv", gp.tv_weight))
            ],
        }
        lines = [f"{'stage':24s} {'term':12s} {'raw':>12s} {'weight':>10s} {'weighted':>12s}"]
        for stage, rows in stages.items():
            lines += [f"{stage:24s} {term:12s} {raw:12.4e} {w:10.3g} {raw * w:12.4e}" for term, raw, w in rows]
            lines.append(f"{stage:24s} {'total':12s} {'':>12s} {'':>10s} {sum(r * w for _, r, w in rows):12.4e}")
        return "\n".join(lines)

    def _colored(self, canvas: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """The painting of a rendered ``canvas`` ``(1, 3, H, W)``: itself, or with
        ``original_colors`` its luminance with the chroma of ``frame`` ``(1, 3, H, W)``."""
        if not self.gatys.params.original_colors:
            return canvas
        return color.with_luminance(color.luminance(canvas), frame)

    def paint_frame(
        self,
        content: np.ndarray,
        *,
        targets: StyleTargets,
        prev_strokes: Strokes | None = None,
        flow_prev_to_cur: np.ndarray | torch.Tensor | None = None,
        reliability: np.ndarray | torch.Tensor | None = None,
        seed: int = 0,
    ) -> tuple[np.ndarray, np.ndarray, Strokes]:
        """Stylise one frame: strokes (initialised or carried over), then the pixel stage.

        Args:
            content: ``(H, W, 3)`` float32 RGB frame in [0, 1].
            targets: the job's style targets (:meth:`iovst.style.gatys.Gatys.style_targets`).
            prev_strokes: the previous frame's returned strokes (video), or ``None`` (SLIC init).
            flow_prev_to_cur: with ``prev_strokes``, ``(2, H, W)`` float flow defined on the
                previous frame pointing into this one (``N1/forward`` of ``t-1``).
            reliability: with ``prev_strokes``, optional ``(H, W)`` in [0, 1] on this frame
                (``N1/backward`` of the masks: warping ``t-1`` into ``t``); moved strokes whose
                centre falls below 0.5 are dropped; also weights the temporal term.
            seed: per-frame seed (SLIC jitter; pixel-stage noise if any).

        Returns:
            The stylised frame ``(H, W, 3)`` float32 in [0, 1], the stroke painting before the
            pixel stage (same shape; with ``original_colors`` in the frame's chroma), and the
            optimised strokes (float32 on the CPU; hidden strokes pruned) to pass to the next
            frame or cache with :meth:`Strokes.to_array`.
        """
        p = self.params
        h, w = content.shape[:2]
        frame = to_tensor(content, self.device)
        temporal = None
        if prev_strokes is None:
            strokes = self.initial_strokes(content, seed=seed)
        else:
            if flow_prev_to_cur is None:
                raise ValueError("paint_frame: prev_strokes given without flow_prev_to_cur")
            flow = torch.as_tensor(flow_prev_to_cur, dtype=torch.float32, device=self.device)
            rel = None if reliability is None else torch.as_tensor(reliability, dtype=torch.float32, device=self.device)
            carried = carry_strokes(
                prev_strokes.to(device=self.device, dtype=torch.float32),
                content,
                flow_prev_to_cur=flow,
                reliability=rel,
                n_strokes=p.n_strokes,
                length_scale=p.length_scale,
                width_scale=p.width_scale,
                samples=p.samples_per_curve,
                background=p.background,
                seed=seed,
            )
            strokes = carried.strokes
            weight = carried.previous_alpha if rel is None else carried.previous_alpha * rel
            temporal = (carried.previous[None], weight[None, None])
            log.debug("carried %d strokes, seeded %d", carried.n_kept, len(strokes) - carried.n_kept)
        strokes, _ = self.optimize_strokes(strokes, frame, targets=targets, steps=p.steps, temporal=temporal)
        strokes = strokes.select(winning_counts(strokes, height=h, width=w, samples=p.samples_per_curve) > 0)
        with torch.no_grad():
            painting = self._colored(self._render(strokes, (h, w)), frame)
        image = painting
        if p.pixel_iterations > 0:
            image = self.gatys.optimize(
                painting, targets=targets, init=painting, iterations=p.pixel_iterations, seed=seed
            )
        image, painting = (x[0].permute(1, 2, 0).float().cpu().numpy() for x in (image, painting))
        return image, painting, strokes.to(device="cpu")
