"""``retinaface train-goal``: send a Train goal to a trainer node and follow it (no ros2cli needed).

A progress bar follows the feedback, Ctrl-C cancels the goal (and waits until the trainer has stopped and
written its checkpoint; a second Ctrl-C stops waiting), and the result is printed. The goal is re-sent under
the same id when a just-started trainer does not answer (see :mod:`retinaface_ros.ros.train_client`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any

from retinaface_ros.commands import UsageError
from retinaface_ros.training import goal_fields

EXIT_INTERRUPTED = 130  # the user canceled with Ctrl-C


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-goal",
        help="send a Train goal to a trainer node, show its progress, print the result",
        description="Send a retinaface_interfaces/action/Train goal to a running trainer node "
        "(`ros2 run retinaface_ros trainer_node`), show a progress bar fed by its feedback and print the "
        "result. Ctrl-C cancels the goal. Fields: " + ", ".join(goal_fields.FIELDS_BY_NAME) + ".",
    )
    parser.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a goal field, e.g. -p dataset_root=data/wider -p epochs=10 (repeatable; wins over --yaml)",
    )
    parser.add_argument("--yaml", type=Path, default=None, help="goal file: a YAML mapping of goal fields")
    parser.add_argument("--action", default="train", help="action name (default 'train'; e.g. /robot1/train)")
    parser.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the trainer to appear (default 30)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=handler)


def goal_values(args: argparse.Namespace) -> dict[str, Any]:
    """The goal's fields: defaults, then the --yaml file, then each --param."""
    values = goal_fields.defaults()
    if args.yaml is not None:
        values.update(goal_fields.load_yaml(args.yaml))
    values.update(goal_fields.parse_params(args.param))
    if not values["dataset_root"].strip():
        raise UsageError("the goal needs dataset_root (e.g. -p dataset_root=/data/widerface)")
    return values


def handler(args: argparse.Namespace) -> int:
    if args.wait < 0 or not math.isfinite(args.wait):
        raise UsageError(f"--wait must be a number of seconds ≥ 0, got {args.wait}")
    values = goal_values(args)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from retinaface_ros.ros.interfaces import import_interfaces

    try:
        train = import_interfaces()[2]
    except RuntimeError as error:
        raise UsageError(str(error)) from None
    context = rclpy.Context()
    # no rclpy signal handler: Ctrl-C must reach us as KeyboardInterrupt, with the context still up to cancel
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node(f"retinaface_train_goal_{os.getpid()}", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        return _follow(node, train, train.Goal(**values), args)
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
        spinner.join(timeout=5)


def _follow(node: Any, train: Any, goal: Any, args: argparse.Namespace) -> int:
    from action_msgs.msg import GoalStatus

    from retinaface_ros.ros.train_client import STATUS_NAMES, NoAnswerError, TrainClient, wait_future
    from retinaface_ros.training.progress_bar import TrainingProgressBar

    client = TrainClient(node, train, args.action)
    name = node.resolve_topic_name(args.action)
    if not client.wait_for_server(args.wait):
        print(
            f"retinaface: error: no trainer serves the action {name} after {args.wait:g} s "
            f"(is trainer_node running, with the same ROS_DOMAIN_ID? ROS_DOMAIN_ID="
            f"{os.environ.get('ROS_DOMAIN_ID', '0')})",
            file=sys.stderr,
        )
        return 1
    bar = TrainingProgressBar(epochs=goal.epochs or None, disable=args.quiet)

    def on_feedback(message: Any) -> None:
        bar(_feedback_info(message.feedback, goal.epochs))

    def on_retry(attempt: int, waited: float) -> None:
        bar.write(
            f"no answer from {name} within {waited:g} s; sending the goal again (attempt {attempt + 1})"
        )

    interrupted = False
    try:
        try:
            handle = client.send_goal(goal, on_feedback, on_retry=on_retry)
        except NoAnswerError as error:
            print(f"retinaface: error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("retinaface: interrupted before the trainer answered the goal", file=sys.stderr)
            return EXIT_INTERRUPTED
        if not handle.accepted:
            print(
                f"retinaface: error: {name} rejected the goal (a run is in progress, or the trainer is "
                "shutting down)",
                file=sys.stderr,
            )
            return 1
        result_future = handle.get_result_async()
        try:
            wait_future(result_future, None)
        except KeyboardInterrupt:
            interrupted = True
            bar.write(
                "Ctrl-C: canceling the goal; the trainer stops at the next iteration and writes a "
                "checkpoint (Ctrl-C again to stop waiting)"
            )
            try:
                cancel = handle.cancel_goal_async()
                wait_future(cancel, 10.0)
                wait_future(result_future, None)
            except KeyboardInterrupt:
                print("retinaface: not waiting for the canceled goal", file=sys.stderr)
                return EXIT_INTERRUPTED
    finally:
        bar.close()
        client.destroy()
    answer = result_future.result()
    status = STATUS_NAMES.get(answer.status, str(answer.status))
    _print_result(answer.result, status, args.json)
    if answer.status == GoalStatus.STATUS_SUCCEEDED:
        return 0
    return EXIT_INTERRUPTED if interrupted else 1


def _feedback_info(feedback: Any, epochs: int) -> dict:
    """Train feedback → the dict ``fit`` reports (what the progress bar reads)."""
    return {
        "event": "iteration",
        "epoch": feedback.epoch,
        "epochs": epochs or None,
        "iteration": feedback.iteration,
        "iterations_per_epoch": max(1, feedback.iterations_per_epoch),
        "loss": feedback.loss,
        "lr": feedback.learning_rate,
        "eta_sec": feedback.eta_sec,
        "val_recall": feedback.val_recall,
    }


def _print_result(result: Any, status: str, as_json: bool) -> None:
    fields = {
        "status": status,
        "success": bool(result.success),
        "message": result.message,
        "model_path": result.model_path,
        "epochs_completed": int(result.epochs_completed),
        "final_loss": None if math.isnan(result.final_loss) else float(result.final_loss),
        "val_recall": float(result.val_recall) if result.val_recall >= 0 else None,
    }
    if as_json:
        try:
            fields["stats"] = json.loads(result.stats_json) if result.stats_json else None
        except ValueError:
            fields["stats"] = result.stats_json
        print(json.dumps(fields))
        return
    for key, value in fields.items():
        print(f"{key}: {'n/a' if value is None else value}")
