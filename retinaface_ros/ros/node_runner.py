"""``main()`` for the package's nodes: init, spin until Ctrl-C or external shutdown, clean up, exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import Executor, ExternalShutdownException


def run_node(
    name: str,
    make_node: Callable[[], Any],
    make_executor: Callable[[], Executor],
    start: Callable[[Any], str | None] | None = None,
    args: list[str] | None = None,
) -> int:
    """Run a node; ``start(node)`` may return a reason to stop before spinning. 0 on a clean stop, else 1.

    A RuntimeError while starting (e.g. message packages not built) is printed with the node's name.
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
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
