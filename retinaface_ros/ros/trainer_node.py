"""ROS 2 trainer node ``retinaface_trainer``: the ``train`` action (retinaface_interfaces/action/Train).

It converts goals into a training job (:mod:`retinaface_ros.training.goal`), prepares it as
``retinaface train`` does (:func:`retinaface_ros.training.job_setup.prepare_job`), runs ``learner.fit``
on an executor thread of a ReentrantCallbackGroup (so the node keeps
answering cancels and parameter calls), turns progress into feedback, saves the model with
``learner.save`` and optionally points a detector's ``model_path`` at it. One goal at a time.

A goal whose settings are wrong (missing dataset, unknown backbone, ...) is accepted and aborted at once with
the reason in ``result.message``, which the client can read (a rejection carries no reason). On Ctrl-C or
shutdown a run stops at the next iteration and writes its checkpoint before the node is destroyed.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from typing import Any, NoReturn

from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue, SetParametersResult
from rcl_interfaces.srv import SetParameters
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from retinaface_ros.ros.interfaces import import_interfaces
from retinaface_ros.ros.node_runner import run_node
from retinaface_ros.ros.params import ParameterError, parameter_descriptors
from retinaface_ros.ros.process_exit import exit_process
from retinaface_ros.ros.trainer_params import (
    TRAINER_PARAMETER_NAMES,
    TRAINER_PARAMETERS,
    TRAINER_SPECS,
    TrainerParams,
)
from retinaface_ros.training.goal import goal_to_job

NODE_NAME = "retinaface_trainer"
DEPLOY_TIMEOUT_SEC = 30.0
SHUTDOWN_WAIT_SEC = 120.0  # destroy_node waits this long for a run to stop and write its checkpoint


class TrainerNode(Node):
    """Action server ``train``; parameters from :data:`~retinaface_ros.ros.trainer_params.TRAINER_PARAMETERS`
    (log_after, default_device, deploy_to, image_size, workdir, tensorboard_dir), read at each goal."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._train_type = import_interfaces()[2]
        descriptors = parameter_descriptors(TRAINER_PARAMETERS)
        for spec in TRAINER_PARAMETERS:
            self.declare_parameter(spec.name, spec.default, descriptors[spec.name])
        self._params().defaults  # noqa: B018 - refuse bad -p / YAML values at start, with the reason
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._group = ReentrantCallbackGroup()
        self._lock = threading.Lock()
        self._busy = False
        self._idle = threading.Event()
        self._idle.set()
        self._shutdown = threading.Event()  # set by destroy_node (Ctrl-C): a run stops at its next iteration
        self._server = ActionServer(
            self,
            self._train_type,
            "train",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=self._on_cancel,
            callback_group=self._group,
        )

    # ------------------------------------------------------------------------------------------ callbacks
    def _on_goal(self, _goal: Any) -> GoalResponse:
        with self._lock:
            if self._busy or self._shutdown.is_set():
                why = "the node is shutting down" if self._shutdown.is_set() else "a run is in progress"
                self.get_logger().warning(f"train goal rejected: {why}")
                return GoalResponse.REJECT
            self._busy = True
        return GoalResponse.ACCEPT

    def _on_cancel(self, _goal_handle: Any) -> CancelResponse:
        self.get_logger().info("cancel requested: stopping at the next iteration")
        return CancelResponse.ACCEPT

    def _params(self) -> TrainerParams:
        """The parameters now, validated (they apply from the next goal on)."""
        return TrainerParams.from_values({n: self.get_parameter(n).value for n in TRAINER_PARAMETER_NAMES})

    def _on_set_parameters(self, parameters: list[Any]) -> SetParametersResult:
        """Refuse a change the table's validation refuses (the reason goes back to the caller)."""
        changes = {p.name: p.value for p in parameters if p.name in TRAINER_SPECS}
        try:
            self._params().updated(changes)
        except ParameterError as error:
            return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def _stopping(self) -> bool:
        """Shutting down: destroy_node was called, or Ctrl-C already invalidated the context."""
        return self._shutdown.is_set() or not self.context.ok()

    def _execute(self, goal_handle: Any) -> Any:
        self._idle.clear()  # from here on destroy_node waits for this run (not for a goal never started)
        result = self._train_type.Result()
        result.val_recall = -1.0
        result.final_loss = float("nan")  # as the action says: NaN until an epoch completed
        try:
            self._run(goal_handle, result)
        except BaseException as error:  # noqa: BLE001 - every failure aborts the goal, the node stays up
            self.get_logger().error(f"training failed: {type(error).__name__}: {error}")
            self.get_logger().debug(traceback.format_exc())
            result.success = False
            result.message = f"{type(error).__name__}: {error}"
            _free_cuda_memory()
            self._end_goal(goal_handle.abort)
        finally:
            with self._lock:
                self._busy = False
                self._idle.set()
        return result

    def _end_goal(self, transition: Any) -> None:
        """``goal_handle.succeed/canceled/abort``; after a shutdown the action server may be gone already."""
        try:
            transition()
        except Exception as error:  # noqa: BLE001 - the context was shut down under the run
            if not self._stopping():
                raise
            self.get_logger().debug(f"goal state not sent during shutdown: {error!r}")

    def destroy_node(self) -> None:
        """Stop a run in progress at its next iteration, let it write its checkpoint, then tear down."""
        self._shutdown.set()
        if not self._idle.is_set():
            self.get_logger().info("shutting down: stopping the training run at the next iteration")
            if not self._idle.wait(SHUTDOWN_WAIT_SEC):
                self.get_logger().warning(f"training run still busy after {SHUTDOWN_WAIT_SEC:.0f} s")
        super().destroy_node()

    # ------------------------------------------------------------------------------------------ training
    def _run(self, goal_handle: Any, result: Any) -> None:
        from retinaface_ros.learner import cuda_available
        from retinaface_ros.training.job_setup import prepare_job
        from retinaface_ros.training.progress_log import ProgressLog
        from retinaface_ros.training.tensorboard_log import TensorBoardLog

        params = self._params()
        job = goal_to_job(goal_handle.request, params.defaults, cuda_available())
        prepared = prepare_job(job)  # the same path as `retinaface train`
        learner, dataset, val = prepared.learner, prepared.dataset, prepared.val_dataset
        job.output_path.mkdir(parents=True, exist_ok=True)
        validation = f", validating on {val!r}" if val is not None else ""
        self.get_logger().info(
            f"training {learner.backbone} on {dataset!r}{validation} for {learner.epochs} epoch(s) "
            f"on {learner.device}; output {job.output_path}"
        )
        state = {"val_recall": -1.0}
        feedback_type = self._train_type.Feedback
        log = ProgressLog(self.get_logger().info)
        board_dir = params.tensorboard_dir.strip()
        board = TensorBoardLog.create(board_dir or job.output_path / "tensorboard", learner, val)

        def on_progress(info: dict) -> None:
            state["val_recall"] = info["val_recall"]
            log(info)
            if board is not None:
                board(info)
            if self._stopping():
                return  # the feedback publisher may be gone; the run stops at the next iteration
            try:
                publish(info)
            except Exception:  # Ctrl-C can invalidate the context between the check and the publish
                if not self._stopping():
                    raise

        def publish(info: dict) -> None:
            goal_handle.publish_feedback(
                feedback_type(
                    epoch=int(info["epoch"]),
                    iteration=int(info["iteration"]),
                    iterations_per_epoch=int(info["iterations_per_epoch"]),
                    loss=float(info["loss"]),
                    loss_box=float(info["loss_box"]),
                    loss_class=float(info["loss_class"]),
                    loss_landmarks=float(info["loss_landmarks"]),
                    learning_rate=float(info["lr"]),
                    eta_sec=float(info["eta_sec"]),
                    val_recall=float(info["val_recall"]),
                )
            )

        started = time.monotonic()
        try:
            history = prepared.fit(
                job, on_progress, should_stop=lambda: goal_handle.is_cancel_requested or self._stopping()
            )
        finally:
            if board is not None:
                board.close()
        history["seconds"] = time.monotonic() - started
        result.epochs_completed = int(history["epochs_completed"])
        result.final_loss = float(history["loss"][-1]) if history["loss"] else float("nan")
        result.val_recall = float(history["val_recall"][-1]) if history.get("val_recall") else -1.0
        result.stats_json = json.dumps(history)
        if history["stopped"]:
            checkpoint = history["last_checkpoint"] or ""
            result.success = False
            result.model_path = checkpoint
            why = "stopped by shutdown" if self._stopping() else "canceled"
            result.message = f"{why} after {result.epochs_completed} epoch(s); checkpoint {checkpoint}"
            if checkpoint and result.epochs_completed > 0:
                result.message += (
                    f"; resume with checkpoint_load_iter={result.epochs_completed} and "
                    f"output_path={job.output_path}"
                )
            elif checkpoint:
                result.message += " (within the first epoch: a new goal starts afresh)"
            self.get_logger().info(result.message)
            self._end_goal(goal_handle.canceled if goal_handle.is_cancel_requested else goal_handle.abort)
            return
        model_path = learner.save(job.output_path / f"retinaface_{learner.backbone}", verbose=False)
        result.model_path = str(model_path)
        result.success = True
        result.message = f"trained {result.epochs_completed} epoch(s); model saved to {model_path}"
        deploy_to = params.deploy_to.strip().rstrip("/")
        if deploy_to:
            result.message += "; " + self._deploy(deploy_to, str(model_path))
        self.get_logger().info(result.message)
        self._end_goal(goal_handle.succeed)

    def _deploy(self, node_name: str, model_path: str) -> str:
        """Set ``node_name``'s ``model_path`` parameter (a relative name resolves in this node's namespace);
        returns a line for the result message."""
        service = self.resolve_service_name(f"{node_name}/set_parameters")  # relative: in our namespace
        node_name = service.removesuffix("/set_parameters")
        client = self.create_client(SetParameters, service, callback_group=self._group)
        try:
            if not client.wait_for_service(timeout_sec=5.0):
                return f"deploy to {node_name} failed: its set_parameters service is not available"
            value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=model_path)
            future = client.call_async(
                SetParameters.Request(parameters=[Parameter(name="model_path", value=value)])
            )
            done = threading.Event()
            future.add_done_callback(lambda _f: done.set())
            if not done.wait(DEPLOY_TIMEOUT_SEC) or future.result() is None:
                return f"deploy to {node_name} failed: no answer within {DEPLOY_TIMEOUT_SEC:.0f} s"
            answer = future.result().results[0]
            if not answer.successful:
                return f"deploy to {node_name} refused: {answer.reason}"
            return f"deployed to {node_name}"
        finally:
            self.destroy_client(client)


def _free_cuda_memory() -> None:
    try:
        from retinaface_ros.learner import free_cuda_memory

        free_cuda_memory()
    except Exception:  # noqa: BLE001 - best effort after a failure
        pass


def main(args: list[str] | None = None) -> NoReturn:
    """Run the trainer node on a MultiThreadedExecutor; exit 0 on Ctrl-C / shutdown, 1 on failure.

    The process ends as soon as the node is down (see :mod:`.process_exit`): Ctrl-C stops an idle trainer
    at once, even after a run left torch and a data loader behind."""
    exit_process(run_node(NODE_NAME, TrainerNode, lambda: MultiThreadedExecutor(num_threads=4), args=args))


if __name__ == "__main__":
    main()
