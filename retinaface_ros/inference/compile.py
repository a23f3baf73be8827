"""``torch.compile`` (inductor) for the CUDA detector, with a way back to eager execution when compiling
fails (no Triton, as in some Jetson wheels; no C compiler)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import torch


class CompiledOrEager:
    """``fn`` compiled with ``torch.compile(dynamic=False)`` (one compilation per input shape, ~5–15 s
    each, cached on disk by inductor), or ``fn`` itself, with one warning, once compiling has failed.

    Only compiler errors (``torch._dynamo``'s, which wrap inductor's and a missing Triton) fall back; any
    other error is the call's own and is raised. ``failure`` holds the reason after a fallback.
    """

    def __init__(self, fn: Callable[..., Any], name: str, backend: str | Callable = "inductor") -> None:
        self.eager = fn
        self.name = name
        self.compiled = torch.compile(fn, dynamic=False, backend=backend)
        self.failure: str | None = None
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.failure is None:
            try:
                return self.compiled(*args, **kwargs)
            except (torch._dynamo.exc.TorchDynamoException, ImportError) as error:
                with self._lock:
                    if self.failure is None:
                        self.failure = f"{type(error).__name__}: {_first_paragraph(str(error))}"
                        warnings.warn(
                            f"torch.compile of the {self.name} failed, running it eagerly: {self.failure}",
                            RuntimeWarning,
                            stacklevel=2,
                        )
        return self.eager(*args, **kwargs)


def _first_paragraph(text: str) -> str:
    """Dynamo's messages end in paragraphs of debugging advice: the lines up to the first blank one."""
    lines = []
    for line in text.strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)
