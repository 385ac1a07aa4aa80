"""``iovst weights fetch|status``: prefetch / inspect pretrained weights (:mod:`iovst.runtime.weights`)."""

from __future__ import annotations

import argparse

import torch

from ..errors import InputError
from ..runtime.weights import MODELS, cached_file, download, set_torch_home


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    f = sub.add_parser("fetch", help="download pretrained weights into the cache (run where there is internet)")
    f.add_argument("--torch-home", default=None, help="cache directory (default: $TORCH_HOME or ~/.cache/torch)")
    f.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    s = sub.add_parser("status", help="show which pretrained weights are cached (exit status 1 if one is missing)")
    s.add_argument("--torch-home", default=None)
    s.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)


def run(args: argparse.Namespace) -> int:
    set_torch_home(args.torch_home)
    if args.action == "status":
        missing = [m for m in args.models if not cached_file(m).is_file()]
        for m in args.models:
            print(f"{m:11s} {'MISSING' if m in missing else 'cached'}  {cached_file(m)}")
        return 1 if missing else 0
    failed = []
    for m in args.models:
        f = cached_file(m)
        if f.is_file():
            print(f"{m}: already cached at {f}")
            continue
        try:
            download(m, timeout=60)
            print(f"{m}: downloaded to {f}")
        except Exception as exc:
            failed.append(m)
            print(f"{m}: download FAILED ({exc.__class__.__name__}: {exc})")
    if failed:
        raise InputError(f"weights fetch: could not download {', '.join(failed)} into {torch.hub.get_dir()}")
    return 0
