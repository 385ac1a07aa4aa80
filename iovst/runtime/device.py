"""Device selection: ``auto | cpu | cuda | cuda:N``."""

from __future__ import annotations

import logging

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
                raise ConfigError(
                    f"config key 'device': '{spec}' but only {torch.cuda.device_count()} GPU(s) visible"
                )
    else:
        raise ConfigError(f"config key 'device': {spec!r} is not auto, cpu, cuda or cuda:N")
    log.info("device: %s", dev)
    return dev
