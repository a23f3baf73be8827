"""Track ids: strings, never handed out twice by one :class:`IdAllocator` (so a lost face's id is never
reused), either counting (``"1", "2", ...``) or random short hex."""

from __future__ import annotations

import secrets


class IdAllocator:
    """Hands out unique track ids, optionally as ``"<prefix>_<id>"``."""

    def __init__(self, prefix: str = "", deterministic: bool = False) -> None:
        self._prefix = f"{prefix}_" if prefix else ""
        self._deterministic = deterministic
        self._count = 0
        self._issued: set[str] = set()

    def __call__(self) -> str:
        while True:
            self._count += 1
            body = str(self._count) if self._deterministic else secrets.token_hex(4)
            track_id = self._prefix + body
            if track_id not in self._issued:  # random ids: a repeat is redrawn
                self._issued.add(track_id)
                return track_id

    @property
    def issued(self) -> int:
        """How many ids were handed out."""
        return len(self._issued)
