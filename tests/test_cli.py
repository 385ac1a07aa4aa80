"""The command table: every ``iovst`` command has its stage module, named after it."""

from __future__ import annotations

import importlib

from iovst import cli


def test_every_command_runs_the_stage_module_named_after_it():
    for name in cli.COMMANDS:
        module = importlib.import_module(cli.module_of(name))
        assert module.__name__ == "iovst.stages." + name.replace("-", "_")
        assert callable(module.add_arguments) and callable(module.run)
    assert cli.GPU_COMMANDS <= cli.TORCH_COMMANDS <= set(cli.COMMANDS)
