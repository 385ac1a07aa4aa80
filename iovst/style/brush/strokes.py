"""Brushstroke parameters: a quadratic Bézier curve with a width and a colour per stroke.

Coordinates are pixels on the canvas, ``(x, y)`` = (column, row), pixel centres at integer
coordinates (the convention of :mod:`iovst.flow.warp` and of the flow fields).

One stroke has 12 numbers (the layout of :meth:`Strokes.to_array`)::

    0-1   location   centre (x, y), px
    2-3   start      Bézier start point relative to the centre, px
    4-5   end        Bézier end point relative to the centre, px
    6-7   control    Bézier control point relative to the centre, px
    8     width      compared with the *squared* distance to the curve (px²): radius ≈ sqrt(width)
    9-11  color      RGB in [0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: Number of floats per stroke in :meth:`Strokes.to_array`.
STROKE_DIM = 12


@dataclass
class Strokes:
    """A set of ``n`` strokes as four tensors of one dtype and device.

    Attributes:
        location: ``(n, 2)`` centre ``(x, y)`` in px.
        curve: ``(n, 3, 2)`` start, end and control point relative to ``location``, px.
        width: ``(n,)`` width in px² (coverage is ``sigmoid(width - d²)``, ``d`` in px).
        color: ``(n, 3)`` RGB in [0, 1].
    """

    location: torch.Tensor
    curve: torch.Tensor
    width: torch.Tensor
    color: torch.Tensor

    def __post_init__(self) -> None:
        n = self.location.shape[0] if self.location.dim() == 2 else -1
        shapes = (tuple(self.location.shape), tuple(self.curve.shape), tuple(self.width.shape), tuple(self.color.shape))
        if shapes != ((n, 2), (n, 3, 2), (n,), (n, 3)):
            raise ValueError(
                "Strokes expects location (n, 2), curve (n, 3, 2), width (n,), color (n, 3); "
                f"got {shapes[0]}, {shapes[1]}, {shapes[2]}, {shapes[3]}"
            )

    # -- construction / conversion ---------------------------------------------------------
    @classmethod
    def from_array(
        cls, array: np.ndarray | torch.Tensor, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> Strokes:
        """Strokes from an ``(n, 12)`` array in the layout of the module docstring."""
        a = array if torch.is_tensor(array) else torch.from_numpy(np.asarray(array))
        if a.dim() != 2 or a.shape[1] != STROKE_DIM:
            raise ValueError(f"Strokes.from_array expects (n, {STROKE_DIM}), got {tuple(a.shape)}")
        a = a.to(device=device, dtype=dtype)
        return cls(
            location=a[:, 0:2].clone(),
            curve=a[:, 2:8].reshape(-1, 3, 2).clone(),
            width=a[:, 8].clone(),
            color=a[:, 9:12].clone(),
        )

    def to_array(self) -> np.ndarray:
        """``(n, 12)`` float32 numpy array (detached, on the CPU) for caches and chunk hand-over."""
        parts = (self.location, self.curve.reshape(-1, 6), self.width[:, None], self.color)
        return torch.cat([p.detach().to("cpu", torch.float32) for p in parts], dim=1).numpy()

    @classmethod
    def empty(cls, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Strokes:
        """Zero strokes."""
        return cls.from_array(np.zeros((0, STROKE_DIM), np.float32), device=device, dtype=dtype)

    @classmethod
    def cat(cls, parts: list[Strokes]) -> Strokes:
        """Concatenate stroke sets (same dtype and device)."""
        if not parts:
            raise ValueError("Strokes.cat needs at least one stroke set")
        return cls(
            location=torch.cat([p.location for p in parts]),
            curve=torch.cat([p.curve for p in parts]),
            width=torch.cat([p.width for p in parts]),
            color=torch.cat([p.color for p in parts]),
        )

    def __len__(self) -> int:
        return self.location.shape[0]

    def select(self, index: torch.Tensor) -> Strokes:
        """The strokes picked by a boolean ``(n,)`` mask or an index tensor (copies)."""
        return Strokes(
            location=self.location[index], curve=self.curve[index], width=self.width[index], color=self.color[index]
        )

    def to(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Strokes:
        """A copy on ``device`` with ``dtype`` (detached leaves)."""

        def conv(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to(device=device or t.device, dtype=dtype or t.dtype).clone()

        return Strokes(
            location=conv(self.location), curve=conv(self.curve), width=conv(self.width), color=conv(self.color)
        )

    def detach(self) -> Strokes:
        """Detached copies (fresh leaves)."""
        return self.to()

    # -- optimisation helpers --------------------------------------------------------------
    def geometry(self) -> list[torch.Tensor]:
        """The geometry tensors (location, curve, width), optimised with the total loss."""
        return [self.location, self.curve, self.width]

    def requires_grad_(self) -> Strokes:
        """Mark all four tensors as requiring gradients (in place); returns ``self``."""
        for t in (self.location, self.curve, self.width, self.color):
            t.requires_grad_(True)
        return self

    @torch.no_grad()
    def clamp_(self, *, height: int, width: int) -> Strokes:
        """Project onto the feasible set in place: colours to [0, 1], centres onto the canvas
        ``[0, width-1] x [0, height-1]``, widths ``>= 0``. Returns ``self``."""
        self.color.clamp_(0.0, 1.0)
        self.location[:, 0].clamp_(0.0, width - 1.0)
        self.location[:, 1].clamp_(0.0, height - 1.0)
        self.width.clamp_(min=0.0)
        return self

    # -- geometry --------------------------------------------------------------------------
    def points(self) -> torch.Tensor:
        """``(n, 3, 2)`` absolute start, end and control points in px."""
        return self.location[:, None, :] + self.curve

    def polyline(self, samples: int) -> torch.Tensor:
        """``(n, samples, 2)`` absolute points of each Bézier curve at ``samples`` evenly spaced
        parameters ``t`` in [0, 1] (``samples - 1`` segments); differentiable."""
        if samples < 2:
            raise ValueError(f"polyline needs samples >= 2, got {samples}")
        t = torch.linspace(0.0, 1.0, samples, device=self.location.device, dtype=self.location.dtype)[None, :, None]
        p = self.points()
        s, e, c = p[:, 0:1], p[:, 1:2], p[:, 2:3]
        return (1 - t) ** 2 * s + 2 * (1 - t) * t * c + t**2 * e
