"""Shared test fixtures (keep small)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from iovst.video.ffmpeg import ffmpeg_exe


@pytest.fixture
def make_clip(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing a small synthetic video with ffmpeg's lavfi sources into ``tmp_path``.

    ``make_clip(name, *, video="testsrc2=size=160x120:rate=25", frames=25, audio=None,
    codec=("-c:v", "libx264", "-pix_fmt", "yuv420p"), extra=())`` -> path. ``audio`` is a lavfi
    audio source (e.g. ``"sine=frequency=440:duration=1"``) encoded to AAC unless ``extra`` says
    otherwise; ``video=None`` makes an audio-only file.
    """

    def make(
        name: str = "clip.mp4",
        *,
        video: str | None = "testsrc2=size=160x120:rate=25",
        frames: int = 25,
        audio: str | None = None,
        codec: Sequence[str] = ("-c:v", "libx264", "-pix_fmt", "yuv420p"),
        extra: Sequence[str] = (),
    ) -> Path:
        out = tmp_path / name
        args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        if video is not None:
            args += ["-f", "lavfi", "-i", video]
        if audio is not None:
            args += ["-f", "lavfi", "-i", audio]
        if video is not None:
            args += ["-frames:v", str(frames), *codec]
        if audio is not None:
            args += ["-c:a", "aac"]
        subprocess.run([*args, *extra, str(out.resolve())], check=True, capture_output=True)
        return out

    return make


@pytest.fixture(scope="session")
def killtest():
    """The ``tools/killtest.py`` module."""
    import importlib.util
    import sys

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("killtest", root / "tools" / "killtest.py")
    kt = importlib.util.module_from_spec(spec)
    sys.modules["killtest"] = kt
    spec.loader.exec_module(kt)
    return kt


@pytest.fixture(scope="session")
def killtest_ref(killtest, tmp_path_factory):
    """One uninterrupted run of ``tools/killtest.py``'s tiny workflow, shared by the kill and
    corruption tests (``(killtest module, Reference)``); a second snakemake is started while it
    runs to check that Snakemake's lock refuses it."""
    kt = killtest
    base = tmp_path_factory.mktemp("killtest")
    clip, style = kt.make_inputs(base)
    ref = kt.run_reference(base / "ref", clip, style, check_concurrent=True)
    return kt, ref, base
