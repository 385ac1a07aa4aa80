"""Config validation: defaults filled, one-line errors naming the key."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from iovst import config
from iovst.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BASE = {"videos": {"v": "v.mp4"}, "styles": {"s": {"images": ["s.png"]}}}


def test_defaults_filled_and_match_config_yaml():
    cfg = config.validate(BASE)
    assert cfg["flow"]["offsets"] == [1, 4, 16]
    assert cfg["stylize"]["brushstroke"]["n_strokes"] == 5000
    assert cfg["styles"]["s"]["scale"] == 1.0
    # config.yaml documents every knob with the schema's default value
    shipped = yaml.safe_load((ROOT / "config.yaml").read_text())
    full = config.validate(shipped)
    for section in ("extract", "flow", "masks", "stylize", "multipass", "encode", "model"):
        assert set(shipped[section]) == set(full[section]), section
        assert shipped[section] == config.validate(BASE)[section], section
    for key in ("results", "cache", "device", "seed", "chunk_size"):
        assert shipped[key] == config.validate(BASE)[key], key
    assert all(s["scale"] == config.validate(BASE)["styles"]["s"]["scale"] for s in shipped["styles"].values())


@pytest.mark.parametrize(
    "override, key, words",
    [
        ({"chunk_sise": 3}, "chunk_sise", "unknown key"),
        ({"flow": {"ofsets": [1]}}, "flow.ofsets", "unknown key"),
        ({"chunk_size": "big"}, "chunk_size", "expected integer"),
        ({"chunk_size": 0}, "chunk_size", "out of range"),
        ({"masks": {"sigma": -1}}, "masks.sigma", "out of range"),
        ({"flow": {"offsets": []}}, "flow.offsets", "at least 1"),
        ({"flow": {"offsets": [4, 1]}}, "flow.offsets", "sorted"),
        ({"flow": {"offsets": [1, 1]}}, "flow.offsets", "sorted"),
        ({"flow": {"offsets": [2, 4]}}, "flow.offsets", "must contain 1"),
        ({"flow": {"method": "farneback"}}, "flow.method", "not one of"),
        ({"stylize": {"history_size": 100}}, "stylize.history_size", "out of range"),
        ({"multipass": {"offsets": [2]}}, "multipass.offsets", "not in flow.offsets"),
        ({"device": "gpu"}, "device", "not a valid value"),
        ({"multipass": {"schedule": "diagonal"}}, "multipass.schedule", "not one of"),
        ({"styles": {"s": {"images": ["a.png"], "weights": [1, 2]}}}, "styles.s.weights", "2 weight(s) for 1 image"),
        ({"videos": {"logs": "l.mp4"}}, "videos.logs", "reserved"),
    ],
)
def test_bad_values_name_the_key(override, key, words):
    with pytest.raises(ConfigError) as ei:
        config.validate(config.deep_merge(BASE, override))
    msg = str(ei.value)
    assert f"'{key}'" in msg and words in msg
    assert "\n" not in msg


def test_cli_check_config(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text(yaml.safe_dump(config.deep_merge(BASE, {"extract": {"size": 3}})))
    r = subprocess.run([sys.executable, "-m", "iovst", "check-config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "'extract.size'" in r.stderr
    good = tmp_path / "g.yaml"
    good.write_text(yaml.safe_dump(BASE))
    r = subprocess.run([sys.executable, "-m", "iovst", "check-config", str(good)], capture_output=True, text=True)
    assert r.returncode == 0 and "chunk_size: 64" in r.stdout


def test_params_hash_is_order_independent():
    assert config.params_hash({"a": 1, "b": [1, 2]}) == config.params_hash({"b": [1, 2], "a": 1})
    assert config.params_hash({"a": 1}) != config.params_hash({"a": 2})


def test_invalid_yaml_names_file_and_line(tmp_path):
    p = tmp_path / "my.yaml"
    p.write_text("videos: {v: v.mp4}\nextract:\n  size: 64\n   side: short\n")  # bad indent on line 4
    with pytest.raises(ConfigError) as ei:
        config.read_yaml(p)
    msg = str(ei.value)
    assert f"config file '{p}', line 4: not valid YAML" in msg and "\n" not in msg, msg
    r = subprocess.run(
        [sys.executable, "-m", "iovst", "check-config", str(p)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 2 and "line 4" in r.stderr


def test_command_line_overrides_are_read_as_the_schema_wants():
    """``snakemake --config`` hands nested values over as strings (``'extract={size: 64}'`` ->
    ``{"size": "64"}``) and top-level numbers as numbers."""
    raw = {
        "extract": {"size": "64", "count": "null"},
        "flow": {"offsets": ["1", "4"], "preview": "false"},
        "results": 2024,
        "chunk_size": 8,
        "videos": {"v": "1.5"},
        "styles": {"s": {"images": ["s.png"], "scale": "0.5"}},
    }
    over = config.parse_overrides(raw)
    assert over == {
        "extract": {"size": 64, "count": None},
        "flow": {"offsets": [1, 4], "preview": False},
        "results": "2024",
        "chunk_size": 8,
        "videos": {"v": "1.5"},
        "styles": {"s": {"images": ["s.png"], "scale": 0.5}},
    }
    cfg = config.validate(config.deep_merge(BASE, over))
    assert cfg["extract"]["size"] == 64 and cfg["extract"]["side"] == "short"  # siblings keep their values
    with pytest.raises(ConfigError, match="'extract.size': expected integer, got str 'big'"):
        config.validate(config.deep_merge(BASE, config.parse_overrides({"extract": {"size": "big"}})))


# ---- one source of truth: the schema's defaults, each stage's keys declared once (config.STAGES)
def _defaults(schema: dict) -> dict:
    """``{key: default}`` of an object schema's properties, nested objects recursed."""
    return {k: _defaults(sub) if "properties" in sub else sub["default"] for k, sub in schema["properties"].items()}


def _as_plain(value):
    """A typed section (dataclass, tuples) as the JSON-like value the schema states."""
    if dataclasses.is_dataclass(value):
        return {f.name: _as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("section", sorted(config.SECTIONS))
def test_typed_sections_carry_exactly_the_schema_defaults(section):
    """The typed params built from an empty section hold the schema's defaults, field for field
    (a default written anywhere else, e.g. a dataclass default, would show up here), and a
    stage's --params read back carry the same typed section."""
    schema = config.load_schema()["properties"][section]
    typed = config.section_params(section, {})
    assert _as_plain(typed) == _defaults(schema)
    assert not any(f.default is not dataclasses.MISSING for f in dataclasses.fields(typed))
    cfg = config.validate(BASE)
    for stage, st in config.STAGES.items():
        if section in st.keys:
            params = config.load_stage_params(stage, config.canonical_json(config.stage_params(cfg, stage)))
            # a key the stage excludes (flow.cuts for the flow stage) is None in its typed section
            excluded = {k.partition(".")[2]: None for k in st.exclude if k.startswith(f"{section}.")}
            assert getattr(params, section) == dataclasses.replace(typed, **excluded), stage


def test_stage_params_one_nested_shape_and_nothing_filled_in():
    cfg = config.validate(BASE)
    # round 0's per-frame cache keys hash this object: the same as before STAGES existed
    assert config.stage_params(cfg, "stylize") == {
        "stylize": cfg["stylize"],
        "model": cfg["model"],
        "seed": cfg["seed"],
        "stage_version": config.STAGES["stylize"].version,
    }
    assert config.stage_params(cfg, "longterm") == {
        "flow": {"offsets": [1, 4, 16]},
        "multipass": {"offsets": None},
        "stage_version": config.STAGES["longterm"].version,
    }
    # the flow stage does not read flow.cuts: tuning the cut thresholds never reruns the flow
    assert "cuts" not in config.stage_params(cfg, "flow")["flow"]
    assert config.load_stage_params("flow", config.stage_params(cfg, "flow")).flow.cuts is None
    assert config.stage_params(cfg, "cuts") == {"flow": {"cuts": cfg["flow"]["cuts"]}, "stage_version": 1}
    sent = config.stage_params(cfg, "stylize")
    del sent["stylize"]["brushstroke"]["steps"]
    with pytest.raises(ConfigError, match=r"^--params: config key 'stylize.brushstroke.steps': missing$"):
        config.load_stage_params("stylize", sent)
    with pytest.raises(ConfigError, match="'masks.sigma'"):
        config.load_stage_params("masks", {"masks": {**cfg["masks"], "sigma": -1}, "stage_version": 1})
    with pytest.raises(ConfigError, match="stage_version"):
        config.load_stage_params("encode", {"encode": cfg["encode"], "stage_version": 99})


def test_stage_commands_take_no_default_for_a_config_knob():
    """argparse of the stage commands sets no default for a config knob (the device, the style
    scale, VGG weights, ...): the value comes from the params / the config."""
    from iovst.cli import COMMANDS, build_parser

    def leaves(schema):
        for k, sub in schema.get("properties", {}).items():
            yield from leaves(sub) if "properties" in sub else [k]
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            yield from leaves(extra)

    knobs = set(leaves(config.load_schema())) | {"style_scale", "style_weights"}
    found = []
    for command in COMMANDS:
        parser = build_parser(command)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]  # iovst weights fetch|status
        parsers = [sub] + [p for a in nested for p in a.choices.values()]
        for p in parsers:
            for action in p._actions:
                if action.dest in knobs:
                    found.append(action.dest)
                    assert action.default is None, f"iovst {command} {action.option_strings}: {action.default!r}"
    assert {"device", "style_scale", "weights", "chunk_size"} <= set(found)


@pytest.mark.parametrize(
    "cuts, key",
    [({"reliable_below": 1.5}, "flow.cuts.reliable_below"), ({"histogram_above": "x"}, "flow.cuts.histogram_above")],
)
def test_bad_cut_threshold_is_one_schema_line(cuts, key):
    with pytest.raises(ConfigError) as exc:
        config.validate({**BASE, "flow": {"cuts": cuts}})
    assert str(exc.value).startswith(f"config key '{key}': ") and "\n" not in str(exc.value)


def test_vgg_layer_pattern_names_exactly_the_conv_and_relu_layers():
    import re

    from iovst.style.vgg import LAYER_NAMES

    pattern = config.load_schema()["properties"]["stylize"]["properties"]["style_layers"]["items"]["pattern"]
    candidates = {f"{t}{b}_{i}" for t in ("conv", "relu") for b in range(1, 6) for i in range(1, 5)}
    assert {n for n in candidates if re.match(pattern, n)} == {n for n in LAYER_NAMES if not n.startswith("pool")}


def test_schedule_changes_the_multipass_params_only():
    seq, par = config.validate(BASE), config.validate(config.deep_merge(BASE, {"multipass": {"schedule": "parallel"}}))
    assert seq["multipass"]["schedule"] == "sequential"
    # the rule's params and the per-frame cache key (iovst.style.multipass: params.raw) follow the schedule
    assert config.stage_params(seq, "multipass") != config.stage_params(par, "multipass")
    assert config.stage_params(seq, "stylize") == config.stage_params(par, "stylize")


def test_sub_sweeps_need_the_parallel_schedule_and_are_in_the_cache_key():
    for schedule in ("sequential", None):  # given, or the default
        mp = {"sub_sweeps": 2} if schedule is None else {"sub_sweeps": 2, "schedule": schedule}
        with pytest.raises(ConfigError) as exc:
            config.validate(config.deep_merge(BASE, {"multipass": mp}))
        msg = str(exc.value)
        assert (
            msg.startswith("config key 'multipass.sub_sweeps': 2 needs multipass.schedule parallel") and "\n" not in msg
        )
    with pytest.raises(ConfigError, match="multipass.sub_sweeps"):
        config.validate(config.deep_merge(BASE, {"multipass": {"sub_sweeps": 0, "schedule": "parallel"}}))
    par = lambda **mp: config.validate(config.deep_merge(BASE, {"multipass": {"schedule": "parallel", **mp}}))  # noqa: E731
    key = lambda cfg: config.result_params(config.stage_params(cfg, "multipass"))  # noqa: E731
    assert par()["multipass"]["sub_sweeps"] == 1
    assert key(par(sub_sweeps=2)) != key(par())  # changes results: in the per-frame cache key
    batched = config.deep_merge(par(), {"stylize": {"batch_size": 4}})
    assert key(config.validate(batched)) == key(par())  # the lockstep batches do not


def test_parallel_schedule_with_brushstrokes_is_refused_in_one_line():
    cfg = config.deep_merge(BASE, {"multipass": {"schedule": "parallel"}, "stylize": {"method": "brushstroke"}})
    with pytest.raises(ConfigError) as exc:
        config.validate(cfg)
    assert str(exc.value).startswith("config key 'multipass.schedule': parallel is not supported") and "\n" not in str(
        exc.value
    )
