"""The trainer node's parameter table: config/trainer.yaml matches it, its validation shares the core's
bounds, the descriptors carry its ranges, and the real node refuses a bad change with the reason."""

from __future__ import annotations

import pytest
import yaml
from ros_helpers import REPO_ROOT, require_rclpy

from retinaface_ros.ros.params import ParameterError, parameter_descriptors
from retinaface_ros.ros.trainer_params import (
    TRAINER_PARAMETER_NAMES,
    TRAINER_PARAMETERS,
    TRAINER_SPECS,
    TrainerParams,
)
from retinaface_ros.training.goal import TrainerDefaults
from retinaface_ros.validation import TRAINING_BOUNDS

TRAINER_YAML = REPO_ROOT / "config" / "trainer.yaml"


def test_trainer_yaml_matches_the_table():
    document = yaml.safe_load(TRAINER_YAML.read_text())
    values = document["/**/retinaface_trainer"]["ros__parameters"]
    assert list(values) == list(TRAINER_PARAMETER_NAMES)
    for name, value in values.items():  # same ROS type as the declaration, or rclpy refuses the file
        default = TRAINER_SPECS[name].default
        assert type(value) is type(default), name
        assert value == default, f"{name}: YAML and declared default disagree"
    assert TrainerParams.from_values(values).as_values() == values


def test_defaults_are_the_goal_defaults():
    params = TrainerParams.from_values({})
    assert params.defaults == TrainerDefaults()  # the same defaults as `retinaface train`'s goal translation


@pytest.mark.parametrize(
    "values, message",
    [
        ({"log_after": 0}, "log_after must be"),
        ({"log_after": 2.5}, "log_after must be an int"),
        ({"image_size": 100}, "image_size must be a multiple of 32"),
        ({"image_size": 32}, "image_size must be a multiple of 32 of at least 64"),
        ({"image_size": True}, "image_size"),
        ({"default_device": "gpu"}, "default_device must be 'cpu', 'cuda' or 'cuda:N'"),
        ({"workdir": 3}, "workdir must be a string"),
        ({"learning_rate": 1.0}, "unknown parameter"),
    ],
)
def test_bad_values_are_refused_with_the_reason(values, message):
    with pytest.raises(ParameterError, match=message):
        TrainerParams.from_values(values)


def test_good_values_pass():
    params = TrainerParams.from_values({"log_after": 1, "image_size": 160, "default_device": "cuda:1"})
    assert (params.log_after, params.image_size, params.default_device) == (1, 160, "cuda:1")
    assert params.updated({"image_size": 0}).image_size == 0


def test_descriptors_carry_the_table_ranges():
    from rcl_interfaces.msg import ParameterType

    descriptors = parameter_descriptors(TRAINER_PARAMETERS)
    assert list(descriptors) == list(TRAINER_PARAMETER_NAMES)
    log_after = descriptors["log_after"].integer_range[0]
    assert (log_after.from_value, log_after.to_value) == tuple(TRAINING_BOUNDS["log_after"][:2])
    assert descriptors["image_size"].type == ParameterType.PARAMETER_INTEGER
    assert descriptors["workdir"].type == ParameterType.PARAMETER_STRING
    assert all(d.description for d in descriptors.values())


@pytest.mark.ros
def test_node_declares_the_table_and_refuses_bad_changes():
    rclpy = require_rclpy()
    from rclpy.parameter import Parameter

    from retinaface_ros.ros.trainer_node import TrainerNode

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = TrainerNode(context=context)
        try:
            for spec in TRAINER_PARAMETERS:
                assert node.get_parameter(spec.name).value == spec.default
                assert node.describe_parameter(spec.name).description == spec.description
            refused = node.set_parameters([Parameter("image_size", value=100)])[0]
            assert not refused.successful and "multiple of 32" in refused.reason
            assert node.get_parameter("image_size").value == 0  # unchanged
            refused = node.set_parameters([Parameter("default_device", value="tpu")])[0]
            assert not refused.successful and "default_device" in refused.reason
            accepted = node.set_parameters([Parameter("image_size", value=192)])[0]
            assert accepted.successful and node.get_parameter("image_size").value == 192
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
