"""The command table: every ``iovst`` command has its stage module, named after it."""

from __future__ import annotations

import importlib
import os

import pytest

from iovst import cli


def test_every_command_runs_the_stage_module_named_after_it():
    for name in cli.COMMANDS:
        module = importlib.import_module(cli.module_of(name))
        assert module.__name__ == "iovst.stages." + name.replace("-", "_")
        assert callable(module.add_arguments) and callable(module.run)
    assert cli.GPU_COMMANDS <= cli.TORCH_COMMANDS <= set(cli.COMMANDS)


@pytest.mark.parametrize(
    "env, argv, expected",
    [
        ({}, ["multipass", "--threads", "1"], {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, ["flow", "--threads=3"], {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "3"}),
        ({"OMP_NUM_THREADS": "2"}, ["masks"], {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "2"}),
    ],
)
def test_openmp_settings_are_in_place_before_the_command_module_loads(monkeypatch, env, argv, expected):
    # OpenMP reads them once, when `import torch` loads it: that is while the parser is built
    monkeypatch.setattr(os, "environ", dict(env))
    seen = {}

    def build_parser(command):
        seen.update({k: os.environ.get(k) for k in expected})
        raise SystemExit(0)

    monkeypatch.setattr(cli, "build_parser", build_parser)
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert seen == expected
