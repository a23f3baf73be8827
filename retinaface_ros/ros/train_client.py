"""A Train action client that survives a freshly (re)started trainer.

``ActionClient.wait_for_server`` returns once the graph shows the action's services and topics, which can be
before DDS has matched every endpoint: a goal request sent at that moment, or its response, may be lost, and
the client then waits forever. :meth:`TrainClient.send_goal` therefore re-sends the request under the **same
goal id** when no answer comes within a timeout (doubling each time). The server runs a goal id once: when
the first request got through and only its response was lost, the repeat is refused as a duplicate, and the
goal's entry on the action's status topic (which the client follows) shows that it was accepted after all.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from action_msgs.msg import GoalStatus, GoalStatusArray
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.node import Node
from rclpy.qos import qos_profile_action_status_default
from rclpy.task import Future
from unique_identifier_msgs.msg import UUID

STATUS_NAMES = {
    GoalStatus.STATUS_UNKNOWN: "unknown",
    GoalStatus.STATUS_ACCEPTED: "accepted",
    GoalStatus.STATUS_EXECUTING: "executing",
    GoalStatus.STATUS_CANCELING: "canceling",
    GoalStatus.STATUS_SUCCEEDED: "succeeded",
    GoalStatus.STATUS_CANCELED: "canceled",
    GoalStatus.STATUS_ABORTED: "aborted",
}


STATUS_WAIT_SEC = 2.0  # how long a refused repeat waits for the goal id on the status topic


class NoAnswerError(TimeoutError):
    """The action server never answered a goal request."""


def wait_future(future: Future, timeout: float | None) -> bool:
    """Block until ``future`` is done (another thread spins the executor); False after ``timeout`` s.

    Waits in short slices so that Ctrl-C (KeyboardInterrupt) reaches the caller at once.
    """
    done = threading.Event()
    future.add_done_callback(lambda _f: done.set())
    remaining = timeout
    while not done.is_set():
        step = 0.1 if remaining is None else min(0.1, remaining)
        if step <= 0:
            return future.done()
        done.wait(step)
        if remaining is not None:
            remaining -= step
    return True


class TrainClient:
    """Sends one Train goal at a time to ``action_name`` (relative names resolve in ``node``'s namespace)."""

    def __init__(self, node: Node, train_type: Any, action_name: str = "train") -> None:
        self.node, self.train_type, self.action_name = node, train_type, action_name
        self.client = ActionClient(node, train_type, action_name)
        self._statuses: dict[bytes, int] = {}
        self._status_seen = threading.Condition()
        self._status_sub = node.create_subscription(
            GoalStatusArray,
            f"{action_name}/_action/status",
            self._on_status,
            qos_profile_action_status_default,
        )

    def _on_status(self, message: GoalStatusArray) -> None:
        with self._status_seen:
            for status in message.status_list:
                self._statuses[bytes(status.goal_info.goal_id.uuid)] = status.status
            self._status_seen.notify_all()

    def status_of(self, goal_id: UUID) -> int:
        """The latest status the server published for ``goal_id`` (STATUS_UNKNOWN if none)."""
        with self._status_seen:
            return self._statuses.get(bytes(goal_id.uuid), GoalStatus.STATUS_UNKNOWN)

    def _wait_for_status(self, goal_id: UUID, timeout: float) -> int:
        with self._status_seen:
            self._status_seen.wait_for(
                lambda: self._statuses.get(bytes(goal_id.uuid), 0) != GoalStatus.STATUS_UNKNOWN, timeout
            )
        return self.status_of(goal_id)

    def wait_for_server(self, timeout: float) -> bool:
        return self.client.wait_for_server(timeout_sec=timeout)

    def send_goal(
        self,
        goal: Any,
        feedback_callback: Callable[[Any], None] | None = None,
        attempts: int = 5,
        first_timeout: float = 2.0,
        max_timeout: float = 8.0,
        on_retry: Callable[[int, float], None] | None = None,
    ) -> ClientGoalHandle:
        """Send ``goal``; its goal handle (``accepted`` False when the server refused it).

        Without an answer within ``first_timeout`` s the same request (same goal id) is sent again, up to
        ``attempts`` times, the wait doubling up to ``max_timeout``; ``on_retry(attempt, waited)`` is told.
        A late answer to any of the requests counts. Raises :class:`NoAnswerError` when none came.
        """
        goal_id = UUID(uuid=list(uuid.uuid4().bytes))
        pending: list[Future] = []
        timeout = first_timeout
        for attempt in range(1, attempts + 1):
            pending.append(self.client.send_goal_async(goal, feedback_callback, goal_uuid=goal_id))
            answered = _first_done(pending, timeout)
            if answered is not None:
                accepted = _accepted(pending)
                if accepted is not None:
                    return accepted
                # Refused: a real no, or a duplicate of another request of this goal id that the server
                # accepted (its answer lost or still on its way; requests need not be served in the order
                # sent). An accepted goal shows on the status topic; a refused one never does.
                status = self._wait_for_status(goal_id, max(first_timeout, STATUS_WAIT_SEC))
                if status != GoalStatus.STATUS_UNKNOWN:
                    response = self.train_type.Impl.SendGoalService.Response(accepted=True)
                    return ClientGoalHandle(self.client, goal_id, response)
                return _accepted(pending) or answered.result()
            if self.status_of(goal_id) != GoalStatus.STATUS_UNKNOWN:  # accepted, only the answer is missing
                response = self.train_type.Impl.SendGoalService.Response(accepted=True)
                return ClientGoalHandle(self.client, goal_id, response)
            if attempt < attempts and on_retry is not None:
                on_retry(attempt, timeout)
            timeout = min(2 * timeout, max_timeout)
        raise NoAnswerError(f"the action server {self.action_name!r} did not answer {attempts} goal requests")

    def destroy(self) -> None:
        self.client.destroy()
        self.node.destroy_subscription(self._status_sub)


def _accepted(futures: list[Future]) -> ClientGoalHandle | None:
    """The handle of a request of ``futures`` that the server accepted, if one has answered so."""
    handles = (future.result() for future in futures if future.done() and future.result() is not None)
    return next((handle for handle in handles if handle.accepted), None)


def _first_done(futures: list[Future], timeout: float) -> Future | None:
    """The first of ``futures`` that completes within ``timeout`` s (None if none does)."""
    done = threading.Event()
    for future in futures:
        future.add_done_callback(lambda _f: done.set())
    remaining = timeout
    while not done.is_set() and remaining > 0:
        done.wait(min(0.1, remaining))
        remaining -= 0.1
    return next((future for future in futures if future.done() and future.result() is not None), None)
