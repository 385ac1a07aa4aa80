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
    """A cached artifact failed validation (it is recomputed, never used)."""
