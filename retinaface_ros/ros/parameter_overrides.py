"""Integer values for double parameters taken as doubles: at start-up (``-p rate:=5``, ``threshold: 1`` in
YAML) and when set live (``ros2 param set /node threshold 1``)."""

from __future__ import annotations

from collections.abc import Sequence

from rclpy.node import Node
from rclpy.parameter import Parameter


def as_double(parameter: Parameter) -> Parameter:
    """An INTEGER parameter as the DOUBLE of the same value; any other parameter unchanged."""
    if parameter.type_ == Parameter.Type.INTEGER:
        return Parameter(parameter.name, Parameter.Type.DOUBLE, float(parameter.value))
    return parameter


def promote_integer_overrides(node: Node, names: Sequence[str]) -> None:
    """Take integers for the double parameters ``names``; call before declaring them.

    rclpy otherwise refuses ``-p max_rate_hz:=10`` at declare time and ``set_parameters`` with an integer
    later ("Wrong parameter type"): the overrides are converted here, later changes in a pre-set callback.
    """
    doubles = frozenset(names)
    overrides = getattr(node, "_parameter_overrides", None)  # rclpy's table of -p / YAML values
    if isinstance(overrides, dict):
        for name in doubles & overrides.keys():
            overrides[name] = as_double(overrides[name])
    node.add_pre_set_parameters_callback(
        lambda parameters: [as_double(p) if p.name in doubles else p for p in parameters]
    )
