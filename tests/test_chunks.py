"""Which chunks a job reads (iovst.chunks), checked against a frame-by-frame enumeration."""

from __future__ import annotations

import pytest

from iovst.chunks import (
    brush_previous,
    chunk_of,
    multipass_neighbors,
    n_chunks,
    pair_chunks_into,
)


def _pair_chunks(k: int, c: int, n_frames: int, max_offset: int) -> set[int]:
    """Chunks (of their first frame) of every pair (i - N, i), (i, i + N), N <= max_offset, with
    i in chunk k: enumerated frame by frame."""
    out = set()
    for i in range(k * c, min((k + 1) * c, n_frames)):
        for n in range(1, max_offset + 1):
            if i - n >= 0:
                out.add(chunk_of(i - n, c))
            if i + n < n_frames:
                out.add(k)
    return out


def _neighbours(k: int, p: int, c: int, n_frames: int, max_offset: int) -> set[int]:
    """Other chunks holding a frame i -/+ N (odd / even round) of a frame i in chunk k."""
    step = -1 if p % 2 == 1 else 1
    return {
        chunk_of(j, c)
        for i in range(k * c, min((k + 1) * c, n_frames))
        for n in range(1, max_offset + 1)
        if 0 <= (j := i + step * n) < n_frames
    } - {k}


@pytest.mark.parametrize("max_offset", [1, 3, 5, 12])  # within a chunk, = chunk size, > 2 chunks
@pytest.mark.parametrize("n_frames", [23, 25])  # last chunk partial / full
def test_chunk_ranges_match_the_frames_they_need(max_offset, n_frames):
    c = 5
    n = n_chunks(n_frames, c)
    for k in range(n):  # first, middle and last chunk
        assert set(pair_chunks_into(k, c, max_offset)) == _pair_chunks(k, c, n_frames, max_offset), k
        for p in (1, 2, 3, 4):  # forward and backward rounds
            assert set(multipass_neighbors(k, p, c, n, max_offset)) == _neighbours(k, p, c, n_frames, max_offset), (
                k,
                p,
            )


def test_chunk_ranges_at_the_ends():
    assert multipass_neighbors(0, 1, 4, 6, 10) == range(0)  # first chunk, forward: none
    assert multipass_neighbors(5, 2, 4, 6, 10) == range(6, 6)  # last chunk, backward: none
    assert multipass_neighbors(3, 1, 4, 6, 10) == range(3)  # offset 10 > chunk 4: 3 chunks back
    assert multipass_neighbors(3, 2, 4, 6, 10) == range(4, 6)  # ... and forward up to the last
    assert pair_chunks_into(0, 4, 10) == range(1)
    assert brush_previous(0, 4) == (range(1), [])
    assert brush_previous(3, 4) == (range(2, 4), [2])  # pair (11, 12) is in flow chunk 2
