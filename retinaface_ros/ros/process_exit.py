"""End a node process at once after a clean stop, skipping the interpreter's teardown.

After a training run the interpreter's own finalisation (garbage-collecting hundreds of thousands of torch,
data-loader and dataset objects, unloading extension modules) took 3-10 s on a 2-core machine, so an idle
trainer seemed to ignore Ctrl-C. Everything that matters is already done when a node's ``run_node`` returns:
checkpoints and models are written atomically and closed, the node is destroyed and rclpy shut down. Only the
log and the standard streams still need flushing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn


def exit_process(code: int) -> NoReturn:
    """Flush logging and the standard streams, then end the process with ``code`` (no interpreter teardown).

    For a node's console-script ``main`` only: never call it from a library or a test process."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or a broken pipe: nothing more to say
            stream.flush()
    os._exit(code)
