"""Device selection (``auto | cpu | cuda | cuda:N``) and scoped CUDA backend flags."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch

from ..errors import ConfigError

log = logging.getLogger(__name__)


def resolve_device(spec: str) -> torch.device:
    """Map the config's ``device`` string to a :class:`torch.device`.

    ``auto`` picks ``cuda`` when available, else ``cpu``. Asking for CUDA on a machine without it
    is a :class:`ConfigError` (no silent CPU fallback for a night-long render).
    """
    if spec == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif spec == "cpu" or spec.startswith("cuda"):
        dev = torch.device(spec)
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError(f"config key 'device': '{spec}' requested but CUDA is not available")
            if dev.index is not None and dev.index >= torch.cuda.device_count():
                raise ConfigError(f"config key 'device': '{spec}' but only {torch.cuda.device_count()} GPU(s) visible")
    else:
        raise ConfigError(f"config key 'device': {spec!r} is not auto, cpu, cuda or cuda:N")
    log.info("device: %s", dev)
    return dev


@contextlib.contextmanager
def cuda_flags(
    device: torch.device,
    *,
    tf32_matmul: bool | None = None,
    tf32_conv: bool | None = None,
    cudnn_benchmark: bool | None = None,
) -> Iterator[None]:
    """On CUDA: set the given process-wide flags inside (also seen by autograd's backward threads),
    restore the previous values afterwards; ``None`` leaves a flag as it is. No-op elsewhere.

    ``tf32_matmul``: cuBLAS fp32 matmuls in TF32; ``tf32_conv``: cuDNN fp32 convolutions in TF32;
    ``cudnn_benchmark``: autotune convolution algorithms per input shape (pays off when the shapes
    repeat, e.g. the same-size frames of a job).
    """
    if device.type != "cuda":
        yield
        return
    flags = [
        (torch.backends.cuda.matmul, "allow_tf32", tf32_matmul),
        (torch.backends.cudnn, "allow_tf32", tf32_conv),
        (torch.backends.cudnn, "benchmark", cudnn_benchmark),
    ]
    old = [getattr(mod, name) for mod, name, _ in flags]
    try:
        for mod, name, value in flags:
            if value is not None:
                setattr(mod, name, value)
        yield
    finally:
        for (mod, name, _), value in zip(flags, old):
            setattr(mod, name, value)
