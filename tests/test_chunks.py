"""Which chunks a job reads (iovst.chunks), checked against a frame-by-frame enumeration."""

from __future__ import annotations

import pytest

from iovst.chunks import (
    brush_previous,
    chunk_of,
    multipass_critical_path,
    multipass_inputs,
    multipass_lead,
    multipass_neighbor_round,
    multipass_neighbors,
    multipass_sub_chunks,
    multipass_sweeps,
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


def test_parallel_rounds_read_only_the_previous_round():
    for p in (1, 2, 3, 4):
        assert multipass_neighbor_round(p, "sequential") == p  # unchanged: the sweep runs across chunks
        assert multipass_neighbor_round(p, "parallel") == p - 1
    with pytest.raises(ValueError):
        multipass_neighbor_round(1, "diagonal")


def test_critical_path_of_2000_frames_chunk_64_4_passes():
    # 32 chunks: sequential = round 0 + 4 sweeps of 32 jobs (the 129); parallel: one job per round
    assert multipass_critical_path(2000, 64, 4, 16, "sequential") == (129, 160)
    assert multipass_critical_path(2000, 64, 4, 16, "parallel") == (5, 160)
    assert multipass_critical_path(2000, 64, 0, 16, "parallel") == (1, 32)


@pytest.mark.parametrize("overlap", [0, 2, 5, 9])  # none, inside a chunk, a whole chunk, clamped to one
@pytest.mark.parametrize("n_frames", [23, 25])
def test_parallel_inputs_hold_every_frame_the_job_sweeps(overlap, n_frames):
    c, max_offset = 5, 3
    n = n_chunks(n_frames, c)
    for k in range(n):
        for p in (1, 2):
            q, nb, pairs, lt = multipass_inputs(k, p, c, n_frames, max_offset, "parallel", overlap)
            lead = multipass_lead(k, p, c, n_frames, overlap)
            assert q == p - 1 and k not in nb
            assert len(lead) == min(overlap, c) or (p == 1 and k == 0) or (p == 2 and k >= n - 2)
            assert all(chunk_of(i, c) == (k - 1 if p == 1 else k + 1) for i in lead)
            # the partner's lead (cross-faded here) lies inside this chunk
            partner = k + 1 if p == 1 else k - 1
            if 0 <= partner < n:
                assert all(chunk_of(i, c) == k for i in multipass_lead(partner, p, c, n_frames, overlap))
            swept = [*lead, *range(k * c, min((k + 1) * c, n_frames))]
            step = -1 if p == 1 else 1
            targets = {i + step * m for i in swept for m in range(1, max_offset + 1)} & set(range(n_frames))
            assert {chunk_of(j, c) for j in set(swept) | targets} - {k} <= set(nb)
            assert {chunk_of(min(i, j), c) for i in swept for j in targets if abs(i - j) <= max_offset} <= set(pairs)
            assert {chunk_of(i, c) for i in swept} == set(lt)


def test_sequential_inputs_are_unchanged():
    for k, p in ((0, 1), (3, 1), (3, 2), (5, 2)):
        q, nb, pairs, lt = multipass_inputs(k, p, 4, 23, 10, "sequential", 8)
        assert (q, nb, pairs) == (p, multipass_neighbors(k, p, 4, 6, 10), pair_chunks_into(k, 4, 10))
        assert lt == range(k, k + 1)


@pytest.mark.parametrize("sub_sweeps", [1, 2, 3, 7])  # 7 > the last chunk's 3 frames (n_frames 23)
@pytest.mark.parametrize("overlap", [0, 1, 2, 9])
@pytest.mark.parametrize("n_frames", [23, 25])
def test_sub_sweeps_split_chunks_and_need_no_further_inputs(sub_sweeps, overlap, n_frames):
    """Sub-chunks tile the chunk in near-equal parts; each sweep's lead lies in one sub-chunk (so at
    most one cross-fade per frame), the sub-chunks' leads inside the chunk; the job's inputs
    computed without sub_sweeps hold every frame its sweeps reach; sub_sweeps 1 is the chunk's
    sweep and the next chunk's lead, as before."""
    c, max_offset = 5, 3
    n = n_chunks(n_frames, c)
    subs = {k: multipass_sub_chunks(k, c, n_frames, sub_sweeps) for k in range(n)}
    for k in range(n):
        frames = range(k * c, min((k + 1) * c, n_frames))
        assert [i for s in subs[k] for i in s] == list(frames)
        assert max(map(len, subs[k])) - min(map(len, subs[k])) <= 1 and len(subs[k]) == min(sub_sweeps, len(frames))
        for p in (1, 2):
            sweeps = multipass_sweeps(k, p, c, n_frames, overlap, sub_sweeps)
            leads = [lead for _, lead in sweeps if lead]
            assert all(any(set(lead) <= set(s) for ks in subs.values() for s in ks) for lead in leads)
            inside = [lead for lead in leads if lead[0] in frames]
            assert all(set(lead) <= set(frames) for lead in inside)
            assert len({i for lead in inside for i in lead}) == sum(map(len, inside))  # one fade per frame
            # every frame of the chunk is swept by exactly one sweep (outside its lead)
            own = sorted(i for span, lead in sweeps for i in span if i not in lead)
            assert own == list(frames)
            _, nb, pairs, lt = multipass_inputs(k, p, c, n_frames, max_offset, "parallel", overlap)
            swept = {i for span, _ in sweeps for i in span}
            step = -1 if p == 1 else 1
            targets = {i + step * m for i in swept for m in range(1, max_offset + 1)} & set(range(n_frames))
            assert {chunk_of(j, c) for j in swept | targets} - {k} <= set(nb)
            assert {chunk_of(min(i, j), c) for i in swept for j in targets if abs(i - j) <= max_offset} <= set(pairs)
            assert {chunk_of(i, c) for i in swept} <= set(lt)
            if sub_sweeps == 1:
                partner = k + 1 if p == 1 else k - 1
                lead = multipass_lead(k, p, c, n_frames, overlap)
                span = range(min(lead.start, frames.start), max(lead.stop, frames.stop)) if lead else frames
                expect = [(span, lead)] + (
                    [(multipass_lead(partner, p, c, n_frames, overlap),) * 2] if 0 <= partner < n else []
                )
                assert sweeps == expect
