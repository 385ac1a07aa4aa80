"""Configuration: load, validate against ``config.schema.yaml``, fill defaults; per-stage params.

``config.schema.yaml`` is the only place where defaults and constraints live. Each stage declares
once, in :data:`STAGES`, which config keys it depends on; :func:`stage_params` cuts them out of
the validated config (the rule's ``params:`` and the command's ``--params``, one nested shape for
every stage), and :func:`load_stage_params` turns a ``--params`` text back into typed, validated
:class:`StageParams` (re-validated against the schema; nothing filled in).

Errors are one line naming the key, e.g. ``config key 'flow.offsets': must be sorted ascending``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .errors import ConfigError

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


@dataclass(frozen=True)
class Stage:
    """What a stage's output depends on, besides its input files.

    Attributes:
        version: bumped when the stage's code changes its output for the same params (Snakemake
            does not track imported package code, so the version travels in the rule's ``params:``).
        keys: the config keys it reads: a section (``"flow"``), one key of a section
            (``"model.torch_home"``) or a top-level scalar (``"seed"``).
        exclude: keys of those sections it does not read (``"flow.cuts"``): left out of its
            params (the typed field is ``None``), so changing them does not rerun it.
    """

    version: int
    keys: tuple[str, ...]
    exclude: tuple[str, ...] = ()


#: stage -> its config keys, declared once: the rule's ``params:`` (a change reruns exactly the
#: dependent jobs), the command's ``--params`` and, through them, the per-frame cache keys.
STAGES: dict[str, Stage] = {
    "extract": Stage(1, ("extract",)),
    "flow": Stage(1, ("flow", "model.torch_home"), exclude=("flow.cuts",)),
    "masks": Stage(1, ("masks",)),
    "cuts": Stage(1, ("flow.cuts",)),
    "longterm": Stage(2, ("flow.offsets", "multipass.offsets")),  # 2: zero across scene cuts
    # 3: brush chunks hold the stroke paintings, brush original_colors; scene cuts
    "stylize": Stage(4, ("stylize", "model", "seed")),  # 4: brush colours on content + style
    # 5: brush pixel_style_weight; 6: parallel sub_sweeps, lockstep batches of stylize.batch_size
    "multipass": Stage(6, ("stylize", "multipass", "model", "seed")),
    "encode": Stage(1, ("encode",)),
    # the losses' layers and the VGG weights; the style images and scale come as arguments
    "metrics": Stage(
        1, ("stylize.content_layers", "stylize.style_layers", "stylize.style_layer_weights", "model", "seed")
    ),
}


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The JSON schema (as a dict) shipped with the package (a fresh copy per call)."""
    return yaml.safe_load(_schema_text())


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def _fill_defaults(schema: Mapping[str, Any], obj: Any) -> Any:
    """Recursively insert ``default`` values of object properties that are absent."""
    if not isinstance(obj, dict) or schema.get("type") not in ("object", None):
        return obj
    for name, sub in schema.get("properties", {}).items():
        if name not in obj and "default" in sub:
            obj[name] = copy.deepcopy(sub["default"])
        if name in obj:
            obj[name] = _fill_defaults(sub, obj[name])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for name in list(obj):
            if name not in schema.get("properties", {}):
                obj[name] = _fill_defaults(extra, obj[name])
    return obj


def _one_line(err: Any) -> str:
    """Turn a jsonschema ValidationError into ``config key 'a.b': problem``."""
    path = list(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in err.schema.get("properties", {})]
        key = _key(path + [extra[0]]) if extra else _key(path)
        hint = f" (known keys: {', '.join(allowed)})" if allowed else ""
        return f"config key '{key}': unknown key{hint}"
    if err.validator == "type":
        got = f"{type(err.instance).__name__} {err.instance!r}"
        return f"config key '{_key(path)}': expected {err.validator_value}, got {got}"
    if err.validator == "enum":
        return f"config key '{_key(path)}': {err.instance!r} is not one of {err.validator_value}"
    if err.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        rel = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        must = f"{rel[err.validator]} {err.validator_value}"
        return f"config key '{_key(path)}': {err.instance!r} out of range (must be {must})"
    if err.validator == "const":
        return f"config key '{_key(path)}': {err.instance!r}, expected {err.validator_value!r}"
    if err.validator == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return f"config key '{_key(path + missing[:1])}': missing"
    if err.validator == "minItems":
        return f"config key '{_key(path)}': needs at least {err.validator_value} item(s)"
    if err.validator == "pattern" or err.validator == "propertyNames":
        return f"config key '{_key(path)}': {err.instance!r} is not a valid value ({err.message})"
    return f"config key '{_key(path)}': {err.message}"


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``config``, fill defaults and run the cross-key checks; return a new dict.

    Raises:
        ConfigError: one line naming the first offending key.
    """
    import jsonschema

    cfg = _fill_defaults(load_schema(), copy.deepcopy(dict(config)))
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        raise ConfigError(_one_line(errors[0]))
    _semantic_checks(cfg)
    return cfg


def _semantic_checks(cfg: Mapping[str, Any]) -> None:
    """Checks across keys that the schema cannot state; sections absent from ``cfg`` (a stage's
    params hold only its own) are skipped."""
    if "logs" in cfg.get("videos", {}):  # <results>/logs/ holds the job logs of every video
        raise ConfigError(
            "config key 'videos.logs': the name 'logs' is reserved (job logs go to <results>/logs/), rename the video"
        )
    offsets = cfg.get("flow", {}).get("offsets")
    _check_offsets(offsets, cfg.get("multipass", {}).get("offsets"))
    for name, style in cfg.get("styles", {}).items():
        w = style.get("weights")
        if w is not None and len(w) != len(style["images"]):
            raise ConfigError(
                f"config key 'styles.{name}.weights': {len(w)} weight(s) for {len(style['images'])} image(s)"
            )
    _check_style_layer_weights(cfg.get("stylize", {}))
    _check_scales(cfg.get("stylize", {}).get("scales"))
    if cfg.get("multipass", {}).get("schedule") == "parallel" and cfg.get("stylize", {}).get("method") == "brushstroke":
        raise ConfigError(
            "config key 'multipass.schedule': parallel is not supported with stylize.method brushstroke yet "
            "(its lead frames would need the neighbouring chunks' stroke paintings): use sequential"
        )
    mp = cfg.get("multipass", {})
    if mp.get("sub_sweeps", 1) > 1 and mp.get("schedule", "sequential") != "parallel":
        raise ConfigError(
            f"config key 'multipass.sub_sweeps': {mp['sub_sweeps']} needs multipass.schedule parallel "
            "(the sequential sweep runs on across chunks): use 1"
        )


def _check_offsets(offsets: list[int] | None, mp_off: list[int] | None) -> None:
    """``flow.offsets`` sorted, unique, with 1; ``multipass.offsets`` a sorted non-empty subset."""
    if offsets is not None:
        if list(offsets) != sorted(set(offsets)):
            raise ConfigError(f"config key 'flow.offsets': must be sorted ascending without repeats, got {offsets}")
        if 1 not in offsets:  # multipass blends from, and brushstrokes carry strokes along, the offset-1 pair
            raise ConfigError(
                "config key 'flow.offsets': must contain 1 (multipass and brushstrokes need the offset-1 flow), "
                f"got {offsets}"
            )
    if mp_off is None:
        return
    if not mp_off:
        raise ConfigError("config key 'multipass.offsets': empty list (use null for all flow offsets)")
    missing = [n for n in mp_off if offsets is not None and n not in offsets]
    if missing:
        raise ConfigError(f"config key 'multipass.offsets': {missing} not in flow.offsets {offsets}")
    if list(mp_off) != sorted(set(mp_off)):
        raise ConfigError(f"config key 'multipass.offsets': must be sorted ascending without repeats, got {mp_off}")


def _check_style_layer_weights(stylize: Mapping[str, Any]) -> None:
    """``stylize.style_layer_weights``: one per style layer, not all zero (null = equal)."""
    sw = stylize.get("style_layer_weights")
    if sw is None:
        return
    if len(sw) != len(stylize["style_layers"]):
        raise ConfigError(
            f"config key 'stylize.style_layer_weights': {len(sw)} weight(s) for "
            f"{len(stylize['style_layers'])} style layer(s)"
        )
    if sum(sw) <= 0:
        raise ConfigError("config key 'stylize.style_layer_weights': weights sum to 0")


def _check_scales(scales: list[float] | None) -> None:
    """``stylize.scales``: ascending without repeats, ending at 1 (full resolution)."""
    if scales is not None and (list(scales) != sorted(set(scales)) or scales[-1] != 1):
        raise ConfigError(f"config key 'stylize.scales': must be ascending without repeats and end at 1, got {scales}")


#: ``--params`` keys (dotted) that change no result beyond rounding: left out of the per-frame
#: cache keys (:func:`result_params`), so results computed with any of their values are reused.
NOT_IN_RESULT: tuple[str, ...] = ("stylize.batch_size",)


def result_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A stage's ``--params`` object without the keys of :data:`NOT_IN_RESULT` (a copy): what the
    per-frame cache keys hash."""
    out = copy.deepcopy(dict(raw))
    for key in NOT_IN_RESULT:
        *parents, last = key.split(".")
        node = out
        for k in parents:
            node = node.get(k, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in YAML file ``path`` (not validated; empty file -> ``{}``).

    Raises:
        ConfigError: one line naming the file (and the line of a YAML syntax error), e.g.
            ``config file 'my.yaml', line 4: not valid YAML (expected ',' or '}' ...)``.
    """
    p = Path(path)
    try:
        with open(p, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file '{p}': not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file '{p}'{where}: not valid YAML ({what})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file '{p}': top level must be a mapping")
    return raw


def load(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config file, apply ``overrides`` (deep merge) and :func:`validate` it."""
    raw = read_yaml(path)
    if overrides:
        raw = deep_merge(raw, overrides)
    return validate(raw)


def parse_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``snakemake --config`` values as the user meant them, guided by the schema.

    Snakemake reads ``--config chunk_size=8`` as an int but ``--config 'extract={size: 64}'`` as
    YAML with every leaf a string (``{"size": "64"}``). Here every string where the schema does
    not take a string is parsed as a YAML scalar (``"64"`` -> 64, ``"null"`` -> None, ``"false"``
    -> False), and a number where the schema takes only a string becomes its text
    (``results=2024`` -> ``"2024"``). Unknown keys pass through (:func:`validate` names them).
    """
    return _as_schema(load_schema(), copy.deepcopy(dict(overrides)))


def _as_schema(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` with its leaves converted to the types ``schema`` (its subschema) takes."""
    if isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        return {k: _as_schema(props.get(k, extra if isinstance(extra, dict) else {}), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_schema(schema.get("items", {}), v) for v in value]
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, str) and types and "string" not in types:
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value  # validate() names the key and the expected type
    if isinstance(value, (int, float)) and not isinstance(value, bool) and types == ["string"]:
        return str(value)
    return value


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively with ``over`` (mappings merge, everything else replaces)."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def canonical_json(obj: Any) -> str:
    """Deterministic compact JSON (sorted keys) used for hashing and for passing params; read-only
    mappings (:attr:`StageParams.raw`) are written as objects."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_as_dict)


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def params_hash(obj: Any, *, n: int = 16) -> str:
    """Hex digest (``n`` chars) of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]


def parse_params(text: str) -> dict[str, Any]:
    """Parse a ``--params`` CLI value: inline JSON, or ``@path`` to a JSON file."""
    try:
        if text.startswith("@"):
            return json.loads(Path(text[1:]).read_text(encoding="utf-8"))
        return json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--params: not valid JSON ({exc})") from None


# ---- typed, validated stage parameters ---------------------------------------------------------
# One frozen dataclass per config section; field names are the schema's property names (a test
# checks that they agree), meanings, units, constraints and defaults are in config.schema.yaml.


@dataclass(frozen=True)
class ExtractParams:
    """``extract``: processing size and frame range."""

    size: int  #: processing size (px) along ``side``
    side: str  #: ``short`` | ``long``
    start: int  #: first frame used (0-based)
    count: int | None  #: frames used; ``None``: to the end
    max_pixels: int  #: largest processing size (pixels per frame)


@dataclass(frozen=True)
class CutsParams:
    """``flow.cuts``: scene-cut detection (:mod:`iovst.flow.cuts`)."""

    detect: bool  #: detect cuts at all
    reliable_below: float  #: reliable-pixel fraction of the offset-1 pair below which it may be a cut
    histogram_above: float  #: colour-histogram distance above which it may be a cut


@dataclass(frozen=True)
class FlowParams:
    """``flow``: optical flow estimation."""

    method: str  #: ``auto`` | ``raft_large`` | ``raft_small`` | ``dis``
    offsets: tuple[int, ...]  #: frame offsets N, ascending
    weights: str  #: RAFT weights spec
    num_flow_updates: int  #: RAFT refinement iterations
    batch_size: int  #: frame pairs per RAFT forward
    dis_preset: str  #: OpenCV DIS preset
    preview: bool  #: also write the flow preview video
    cuts: CutsParams | None  #: scene-cut detection; ``None`` in the flow stage's params (not read there)


@dataclass(frozen=True)
class ModelParams:
    """``model``: the VGG-19 weights."""

    weights: str  #: ``auto`` | ``imagenet`` | ``random`` | path of a state_dict
    torch_home: str | None  #: weights cache (TORCH_HOME); ``None``: torch's default


@dataclass(frozen=True)
class MasksParams:
    """``masks``: thresholds of the reliability masks (:func:`iovst.flow.masks.reliability`)."""

    fb_ratio: float  #: forward-backward relative threshold
    fb_abs: float  #: forward-backward absolute threshold (px²)
    mb_ratio: float  #: motion-boundary relative threshold
    mb_abs: float  #: motion-boundary absolute threshold (px²/px²)
    sigma: float  #: Gaussian softening (px); 0 = hard mask


@dataclass(frozen=True)
class BrushstrokeParams:
    """``stylize.brushstroke``: the stroke stage (:mod:`iovst.style.brush.paint`)."""

    n_strokes: int  #: strokes per frame
    samples_per_curve: int  #: points per Bézier curve in the renderer
    length_scale: float  #: initial stroke length relative to the SLIC segment
    width_scale: float  #: initial stroke width relative to its length
    steps: int  #: stroke-stage Adam steps per frame
    lr_geometry: float  #: Adam learning rate of the stroke geometry (px)
    lr_color: float  #: Adam learning rate of the stroke colours ([0, 1])
    content_weight: float  #: VGG content term weight
    style_weight: float  #: VGG style term weight
    curvature_weight: float  #: curvature regulariser weight
    orientation_weight: float  #: orientation regulariser weight
    temporal_weight: float  #: masked temporal term weight on the rendered canvas
    background: float  #: canvas grey level in [0, 1]
    pixel_iterations: int  #: pixel-stage iterations after the strokes
    pixel_style_weight: float  #: style weight of the pixel stage and of multipass (replaces ``stylize.style_weight``)


@dataclass(frozen=True)
class StylizeParams:
    """``stylize``: the method and the Gatys optimisation (:class:`iovst.style.gatys.Gatys`)."""

    method: str  #: ``gatys`` | ``brushstroke``
    content_layers: tuple[str, ...]  #: VGG-19 layers of the content term
    content_weight: float  #: content term weight
    style_layers: tuple[str, ...]  #: VGG-19 layers of the style term
    style_layer_weights: tuple[float, ...] | None  #: per style layer (normalised); ``None``: equal
    style_weight: float  #: style term weight
    tv_weight: float  #: total-variation weight (images in [0, 1])
    original_colors: bool  #: luminance-only transfer
    optimizer: str  #: ``lbfgs`` | ``adam``
    lr: float  #: Adam learning rate (images in [0, 1])
    history_size: int  #: L-BFGS history
    iterations: int  #: optimiser iterations per frame (round 0)
    early_stop_tol: float  #: relative loss change that stops early; 0 = never
    early_stop_window: int  #: iterations between early-stop checks
    init: str  #: ``content`` | ``noise``
    batch_size: int  #: frames optimised together (round 0, parallel multipass; not in the cache key)
    scales: tuple[float, ...]  #: coarse-to-fine scales, ascending, the last 1
    brushstroke: BrushstrokeParams  #: the brushstroke method's stroke stage


@dataclass(frozen=True)
class MultipassParams:
    """``multipass``: Ruder et al.'s multipass rounds."""

    passes: int  #: rounds after round 0
    iterations: int  #: optimiser iterations per frame per round
    blend: float  #: δ of the start image blend, in [0, 1]
    temporal_weight: float  #: λ of the masked temporal loss
    temporal_from: int  #: first round (1-based) with the temporal loss
    offsets: tuple[int, ...] | None  #: offsets of the temporal loss; ``None``: all flow offsets
    schedule: str  #: ``sequential`` | ``parallel`` (:func:`iovst.chunks.multipass_neighbor_round`)
    overlap: int  #: parallel: frames of the lead / cross-fade (:func:`iovst.chunks.multipass_lead`)
    sub_sweeps: int  #: parallel: lockstep sweeps per chunk (:func:`iovst.chunks.multipass_sweeps`)


@dataclass(frozen=True)
class EncodeParams:
    """``encode``: H.264 output."""

    crf: int  #: x264 constant rate factor
    preset: str  #: x264 preset
    audio: bool  #: copy the source's audio
    side_by_side: bool  #: also write source | result
    previews: bool  #: also write one preview per multipass round


#: config section -> its typed class
SECTIONS: dict[str, type] = {
    "extract": ExtractParams,
    "flow": FlowParams,
    "model": ModelParams,
    "masks": MasksParams,
    "stylize": StylizeParams,
    "multipass": MultipassParams,
    "encode": EncodeParams,
}
_NESTED: dict[type, dict[str, type]] = {
    StylizeParams: {"brushstroke": BrushstrokeParams},
    FlowParams: {"cuts": CutsParams},
}


def _as_field(v: Any, kind: str) -> Any:
    """A validated JSON value as field type ``kind``: lists become tuples, numbers of ``float``
    fields floats (the schema's ``number`` also takes ``1``)."""
    if isinstance(v, list):
        return tuple(_as_field(x, kind.replace("tuple[", "").split(",")[0]) for x in v)
    return float(v) if kind.startswith("float") and v is not None else v


def _typed(cls: type, values: Mapping[str, Any]) -> Any:
    """``cls`` built from a validated, complete section ``values`` (a nested object a stage
    excludes, :attr:`Stage.exclude`, is ``None``)."""
    nested = _NESTED.get(cls, {})
    return cls(
        **{
            f.name: (_typed(nested[f.name], values[f.name]) if f.name in values else None)
            if f.name in nested
            else _as_field(values[f.name], str(f.type))
            for f in fields(cls)
        }
    )


@dataclass(frozen=True)
class StageParams:
    """A stage's validated ``--params`` (:func:`load_stage_params`).

    Attributes:
        stage: the stage's name (a key of :data:`STAGES`).
        version: its code version (``stage_version``).
        raw: the JSON object as sent (read-only); hashed into ``params_hash`` and the per-frame
            cache keys.
        extract, flow, model, masks, stylize, multipass, encode: the typed section when the stage
            depends on the whole section; a read-only mapping of the keys it depends on when only
            some (``flow.offsets``); ``None`` when none.
        seed: the global seed, when the stage depends on it.
    """

    stage: str
    version: int
    raw: Mapping[str, Any]
    extract: ExtractParams | None = None
    flow: FlowParams | Mapping[str, Any] | None = None
    model: ModelParams | Mapping[str, Any] | None = None
    masks: MasksParams | None = None
    stylize: StylizeParams | None = None
    multipass: MultipassParams | Mapping[str, Any] | None = None
    encode: EncodeParams | None = None
    seed: int | None = None


def stage_params(cfg: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The config keys ``stage`` depends on (:data:`STAGES`) cut out of the validated config
    ``cfg``, plus ``stage_version``: ``{"flow": {...}, "model": {"torch_home": None},
    "stage_version": 1}``. The rule's ``params:`` and the command's ``--params`` (as
    :func:`canonical_json`)."""
    out: dict[str, Any] = {}
    for key in STAGES[stage].keys:
        section, _, name = key.partition(".")
        if name:
            out.setdefault(section, {})[name] = copy.deepcopy(cfg[section][name])
        else:
            out[section] = copy.deepcopy(cfg[section])
    for key in STAGES[stage].exclude:
        section, _, name = key.partition(".")
        del out[section][name]
    out["stage_version"] = STAGES[stage].version
    return out


def _required(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every property of every object required (nothing is filled in)."""
    if "properties" in schema:
        schema["required"] = list(schema["properties"])
        for sub in schema["properties"].values():
            _required(sub)
    return schema


def _stage_schema(stage: str) -> dict[str, Any]:
    """The JSON schema of ``stage``'s ``--params`` object: its keys, all required."""
    full = load_schema()
    props: dict[str, Any] = {}
    for key in STAGES[stage].keys:
        section, _, name = key.partition(".")
        sub = full["properties"][section]
        if name:
            part = props.setdefault(section, {"type": "object", "additionalProperties": False, "properties": {}})
            part["properties"][name] = sub["properties"][name]
        else:
            props[section] = sub
    for key in STAGES[stage].exclude:
        section, _, name = key.partition(".")
        del props[section]["properties"][name]
    props["stage_version"] = {"const": STAGES[stage].version}
    return _required({"type": "object", "additionalProperties": False, "properties": props})


def load_stage_params(stage: str, params: str | Mapping[str, Any]) -> StageParams:
    """Typed :class:`StageParams` of ``stage`` from its ``--params`` (JSON text, ``@file`` or an
    already parsed object), validated against the schema; every key :data:`STAGES` declares must
    be present (nothing is filled in), no other key may be.

    Raises:
        ConfigError: ``--params: config key 'stylize.lr': ...`` (the first problem).
    """
    import jsonschema

    obj = parse_params(params) if isinstance(params, str) else copy.deepcopy(dict(params))
    if not isinstance(obj, dict):
        raise ConfigError(f"--params: expected a JSON object with {', '.join(_stage_schema(stage)['required'])}")
    validator = jsonschema.Draft202012Validator(_stage_schema(stage))
    errors = sorted(validator.iter_errors(obj), key=lambda e: (len(e.absolute_path), e.path))
    try:
        if errors:
            raise ConfigError(_one_line(errors[0]))
        _semantic_checks(obj)
    except ConfigError as exc:
        raise ConfigError(f"--params: {exc}") from None
    typed: dict[str, Any] = {}
    for key in STAGES[stage].keys:
        section, _, name = key.partition(".")
        if name:
            typed[section] = MappingProxyType(obj[section])
        elif section in SECTIONS:
            typed[section] = _typed(SECTIONS[section], obj[section])
        else:
            typed[section] = obj[section]
    return StageParams(stage=stage, version=obj["stage_version"], raw=MappingProxyType(obj), **typed)


def section_params(section: str, values: Mapping[str, Any] | None = None) -> Any:
    """The typed ``section`` (a key of :data:`SECTIONS`) from a partial ``values``: the schema's
    defaults filled in, validated (for callers outside the workflow: metrics, tests).

    Raises:
        ConfigError: naming ``<section>.<key>``.
    """
    import jsonschema

    schema = load_schema()
    sub = {"type": "object", "additionalProperties": False, "properties": {section: schema["properties"][section]}}
    obj = _fill_defaults(sub, {section: copy.deepcopy(dict(values or {}))})
    errors = sorted(jsonschema.Draft202012Validator(sub).iter_errors(obj), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        raise ConfigError(_one_line(errors[0]))
    _semantic_checks(obj)
    return _typed(SECTIONS[section], obj[section])
