"""Integer values given for double parameters (``-p rate:=5``, ``threshold: 1`` in YAML) taken as doubles."""

from __future__ import annotations

from collections.abc import Sequence

from rclpy.node import Node
from rclpy.parameter import Parameter


def promote_integer_overrides(node: Node, names: Sequence[str]) -> None:
    """Turn integer overrides of the double parameters ``names`` into doubles; call before declaring them.

    rclpy otherwise refuses ``-p max_rate_hz:=10`` at declare time (INTEGER given, DOUBLE expected).
    """
    overrides = getattr(node, "_parameter_overrides", None)  # rclpy's table of -p / YAML values
    if not isinstance(overrides, dict):
        return
    for name in names:
        override = overrides.get(name)
        if override is not None and override.type_ == Parameter.Type.INTEGER:
            overrides[name] = Parameter(name, Parameter.Type.DOUBLE, float(override.value))
