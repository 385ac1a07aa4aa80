"""Original colours (``stylize.original_colors``): luminance-only transfer (Gatys et al. 2016) in
round 0 and in the multipass refinement; random VGG weights at 32 px."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iovst.config import section_params
from iovst.style.color import luminance, rgb_to_yiq, with_luminance, yiq_to_rgb
from iovst.style.gatys import Gatys

HW = (32, 32)


def model(**over) -> Gatys:
    base = {
        "iterations": 10,
        "style_layers": ["relu1_1", "relu2_1", "relu3_1"],
        "content_layers": ["relu3_2"],
        "original_colors": True,
        "optimizer": "lbfgs",
    }
    return Gatys(params=section_params("stylize", {**base, **over}), device="cpu", weights="random", seed=0)


@pytest.fixture(scope="module")
def frame() -> torch.Tensor:
    """Colour gradients with texture, mean luminance ~0.5, and two saturated patches (pure red,
    pure blue) whose luminance cannot change without changing their chroma."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, HW[0]), torch.linspace(0, 1, HW[1]), indexing="ij")
    torch.manual_seed(1)
    rgb = torch.stack([0.25 + 0.5 * xx, 0.25 + 0.5 * yy, 0.5 + 0.2 * torch.sin(12 * xx)])[None]
    f = (0.8 * rgb + 0.2 * torch.rand(1, 1, *HW)).clamp(0, 1)
    f[..., 2:6, 2:6] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
    f[..., 26:30, 26:30] = torch.tensor([0.0, 0.0, 1.0])[:, None, None]
    return f


@pytest.fixture(scope="module")
def style() -> np.ndarray:
    return np.random.default_rng(0).random((24, 40, 3), dtype=np.float32)


def chroma(x: torch.Tensor) -> torch.Tensor:
    return rgb_to_yiq(x)[:, 1:]


def test_yiq_transforms_are_inverses_and_recombination_keeps_chroma():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(luminance(x), rgb_to_yiq(x)[:, :1])
    gray = torch.full((1, 3, 2, 2), 0.3)
    torch.testing.assert_close(rgb_to_yiq(gray), torch.tensor([0.3, 0.0, 0.0]).reshape(1, 3, 1, 1).expand(1, 3, 2, 2))
    torch.testing.assert_close(with_luminance(luminance(x), x), x, atol=1e-6, rtol=0)
    for y in (torch.rand(2, 1, 8, 8), torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)):
        out = with_luminance(y, x)  # also where y leaves the gamut: Y clamped, chroma kept
        assert float(out.min()) >= 0 and float(out.max()) <= 1
        torch.testing.assert_close(chroma(out), chroma(x), atol=1e-6, rtol=0)
    # where the requested luminance fits the gamut it is taken as is
    mid = 0.4 + 0.2 * x
    y = 0.45 + 0.1 * torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(luminance(with_luminance(y, mid)), y, atol=1e-6, rtol=0)


def test_round0_optimises_the_luminance_and_keeps_the_frame_chroma(frame, style):
    g = model()
    t = g.style_targets([style], None, frame_hw=HW)
    gray_inputs = []
    forward = g.vgg.forward
    g.vgg.forward = lambda x, *a: gray_inputs.append(bool((x == x[:, :1]).all())) or forward(x, *a)
    out = g.optimize(frame, targets=t, iterations=10)
    assert gray_inputs and all(gray_inputs)  # VGG only ever sees luminance (content, style, image)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    torch.testing.assert_close(chroma(out), chroma(frame), atol=1e-5, rtol=0)  # saturated patches too
    assert float((luminance(out) - luminance(frame)).abs().max()) > 0.05  # stylised
    before = g.loss_terms(frame, frame, t, weighted=False)
    after = g.loss_terms(out, frame, t, weighted=False)
    assert after["style"] < 0.3 * before["style"], (before, after)


def test_dark_style_does_not_darken_the_frame(frame, style):
    g = model()
    dark = g.style_targets([0.15 * style], None, frame_hw=HW)
    out = g.optimize(frame, targets=dark, iterations=10)
    assert abs(float(luminance(out).mean() - luminance(frame).mean())) < 0.02
    # the style luminance is matched to the frame's mean and std: its brightness drops out
    normal = g.frame_targets(g.style_targets([style], None, frame_hw=HW), frame)
    for name, gram in g.frame_targets(dark, frame).grams.items():
        torch.testing.assert_close(gram, normal.grams[name], rtol=1e-3, atol=1e-6)


def test_multipass_refinement_works_on_the_luminance(frame, style):
    """Start image and warped neighbour come in RGB with other colours: only their luminance
    counts (temporal term on Y), and the result has the frame's chroma."""
    g = model(content_weight=0.0, style_weight=0.0, tv_weight=0.0, optimizer="adam", lr=0.05)
    t = g.style_targets([style], None, frame_hw=HW)
    torch.manual_seed(2)
    start, warped = torch.rand(1, 3, *HW), 0.3 + 0.4 * torch.rand(1, 3, *HW)
    c = torch.zeros(1, 1, *HW)
    c[..., :16] = 1.0
    out = g.optimize(frame, targets=t, init=start, iterations=60, temporal=[(warped, c)], temporal_weight=100.0)
    torch.testing.assert_close(chroma(out), chroma(frame), atol=1e-5, rtol=0)
    y = luminance(out)
    # weighted half: the neighbour's luminance (as far as the frame's chroma allows)
    assert float((y - luminance(with_luminance(luminance(warped), frame)))[..., :16].abs().max()) < 0.05
    # unweighted half: nothing pulls, the start's luminance stays
    torch.testing.assert_close(
        y[..., 16:], luminance(with_luminance(luminance(start), frame))[..., 16:], atol=1e-5, rtol=0
    )
    terms = g.loss_terms(out, frame, t, [(warped, c)], 100.0, weighted=False)
    assert terms["temporal"] < 1e-3  # measured on Y: the neighbour's other chroma costs nothing
