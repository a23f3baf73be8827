"""A tqdm bar over a whole training run, fed by ``fit``'s progress reports (or the Train action's feedback,
turned into the same dict by the client)."""

from __future__ import annotations

import sys
from typing import Any

from retinaface_ros.training.progress_log import format_eta


class TrainingProgressBar:
    """Bar of iterations over all epochs; loss, lr, validation recall and the trainer's ETA as postfix.

    ``epochs`` is the run's length when known up front (the reports also carry it).
    """

    def __init__(self, epochs: int | None = None, disable: bool = False, **tqdm_kwargs: Any) -> None:
        self.epochs, self.disable, self.tqdm_kwargs = epochs, disable, tqdm_kwargs
        self.bar: Any = None  # made at the first report: nothing is drawn for a run that never starts

    def _bar(self) -> Any:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=None,
                unit="it",
                desc="training",
                disable=self.disable,
                dynamic_ncols=True,
                **self.tqdm_kwargs,
            )
        return self.bar

    def __call__(self, info: dict) -> None:
        bar = self._bar()
        per_epoch = int(info["iterations_per_epoch"])
        epochs = int(info.get("epochs") or self.epochs or 0)
        if epochs and bar.total != epochs * per_epoch:
            bar.total = epochs * per_epoch
        done = int(info["epoch"]) * per_epoch + int(info["iteration"]) + 1
        if info.get("event") == "epoch_end":
            done = (int(info["epoch"]) + 1) * per_epoch
        bar.set_description(f"epoch {int(info['epoch']) + 1}/{epochs or '?'}", refresh=False)
        postfix = {"loss": f"{info['loss']:.3f}", "lr": f"{info['lr']:.2e}"}
        if info.get("val_recall", -1.0) >= 0:
            postfix["val_recall"] = f"{info['val_recall']:.3f}"
        postfix["eta"] = format_eta(float(info.get("eta_sec", -1.0)))
        bar.set_postfix(postfix, refresh=False)
        bar.update(max(0, done - bar.n))

    def write(self, line: str) -> None:
        """Print ``line`` above the bar (on stderr, as the bar: stdout stays for results)."""
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
