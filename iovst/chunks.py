"""Chunking of frames into Snakemake jobs (never one job per frame).

Chunk ``k`` holds frames ``[k * chunk_size, min((k + 1) * chunk_size, n_frames))``. Flow and mask
chunk ``k`` hold the frame *pairs* ``(t, t + N)`` whose first frame ``t`` lies in chunk ``k`` (and
``t + N < n_frames``).
"""

from __future__ import annotations


def n_chunks(n_frames: int, chunk_size: int) -> int:
    """Number of chunks for ``n_frames`` frames (at least 1 for a non-empty video)."""
    if n_frames < 0 or chunk_size < 1:
        raise ValueError(f"n_chunks: n_frames={n_frames}, chunk_size={chunk_size}")
    return (n_frames + chunk_size - 1) // chunk_size


def chunk_frames(k: int, chunk_size: int, n_frames: int) -> range:
    """Frame indices of chunk ``k``."""
    if not 0 <= k < n_chunks(n_frames, chunk_size):
        raise ValueError(f"chunk {k} out of range for {n_frames} frames / chunk_size {chunk_size}")
    return range(k * chunk_size, min((k + 1) * chunk_size, n_frames))


def chunk_of(frame: int, chunk_size: int) -> int:
    """Chunk index holding ``frame``."""
    return frame // chunk_size


def pair_starts(k: int, chunk_size: int, n_frames: int, offset: int) -> range:
    """First frames ``t`` of the pairs ``(t, t + offset)`` stored in flow/mask chunk ``k``."""
    frames = chunk_frames(k, chunk_size, n_frames)
    return range(frames.start, min(frames.stop, max(n_frames - offset, frames.start)))
