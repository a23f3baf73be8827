"""Latest-frame mailboxes between the subscription callbacks (producers) and the inference worker (consumer).

One slot per input (camera). The callbacks never block and never queue: ``put`` replaces a frame still
waiting in its slot, and that frame counts as dropped. The worker takes every waiting frame at once (the
newest of each camera) and runs them as one batch, so latency stays one inference long whatever the input
rate, and cameras that deliver together share a forward pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class FrameSlot(Generic[T]):
    """Latest-value slots keyed by input index; thread-safe. ``put`` reports drops; the caller counts them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: dict[int, T] = {}
        self._closed = False

    def put(self, item: T, key: int = 0) -> bool:
        """Store ``item`` for input ``key``; True when it replaced a frame that was never taken (a drop)."""
        with self._cond:
            replaced = key in self._items
            self._items[key] = item
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> list[T] | None:
        """Wait up to ``timeout`` s for frames and remove all that wait (ordered by input); None on timeout
        or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout)
            items = [self._items[key] for key in sorted(self._items)]
            self._items.clear()
            return None if self._closed or not items else items

    def close(self) -> None:
        """Wake the consumer for good; later ``take`` calls return None at once."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False


class Worker:
    """A daemon thread that runs ``process(frames)`` on each batch taken from a FrameSlot until stopped."""

    def __init__(
        self,
        slot: FrameSlot,
        process: Callable[[list], None],
        name: str = "retinaface_worker",
        wait: Callable[[threading.Event], None] | None = None,
    ) -> None:
        self._slot = slot
        self._process = process
        self._wait = wait  # optional callable(stop_event) run before each take (rate limiting)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._slot.reopen()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._wait is not None:
                self._wait(self._stop)
            frames = self._slot.take(timeout=0.5)
            if frames and not self._stop.is_set():
                self._process(frames)

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to finish (after the batch in progress); return True when it has."""
        self._stop.set()
        self._slot.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()
