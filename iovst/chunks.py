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


def multipass_sub_chunks(k: int, chunk_size: int, n_frames: int, sub_sweeps: int = 1) -> list[range]:
    """Parallel schedule: chunk ``k`` split into ``min(sub_sweeps, len(chunk))`` sub-chunks of
    near-equal size, in frame order (the first ``len(chunk) % sub_sweeps`` are one frame longer).
    Each sub-chunk is swept from a lead of its own (:func:`multipass_sweeps`); ``sub_sweeps = 1``:
    the chunk itself."""
    if sub_sweeps < 1:
        raise ValueError(f"multipass_sub_chunks: sub_sweeps {sub_sweeps} < 1")
    frames = chunk_frames(k, chunk_size, n_frames)
    s = min(sub_sweeps, len(frames))
    q, r = divmod(len(frames), s)
    bounds = [frames.start + j * q + min(j, r) for j in range(s + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]


def _sub_lead(k: int, j: int, p: int, chunk_size: int, n_frames: int, overlap: int, sub_sweeps: int) -> range:
    """Lead of sub-chunk ``j`` (frame order) of chunk ``k`` in round ``p``: the last (forward
    rounds; backward: first) ``min(overlap, its size)`` frames of the sub-chunk the sweep comes from,
    the one before it (after it), in chunk ``k ∓ 1`` for the first one; empty at the video's ends."""
    subs = multipass_sub_chunks(k, chunk_size, n_frames, sub_sweeps)
    step = -1 if p % 2 == 1 else 1
    if 0 <= j + step < len(subs):
        holder = subs[j + step]
    elif 0 <= k + step < n_chunks(n_frames, chunk_size):
        holder = multipass_sub_chunks(k + step, chunk_size, n_frames, sub_sweeps)[-1 if step < 0 else 0]
    else:
        return range(0)
    w = min(overlap, len(holder))
    return range(holder.stop - w, holder.stop) if step < 0 else range(holder.start, holder.start + w)


def multipass_lead(k: int, p: int, chunk_size: int, n_frames: int, overlap: int, sub_sweeps: int = 1) -> range:
    """Parallel schedule: frames outside chunk ``k`` that its round-``p`` sweep runs through first.

    The sweep starts ``overlap`` frames (at most one sub-chunk: with ``sub_sweeps = 1``, one chunk)
    before the chunk, from the previous round's results: forward rounds in chunk ``k - 1``
    (``[k·C - overlap, k·C)``), backward rounds in chunk ``k + 1``. The chunk the lead lies in
    cross-fades its own sweep into this one over the lead, so that both sweeps meet without a seam
    (:mod:`iovst.style.multipass`). Empty at the video's ends. With ``sub_sweeps > 1`` it is a part
    of the ``sub_sweeps = 1`` lead (at most one sub-chunk of chunk ``k ∓ 1``).
    """
    j = 0 if p % 2 == 1 else len(multipass_sub_chunks(k, chunk_size, n_frames, sub_sweeps)) - 1
    return _sub_lead(k, j, p, chunk_size, n_frames, overlap, sub_sweeps)


def multipass_sweeps(
    k: int, p: int, chunk_size: int, n_frames: int, overlap: int, sub_sweeps: int = 1
) -> list[tuple[range, range]]:
    """Parallel schedule: ``(frames swept, its lead)`` of each sweep of chunk ``k``'s round-``p`` job.

    One sweep per sub-chunk (:func:`multipass_sub_chunks`, frame order), over the sub-chunk and
    before it its lead (:func:`multipass_lead` for the first one in the sweep's direction; the
    others' leads lie in the sub-chunk before them, inside chunk ``k``); then, unless ``k`` is the
    last chunk in the sweep's direction, the lead of the next chunk (inside chunk ``k``; swept alone,
    that chunk's job sweeps on). Leads are refined from the previous round; every lead inside chunk
    ``k`` is where the sub-chunk holding it cross-fades into the sweep that starts there.
    """
    out = []
    for j, sub in enumerate(multipass_sub_chunks(k, chunk_size, n_frames, sub_sweeps)):
        lead = _sub_lead(k, j, p, chunk_size, n_frames, overlap, sub_sweeps)
        out.append((range(min(lead.start, sub.start), max(lead.stop, sub.stop)) if lead else sub, lead))
    partner = k + 1 if p % 2 == 1 else k - 1
    if 0 <= partner < n_chunks(n_frames, chunk_size):
        lead = multipass_lead(partner, p, chunk_size, n_frames, overlap, sub_sweeps)
        out.append((lead, lead))
    return out


def multipass_parallel_inputs(
    k: int, p: int, chunk_size: int, n_frames: int, max_offset: int, overlap: int
) -> tuple[range, range, range]:
    """Parallel schedule, round ``p``, chunk ``k``: ``(round p-1 chunks other than k, flow/mask
    chunks, longterm chunks)`` its job reads: its sweep over :func:`multipass_lead` and the chunk,
    the temporal targets up to ``max_offset`` before them, and the lead of the chunk it
    cross-fades into (which lies inside chunk ``k``). ``multipass.sub_sweeps`` does not change
    them: the sub-chunks' leads lie inside chunk ``k`` (:func:`multipass_sweeps`), except the
    first one's, which is a part of the ``sub_sweeps = 1`` lead used here."""
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
