"""Configuration: load, validate against ``config.schema.yaml``, fill defaults, hash stage params.

Errors are one line naming the key, e.g. ``config key 'flow.offsets': must be sorted ascending``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import ConfigError

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")

#: Bumped when a stage's code changes its output for the same params (Snakemake does not track
#: imported package code, so the version travels in each rule's ``params:``).
STAGE_VERSIONS: dict[str, int] = {
    "extract": 1,
    "flow": 1,
    "masks": 1,
    "longterm": 1,
    "stylize": 2,
    "multipass": 2,
    "encode": 1,
}


def load_schema() -> dict[str, Any]:
    """The JSON schema (as a dict) shipped with the package."""
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


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
        return f"config key '{_key(path)}': expected {err.validator_value}, got {type(err.instance).__name__} {err.instance!r}"
    if err.validator == "enum":
        return f"config key '{_key(path)}': {err.instance!r} is not one of {err.validator_value}"
    if err.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        rel = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return f"config key '{_key(path)}': {err.instance!r} out of range (must be {rel[err.validator]} {err.validator_value})"
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


def _semantic_checks(cfg: dict[str, Any]) -> None:
    if "logs" in cfg["videos"]:  # <results>/logs/ holds the job logs of every video
        raise ConfigError("config key 'videos.logs': the name 'logs' is reserved (job logs go to <results>/logs/), rename the video")
    offsets = cfg["flow"]["offsets"]
    if list(offsets) != sorted(set(offsets)):
        raise ConfigError(f"config key 'flow.offsets': must be sorted ascending without repeats, got {offsets}")
    if 1 not in offsets:  # multipass blends from, and brushstrokes carry strokes along, the offset-1 pair
        raise ConfigError(f"config key 'flow.offsets': must contain 1 (multipass and brushstrokes need the offset-1 flow), got {offsets}")
    mp_off = cfg["multipass"]["offsets"]
    if mp_off is not None:
        if not mp_off:
            raise ConfigError("config key 'multipass.offsets': empty list (use null for all flow offsets)")
        missing = [n for n in mp_off if n not in offsets]
        if missing:
            raise ConfigError(f"config key 'multipass.offsets': {missing} not in flow.offsets {offsets}")
        if list(mp_off) != sorted(set(mp_off)):
            raise ConfigError(f"config key 'multipass.offsets': must be sorted ascending without repeats, got {mp_off}")
    for name, style in cfg["styles"].items():
        w = style.get("weights")
        if w is not None and len(w) != len(style["images"]):
            raise ConfigError(
                f"config key 'styles.{name}.weights': {len(w)} weight(s) for {len(style['images'])} image(s)"
            )
    sw = cfg["stylize"]["style_layer_weights"]
    if sw is not None:
        if len(sw) != len(cfg["stylize"]["style_layers"]):
            raise ConfigError(
                f"config key 'stylize.style_layer_weights': {len(sw)} weight(s) for "
                f"{len(cfg['stylize']['style_layers'])} style layer(s)"
            )
        if sum(sw) <= 0:
            raise ConfigError("config key 'stylize.style_layer_weights': weights sum to 0")


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
    """Deterministic compact JSON (sorted keys) used for hashing and for passing params."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


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
