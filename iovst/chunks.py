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


#: ``multipass.schedule`` values
SCHEDULES = ("sequential", "parallel")


def multipass_neighbor_round(p: int, schedule: str) -> int:
    """The round whose chunks :func:`multipass_neighbors` names for round ``p``'s jobs.

    ``sequential``: ``p`` itself (the sweep runs on across chunks, so chunk ``k`` waits for its
    neighbours of the same round). ``parallel``: ``p - 1`` (every chunk of a round starts at once;
    a neighbour or temporal target outside the chunk is taken from the previous round).
    """
    if p < 1 or schedule not in SCHEDULES:
        raise ValueError(f"multipass_neighbor_round: round {p}, schedule {schedule!r}")
    return p if schedule == "sequential" else p - 1


def multipass_lead(k: int, p: int, chunk_size: int, n_frames: int, overlap: int) -> range:
    """Parallel schedule: frames outside chunk ``k`` that its round-``p`` sweep runs through first.

    The sweep starts ``overlap`` frames (at most one chunk) before the chunk, from the previous
    round's results: forward rounds in chunk ``k - 1`` (``[k·C - overlap, k·C)``), backward rounds in
    chunk ``k + 1``. The chunk the lead lies in cross-fades its own sweep into this one over the lead,
    so that both sweeps meet without a seam (:mod:`iovst.style.multipass`). Empty at the video's ends.
    """
    frames = chunk_frames(k, chunk_size, n_frames)
    w = min(overlap, chunk_size)
    if p % 2 == 1:
        return range(max(0, frames.start - w), frames.start)
    return range(frames.stop, min(n_frames, frames.stop + w))


def multipass_parallel_inputs(
    k: int, p: int, chunk_size: int, n_frames: int, max_offset: int, overlap: int
) -> tuple[range, range, range]:
    """Parallel schedule, round ``p``, chunk ``k``: ``(round p-1 chunks other than k, flow/mask
    chunks, longterm chunks)`` its job reads: its sweep over :func:`multipass_lead` and the chunk,
    the temporal targets up to ``max_offset`` before them, and the lead of the chunk it
    cross-fades into (which lies inside chunk ``k``)."""
    nk = n_chunks(n_frames, chunk_size)
    w = min(overlap, chunk_size)
    neighbors = multipass_neighbors(k, p, chunk_size, nk, max_offset + w)
    lead_chunks = [chunk_of(i, chunk_size) for i in multipass_lead(k, p, chunk_size, n_frames, overlap)]
    frames = chunk_frames(k, chunk_size, n_frames)
    first = chunk_of(max(0, frames.start - max_offset - w), chunk_size)
    last = max([k, *lead_chunks])  # pairs (i, i + N) are stored with frame i's chunk
    return neighbors, range(first, last + 1), range(min([k, *lead_chunks]), last + 1)


def multipass_inputs(
    k: int, p: int, chunk_size: int, n_frames: int, max_offset: int, schedule: str, overlap: int
) -> tuple[int, range, range, range]:
    """What round ``p``'s job for chunk ``k`` reads besides its own round ``p - 1`` chunk:
    ``(round of the neighbour chunks, neighbour chunks, flow/mask chunks, longterm chunks)``."""
    if schedule == "parallel":
        return (p - 1, *multipass_parallel_inputs(k, p, chunk_size, n_frames, max_offset, overlap))
    nb = multipass_neighbors(k, p, chunk_size, n_chunks(n_frames, chunk_size), max_offset)
    return multipass_neighbor_round(p, schedule), nb, pair_chunks_into(k, chunk_size, max_offset), range(k, k + 1)


def multipass_critical_path(
    n_frames: int, chunk_size: int, passes: int, max_offset: int, schedule: str
) -> tuple[int, int]:
    """``(longest chain, number)`` of the stylize (round 0) and multipass jobs of one video/style.

    Built from the rules' dependencies (:func:`multipass_neighbors` of :func:`multipass_neighbor_round`
    plus each chunk's own previous round); round 0 is Gatys' (independent chunks; brushstroke's
    round 0 is a chain of its own, :func:`brush_previous`). The chain counts jobs, not frames: on a
    cluster each one also waits in the queue and for the status poll.
    """
    nk = n_chunks(n_frames, chunk_size)
    depth = [1] * nk  # round 0: every chunk at once
    for p in range(1, passes + 1):
        same_round = multipass_neighbor_round(p, schedule) == p
        new = [0] * nk
        # a sequential round's neighbours come before k in its sweep direction: fill them first
        for k in range(nk) if p % 2 == 1 else reversed(range(nk)):
            deps = [depth[k]] + [
                (new if same_round else depth)[j] for j in multipass_neighbors(k, p, chunk_size, nk, max_offset)
            ]
            new[k] = 1 + max(deps)
        depth = new
    return max(depth, default=0), nk * (passes + 1)


def brush_previous(k: int, chunk_size: int) -> tuple[range, list[int]]:
    """Brushstroke round 0, chunk ``k``: ``(flow/mask chunks, round-0 chunks)`` it reads.

    Each frame's strokes start from the previous frame's, moved by the flow of the pair
    ``(t - 1, t)`` (flow/mask chunks ``k - 1`` and ``k``); chunk ``k > 0`` continues from round-0
    chunk ``k - 1``'s last strokes, so the chunks of one video run in order.
    """
    return pair_chunks_into(k, chunk_size, 1), [k - 1] if k > 0 else []
