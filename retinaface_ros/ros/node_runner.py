"""``main()`` for the package's nodes: init, spin until Ctrl-C or external shutdown, clean up, exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor


def run_node(
    name: str,
    make_node: Callable[[], Any],
    make_executor: Callable[[], Executor] = SingleThreadedExecutor,
    start: Callable[[Any], str | None] | None = None,
    until: Callable[[Any], bool] | None = None,
    args: list[str] | None = None,
) -> int:
    """Run a node; 0 on a clean stop (Ctrl-C, shutdown, ``until(node)`` true), else 1.

    ``start(node)`` may return a reason to stop before spinning. Errors that mean the node cannot run
    (message packages not built, a bad parameter value, a missing file) are printed with the node's name.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        problem = start(node) if start is not None else None
        if problem:
            print(f"{name}: {problem}", file=sys.stderr)
            return 1
        executor = make_executor()
        executor.add_node(node)
        if until is None:
            executor.spin()
        while until is not None and rclpy.ok() and not until(node):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (RuntimeError, ValueError, OSError, ParameterException, NameValidationException) as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
