"""What a run folder holds, by name, and the small writers for its history and loss curve.

RUN/config.yaml          the effective config (after overrides)
RUN/history.csv|json     one row per finished epoch
RUN/loss_curve.png       train and validation loss per epoch
RUN/checkpoint/          the latest epoch's weights + optimizer state (removed when done)
RUN/best.weights.h5      the weights of the epoch with the lowest validation loss
RUN/last.weights.h5      the last epoch's weights + optimizer state (to extend a finished run)
RUN/model.keras          the final model; RUN/best.keras the best epoch's model
RUN/result.json          the summary written when the run finishes (and its extensions)
RUN/tensorboard/         TensorBoard logs
"""

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evopose import atomic


@dataclass(frozen=True)
class RunFiles:
    """The paths inside one run folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def history_csv(self) -> Path:
        return self.root / "history.csv"

    @property
    def history_json(self) -> Path:
        return self.root / "history.json"

    @property
    def loss_curve(self) -> Path:
        return self.root / "loss_curve.png"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint"

    @property
    def best_weights(self) -> Path:
        return self.root / "best.weights.h5"

    @property
    def last_weights(self) -> Path:
        return self.root / "last.weights.h5"

    @property
    def final_model(self) -> Path:
        return self.root / "model.keras"

    @property
    def best_model(self) -> Path:
        return self.root / "best.keras"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"


def write_history(files: RunFiles, history: Mapping[str, Sequence[float]]) -> None:
    """Writes the per-epoch metrics as CSV (one row per epoch) and JSON (one list per metric)."""
    names = list(history)
    epochs = len(history[names[0]]) if names else 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *names])
    for index in range(epochs):
        writer.writerow([index + 1, *(repr(float(history[name][index])) for name in names)])
    atomic.write_text(files.history_csv, buffer.getvalue())
    atomic.write_json(
        files.history_json, {name: list(map(float, v)) for name, v in history.items()}
    )


def plot_loss_curve(files: RunFiles, history: Mapping[str, Sequence[float]]) -> None:
    """Draws the heatmap loss (Eq. 1) of training and validation per epoch into a PNG."""
    figure = loss_curve_figure(files.root.name, history)
    with atomic.atomic_path(files.loss_curve, suffix=".png") as tmp:
        figure.savefig(tmp, format="png")


def loss_curve_figure(title: str, history: Mapping[str, Sequence[float]]):
    """The loss-curve figure (a matplotlib `Figure`): training and validation heatmap loss per
    epoch, whole-epoch ticks, the best epoch (lowest validation loss) marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6, 4), dpi=100)
    axes = figure.add_subplot()
    for key, label in (("heatmap_loss", "train"), ("val_heatmap_loss", "validation")):
        values = history.get(key)
        if values:
            axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
    validation = list(history.get("val_heatmap_loss") or [])
    if validation:
        best = min(range(len(validation)), key=validation.__getitem__)
        axes.plot(
            [best + 1],
            [validation[best]],
            linestyle="none",
            marker="*",
            markersize=14,
            color="tab:red",
            label=f"best: epoch {best + 1}",
        )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("heatmap loss (Eq. 1)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure
