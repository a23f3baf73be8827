"""Track ids: strings, never handed out twice by one :class:`IdAllocator` (so a lost face's id is never
reused), either counting (``"1", "2", ...``) or five random lowercase letters, as ROS4HRI's face detector
names faces: a letter-first id is a valid ROS name token, so ``/humans/faces/<id>/roi`` and the TF frame
``face_<id>`` carry the same id as ``Detection2D.id``."""

from __future__ import annotations

import secrets
import string

RANDOM_ID_LENGTH = 5  # 26**5 ≈ 11.9 million ids; a repeat is redrawn


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
            body = str(self._count) if self._deterministic else _random_letters()
            track_id = self._prefix + body
            if track_id not in self._issued:  # random ids: a repeat is redrawn
                self._issued.add(track_id)
                return track_id

    @property
    def issued(self) -> int:
        """How many ids were handed out."""
        return len(self._issued)


def _random_letters() -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(RANDOM_ID_LENGTH))
