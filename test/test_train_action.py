"""The Train action round-trips goal, feedback and result through a real rclpy action server and client."""

from __future__ import annotations

import json
import threading
import time

import pytest
from ros_helpers import require_rclpy, wait_for

pytestmark = pytest.mark.ros

rclpy = require_rclpy()

from rclpy.action import ActionClient, ActionServer  # noqa: E402
from rclpy.callback_groups import ReentrantCallbackGroup  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402

from retinaface_ros.ros.interfaces import import_interfaces  # noqa: E402

ACTION_NAME = "retinaface/train"
N_FEEDBACK = 3


def test_train_action_feedback_and_result():
    _, _, train = import_interfaces()
    context = rclpy.Context()
    rclpy.init(context=context)
    server_node = rclpy.create_node("rf_test_trainer", context=context)
    client_node = rclpy.create_node("rf_test_train_client", context=context)
    goals_seen = []

    def execute(goal_handle):
        goal = goal_handle.request
        goals_seen.append(goal)
        # Feedback is a plain topic: publish only once the client's subscription is matched.
        wait_for(lambda: server_node.count_subscribers(f"{ACTION_NAME}/_action/feedback") > 0, 10.0)
        for i in range(N_FEEDBACK):
            feedback = train.Feedback(
                epoch=i,
                iteration=10 * i,
                iterations_per_epoch=30,
                loss=3.0 - i,
                loss_box=1.0,
                loss_class=0.5,
                loss_landmarks=1.5 - i * 0.5,
                learning_rate=goal.lr,
                eta_sec=float(N_FEEDBACK - i),
                val_recall=-1.0,
            )
            goal_handle.publish_feedback(feedback)
            time.sleep(0.05)
        goal_handle.succeed()
        return train.Result(
            success=True,
            message=f"trained {goal.backbone} for {goal.epochs} epochs",
            model_path=f"{goal.output_path}/model.pth",
            epochs_completed=goal.epochs,
            final_loss=0.75,
            val_recall=0.5,
            stats_json=json.dumps({"losses": [3.0, 2.0, 1.0]}),
        )

    server = ActionServer(
        server_node, train, ACTION_NAME, execute_callback=execute, callback_group=ReentrantCallbackGroup()
    )
    client = ActionClient(client_node, train, ACTION_NAME)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    executor.add_node(server_node)
    executor.add_node(client_node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        assert client.wait_for_server(timeout_sec=10.0), "action server not discovered"
        feedbacks = []
        goal = train.Goal(
            dataset_root="/data/mini_wider/train",
            val_dataset_root="",
            backbone="mobilenet0.25",
            pretrained_model="",
            from_scratch=True,
            epochs=3,
            batch_size=4,
            lr=1e-3,
            lr_steps="2",
            flip=True,
            checkpoint_after_iter=0,
            checkpoint_load_iter=0,
            val_after=0,
            device="cpu",
            output_path="/tmp/rf_out",
        )
        send_future = client.send_goal_async(
            goal, feedback_callback=lambda msg: feedbacks.append(msg.feedback)
        )
        assert wait_for(send_future.done, 10.0), "goal not answered"
        goal_handle = send_future.result()
        assert goal_handle.accepted
        result_future = goal_handle.get_result_async()
        assert wait_for(result_future.done, 15.0), "no result"
        response = result_future.result()
        # Feedback and result travel on different channels: allow the last feedback to arrive.
        assert wait_for(lambda: len(feedbacks) == N_FEEDBACK, 5.0), f"got {len(feedbacks)} feedbacks"
    finally:
        executor.shutdown()
        spinner.join(timeout=10)
        client.destroy()
        server.destroy()
        client_node.destroy_node()
        server_node.destroy_node()
        context.try_shutdown()

    assert goals_seen[0].backbone == "mobilenet0.25"
    assert goals_seen[0].from_scratch is True
    assert goals_seen[0].lr_steps == "2"

    from action_msgs.msg import GoalStatus

    assert response.status == GoalStatus.STATUS_SUCCEEDED
    result = response.result
    assert result.success is True
    assert result.message == "trained mobilenet0.25 for 3 epochs"
    assert result.model_path == "/tmp/rf_out/model.pth"
    assert result.epochs_completed == 3
    assert result.final_loss == pytest.approx(0.75)
    assert result.val_recall == pytest.approx(0.5)
    assert json.loads(result.stats_json) == {"losses": [3.0, 2.0, 1.0]}

    assert [f.epoch for f in feedbacks] == [0, 1, 2]
    assert [f.iteration for f in feedbacks] == [0, 10, 20]
    assert [f.loss for f in feedbacks] == pytest.approx([3.0, 2.0, 1.0])
    assert [f.loss_landmarks for f in feedbacks] == pytest.approx([1.5, 1.0, 0.5])
    assert all(f.iterations_per_epoch == 30 for f in feedbacks)
    assert all(f.learning_rate == pytest.approx(1e-3) for f in feedbacks)
    assert [f.eta_sec for f in feedbacks] == pytest.approx([3.0, 2.0, 1.0])
    assert all(f.val_recall == pytest.approx(-1.0) for f in feedbacks)
