"""Regularisers on stroke geometry (the VGG terms come from :mod:`iovst.style.losses`).

Both are means (not sums), so their size does not depend on the number of strokes.
"""

from __future__ import annotations

import torch

from .strokes import Strokes

#: Guards the division by the chord length of degenerate strokes (px).
_EPS = 1e-6


def curvature_loss(strokes: Strokes) -> torch.Tensor:
    """Mean over strokes of ``|(s - c) + (e - c)| / |e - s|`` (scalar).

    ``s, e, c`` are start, end and control point: 0 for a straight stroke with the control point
    at the chord's midpoint, growing as the stroke bends. Zero strokes give 0.
    """
    if len(strokes) == 0:
        return strokes.location.new_zeros(())
    s, e, c = strokes.curve.unbind(1)
    bend = torch.linalg.vector_norm((s - c) + (e - c), dim=-1)
    chord = torch.linalg.vector_norm(e - s, dim=-1)
    return (bend / (chord + _EPS)).mean()


@torch.no_grad()
def nearest_neighbours(location: torch.Tensor, *, k: int = 10) -> torch.Tensor:
    """``(n, min(k, n-1))`` int64 indices of each stroke's nearest other strokes by centre.

    Args:
        location: ``(n, 2)`` centres in px.
    """
    if location.dim() != 2 or location.shape[1] != 2:
        raise ValueError(f"nearest_neighbours expects (n, 2) locations, got {tuple(location.shape)}")
    n = location.shape[0]
    kk = min(k, n - 1)
    if kk <= 0:
        return torch.zeros(n, 0, dtype=torch.long, device=location.device)
    d = torch.cdist(location, location)
    d.fill_diagonal_(float("inf"))
    return d.topk(kk, dim=1, largest=False).indices


def orientation_loss(strokes: Strokes, neighbours: torch.Tensor) -> torch.Tensor:
    """Mean over (stroke, neighbour) pairs of ``1 - cos²`` of the angle between their chords
    ``e - s`` (scalar in [0, 1]; sign-free, so a stroke and its reversal count as parallel).

    Args:
        strokes: ``n`` strokes.
        neighbours: ``(n, k)`` int64 from :func:`nearest_neighbours`; ``k = 0`` gives 0.
    """
    n = len(strokes)
    if neighbours.dim() != 2 or neighbours.shape[0] != n:
        raise ValueError(f"neighbours must be ({n}, k), got {tuple(neighbours.shape)}")
    if neighbours.numel() == 0:
        return strokes.location.new_zeros(())
    chord = strokes.curve[:, 1] - strokes.curve[:, 0]
    u = chord / (torch.linalg.vector_norm(chord, dim=-1, keepdim=True) + _EPS)
    cos = (u[:, None, :] * u[neighbours]).sum(-1)
    return (1.0 - cos * cos).mean()
