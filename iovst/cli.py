"""``iovst`` command line: one subcommand per pipeline stage, each with explicit paths.

Command ``x-y`` runs module ``iovst.stages.x_y`` (:func:`module_of`), imported lazily (only the
one that runs), so ``iovst --help`` and the cheap stages never pay for importing torch. Each
module provides::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int | None: ...

User errors (:class:`iovst.errors.IovstError`) print one line ``iovst <cmd>: error: <message>`` to
stderr and exit with status 2; anything else is a bug and shows its traceback. A
:class:`~iovst.errors.CacheError` naming a damaged file (a corrupt flow / masks / result chunk or
meta.json that a stage was given as input) also deletes that file, so the next ``snakemake`` run
regenerates it (Snakemake only reruns jobs whose outputs are missing or outdated, and a corrupt file
with a good mtime is neither).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import CacheError, IovstError

#: subcommand -> one-line help
COMMANDS: dict[str, str] = {
    "check-config": "validate a config file and print the filled-in config",
    "extract": "probe a video and decode its frames losslessly at the processing size",
    "flow": "optical flow (RAFT / DIS) for one chunk of frame pairs, into HDF5",
    "masks": "reliability masks (Ruder et al.) for one flow chunk, into HDF5",
    "longterm": "closest-first long-term weights per target frame, into HDF5",
    "flow-preview": "colour-coded flow + mask preview video",
    "stylize": "independent per-frame stylization of one chunk (round 0)",
    "multipass": "one chunk of one multipass round (temporal consistency)",
    "encode": "encode frames to H.264 at the source's exact fps, with its audio",
    "metrics": "warping error and style/content losses of a finished run",
    "weights": "prefetch / inspect pretrained weights (VGG-19, RAFT)",
    "demo-data": "generate the demo clip (with audio) and style image",
}


def module_of(command: str) -> str:
    """The module that implements ``command``: ``iovst.stages.<command>``, dashes as underscores."""
    return "iovst.stages." + command.replace("-", "_")


#: commands that run torch models
TORCH_COMMANDS = {"flow", "stylize", "multipass", "metrics"}
#: commands whose Snakemake rules declare ``resources: gpu=1``
GPU_COMMANDS = {"flow", "stylize", "multipass"}


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def _remove_corrupt(path: object) -> bool:
    """Delete a corrupt input artifact (a declared output of an earlier job), so Snakemake sees it
    missing and regenerates it on the next run instead of feeding it to a consumer again."""
    import os

    try:
        os.unlink(os.fspath(path))  # type: ignore[arg-type]
    except OSError:
        return False
    return True


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Top-level parser; only ``command``'s module is imported to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="iovst", description="Optimization-based video style transfer (stage commands)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_ in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch's default)")
        if name == command:
            importlib.import_module(module_of(name)).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        command = None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _setup_logging(args.verbose)
    if args.threads > 0 or args.command in TORCH_COMMANDS:
        import torch

        # denormal floats make CPU convolutions 10-100x slower for no visible difference
        torch.set_flush_denormal(True)
        if args.threads > 0:
            torch.set_num_threads(args.threads)
    try:
        if args.command in GPU_COMMANDS:
            # several GPUs on one workstation: take a free one before CUDA is initialised
            from .runtime.gpuslots import claim_gpu_from_env

            claim_gpu_from_env()
        rc = importlib.import_module(module_of(args.command)).run(args)
    except CacheError as exc:
        msg = str(exc)
        if exc.path is not None and _remove_corrupt(exc.path):
            msg += ("; removed it so that it is regenerated: run the same snakemake command again "
                    "(with --rerun-incomplete after a crash)")
        print(f"iovst {args.command}: error: {msg}", file=sys.stderr)
        return exc.exit_code
    except IovstError as exc:
        print(f"iovst {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
