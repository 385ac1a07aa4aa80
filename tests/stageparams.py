"""A stage's ``--params`` as the workflow sends it, built from a minimal config plus overrides."""

from __future__ import annotations

from typing import Any

from iovst import config


def stage_params(stage: str, **sections: Any) -> dict[str, Any]:
    """``iovst.config.stage_params`` of the minimal valid config updated with ``sections``
    (e.g. ``masks={"sigma": 0}``; defaults filled by validation)."""
    cfg = config.validate({"videos": {"v": "v.mp4"}, "styles": {"s": {"images": ["s.png"]}}, **sections})
    return config.stage_params(cfg, stage)


def stage_json(stage: str, **sections: Any) -> str:
    """:func:`stage_params` as the canonical JSON text of ``--params``."""
    return config.canonical_json(stage_params(stage, **sections))


def load(stage: str, **sections: Any) -> config.StageParams:
    """:func:`stage_params` read back as typed :class:`iovst.config.StageParams`."""
    return config.load_stage_params(stage, stage_params(stage, **sections))
