"""``retinaface bench --plot``: the timing table as a figure, one panel per backbone × device × input, a
stacked bar per runtime and batch (preprocess / forward / postprocess medians; total and FPS at its end)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

STAGES = (("preprocess_ms", "preprocess", "tab:olive"), ("forward_ms", "forward", "tab:blue"))
STAGES += (("postprocess_ms", "postprocess", "tab:orange"),)


def _groups(report: dict[str, Any]) -> list[tuple[str, list[dict]]]:
    groups: dict[str, list[dict]] = {}
    for row in report.get("rows", []):
        groups.setdefault(f"{row['backbone']} · {row['device']} · {row['input']}", []).append(row)
    levers = report.get("levers") or []
    if levers:
        first = levers[0]
        groups[f"speed levers: {first['backbone']} · {first['device']} · {first['input']}"] = levers
    return list(groups.items())


def plot_timings(report: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Draw ``report`` (``retinaface bench``'s JSON) and write a PNG to ``path`` atomically."""
    from matplotlib.figure import Figure

    from retinaface_ros.io.atomic_files import write_atomically

    groups = _groups(report)
    if not groups:
        raise ValueError("the benchmark report has no rows to draw")
    heights = [len(rows) for _, rows in groups]
    figure = Figure(figsize=(8.5, 1.0 + 0.32 * sum(heights) + 0.5 * len(groups)), dpi=100)
    axes_list = figure.subplots(len(groups), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)[:, 0]
    for axes, (name, rows) in zip(axes_list, groups, strict=True):
        labels = [f"{row['runtime']}" + (f" b{row['batch']}" if row["batch"] != 1 else "") for row in rows]
        positions = list(range(len(rows)))[::-1]
        left = [0.0] * len(rows)
        for key, stage, color in STAGES:
            widths = [float(row[key]["median"]) for row in rows]
            axes.barh(positions, widths, left=left, color=color, height=0.7, label=stage)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        longest = max(max(left), max(float(row["total_ms"]["median"]) for row in rows))
        for position, row, stacked in zip(positions, rows, left, strict=True):
            total = float(row["total_ms"]["median"])
            text = f" {total:.1f} ms · {row['fps']} img/s"
            axes.text(max(total, stacked), position, text, va="center", fontsize=8)
        axes.set_yticks(positions, labels, fontsize=8)
        axes.set_xlim(0, longest * 1.45)
        axes.set_title(name, fontsize=9, loc="left")
        axes.tick_params(axis="x", labelsize=8)
        axes.grid(axis="x", alpha=0.3)
    axes_list[-1].set_xlabel("median ms per call (stages stacked; total measured as one call)", fontsize=8)
    handles, names = axes_list[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="upper right", fontsize=7, ncols=3, frameon=False)
    figure.suptitle(title or " ", fontsize=10, x=0.02, ha="left")
    figure.tight_layout(rect=(0, 0, 1, 0.985))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return write_atomically(path, buffer.getvalue())
