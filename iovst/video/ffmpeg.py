"""Locate and run the ffmpeg binary, always with an argument list (never a shell string).

Invocations are built as stream graphs with ffmpeg-python (``import ffmpeg as graph``:
``graph.input(..)``, ``.filter(..)``, ``graph.output(..)``), compiled by :func:`command` into the
argument list of the binary found by :func:`ffmpeg_exe` (imageio-ffmpeg's by default). File names
are passed through :func:`media_path`, which makes them absolute, so a user path that starts with
``-``, contains ``:`` (protocol prefix) or shell metacharacters can never be mistaken for an option
or protocol. ffmpeg's stderr is captured (to a temporary file, so a chatty ffmpeg can
never deadlock a pipe) and its last meaningful line becomes the error message.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import IO

import ffmpeg as graph
import numpy as np

from ..errors import InputError, StorageError

#: Base options of every call: quiet except errors, never read the terminal, overwrite outputs.
BASE_ARGS = ("-hide_banner", "-nostdin", "-loglevel", "error", "-y")

#: Starts of stderr lines (after their ``[component @ 0x..]`` prefixes) that carry no information
#: about the cause of a failure.
_GENERIC = (
    "conversion failed",
    "error opening output file",
    "error parsing options for",
    "error opening input file",
    "error while opening encoder",
    "error sending frames to consumers",
    "error while filtering",
    "could not open encoder before eof",
    "task finished with error code",
    "terminating thread",
    "nothing was written into output file",
    "exiting normally",
)
_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)+")


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: ``$IOVST_FFMPEG``, else imageio-ffmpeg's, else ``ffmpeg`` on PATH.

    Raises:
        InputError: none found.
    """
    env = os.environ.get("IOVST_FFMPEG")
    if env:
        if not Path(env).is_file():
            raise InputError(f"IOVST_FFMPEG '{env}': no such file")
        return env
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        pass
    found = shutil.which("ffmpeg")
    if found is None:
        raise InputError("ffmpeg: not found (install imageio-ffmpeg or ffmpeg, or set IOVST_FFMPEG)")
    return found


def media_path(path: str | os.PathLike[str]) -> str:
    """``path`` as an absolute file name ffmpeg reads literally (no option, no protocol prefix)."""
    return os.path.abspath(os.fspath(path))


def image_pattern(directory: str | os.PathLike[str], pattern: str = "%06d.png") -> str:
    """Absolute image2 pattern ``directory/pattern`` with ``%`` in the directory name escaped."""
    return media_path(directory).replace("%", "%%") + os.sep + pattern


def command(stream: graph.nodes.OutputStream) -> list[str]:
    """The command line (binary, :data:`BASE_ARGS`, then the graph's arguments) of the output
    graph ``stream``."""
    return graph.compile(stream, cmd=[ffmpeg_exe(), *BASE_ARGS])


def raw_rgb24_input(width: int, height: int, fps: Fraction) -> graph.nodes.FilterableStream:
    """Input of raw ``(height, width, 3)`` uint8 RGB frames on stdin at exactly ``fps`` frames/s."""
    return graph.input(
        "pipe:0", f="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=f"{fps.numerator}/{fps.denominator}"
    )


def last_error_line(stderr: str) -> str:
    """The last stderr line that says something specific (``[component @ 0x..]`` prefixes removed,
    generic trailer lines skipped)."""
    lines = [_PREFIX.sub("", ln).strip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln]
    for ln in reversed(lines):
        if not ln.lower().startswith(_GENERIC):
            return ln[:300]
    return lines[-1][:300] if lines else "no error message"


def _fail(returncode: int, stderr: str, *, context: str, user_error: bool) -> None:
    msg = f"{context}: ffmpeg failed (exit {returncode}): {last_error_line(stderr)}"
    full = returncode == -signal.SIGXFSZ or any(
        t in stderr.lower() for t in ("no space left on device", "disk quota exceeded", "file too large")
    )
    if full:
        why = "file-size limit exceeded (SIGXFSZ)" if returncode == -signal.SIGXFSZ else last_error_line(stderr)
        raise StorageError(
            f"{context}: ffmpeg could not write its output, the disk is full or over its "
            f"quota / file-size limit ({why})"
        )
    if user_error:
        raise InputError(msg)
    raise RuntimeError(msg)


def run(stream: graph.nodes.OutputStream, *, context: str, user_error: bool = False) -> str:
    """Run the output graph ``stream`` (:func:`command`); return ffmpeg's stderr.

    Args:
        stream: ffmpeg-python output graph (file names via :func:`media_path`).
        context: what is being processed, e.g. ``"video 'clip.mp4'"``; starts the error message.
        user_error: raise :class:`InputError` (bad input) instead of ``RuntimeError`` on failure.
    """
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            command(stream), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, check=False
        )
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        _fail(proc.returncode, text, context=context, user_error=user_error)
    return text


def pipe_frames(stream: graph.nodes.OutputStream, frames: Iterable[np.ndarray], *, context: str) -> int:
    """Run the output graph ``stream`` reading raw frames from stdin.

    Args:
        stream: ffmpeg-python output graph with a :func:`raw_rgb24_input` (or another rawvideo
            ``pipe:0`` input whose pixel format and size match the frames).
        frames: uint8/uint16 arrays, each written as raw bytes in order (C order).
        context: start of the error message.

    Returns:
        The number of frames written.

    Raises:
        RuntimeError: ffmpeg failed (its last stderr line in the message).
    """
    n = 0
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command(stream), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
        stdin: IO[bytes] = proc.stdin  # type: ignore[assignment]
        try:
            for frame in frames:
                stdin.write(np.ascontiguousarray(frame).tobytes())
                n += 1
            stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg exited early; its stderr says why
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if not stdin.closed:
                try:
                    stdin.close()
                except BrokenPipeError:
                    pass
        rc = proc.wait()
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if rc != 0:
        _fail(rc, text, context=context, user_error=False)
    return n
