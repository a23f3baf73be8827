"""The detector node on the ONNX runtimes: an exported model folder served by onnxruntime over real DDS
(the learner's faces), OpenVINO through the node's model loading, and the ``runtime`` / ``providers``
parameters' validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from ros_helpers import BackgroundSpin, require_rclpy, wait_for
from test_detector_node import NS, SUCCESS, Probe, assert_matches_reference, cpu_detector

from retinaface_ros.learner import RetinaFaceLearner
from retinaface_ros.ros.detector_node import load_model
from retinaface_ros.ros.image_conversion import bgr8_to_imgmsg
from retinaface_ros.ros.params import DetectorParams, ParameterError

pytestmark = pytest.mark.ros
rclpy = require_rclpy()


@pytest.fixture(scope="module")
def onnx_folder(mnet_learner, tmp_path_factory) -> Path:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load_state_dict(mnet_learner.model.state_dict())
    learner.optimize()
    return learner.save(tmp_path_factory.mktemp("models") / "mnet_onnx", verbose=False)


def test_runtime_parameters_are_validated() -> None:
    params = DetectorParams.from_values({"runtime": "onnxruntime", "providers": ["CUDA", "CPU"]})
    assert params.providers == ("CUDA", "CPU") and params.as_values()["providers"] == ["CUDA", "CPU"]
    assert DetectorParams.from_values({}).runtime == "auto" and DetectorParams.from_values({}).providers == ()
    with pytest.raises(ParameterError, match="runtime must be one of"):
        DetectorParams.from_values({"runtime": "tensorrt"})
    with pytest.raises(ParameterError, match="providers are an onnxruntime option"):
        DetectorParams.from_values({"runtime": "openvino", "providers": ["CPU"]})
    with pytest.raises(ParameterError, match="providers must be a list"):
        DetectorParams.from_values({"providers": "CPU"})
    with pytest.raises(ParameterError, match="cannot change while the node is configured"):
        DetectorParams.from_values({}).updated({"runtime": "openvino"})


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_load_model_uses_the_runtime(onnx_folder: Path, runtime: str) -> None:
    params = DetectorParams.from_values({"model_path": str(onnx_folder), "device": "cpu", "runtime": runtime})
    loaded = load_model(params)
    assert loaded.learner.detector.backend.name == runtime and loaded.learner.model is None


def test_node_serves_an_onnx_folder(onnx_folder: Path, selfie_path, mnet_learner) -> None:
    import cv2

    spinner = BackgroundSpin()
    namespace = f"{NS}/onnx"
    node = cpu_detector(spinner.context, namespace, onnx_folder, runtime="onnxruntime", providers=["CPU"])
    probe = Probe(spinner.context, namespace=namespace)
    try:
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        assert node.model.learner.detector.backend.providers == ["CPUExecutionProvider"]
        spinner.add(node, probe.node)
        assert wait_for(lambda: probe.image_pub.get_subscription_count() > 0)
        selfie = cv2.imread(str(selfie_path))
        msg = probe.stamp(bgr8_to_imgmsg(selfie, "bgr8"), "onnx-frame")
        probe.image_pub.publish(msg)
        assert_matches_reference(probe, "onnx-frame", msg.header, selfie, mnet_learner)
    finally:
        spinner.close()
