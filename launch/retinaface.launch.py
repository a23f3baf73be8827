"""Start the RetinaFace detector (and optionally the trainer node and rviz2).

    ros2 launch retinaface_ros retinaface.launch.py image_topic:=/camera/image_raw model_path:=/path/model.pth

Arguments left empty keep the value from ``params_file`` (config/detector.yaml by default).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "retinaface_ros"


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "yes", "on")


def _launch_setup(context, *args, **kwargs):
    share = get_package_share_directory(PACKAGE)
    arg = {
        name: LaunchConfiguration(name).perform(context)
        for name in (
            "image_topic",
            "namespace",
            "params_file",
            "model_path",
            "device",
            "runtime",
            "use_compressed",
            "qos_reliability",
            "tracking",
            "detect_rate_hz",
            "anonymize",
            "start_trainer",
            "use_rviz",
            "hri",
        )
    }
    overrides = {}
    if arg["model_path"]:
        overrides["model_path"] = arg["model_path"]
    if arg["device"]:
        overrides["device"] = arg["device"]
    if arg["runtime"]:
        overrides["runtime"] = arg["runtime"]
    if arg["use_compressed"]:
        overrides["use_compressed"] = _truthy(arg["use_compressed"])
    if arg["qos_reliability"]:
        overrides["qos_reliability"] = arg["qos_reliability"]
    if arg["hri"]:
        overrides["hri"] = _truthy(arg["hri"])
    if arg["tracking"]:
        overrides["tracking"] = _truthy(arg["tracking"])
    if arg["detect_rate_hz"]:
        overrides["detect_rate_hz"] = float(arg["detect_rate_hz"])
    if arg["anonymize"]:
        overrides["anonymize"] = arg["anonymize"]
    image_topic = arg["image_topic"]
    actions = [
        Node(
            package=PACKAGE,
            executable="detector_node",
            name="retinaface_detector",
            namespace=arg["namespace"],
            parameters=[arg["params_file"], overrides],
            remappings=[("image", image_topic), ("image/compressed", image_topic + "/compressed")],
            output="screen",
            emulate_tty=True,
        )
    ]
    if _truthy(arg["start_trainer"]):
        actions.append(
            Node(
                package=PACKAGE,
                executable="trainer_node",
                name="retinaface_trainer",
                namespace=arg["namespace"],
                parameters=[os.path.join(share, "config", "trainer.yaml")],
                output="screen",
                emulate_tty=True,
                sigterm_timeout="60",  # on Ctrl-C a run stops at its next iteration and writes a checkpoint
            )
        )
    if _truthy(arg["use_rviz"]):
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                namespace=arg["namespace"],
                arguments=["-d", os.path.join(share, "config", "retinaface.rviz")],
                output="screen",
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "image_topic",
                default_value="/camera/image_raw",
                description="sensor_msgs/Image topic the detector subscribes to",
            ),
            DeclareLaunchArgument("namespace", default_value="", description="namespace of the nodes"),
            DeclareLaunchArgument(
                "params_file",
                default_value=os.path.join(share, "config", "detector.yaml"),
                description="detector parameters (YAML)",
            ),
            DeclareLaunchArgument(
                "model_path",
                default_value="",
                description=".pth file or OpenDR folder ('' = from params_file)",
            ),
            DeclareLaunchArgument(
                "device", default_value="", description="auto | cpu | cuda | cuda:N ('' = from params_file)"
            ),
            DeclareLaunchArgument(
                "runtime",
                default_value="",
                description="auto | torch | onnxruntime | openvino ('' = from params_file)",
            ),
            DeclareLaunchArgument(
                "use_compressed",
                default_value="",
                description="true: subscribe to <image_topic>/compressed ('' = from params_file)",
            ),
            DeclareLaunchArgument(
                "qos_reliability",
                default_value="",
                description="input QoS, auto | best_effort | reliable ('' = from params_file); auto "
                "subscribes reliable when every publisher of the input is reliable",
            ),
            DeclareLaunchArgument(
                "hri",
                default_value="",
                description="true: REP 155 (ROS4HRI) face topics under /humans/faces and face_/gaze_ TF "
                "frames ('' = from params_file)",
            ),
            DeclareLaunchArgument(
                "tracking",
                default_value="",
                description="true: stable face ids and smoothed boxes; false: every frame on its own "
                "('' = from params_file)",
            ),
            DeclareLaunchArgument(
                "detect_rate_hz",
                default_value="",
                description="with tracking: detector runs per second per camera, frames between are "
                "tracked (0 = every frame; '' = from params_file)",
            ),
            DeclareLaunchArgument(
                "anonymize",
                default_value="",
                description="image_anonymized with faces covered: off | blur | mosaic | solid "
                "('' = from params_file)",
            ),
            DeclareLaunchArgument(
                "start_trainer", default_value="false", description="also start trainer_node"
            ),
            DeclareLaunchArgument(
                "use_rviz", default_value="false", description="also start rviz2 with the config"
            ),
            OpaqueFunction(function=_launch_setup),
        ]
    )
