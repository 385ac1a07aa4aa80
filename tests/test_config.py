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
        ({"flow": {"method": "farneback"}}, "flow.method", "not one of"),
        ({"stylize": {"history_size": 100}}, "stylize.history_size", "out of range"),
        ({"multipass": {"offsets": [2]}}, "multipass.offsets", "not in flow.offsets"),
        ({"device": "gpu"}, "device", "not a valid value"),
        ({"styles": {"s": {"images": ["a.png"], "weights": [1, 2]}}}, "styles.s.weights", "2 weight(s) for 1 image"),
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
