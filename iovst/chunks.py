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


def check_chunk_arg(chunk: int, chunk_size: int, n_frames: int) -> None:
    """A command's ``--chunk``/``--chunk-size`` must name a chunk of an ``n_frames`` video.

    Raises:
        InputError: one line naming ``--chunk``.
    """
    from .errors import InputError

    if chunk_size < 1 or not 0 <= chunk < n_chunks(n_frames, chunk_size):
        raise InputError(f"--chunk {chunk}: out of range for {n_frames} frames / chunk size {chunk_size}")


def chunk_of(frame: int, chunk_size: int) -> int:
    """Chunk index holding ``frame``."""
    return frame // chunk_size


def pair_starts(k: int, chunk_size: int, n_frames: int, offset: int) -> range:
    """First frames ``t`` of the pairs ``(t, t + offset)`` stored in flow/mask chunk ``k``."""
    frames = chunk_frames(k, chunk_size, n_frames)
    return range(frames.start, min(frames.stop, max(n_frames - offset, frames.start)))


# ---- which chunks a job reads (the rules' input functions) ------------------------------------
def pair_chunks_into(k: int, chunk_size: int, max_offset: int) -> range:
    """Flow/mask chunks holding the pairs ``(i - N, i)`` and ``(i, i + N)``, ``N <= max_offset``,
    for the frames ``i`` of chunk ``k``: from the chunk of frame ``k * chunk_size - max_offset``
    (at least 0) to ``k`` (pairs are stored with their first frame's chunk)."""
    return range(chunk_of(max(0, k * chunk_size - max_offset), chunk_size), k + 1)


def multipass_neighbors(k: int, p: int, chunk_size: int, n_chunks_: int, max_offset: int) -> range:
    """Round-``p`` chunks that chunk ``k``'s round-``p`` job reads (already updated in this round).

    Odd rounds sweep forward: frame ``i`` uses ``i - N``, so the chunks before ``k`` back to the
    chunk of frame ``k * chunk_size - max_offset``. Even rounds sweep backward: ``i + N``, so the
    chunks after ``k`` up to the chunk of frame ``(k + 1) * chunk_size - 1 + max_offset`` (at most
    the last chunk ``n_chunks_ - 1``).
    """
    if p % 2 == 1:
        return range(chunk_of(max(0, k * chunk_size - max_offset), chunk_size), k)
    last = chunk_of((k + 1) * chunk_size - 1 + max_offset, chunk_size)
    return range(k + 1, min(n_chunks_ - 1, last) + 1)


def brush_previous(k: int, chunk_size: int) -> tuple[range, list[int]]:
    """Brushstroke round 0, chunk ``k``: ``(flow/mask chunks, round-0 chunks)`` it reads.

    Each frame's strokes start from the previous frame's, moved by the flow of the pair
    ``(t - 1, t)`` (flow/mask chunks ``k - 1`` and ``k``); chunk ``k > 0`` continues from round-0
    chunk ``k - 1``'s last strokes, so the chunks of one video run in order.
    """
    return pair_chunks_into(k, chunk_size, 1), [k - 1] if k > 0 else []
