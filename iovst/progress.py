"""Per-frame progress of a stylize / multipass job and the job log lines that carry it.

A computed frame is logged as ``frame 12: computed (3.1 s); 5/12 done, chunk ETA 22 s`` (frames
reused from the cache count as done, their line stays ``frame 12: reused``; the ``frame N:
computed|reused`` prefix is what ``tools/killtest.py`` and ``iovst status`` parse). The chunk's
ETA is the frames left times the mean seconds of the frames computed so far (``?`` before the first
one). Importing this is cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: a frame's log line: frame index, "computed" | "reused", seconds (computed frames only)
FRAME_LINE = re.compile(r"frame (\d+): (computed|reused)(?: \((\d+(?:\.\d+)?) s)?")


@dataclass
class ChunkProgress:
    """Progress of one job over its ``total`` frames."""

    total: int
    done: int = 0
    seconds: list[float] = field(default_factory=list)

    def step(self, seconds: float | None = None) -> str:
        """Count one more frame (``seconds``: its optimisation time; ``None``: reused from the
        cache); return ``"5/12 done, chunk ETA 22 s"``."""
        self.done += 1
        if seconds is not None:
            self.seconds.append(seconds)
        left = self.total - self.done
        if left <= 0:
            eta = "0 s"
        elif self.seconds:
            eta = f"{left * sum(self.seconds) / len(self.seconds):.0f} s"
        else:
            eta = "?"
        return f"{self.done}/{self.total} done, chunk ETA {eta}"
