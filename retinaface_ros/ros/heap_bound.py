"""Give the memory of very large frames back to the system (glibc), so bursts do not raise the node's RSS
for good.

Measured (issue #16.9, in-process node, bursts of 36-72 MB valid frames and 10 MB malformed ones,
``bench/node_memory_burst.py``): RSS rose from 395 to 594 MB and stayed there. Two glibc behaviours keep it:
the dynamic mmap threshold climbs after the first large buffer is freed, so later 36 MB message and image
buffers come from the heap arenas instead of mmap, and freed arena memory is kept for reuse. A fixed mmap
threshold returns every buffer above it at ``free``; ``malloc_trim`` after large frames gives back what the
arenas kept (now 399 → 522 MB, flat). The threshold is glibc's own ceiling, not lower: below it the network's
per-layer buffers would be fresh mmaps faulted in on every frame (docs/node_transport.md). Elsewhere (musl,
macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time

M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
# Buffers above this come straight from mmap and go back at free: glibc's own ceiling for its dynamic
# threshold, so the network's per-layer buffers below it stay in the heap and are reused. (A fixed 4 MB made
# each larger activation of a 640×480 frame a fresh mmap whose pages fault in on every layer: inference
# took 35 ms in the node against 20 ms alone.)
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES  # nor the heap top given back between layers (glibc rule)
LARGE_MESSAGE_BYTES = 8 << 20  # a message this large makes the next trim worth it
TRIM_INTERVAL_S = 1.0


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


class HeapBound:
    """``note(nbytes)`` for each message (any thread); ``maybe_trim()`` from a timer."""

    def __init__(self) -> None:
        self._libc = _libc()
        self._lock = threading.Lock()
        self._pending = False
        self._last_trim = 0.0
        self.trims = 0
        if self._libc is not None:
            self._libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)  # process-wide, for later allocations
            self._libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)

    @property
    def available(self) -> bool:
        """True on glibc, where the threshold and ``malloc_trim`` do something."""
        return self._libc is not None

    def note(self, nbytes: int) -> None:
        if nbytes >= LARGE_MESSAGE_BYTES:
            self._pending = True

    def maybe_trim(self) -> bool:
        """``malloc_trim(0)`` when a large message was seen since the last trim (at most once a second)."""
        if self._libc is None or not self._pending:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._last_trim < TRIM_INTERVAL_S:
                return False
            self._pending = False
            self._last_trim = now
            self.trims += 1
        self._libc.malloc_trim(0)
        return True
