"""A one-frame mailbox between the subscription callback (producer) and the inference worker (consumer).

The callback never blocks and never queues: ``put`` replaces a frame still waiting, and that frame counts as
dropped. The worker always gets the newest frame, so latency stays one inference long whatever the input rate.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class FrameSlot(Generic[T]):
    """Latest-value slot; thread-safe. Drops are counted by the caller (``put`` reports them)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def put(self, item: T) -> bool:
        """Store ``item``; return True when it replaced a frame that was never taken (a drop)."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """Wait up to ``timeout`` s for a frame and remove it; None on timeout or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return None if self._closed else item

    def close(self) -> None:
        """Wake the consumer for good; later ``take`` calls return None at once."""
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False


class Worker:
    """A daemon thread that runs ``process(frame)`` on each frame taken from a FrameSlot until stopped."""

    def __init__(self, slot: FrameSlot, process, name: str = "retinaface_worker", wait=None) -> None:
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
            frame = self._slot.take(timeout=0.5)
            if frame is not None and not self._stop.is_set():
                self._process(frame)

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to finish (after the frame in progress); return True when it has."""
        self._stop.set()
        self._slot.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()
