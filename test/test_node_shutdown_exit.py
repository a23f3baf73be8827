"""issue #16.9: the lifecycle ``shutdown`` transition (from any primary state) makes the detector process exit
with code 0 instead of leaving a finalized node running."""

from __future__ import annotations

import os

import pytest
from ros_helpers import BackgroundSpin, kill_if_running, node_process, require_rclpy, wait_for

pytestmark = pytest.mark.ros
require_rclpy()

from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402


@pytest.mark.parametrize(
    ("autostart", "transition"),
    [(True, Transition.TRANSITION_ACTIVE_SHUTDOWN), (False, Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)],
)
def test_lifecycle_shutdown_exits_the_process(mnet_weights, tmp_path, autostart, transition):
    namespace = f"/sd{os.getpid()}_{int(autostart)}"
    log = tmp_path / "detector.log"
    process = node_process(
        "retinaface_ros.ros.detector_node",
        log,
        *("-r", f"__ns:={namespace}", "-p", f"model_path:={mnet_weights}", "-p", "device:=cpu"),
        *("-p", "scales:=[240, 320]", "-p", f"autostart:={str(autostart).lower()}"),
    )
    spinner = BackgroundSpin()
    node = spinner.create_node("shutdown_client")
    service = f"{namespace}/retinaface_detector"
    try:
        get_state = node.create_client(GetState, f"{service}/get_state")
        change_state = node.create_client(ChangeState, f"{service}/change_state")
        assert change_state.wait_for_service(timeout_sec=60), log.read_text()
        want = "active" if autostart else "unconfigured"

        def state() -> str:
            future = get_state.call_async(GetState.Request())
            return future.result().current_state.label if wait_for(future.done, 10) else ""

        assert wait_for(lambda: state() == want, timeout=60), log.read_text()
        future = change_state.call_async(ChangeState.Request(transition=Transition(id=transition)))
        assert wait_for(future.done, 30) and future.result().success, log.read_text()
        assert process.wait(timeout=60) == 0, log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        kill_if_running(process)
        spinner.close()
