"""Config validation: defaults filled, one-line errors naming the key."""

from __future__ import annotations

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
    r = subprocess.run([sys.executable, "-m", "iovst", "check-config", str(p)], capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "line 4" in r.stderr


def test_command_line_overrides_are_read_as_the_schema_wants():
    """``snakemake --config`` hands nested values over as strings (``'extract={size: 64}'`` ->
    ``{"size": "64"}``) and top-level numbers as numbers."""
    raw = {"extract": {"size": "64", "count": "null"}, "flow": {"offsets": ["1", "4"], "preview": "false"},
           "results": 2024, "chunk_size": 8, "videos": {"v": "1.5"}, "styles": {"s": {"images": ["s.png"], "scale": "0.5"}}}
    over = config.parse_overrides(raw)
    assert over == {"extract": {"size": 64, "count": None}, "flow": {"offsets": [1, 4], "preview": False},
                    "results": "2024", "chunk_size": 8, "videos": {"v": "1.5"}, "styles": {"s": {"images": ["s.png"], "scale": 0.5}}}
    cfg = config.validate(config.deep_merge(BASE, over))
    assert cfg["extract"]["size"] == 64 and cfg["extract"]["side"] == "short"  # siblings keep their values
    with pytest.raises(ConfigError, match="'extract.size': expected integer, got str 'big'"):
        config.validate(config.deep_merge(BASE, config.parse_overrides({"extract": {"size": "big"}})))
