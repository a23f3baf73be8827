"""The trainer node over real rclpy + DDS: result + feedback + deploy, cancel, one goal at a time, aborts."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from ros_helpers import PYTHON, REPO_ROOT, python_subprocess_env, require_rclpy, wait_for
from training_helpers import mini_wider, mini_wider_root

pytestmark = pytest.mark.ros
rclpy = require_rclpy()

from action_msgs.msg import GoalStatus  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from retinaface_ros.learner import RetinaFaceLearner  # noqa: E402
from retinaface_ros.ros.interfaces import import_interfaces  # noqa: E402
from retinaface_ros.ros.trainer_node import TrainerNode  # noqa: E402
from retinaface_ros.training import load_checkpoint  # noqa: E402

TRAIN = import_interfaces()[2]


@pytest.fixture(scope="module")
def ros(tmp_path_factory):
    context = rclpy.Context()
    rclpy.init(context=context)
    workdir = tmp_path_factory.mktemp("trainer")
    trainer = TrainerNode(
        context=context,
        parameter_overrides=[
            Parameter("log_after", value=1),
            Parameter("default_device", value="cpu"),
            Parameter("image_size", value=160),
            Parameter("workdir", value=str(workdir)),
        ],
    )
    client_node = rclpy.create_node("trainer_test_client", context=context)
    detector = rclpy.create_node("fake_detector", context=context)  # a real node with a model_path parameter
    detector.declare_parameter("model_path", "")
    client = ActionClient(client_node, TRAIN, "train")
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    for node in (trainer, client_node, detector):
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    assert client.wait_for_server(timeout_sec=10.0)
    yield {
        "trainer": trainer,
        "client": client,
        "detector": detector,
        "workdir": workdir,
        "context": context,
        "executor": executor,
    }
    executor.shutdown()
    for node in (trainer, client_node, detector):
        node.destroy_node()
    rclpy.shutdown(context=context)
    spinner.join(timeout=5)


def _goal(**fields) -> object:
    goal = TRAIN.Goal()
    goal.dataset_root = str(mini_wider_root())
    goal.device = "cpu"
    for key, value in fields.items():
        setattr(goal, key, value)
    return goal


def _send(client, goal, feedback: list | None = None):
    future = client.send_goal_async(
        goal, feedback_callback=(lambda m: feedback.append(m.feedback)) if feedback is not None else None
    )
    assert wait_for(future.done, 15.0)
    return future.result()


def _result(handle, timeout: float = 120.0):
    future = handle.get_result_async()
    assert wait_for(future.done, timeout), "no result"
    return future.result()


def test_bad_goals_abort_with_a_message_and_the_node_stays_up(ros, tmp_path: Path) -> None:
    for goal, text in (
        (_goal(dataset_root=str(tmp_path / "missing")), "dataset_root not found"),
        (_goal(backbone="vgg16"), "unknown backbone"),
        (_goal(lr_steps="a,b"), "lr_steps"),
        (_goal(pretrained_model=str(tmp_path / "w.pth")), "pretrained_model not found"),
        (_goal(epochs=-5), "goal field epochs must be 0 (the default) or positive, got -5"),
        (_goal(batch_size=-3), "goal field batch_size must be 0 (the default) or positive, got -3"),
        (_goal(lr=-1.0), "goal field lr must be 0 (the default) or positive, got -1.0"),
        (_goal(val_dataset_root="/"), "val_dataset_root / is not a WIDER FACE validation set"),
    ):
        handle = _send(ros["client"], goal)
        assert handle.accepted
        answer = _result(handle, 30.0)
        assert answer.status == GoalStatus.STATUS_ABORTED
        assert text in answer.result.message and not answer.result.success


def test_goal_feedback_result_and_deploy(ros, mnet_weights, tmp_path: Path) -> None:
    ros["trainer"].set_parameters([Parameter("deploy_to", value="fake_detector")])
    feedback: list = []
    goal = _goal(
        pretrained_model=str(mnet_weights),
        epochs=1,
        batch_size=8,
        lr=1e-4,
        val_dataset_root=str(mini_wider_root()),
        val_after=1,
        output_path=str(tmp_path / "run"),
    )
    handle = _send(ros["client"], goal, feedback)
    assert handle.accepted
    answer = _result(handle)
    ros["trainer"].set_parameters([Parameter("deploy_to", value="")])
    result = answer.result
    assert answer.status == GoalStatus.STATUS_SUCCEEDED, result.message
    assert result.success and result.epochs_completed == 1 and "deployed to /fake_detector" in result.message
    assert 0.0 <= result.val_recall <= 1.0 and np.isfinite(result.final_loss)
    assert len(feedback) >= 3  # every iteration (log_after=1: 2 iterations) + the epoch end
    assert feedback[0].iterations_per_epoch == 2 and feedback[0].learning_rate == pytest.approx(1e-4)
    assert feedback[-1].val_recall == pytest.approx(result.val_recall)
    model_path = Path(result.model_path)
    assert model_path.exists() and model_path.is_relative_to(tmp_path / "run")
    assert ros["detector"].get_parameter("model_path").value == result.model_path
    learner = RetinaFaceLearner("mnet", device="cpu")
    learner.load(model_path, verbose=False)
    image, annotations = mini_wider("val", 1)[0]
    faces = learner.infer(image, threshold=0.5, scales=(480, 860))
    assert len(faces.data) >= 0.5 * len(annotations)


def test_cancel_mid_run_and_second_goal_rejected(ros, tmp_path: Path) -> None:
    feedback: list = []
    goal = _goal(from_scratch=True, epochs=1000, batch_size=2, output_path=str(tmp_path / "long"))
    handle = _send(ros["client"], goal, feedback)
    assert handle.accepted
    assert wait_for(lambda: len(feedback) >= 2, 60.0)
    second = _send(ros["client"], _goal(from_scratch=True, epochs=1))
    assert not second.accepted  # one goal at a time
    cancel = handle.cancel_goal_async()
    assert wait_for(cancel.done, 10.0)
    answer = _result(handle, 60.0)
    assert answer.status == GoalStatus.STATUS_CANCELED
    checkpoint = Path(answer.result.model_path)
    assert checkpoint.is_file() and str(checkpoint) in answer.result.message
    assert load_checkpoint(checkpoint)["backbone"] == "mnet"
    RetinaFaceLearner("mnet", device="cpu").load(checkpoint, verbose=False)  # the weights load as a model
    # the node takes the next goal once the canceled one is done
    handle = _send(
        ros["client"], _goal(from_scratch=True, epochs=1, batch_size=8, output_path=str(tmp_path / "after"))
    )
    assert handle.accepted
    assert _result(handle).status == GoalStatus.STATUS_SUCCEEDED


def test_ctrl_c_mid_run_stops_cleanly_with_a_checkpoint(ros, tmp_path: Path) -> None:
    """A trainer process in a namespace, SIGINT during a long run: exit 0, the run's checkpoint on disk."""
    namespace = f"/train{os.getpid()}"
    log = tmp_path / "trainer.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [PYTHON, "-m", "retinaface_ros.ros.trainer_node", "--ros-args", "-r", f"__ns:={namespace}"]
            + ["--params-file", str(REPO_ROOT / "config" / "trainer.yaml"), "-p", "log_after:=1"]
            + ["-p", "default_device:=cpu", "-p", "image_size:=160", "-p", f"workdir:={tmp_path}"],
            cwd=REPO_ROOT,
            env=python_subprocess_env(PYTHONUNBUFFERED="1"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    client_node = rclpy.create_node("ctrl_c_client", context=ros["context"])
    try:
        client = ActionClient(client_node, TRAIN, f"{namespace}/train")
        executor = ros["executor"]
        executor.add_node(client_node)
        assert client.wait_for_server(timeout_sec=60.0), log.read_text()
        feedback: list = []
        handle = _send(client, _goal(from_scratch=True, epochs=1000, batch_size=2), feedback)
        assert handle.accepted and wait_for(lambda: len(feedback) >= 1, 60.0), log.read_text()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, log.read_text()
        text = log.read_text()
        assert "stopped by shutdown" in text and "Traceback" not in text, text
        checkpoints = list(tmp_path.glob("run-*/checkpoints/checkpoint_stopped_*.pth"))
        assert len(checkpoints) == 1 and load_checkpoint(checkpoints[0])["backbone"] == "mnet"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        ros["executor"].remove_node(client_node)
        client_node.destroy_node()
