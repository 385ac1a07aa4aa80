"""VGG-19 feature extractor for the Gatys losses.

:class:`VGGFeatures` wraps torchvision's ``vgg19().features`` (the classifier is never built),
truncated after the deepest requested layer, with ImageNet mean/std normalisation inside, frozen and
in ``eval()`` mode. Layer names follow the usual convention: ``conv{block}_{i}``, ``relu{block}_{i}``
and ``pool{block}`` (blocks 1-5 with 2, 2, 4, 4, 4 convolutions), e.g. ``relu4_2``.

Inputs are ``(B, 3, H, W)`` RGB in ``[0, 1]`` (torchvision's convention), *not* Caffe's 0-255 BGR,
so loss weights tuned for the Caffe VGG-19 do not carry over (see :mod:`iovst.style.losses`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torchvision
from torch import nn

from ..runtime.weights import WeightsInfo, load_into

#: Convolutions per block of VGG-19 (torchvision config "E").
_CONVS_PER_BLOCK = (2, 2, 4, 4, 4)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for block, n_conv in enumerate(_CONVS_PER_BLOCK, start=1):
        for i in range(1, n_conv + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


#: Names of ``vgg19().features[i]`` in order (37 layers).
LAYER_NAMES: tuple[str, ...] = _layer_names()


def _features_only(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a full-model (``features.*`` + ``classifier.*``) or features-only state dict onto
    ``vgg19().features``'s keys (``0.weight``, ...)."""
    prefix = "features."
    if any(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


class VGGFeatures(nn.Module):
    """Frozen VGG-19 returning the activations of the requested layers.

    Args:
        layers: layer names (see :data:`LAYER_NAMES`); the network is truncated after the deepest.
        weights: ``auto | imagenet | random | <path>`` (see :func:`iovst.runtime.weights.load_into`); a path
            may hold a full ``vgg19`` state dict or only its ``features`` part.
        seed: seed of the random init (``random``, or ``auto`` without pretrained weights).

    Attributes:
        weights_info: where the weights came from (:class:`iovst.runtime.weights.WeightsInfo`).
        layers: the requested layer names, in network order.

    Raises:
        ValueError: unknown layer name or no layer.
        InputError: weights unavailable or not VGG-19 weights.
    """

    def __init__(self, *, layers: Iterable[str], weights: str, seed: int = 0) -> None:
        super().__init__()
        wanted = set(layers)
        unknown = sorted(wanted - set(LAYER_NAMES))
        if unknown:
            raise ValueError(f"unknown VGG-19 layer(s) {unknown}; known: {', '.join(LAYER_NAMES)}")
        if not wanted:
            raise ValueError("VGGFeatures needs at least one layer")
        # Build on the meta device: no memory or init time for the 120M-parameter classifier.
        with torch.device("meta"):
            full = torchvision.models.vgg19()
        features = full.features.to_empty(device="cpu")
        if len(features) != len(LAYER_NAMES):
            raise RuntimeError(f"torchvision vgg19 has {len(features)} feature layers, expected {len(LAYER_NAMES)}")
        self.weights_info: WeightsInfo = load_into(
            features, model="vgg19", spec=weights, seed=seed, adapt=_features_only
        )
        last = max(LAYER_NAMES.index(n) for n in wanted)
        body = features[: last + 1]
        for prev, m in zip(LAYER_NAMES, body[1:]):
            if isinstance(m, nn.ReLU):
                # in place saves a buffer per layer (the frozen conv's backward to its input needs only
                # the weights); a requested conv output must not be overwritten by its ReLU
                m.inplace = prev not in wanted
        self.body = body
        self.layers: tuple[str, ...] = tuple(n for n in LAYER_NAMES[: last + 1] if n in wanted)
        self._names = LAYER_NAMES[: last + 1]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """``x`` ``(B, 3, H, W)`` float RGB in ``[0, 1]`` -> ``{layer: (B, C_l, H_l, W_l)}``.

        ``layers``: a subset of :attr:`layers` to return (default all); the pass stops after the
        deepest of them. Output dtype follows the input (or the active autocast dtype).
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects (B, 3, H, W), got {tuple(x.shape)}")
        wanted = self.layers if layers is None else tuple(layers)
        unknown = sorted(set(wanted) - set(self.layers))
        if unknown or not wanted:
            raise ValueError(f"VGGFeatures: layers {unknown or wanted} not among the built layers {self.layers}")
        last = max(self._names.index(n) for n in wanted)
        h = (x - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for name, layer in zip(self._names[: last + 1], self.body):
            h = layer(h)
            if name in wanted:
                out[name] = h
        return out
