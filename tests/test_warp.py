"""iovst.flow.warp: the flow convention every stage relies on (out(x) = image(x + flow(x)))."""

from __future__ import annotations

import numpy as np
import pytest
import synth
import torch

from iovst.flow.warp import out_of_frame, warp, warp_np


def _image(h: int = 24, w: int = 32, c: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((c, h, w), dtype=np.float32))


def _const_flow(dx: float, dy: float, h: int, w: int) -> torch.Tensor:
    f = torch.empty(2, h, w)
    f[0], f[1] = dx, dy
    return f


def test_zero_flow_is_identity():
    img = _image()
    out = warp(img, torch.zeros(2, *img.shape[-2:]))
    # not bit-exact: the float32 grid normalisation round trip costs ~1e-6 (reported to the lead)
    assert torch.allclose(out, img, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dx,dy", [(2, 0), (0, -3), (-1, 2), (5, 4)])
def test_integer_shift_is_exact(dx, dy):
    img = _image()
    h, w = img.shape[-2:]
    out = warp(img, _const_flow(dx, dy, h, w))
    # out(y, x) = img(y + dy, x + dx) wherever the source pixel exists
    ys, xs = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
    ys_src, xs_src = slice(ys.start + dy, ys.stop + dy), slice(xs.start + dx, xs.stop + dx)
    assert torch.allclose(out[:, ys, xs], img[:, ys_src, xs_src], atol=1e-6)


def test_half_pixel_is_average_of_neighbours():
    img = _image()
    out = warp(img, _const_flow(0.5, 0.0, *img.shape[-2:]))
    assert torch.allclose(out[:, :, :-1], 0.5 * (img[:, :, :-1] + img[:, :, 1:]), atol=1e-6)
    out = warp(img, _const_flow(0.0, -0.5, *img.shape[-2:]))
    assert torch.allclose(out[:, 1:, :], 0.5 * (img[:, 1:, :] + img[:, :-1, :]), atol=1e-6)


def test_batch_and_numpy_agree():
    img = torch.stack([_image(seed=1), _image(seed=2)])
    flow = torch.from_numpy(np.random.default_rng(3).normal(0, 2, (2, 2, 24, 32)).astype(np.float32))
    out = warp(img, flow)
    assert out.shape == img.shape
    for b in range(2):
        assert torch.allclose(out[b], warp(img[b], flow[b]))
        np_out = warp_np(img[b].permute(1, 2, 0).numpy(), flow[b].numpy())
        assert np.allclose(np_out, out[b].permute(1, 2, 0).numpy(), atol=1e-6)


def test_shape_mismatch_raises_with_shapes():
    with pytest.raises(ValueError, match=r"24, 31\)"):
        warp(_image(), torch.zeros(2, 24, 31))


@pytest.mark.parametrize("step", [(2.0, -1.0), (0.5, 0.25), (-1.25, 0.75)])
def test_consistent_with_flow_definition_on_synthetic_pan(step):
    """Warping frame t+1 with the GT flow t -> t+1 reproduces frame t in the interior."""
    clip = synth.pan(3, size=(48, 64), step=step)
    for t, s in [(0, 1), (1, 0), (0, 2), (2, 0)]:
        warped = warp_np(clip.frames[s], clip.flow(t, s))
        valid = clip.valid(t, s)
        valid[:2], valid[-2:], valid[:, :2], valid[:, -2:] = False, False, False, False
        err = np.abs(warped - clip.frames[t])[valid]
        if float(step[0]).is_integer() and float(step[1]).is_integer():
            assert err.max() < 1e-5
        else:  # bilinear re-sampling of a detailed photo: small, not zero
            assert err.mean() < 0.04
        # the opposite sign (the other convention) is far off
        wrong = np.abs(warp_np(clip.frames[s], -clip.flow(t, s)) - clip.frames[t])[valid]
        assert wrong.mean() > 2.5 * err.mean() + 0.01


def test_out_of_frame():
    h, w = 6, 8
    oof = out_of_frame(_const_flow(1.0, 0.0, h, w))
    assert oof[:, -1].all() and not oof[:, :-1].any()  # target x = W exactly leaves the frame
    oof = out_of_frame(_const_flow(-0.5, 2.0, h, w))
    assert oof[:, 0].all() and oof[-2:].all()
    assert not oof[: h - 2, 1:].any()
    # the last row/column itself is inside (inclusive bounds)
    edge = torch.zeros(2, h, w)
    edge[0, 0, 0], edge[1, 0, 0] = w - 1, h - 1
    assert not out_of_frame(edge).any()
    batched = out_of_frame(torch.stack([_const_flow(1, 0, h, w), _const_flow(0, 0, h, w)]))
    assert batched.shape == (2, h, w) and batched[0, :, -1].all() and not batched[1].any()
