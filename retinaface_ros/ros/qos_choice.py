"""``qos_reliability: auto``: subscribe the way the input topic's publishers publish.

A reliable subscription never matches a best_effort publisher, and a best_effort subscription loses most large
raw frames coming from another process (Fast DDS sends what exceeds its shared memory as UDP fragments). So
``auto`` looks at the topic's publishers (rclpy's graph API) and subscribes reliable when every publisher is
reliable, best_effort otherwise, including while there is no publisher yet (best_effort matches any). The node
re-checks when publishers come and go and re-creates the subscription when the answer changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rclpy.qos import ReliabilityPolicy

AUTO = "auto"
RECHECK_PERIOD_S = 1.0  # how often ``auto`` looks at the publishers again


@dataclass(frozen=True)
class ReliabilityChoice:
    """The reliability to subscribe with and why."""

    policy: ReliabilityPolicy
    reason: str

    @property
    def name(self) -> str:
        return "reliable" if self.policy == ReliabilityPolicy.RELIABLE else "best_effort"


def choose_reliability(setting: str, publisher_policies: Iterable[Any]) -> ReliabilityChoice:
    """The subscription reliability for ``setting`` ('auto', 'reliable', 'best_effort') given the
    reliability of each publisher of the topic (``TopicEndpointInfo.qos_profile.reliability``)."""
    if setting == "reliable":
        return ReliabilityChoice(ReliabilityPolicy.RELIABLE, "set explicitly")
    if setting == "best_effort":
        return ReliabilityChoice(ReliabilityPolicy.BEST_EFFORT, "set explicitly")
    if setting != AUTO:
        raise ValueError(f"qos_reliability must be auto, reliable or best_effort, got {setting!r}")
    policies = list(publisher_policies)
    if not policies:
        return ReliabilityChoice(ReliabilityPolicy.BEST_EFFORT, "auto: no publisher yet")
    best_effort = sum(1 for policy in policies if policy == ReliabilityPolicy.BEST_EFFORT)
    if best_effort:
        return ReliabilityChoice(
            ReliabilityPolicy.BEST_EFFORT, f"auto: {best_effort} of {len(policies)} publisher(s) best_effort"
        )
    return ReliabilityChoice(ReliabilityPolicy.RELIABLE, f"auto: all {len(policies)} publisher(s) reliable")


def publisher_policies(node: Any, topic: str) -> list[Any]:
    """The reliability of every publisher of ``topic`` (fully qualified) that the graph knows now."""
    return [info.qos_profile.reliability for info in node.get_publishers_info_by_topic(topic)]
