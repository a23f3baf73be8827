"""Precision–recall curves as a PNG (matplotlib, Agg backend: no display needed), written atomically."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

# WIDER settings in the colours of the official evaluation's figures; 'all' = every face, the seed's AP
STYLES = {"all": ("all faces", "tab:gray"), "easy": ("easy", "tab:green"), "medium": ("medium", "tab:blue")}
STYLES["hard"] = ("hard", "tab:red")


def plot_pr_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    aps: Mapping[str, float],
    path: str | Path,
    title: str = "",
) -> Path:
    """Draw each ``name -> (recall, precision)`` curve, its AP in the legend; write a PNG to ``path``."""
    from matplotlib.figure import Figure

    from retinaface_ros.io.atomic_files import write_atomically

    if not curves:
        raise ValueError("no precision-recall curve to draw: no faces, or no detections")
    figure = Figure(figsize=(5.5, 4.2), dpi=100)
    axes = figure.subplots()
    for name, (recall, precision) in curves.items():
        label, color = STYLES.get(name, (name, None))
        ap = aps.get(name, math.nan)
        axes.plot(recall, precision, color=color, linewidth=1.8, label=f"{label}: AP {ap:.3f}")
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title=title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return write_atomically(path, buffer.getvalue())
