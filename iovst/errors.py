"""User-facing errors: one line, naming the file or config key and the problem."""

from __future__ import annotations


class IovstError(Exception):
    """An error caused by the user's input or environment, reported as one line and exit code 2.

    The message must name the offending file or config key and say what is wrong, e.g.
    ``"video 'clip.mp4': no video stream"`` or ``"config key 'flow.offsets': must be sorted"``.
    """

    exit_code = 2


class ConfigError(IovstError):
    """A config value is unknown, of the wrong type or out of range."""


class InputError(IovstError):
    """An input file (video, style image, weights) is missing, unreadable or unusable."""


class CacheError(IovstError):
    """A cached artifact failed validation (it is recomputed, never used).

    ``path`` names the artifact when the file itself is damaged (truncated, garbled, checksum
    failure, not a complete iovst file). A stage command that meets such an error removes that
    file (see :func:`iovst.cli.main`), so the next ``snakemake`` run regenerates it instead of
    building on it; ``path`` is ``None`` for consistency errors between otherwise valid files.
    """

    def __init__(self, message: str, *, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class FrameError(CacheError):
    """A frame file of an extracted video is missing or unreadable.

    ``frames_dir`` names the frames directory. A stage command that meets it checks the frames
    against the ``frame_digest`` of its ``--meta`` (see :func:`iovst.cli.main`): when they no longer
    match, the extraction is damaged and meta.json is removed, so the next ``snakemake`` run
    re-extracts the video.
    """

    def __init__(self, message: str, *, frames_dir: object) -> None:
        super().__init__(message)
        self.frames_dir = frames_dir


class StorageError(IovstError):
    """An output could not be written: disk full, quota exceeded or file-size limit (``ulimit -f``).

    Nothing is left under the output's final name (:mod:`iovst.storage.atomic` removes its temporary file).
    """
