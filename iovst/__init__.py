"""iovst: optimization-based video style transfer.

Stages (one ``iovst.stages`` module per command; the logic in ``video``, ``flow``, ``style``,
``storage`` and ``runtime``): ``extract`` (probe + lossless frames), ``flow`` (RAFT / DIS optical
flow in HDF5), ``masks`` / ``longterm`` (Ruder et al. reliability + closest-first long-term
weights), ``stylize`` (independent per-frame Gatys or brushstroke stylization), ``multipass``
(Ruder's alternating multipass rounds with a temporal loss) and ``encode`` (H.264 at the source's
exact fps, with audio). See ``docs/ARCHITECTURE.md`` for the map.

Conventions used everywhere:

* images: ``numpy`` ``(H, W, 3)`` ``float32`` RGB in ``[0, 1]`` on disk-facing APIs, ``torch``
  ``(B, 3, H, W)`` ``float32`` in ``[0, 1]`` inside models;
* flow: ``(2, H, W)`` ``float32`` pixels ``(dx, dy)`` defined on the *source* frame ``t`` and pointing
  into the *target* frame ``s`` (e.g. ``t + N``), i.e. pixel ``x`` of ``t`` shows the same point as
  ``x + flow(x)`` of ``s``;
* frame indices are 0-based; chunk ``k`` holds frames ``[k * chunk_size, (k + 1) * chunk_size)``.
"""

__version__ = "0.1.0"
