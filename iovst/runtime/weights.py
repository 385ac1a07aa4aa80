"""Pretrained weights: VGG-19 (ImageNet) and RAFT (large / small) through torchvision's weights API.

``spec`` (config ``model.weights`` / ``flow.weights``):

* ``imagenet`` — torchvision's pretrained weights (``VGG19_Weights.IMAGENET1K_V1``,
  ``Raft_Large_Weights.C_T_SKHT_V2``, ``Raft_Small_Weights.C_T_V2``); downloaded once into
  ``$TORCH_HOME/hub/checkpoints`` (or config ``model.torch_home``). Missing and not downloadable
  is an error.
* ``auto`` — ``imagenet`` when cached or downloadable, else *seeded random* weights with a loud
  warning, recorded in the returned :class:`WeightsInfo` (and from there in the run metadata).
  With ``IOVST_OFFLINE=1`` (set it on offline cluster nodes) the network is never tried.
* ``random`` — seeded random init (tests, CPU smoke runs).
* a path — a ``state_dict`` saved with ``torch.save``; loaded with ``weights_only=True``.

``iovst weights fetch`` prefetches everything into the cache on a machine with internet.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import InputError

log = logging.getLogger(__name__)

MODELS = ("vgg19", "raft_large", "raft_small")


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights came from: ``source`` is ``imagenet``, ``random`` or a file path."""

    model: str
    source: str
    detail: str = ""
    warning: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _enum(model: str):
    from torchvision import models
    from torchvision.models import optical_flow

    if model == "vgg19":
        return models.VGG19_Weights.IMAGENET1K_V1
    if model == "raft_large":
        return optical_flow.Raft_Large_Weights.C_T_SKHT_V2
    if model == "raft_small":
        return optical_flow.Raft_Small_Weights.C_T_V2
    raise ValueError(f"unknown model {model!r}, expected one of {MODELS}")


def set_torch_home(torch_home: str | None) -> None:
    """Point torch's hub cache at ``torch_home`` (no-op for ``None``)."""
    if torch_home:
        os.environ["TORCH_HOME"] = str(torch_home)
        torch.hub.set_dir(str(Path(torch_home) / "hub"))


def cached_file(model: str, torch_home: str | None = None) -> Path:
    """Where torchvision stores ``model``'s pretrained checkpoint (under ``torch_home`` if given,
    else the current hub directory: ``$TORCH_HOME/hub`` or ``~/.cache/torch/hub``)."""
    url = _enum(model).url
    hub = Path(torch_home) / "hub" if torch_home else Path(torch.hub.get_dir())
    return hub / "checkpoints" / os.path.basename(url)


def offline() -> bool:
    """True when ``IOVST_OFFLINE`` is set to a true value: never touch the network."""
    return os.environ.get("IOVST_OFFLINE", "").lower() not in ("", "0", "false", "no")


def download(model: str, timeout: float = 20.0) -> dict[str, torch.Tensor]:
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        return _enum(model).get_state_dict(progress=False, check_hash=True)
    finally:
        socket.setdefaulttimeout(old)


def read_state_dict(path: Path, *, mmap: bool = False) -> dict[str, torch.Tensor]:
    """The state dict in ``path``; ``mmap=True`` maps the tensors' storage instead of reading it
    (cheap for checking names and shapes)."""
    if not path.is_file():
        raise InputError(f"weights '{path}': file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # corrupt zip, pickle with disallowed globals, truncated, ...
        raise InputError(f"weights '{path}': not a loadable torch state_dict ({exc.__class__.__name__})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError(f"weights '{path}': not a state_dict of tensors")
    return obj


def _read_cached(f: Path, model: str) -> dict[str, torch.Tensor]:
    """The state dict in ``model``'s cached torchvision checkpoint ``f``; corrupt is an :class:`InputError`."""
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(
            f"weights '{f}': cached {model} checkpoint is corrupt ({exc.__class__.__name__}); "
            "delete it and run 'iovst weights fetch'"
        ) from None


def _try_download(model: str, spec: str, f: Path) -> dict[str, torch.Tensor] | None:
    """:func:`download` ``model``'s pretrained state dict; on failure None for ``spec`` ``auto``,
    an :class:`InputError` (naming the cache file ``f``) for ``imagenet``."""
    try:
        return download(model)
    except Exception as exc:
        if spec == "imagenet":
            raise InputError(
                f"weights for {model}: pretrained weights not in cache ({f}) and download failed "
                f"({exc.__class__.__name__}); run 'iovst weights fetch' where there is internet"
            ) from None
        return None


def _pretrained(model: str, spec: str, seed: int) -> tuple[dict[str, torch.Tensor] | None, WeightsInfo]:
    """``spec`` ``auto`` / ``imagenet``: the pretrained state dict (cache, else download unless
    :func:`offline`) and its info; for ``auto`` without one, None and the seeded-random info with
    its warning. ``imagenet`` unavailable is an :class:`InputError`."""
    f = cached_file(model)
    state: dict[str, torch.Tensor] | None = None
    if f.is_file():
        state = _read_cached(f, model)
    elif not offline():
        state = _try_download(model, spec, f)
    elif spec == "imagenet":
        raise InputError(f"weights for {model}: not in cache ({f}) and IOVST_OFFLINE is set; run 'iovst weights fetch'")
    if state is None:
        return None, WeightsInfo(
            model,
            "random",
            f"seed={seed}",
            warning=f"no pretrained {model} weights (not cached at {f}, not downloadable): using "
            f"SEEDED RANDOM weights - results are NOT a real stylization/flow",
        )
    return state, WeightsInfo(model, "imagenet", str(f))


def _load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], info: WeightsInfo, model: str) -> None:
    """``module.load_state_dict(state, strict=True)``; a mismatch is an :class:`InputError` naming
    the weights file (``info``) and the first missing / unexpected keys."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        msg = "; ".join(line.strip() for line in first[1:3]) or first[0]
        raise InputError(
            f"weights '{info.source if info.source != 'imagenet' else info.detail}': not {model} weights ({msg[:200]})"
        ) from None


def load_into(
    module: torch.nn.Module,
    *,
    model: str,
    spec: str,
    seed: int = 0,
    adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
) -> WeightsInfo:
    """Fill ``module``'s parameters according to ``spec``; return where they came from.

    Args:
        module: the freshly constructed network (``torchvision.models.vgg19()``, ``raft_large()``...).
        model: one of :data:`MODELS`.
        spec: ``auto | imagenet | random | <path>``.
        seed: seed for random init (same seed -> same weights).
        adapt: optional function mapping a loaded state dict onto ``module``'s keys (e.g. keep only
            VGG's ``features.*``); applied to imagenet and path weights.

    Raises:
        InputError: ``imagenet`` unavailable, or a path that is missing, corrupt or of another net.
    """
    state: dict[str, torch.Tensor] | None = None
    info: WeightsInfo
    if spec in ("auto", "imagenet"):
        state, info = _pretrained(model, spec, seed)
    elif spec == "random":
        info = WeightsInfo(model, "random", f"seed={seed}")
    else:
        p = Path(spec).expanduser()
        state = read_state_dict(p)
        info = WeightsInfo(model, str(p), sha256_file(p)[:16])

    if state is None:
        _random_init(module, model=model, seed=seed)
        if info.warning:
            log.warning("!" * 20 + " %s " + "!" * 20, info.warning)
        return info

    if adapt is not None:
        state = adapt(state)
    _load_strict(module, state, info, model)
    return info


def _random_init(module: torch.nn.Module, *, model: str, seed: int) -> None:
    """Seeded random weights.

    VGG gets torchvision's own VGG init (Kaiming-normal, fan-out, zero bias): PyTorch's default
    conv init shrinks activations by ~3x per layer, so 16 layers deep they (and their gradients)
    become denormal floats, which makes CPU convolutions 10-100x slower and the losses meaningless.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            if model == "vgg19" and isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    torch.nn.init.zeros_(m.bias)
                continue
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()


def sha256_file(path: str | Path, bufsize: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(bufsize):
            h.update(chunk)
    return h.hexdigest()
