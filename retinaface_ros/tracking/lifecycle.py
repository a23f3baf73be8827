"""Track bookkeeping for all tracks of a camera as arrays: hits, confirmation, class votes, score, times."""

from __future__ import annotations

import numpy as np

SCORE_MEMORY = 0.7  # track score = SCORE_MEMORY * old + (1 - SCORE_MEMORY) * new detection score
NUM_CLASSES = 2  # 0 face, 1 masked_face


class TrackLife:
    """Per-track counters and times; the tracker decides when to call which."""

    def __init__(self) -> None:
        self.hits = np.zeros(0, np.int64)
        self.confirmed = np.zeros(0, bool)
        self.detected = np.zeros(0, bool)
        self.votes = np.zeros((0, NUM_CLASSES), np.int64)
        self.score = np.zeros(0)
        self.created_s = np.zeros(0)
        self.updated_s = np.zeros(0)

    def __len__(self) -> int:
        return len(self.hits)

    def add(self, scores: np.ndarray, classes: np.ndarray, stamp_s: float, confirmed: bool) -> None:
        """New tracks, each from one detection."""
        count = len(scores)
        votes = np.zeros((count, NUM_CLASSES), np.int64)
        votes[np.arange(count), np.clip(classes, 0, NUM_CLASSES - 1)] = 1
        self.hits = np.concatenate([self.hits, np.ones(count, np.int64)])
        self.confirmed = np.concatenate([self.confirmed, np.full(count, confirmed)])
        self.detected = np.concatenate([self.detected, np.ones(count, bool)])
        self.votes = np.concatenate([self.votes, votes])
        self.score = np.concatenate([self.score, np.asarray(scores, np.float64)])
        self.created_s = np.concatenate([self.created_s, np.full(count, stamp_s)])
        self.updated_s = np.concatenate([self.updated_s, np.full(count, stamp_s)])

    def keep(self, mask: np.ndarray) -> None:
        for name in ("hits", "confirmed", "detected", "votes", "score", "created_s", "updated_s"):
            setattr(self, name, getattr(self, name)[mask])

    def matched(
        self, index: np.ndarray, scores: np.ndarray, classes: np.ndarray, stamp_s: float, min_hits: int
    ) -> None:
        """Tracks ``index`` got a detection (score, class) at ``stamp_s``; confirmed once they have
        ``min_hits``."""
        self.hits[index] += 1
        self.votes[index, np.clip(classes, 0, NUM_CLASSES - 1)] += 1
        self.score[index] = SCORE_MEMORY * self.score[index] + (1.0 - SCORE_MEMORY) * scores
        self.updated_s[index] = stamp_s
        self.detected[index] = True
        self.confirmed[index] |= self.hits[index] >= min_hits

    def class_ids(self) -> np.ndarray:
        """Majority class per track (a tie goes to the lower class id: face)."""
        return np.argmax(self.votes, axis=1)

    def expired(self, stamp_s: float, max_age_s: float) -> np.ndarray:
        """Tracks without a detection for longer than ``max_age_s``."""
        return stamp_s - self.updated_s > max_age_s
