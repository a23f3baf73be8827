"""issue #16.6: ``model_path`` is checked when it is set, in every lifecycle state (not only at the next
configure / activate): a missing path is "not found", /dev/zero or a FIFO "not a regular file"."""

from __future__ import annotations

import os

import pytest
from ros_helpers import require_rclpy

pytestmark = pytest.mark.ros
rclpy = require_rclpy()

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from retinaface_ros.ros.detector_node import DetectorNode  # noqa: E402

SUCCESS = TransitionCallbackReturn.SUCCESS


def _set(node: DetectorNode, value: str):
    return node.set_parameters([Parameter("model_path", value=value)])[0]


def _assert_bad_paths_refused(node: DetectorNode, tmp_path, good: str) -> None:
    missing = _set(node, str(tmp_path / "missing.pth"))
    assert not missing.successful and "not found" in missing.reason and "missing.pth" in missing.reason
    zero = _set(node, "/dev/zero")
    assert not zero.successful and "not a regular file" in zero.reason and "/dev/zero" in zero.reason
    fifo = tmp_path / "model.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    refused = _set(node, str(fifo))
    assert not refused.successful and "not a regular file" in refused.reason
    assert node.get_parameter("model_path").value == good  # the refused values were never taken


def test_model_path_checked_in_every_state(mnet_weights, tmp_path):
    context = rclpy.Context()
    rclpy.init(context=context)
    overrides = [Parameter("device", value="cpu"), Parameter("scales", value=[240, 320])]
    node = DetectorNode(namespace=f"/mp{os.getpid()}", context=context, parameter_overrides=overrides)
    try:
        _assert_bad_paths_refused(node, tmp_path, "")  # unconfigured
        assert _set(node, str(mnet_weights)).successful
        assert node.trigger_configure() == SUCCESS  # inactive
        _assert_bad_paths_refused(node, tmp_path, str(mnet_weights))
        assert node.trigger_activate() == SUCCESS  # active
        _assert_bad_paths_refused(node, tmp_path, str(mnet_weights))
        assert node.model is not None and node.model.source == str(mnet_weights)
        assert node.trigger_deactivate() == SUCCESS  # inactive again, model dropped
        _assert_bad_paths_refused(node, tmp_path, str(mnet_weights))
        assert _set(node, str(mnet_weights)).successful
        assert node.trigger_activate() == SUCCESS and node.model is not None
    finally:
        node.destroy_node()
        context.try_shutdown()
