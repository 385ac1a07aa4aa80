"""Loss terms: normalisation, zeros where expected, masked temporal term, fp32."""

from __future__ import annotations

import pytest
import torch

from iovst.style import losses


def test_gram_normalised_by_chw_and_resolution_independent():
    torch.manual_seed(0)
    f = torch.rand(1, 8, 5, 7)
    g = losses.gram(f)
    assert g.shape == (1, 8, 8) and g.dtype == torch.float32
    v = f.reshape(8, 35)
    torch.testing.assert_close(g[0], v @ v.T / (8 * 5 * 7))
    # the same statistics at a larger resolution (a tiling) give the same Gram
    torch.testing.assert_close(losses.gram(f.repeat(1, 1, 3, 2)), g)
    assert torch.allclose(losses.gram(torch.ones(1, 4, 3, 3)), torch.full((1, 4, 4), 1 / 4))


def test_gram_is_fp32_for_low_precision_features():
    f = torch.rand(1, 4, 6, 6).to(torch.bfloat16)
    assert losses.gram(f).dtype == torch.float32


def test_gram_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\(4, 6, 6\)"):
        losses.gram(torch.rand(4, 6, 6))


def test_style_loss_zero_for_identical_positive_otherwise_and_weights_normalised():
    torch.manual_seed(1)
    a = {"l1": torch.rand(1, 4, 8, 8), "l2": torch.rand(1, 6, 4, 4)}
    b = {"l1": torch.rand(1, 4, 8, 8), "l2": torch.rand(1, 6, 4, 4)}
    tgt = {k: losses.gram(v) for k, v in a.items()}
    w = {"l1": 1.0, "l2": 1.0}
    assert float(losses.style_loss(a, tgt, w)) == 0.0
    pos = losses.style_loss(b, tgt, w)
    assert float(pos) > 0
    torch.testing.assert_close(losses.style_loss(b, tgt, {"l1": 5.0, "l2": 5.0}), pos)
    only_l1 = losses.style_loss(b, tgt, {"l1": 1.0, "l2": 0.0})
    torch.testing.assert_close(
        only_l1, torch.mean((losses.gram(b["l1"]) - tgt["l1"]) ** 2) / torch.mean(tgt["l1"] ** 2)
    )
    with pytest.raises(ValueError):
        losses.style_loss(b, tgt, {"l1": 0.0, "l2": 0.0})


def test_content_loss_is_relative_mse_averaged_over_layers():
    f = {"a": torch.zeros(1, 2, 3, 3), "b": torch.full((1, 2, 2, 2), 2.0)}
    t = {"a": torch.ones(1, 2, 3, 3), "b": torch.full((1, 2, 2, 2), 3.0)}
    # layer a: 1 / 1; layer b: (3 - 2)² / 3² = 1/9
    assert float(losses.content_loss(f, t)) == pytest.approx((1.0 + 1.0 / 9.0) / 2)
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 3\)"):
        losses.content_loss({"a": torch.zeros(1, 2, 3, 3)}, {"a": torch.zeros(1, 2, 4, 4)})


def test_tv_constant_zero_and_known_value():
    assert float(losses.tv_loss(torch.full((1, 3, 9, 9), 0.3))) == 0.0
    x = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).expand(1, 3, 2, 2)
    assert float(losses.tv_loss(x)) == pytest.approx(1.0)  # horizontal steps of 1, no vertical change


def test_temporal_loss_masked_and_hand_computed():
    torch.manual_seed(2)
    x = torch.rand(1, 3, 4, 5)
    w1, w2 = torch.rand(1, 3, 4, 5), torch.rand(1, 3, 4, 5)
    zero = torch.zeros(1, 1, 4, 5)
    assert float(losses.temporal_loss(x, [w1], [zero])) == 0.0
    assert float(losses.temporal_loss(x, [], [])) == 0.0
    c1 = torch.zeros(1, 1, 4, 5)
    c1[..., :2, :] = 1.0
    c2 = torch.full((1, 1, 4, 5), 0.5)
    expected = ((x - w1) ** 2 * c1).sum() / 60 + ((x - w2) ** 2 * c2).sum() / 60
    torch.testing.assert_close(losses.temporal_loss(x, [w1, w2], [c1, c2]), expected)


def test_temporal_loss_shape_errors_name_shapes():
    x = torch.rand(1, 3, 4, 5)
    with pytest.raises(ValueError, match=r"\(1, 3, 4, 4\)"):
        losses.temporal_loss(x, [torch.rand(1, 3, 4, 4)], [torch.ones(1, 1, 4, 5)])
    with pytest.raises(ValueError, match=r"\(1, 3, 4, 5\)"):
        losses.temporal_loss(x, [torch.rand(1, 3, 4, 5)], [torch.ones(1, 3, 4, 5)])
    with pytest.raises(ValueError, match="1 warped"):
        losses.temporal_loss(x, [torch.rand(1, 3, 4, 5)], [])


def test_content_and_style_terms_do_not_depend_on_the_feature_scale():
    """Relative errors: features 100x larger (other VGG weights) give the same loss."""
    torch.manual_seed(1)
    f = {"l": torch.rand(1, 8, 6, 7)}
    t = {"l": torch.rand(1, 8, 6, 7)}
    scaled = lambda d, k: {n: v * k for n, v in d.items()}  # noqa: E731
    torch.testing.assert_close(losses.content_loss(scaled(f, 100.0), scaled(t, 100.0)), losses.content_loss(f, t))
    grams = {"l": losses.gram(t["l"])}
    grams100 = {"l": losses.gram(t["l"] * 100.0)}
    torch.testing.assert_close(
        losses.style_loss(scaled(f, 100.0), grams100, {"l": 1.0}), losses.style_loss(f, grams, {"l": 1.0})
    )
    # nothing of the target: relative content error 1
    torch.testing.assert_close(losses.content_loss({"l": torch.zeros(1, 8, 6, 7)}, t), torch.tensor(1.0))
