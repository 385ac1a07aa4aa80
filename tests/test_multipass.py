"""Multipass building blocks: sweep order, neighbours, the reliability-weighted blend."""

from __future__ import annotations

import pytest
import torch

from iovst.style.multipass import blend_init, neighbour_of, sweep_order


def test_sweep_order_alternates():
    frames = range(8, 12)
    assert sweep_order(frames, 1) == [8, 9, 10, 11]
    assert sweep_order(frames, 2) == [11, 10, 9, 8]
    assert sweep_order(frames, 3) == [8, 9, 10, 11]
    with pytest.raises(ValueError):
        sweep_order(frames, 0)


def test_neighbour_is_where_the_sweep_comes_from():
    assert neighbour_of(5, 1, 10) == 4
    assert neighbour_of(5, 2, 10) == 6
    assert neighbour_of(0, 1, 10) is None  # first frame of a forward sweep
    assert neighbour_of(9, 2, 10) is None  # first frame of a backward sweep
    assert neighbour_of(9, 1, 10) == 8


def test_blend_formula():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 5, 6)
    w = torch.rand(1, 3, 5, 6)
    c = torch.zeros(5, 6)
    c[2:, 3:] = 1.0
    c[0, 0] = 0.5
    out = blend_init(x, w, c, 0.5)
    # c = 0: previous result kept exactly (never the content photo)
    assert torch.equal(out[..., 1:2, :3], x[..., 1:2, :3])
    # c = 1, δ = 0.5: the average
    assert torch.allclose(out[..., 2:, 3:], 0.5 * x[..., 2:, 3:] + 0.5 * w[..., 2:, 3:])
    # c = 0.5: (1 - 0.25) x + 0.25 w
    assert torch.allclose(out[..., 0, 0], 0.75 * x[..., 0, 0] + 0.25 * w[..., 0, 0])
    # δ = 1, c = 1 -> the warped neighbour
    assert torch.allclose(blend_init(x, w, torch.ones(5, 6), 1.0), w)


def test_blend_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(1, 3, 5, 6\)"):
        blend_init(torch.rand(1, 3, 5, 6), torch.rand(1, 3, 5, 7), torch.ones(5, 6), 0.5)
