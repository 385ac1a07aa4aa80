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
with a good mtime is neither). A missing or unreadable frame whose frames no longer match the
``frame_digest`` of ``--meta`` is a damaged extraction: meta.json is deleted, so the video is
re-extracted.

``--log FILE`` (how the Snakemake rules run every command) sends everything the command and its
children write to stderr (log lines, warnings, tracebacks, ffmpeg) to FILE, and repeats the one
``error:`` line on the real stderr, so that a failing job says what is wrong on the terminal (or in
the SLURM job's output) as well as in its log.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from .errors import CacheError, FrameError, IovstError
from .resources import GPU_STAGES

#: subcommand -> one-line help
COMMANDS: dict[str, str] = {
    "check-config": "validate a config file and print the filled-in config",
    "extract": "probe a video and decode its frames losslessly at the processing size",
    "flow": "optical flow (RAFT / DIS) for one chunk of frame pairs, into HDF5",
    "masks": "reliability masks (Ruder et al.) for one flow chunk, into HDF5",
    "cuts": "scene cuts of a video (offset-1 masks + colour histograms), into cuts.json",
    "longterm": "closest-first long-term weights per target frame, into HDF5",
    "flow-preview": "colour-coded flow + mask preview video",
    "stylize": "independent per-frame stylization of one chunk (round 0)",
    "multipass": "one chunk of one multipass round (temporal consistency)",
    "encode": "encode frames to H.264 at the source's exact fps, with its audio",
    "metrics": "warping error and style/content losses of a finished run (per round, with plots)",
    "report-summary": "the run summary page (config, weights, scene cuts, job times) of snakemake --report",
    "status": "progress of a render (also while it runs) and its ETA",
    "weights": "prefetch / inspect pretrained weights (VGG-19, RAFT)",
    "demo-data": "generate the demo clip (with audio) and style image",
}


def module_of(command: str) -> str:
    """The module that implements ``command``: ``iovst.stages.<command>``, dashes as underscores."""
    return "iovst.stages." + command.replace("-", "_")


#: commands that run torch models
TORCH_COMMANDS = {"flow", "stylize", "multipass", "metrics"}
#: commands that use a GPU (their rules request ``gpu=1``): :data:`iovst.resources.GPU_STAGES`
GPU_COMMANDS = GPU_STAGES


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
    try:
        os.unlink(os.fspath(path))  # type: ignore[arg-type]
    except OSError:
        return False
    return True


def _damaged_extraction(exc: FrameError, meta_path: str) -> CacheError:
    """``exc`` with meta.json to blame (and delete) when the frames no longer match its
    ``frame_digest``; ``exc`` itself when they do or meta.json is unusable."""
    from .storage.meta import frames_intact, load_meta

    try:
        intact = frames_intact(load_meta(meta_path), exc.frames_dir)
    except CacheError:
        return exc
    if intact is not False:
        return exc
    return CacheError(
        f"'{meta_path}': the frames in '{exc.frames_dir}' no longer match its frame_digest (damaged extraction: {exc})",
        path=meta_path,
    )


def _log_to(path: str) -> int:
    """Point file descriptor 2 (this process's and its children's stderr) at ``path`` (truncated);
    return a duplicate of the original stderr, for the error line."""
    sys.stderr.flush()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    terminal = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    return terminal


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
        p.add_argument(
            "--log",
            metavar="FILE",
            help="write stderr (log, warnings, tracebacks) to FILE; error lines also go to stderr",
        )
        if name == command:
            importlib.import_module(module_of(name)).add_arguments(p)
    return parser


def _known_command(argv: list[str]) -> str | None:
    """The first non-option word of ``argv`` if it is one of :data:`COMMANDS` (its module then adds
    its arguments to the parser), else None."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        command = None
    return command


def _report(command: str, terminal: int | None, msg: str) -> None:
    """Print ``iovst <command>: error: <msg>`` to stderr and, under ``--log``, also to the original
    stderr (file descriptor ``terminal``)."""
    line = f"iovst {command}: error: {msg}"
    print(line, file=sys.stderr, flush=True)
    if terminal is not None:
        os.write(terminal, f"{line}\n".encode())


def _thread_env(argv: list[str]) -> None:
    """Thread settings that OpenMP reads once, when torch loads it (so before the command's module
    is imported): idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE`` unless
    the environment says otherwise; spinning threads of one job slow down every other process on
    the cores it shares), and ``--threads N`` also sets ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``
    (Snakemake sets them to the rule's ``threads`` anyway)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=0)
    threads = pre.parse_known_args(argv)[0].threads
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads > 0:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)


def _setup_torch(args: argparse.Namespace) -> None:
    """Flush denormals (torch commands, or any with ``--threads``) and set ``--threads`` (torch and,
    where the command uses it, OpenCV); torch is imported only then."""
    if args.threads > 0 or args.command in TORCH_COMMANDS:
        import torch

        # denormal floats make CPU convolutions 10-100x slower for no visible difference
        torch.set_flush_denormal(True)
        if args.threads > 0:
            torch.set_num_threads(args.threads)
    if args.threads > 0 and "cv2" in sys.modules:  # DIS flow: OpenCV's own pool, all cores by default
        sys.modules["cv2"].setNumThreads(args.threads)


def _run(args: argparse.Namespace, output: str | None) -> int | None:
    """Mark the job's ``output`` started, claim a free GPU for GPU commands, and run the command's
    module; its return value."""
    if output:
        from .resources import record_start

        record_start(output)
    if args.command in GPU_COMMANDS:
        # several GPUs on one workstation: take a free one before CUDA is initialised
        from .runtime.gpuslots import claim_gpu_from_env

        claim_gpu_from_env()
    return importlib.import_module(module_of(args.command)).run(args)


def _cache_error_message(exc: CacheError, args: argparse.Namespace) -> tuple[CacheError, str]:
    """The error to report for ``exc`` (meta.json to blame for a damaged extraction) and its
    message; the damaged file it names is deleted, and the message says so."""
    if isinstance(exc, FrameError) and getattr(args, "meta", None):
        exc = _damaged_extraction(exc, args.meta)
    msg = str(exc)
    if exc.path is not None and _remove_corrupt(exc.path):
        msg += (
            "; removed it so that it is regenerated: run the same snakemake command again "
            "(with --rerun-incomplete after a crash)"
        )
    return exc, msg


def main(argv: list[str] | None = None) -> int:
    """Run ``iovst`` with ``argv`` (default ``sys.argv[1:]``); the exit status (2 for no command)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _thread_env(argv)
    parser = build_parser(_known_command(argv))
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    terminal = _log_to(args.log) if args.log else None
    _setup_logging(args.verbose)
    _setup_torch(args)
    # the job's output: next to it, a marker tells a retry why this attempt ended (iovst.resources)
    output = args.meta if args.command == "extract" else getattr(args, "out", None)
    try:
        rc = _run(args, output)
    except CacheError as exc:
        exc, msg = _cache_error_message(exc, args)
        _report(args.command, terminal, msg)
        return exc.exit_code
    except IovstError as exc:
        _report(args.command, terminal, str(exc))
        return exc.exit_code
    except Exception as exc:  # a bug (or out of memory): traceback to the log, one line to the terminal
        if output and isinstance(exc, (MemoryError, RuntimeError)):
            from .resources import record_failure

            record_failure(output, exc)
        if terminal is not None:
            why = (str(exc).splitlines() or [""])[0][:200]
            _report(
                args.command, terminal, f"internal error ({exc.__class__.__name__}: {why}); traceback in '{args.log}'"
            )
        raise
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
