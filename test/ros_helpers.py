"""Helpers for tests that use real ROS 2 communication (rclpy, DDS)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Domain ids whose DDS ports stay below Linux's ephemeral port range (32768+): 0..101 and 215..232.
_SAFE_DOMAIN_IDS = list(range(1, 102)) + list(range(215, 233))


def test_domain_id() -> int:
    """This test run's ROS_DOMAIN_ID: RETINAFACE_TEST_ROS_DOMAIN_ID if set, else derived from the pid.

    Different pytest runs on one machine (e.g. CI jobs side by side) then rarely share a domain, and a
    developer's live ROS graph (usually domain 0) never sees the test traffic.
    """
    pinned = os.environ.get("RETINAFACE_TEST_ROS_DOMAIN_ID")
    if pinned:
        return int(pinned)
    return _SAFE_DOMAIN_IDS[os.getpid() % len(_SAFE_DOMAIN_IDS)]


test_domain_id.__test__ = False  # not a test, despite its name


def configure_ros_env(env: dict[str, str] | os._Environ = os.environ) -> dict[str, str] | os._Environ:
    """Isolate ROS traffic: this run's domain id, discovery on localhost only."""
    env["ROS_DOMAIN_ID"] = str(test_domain_id())
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.pop("ROS_LOCALHOST_ONLY", None)  # deprecated; conflicts with the variable above
    return env


def require_rclpy():
    """Import rclpy or skip with the one-line fix."""
    return pytest.importorskip("rclpy", reason="rclpy missing: run `make setup` and `source tools/env.sh`")


def spin_until(executor, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Spin ``executor`` until ``predicate()`` is true or ``timeout`` seconds pass; return the predicate."""
    deadline = time.monotonic() + timeout
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return predicate()
        executor.spin_once(timeout_sec=min(0.05, remaining))
    return True


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, period: float = 0.02) -> bool:
    """Poll ``predicate()`` (while other threads spin) until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period)
    return bool(predicate())


def python_subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child ``sys.executable`` that sees the same ROS set-up and domain as the tests."""
    env = configure_ros_env(dict(os.environ))
    env.update(extra)
    return env


PYTHON = sys.executable


def node_process(module: str, log: Path, *ros_args: str) -> subprocess.Popen:
    """``python -m module --ros-args *ros_args`` in this run's ROS domain, unbuffered output into ``log`` (a
    file, not a pipe: a full pipe would block the child)."""
    with log.open("w") as out:
        return subprocess.Popen(
            [PYTHON, "-m", module, "--ros-args", *ros_args],
            cwd=REPO_ROOT,
            env=python_subprocess_env(PYTHONUNBUFFERED="1"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def kill_if_running(*processes: subprocess.Popen) -> None:
    """Clean-up after a test: kill and reap the child processes that have not exited."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def cpu_detector_node(context, namespace: str, weights, **overrides):
    """A DetectorNode in ``context`` serving ``weights`` on the CPU with reliable input; ``overrides``
    (name=value) set or replace its parameters."""
    from rclpy.parameter import Parameter

    from retinaface_ros.ros.detector_node import DetectorNode

    settings = {"model_path": str(weights), "device": "cpu", "qos_reliability": "reliable", **overrides}
    return DetectorNode(
        namespace=namespace,
        context=context,
        parameter_overrides=[Parameter(name, value=value) for name, value in settings.items()],
    )


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Send ``sig`` to a child that is still running and reap it; kill it after ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class BackgroundSpin:
    """An rclpy context whose nodes spin on a SingleThreadedExecutor in a daemon thread.

    ``add(*nodes)`` spins nodes (created with ``self.context``), ``create_node`` makes one and spins it;
    leaving the ``with`` block (or ``close()``) shuts the executor down, destroys those nodes and the
    context, and joins the thread.
    """

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self._nodes: list = []
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)

    def add(self, *nodes) -> None:
        """Spin ``nodes`` too (the first call starts the thread); they are destroyed on close."""
        for node in nodes:
            self.executor.add_node(node)
            self._nodes.append(node)
        if self._thread.ident is None:
            self._thread.start()

    def create_node(self, name: str, **kwargs):
        """A node made in this context (``rclpy.create_node`` keyword arguments) and spun here."""
        import rclpy

        node = rclpy.create_node(name, context=self.context, **kwargs)
        self.add(node)
        return node

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        for node in self._nodes:
            node.destroy_node()
        self.context.try_shutdown()
        if self._thread.ident is not None:
            self._thread.join(5.0)

    def __enter__(self) -> BackgroundSpin:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def make_test_messages():
    """A Detection2DArray with one face and the matching FaceArray (imported lazily: needs the built env)."""
    from geometry_msgs.msg import Point

    from retinaface_ros.ros.interfaces import import_interfaces, import_vision_msgs

    vm = import_vision_msgs()
    face_array, face_landmarks, _ = import_interfaces()
    detections = vm.Detection2DArray()
    detections.header.frame_id = "camera_optical"
    detections.header.stamp.sec = 1234
    detections.header.stamp.nanosec = 5678
    det = vm.Detection2D()
    det.header = detections.header
    det.bbox.center.position.x = 120.5
    det.bbox.center.position.y = 80.25
    det.bbox.size_x = 40.0
    det.bbox.size_y = 52.0
    hyp = vm.ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = "face"
    hyp.hypothesis.score = 0.875
    det.results.append(hyp)
    det.id = "0"
    detections.detections.append(det)

    faces = face_array(header=detections.header)
    face = face_landmarks(score=0.875, masked=True, detection_index=0)
    face.landmarks = [Point(x=100.0 + i, y=70.0 + 2 * i, z=0.0) for i in range(5)]
    faces.faces.append(face)
    return detections, faces
