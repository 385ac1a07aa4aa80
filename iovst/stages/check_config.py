"""``iovst check-config CONFIG``: validate and print the filled-in config (or one error line)."""

from __future__ import annotations

import argparse

import yaml

from .. import config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config file")


def run(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    print(yaml.safe_dump(cfg, sort_keys=False), end="")
    return 0
