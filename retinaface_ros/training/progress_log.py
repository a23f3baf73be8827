"""Training progress as log lines: one per ``log_after`` iterations (epoch, iteration, loss parts, learning
rate, ETA) and one per epoch (mean losses, validation recall / AP). A ``fit`` callback."""

from __future__ import annotations

import datetime
from collections.abc import Callable


def format_eta(seconds: float) -> str:
    """``h:mm:ss``; '?' before the first estimate (negative seconds)."""
    if seconds < 0:
        return "?"
    return str(datetime.timedelta(seconds=round(seconds)))


def progress_line(info: dict) -> str:
    """The line for one ``fit`` progress report (``info`` as ``fit`` passes it to its callback)."""
    epoch = f"epoch {info['epoch'] + 1}/{info.get('epochs', '?')}"
    losses = (
        f"loss {info['loss']:.4f} (box {info['loss_box']:.4f}, class {info['loss_class']:.4f}, "
        f"landmarks {info['loss_landmarks']:.4f})"
    )
    if info["event"] == "epoch_end":
        line = f"{epoch} done: mean {losses}, next lr {info['lr']:.3g}"
        if info.get("validated"):
            line += f", val recall {info['val_recall']:.4f}"
            if info.get("val_ap", -1.0) >= 0:
                line += f" AP {info['val_ap']:.4f}"
        return line + f", ETA {format_eta(info['eta_sec'])}"
    iteration = f"iter {info['iteration'] + 1}/{info['iterations_per_epoch']}"
    return f"{epoch} {iteration}: {losses}, lr {info['lr']:.3g}, ETA {format_eta(info['eta_sec'])}"


class ProgressLog:
    """``fit`` callback writing :func:`progress_line` for every report through ``write`` (a logger's
    ``info``, ``print``, ``tqdm.write``)."""

    def __init__(self, write: Callable[[str], object]) -> None:
        self.write = write

    def __call__(self, info: dict) -> None:
        if info.get("event") in ("iteration", "epoch_end"):
            self.write(progress_line(info))
