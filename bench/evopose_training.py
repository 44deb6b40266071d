"""Training throughput of `evopose.train` on this machine's CPU: one device in float32 (the
baseline), mixed bfloat16, and MirroredStrategy over 2 logical CPU devices.

    cd /work/main && hatch run python bench/evopose_training.py [--quick]

Each case runs the real training path (`evopose.training.train`: compiled loss, L2, schedule,
checkpoint and history every epoch) on in-memory batches, for a tiny EvoPose2D at 64x48 and
EvoPose2D-XS at 256x192. Step times exclude the first epoch (tracing and compilation), which is
reported apart, and the end of each epoch (validation, checkpoint, history, loss curve), also
reported apart. Ratios are against the float32 one-device case of the same network.
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from evopose.distribute import select_strategy

TWO_DEVICES = select_strategy(devices=2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import posenets  # noqa: E402
from evopose.config import config_from_dict  # noqa: E402
from evopose.training import TrainData, dtype_policy, train  # noqa: E402

TINY_GENOTYPE = [[3, 1, 1, 1], [3, 1, 1, 2], [3, 1, 2, 2], [3, 1, 2, 2], [3, 1, 3, 1],
                 [3, 1, 4, 1], [3, 1, 4, 1]]  # fmt: skip
NETWORKS = {  # name -> (model, batch size, steps per epoch in a full run)
    "tiny EvoPose2D 64x48": (
        {"name": "evopose2d", "input_size": [64, 48], "genotype": TINY_GENOTYPE},
        16,
        20,
    ),
    "EvoPose2D-XS 256x192": ({"name": "evopose2d_xs", "input_size": [256, 192]}, 4, 4),
}


EPOCHS = 3


class StepTimer(keras.callbacks.Callback):
    """Per epoch: the mean time of a training step (after the epoch's first) and the time from
    the last step to the end of the epoch (validation, checkpoint, history, loss curve)."""

    def __init__(self) -> None:
        super().__init__()
        self.first_epoch = 0.0
        self.step_seconds: list[float] = []
        self.epoch_end_seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._batch_ends: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self._batch_ends.append(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if epoch == 0:
            self.first_epoch = now - self._epoch_start
            return
        ends = self._batch_ends
        self.step_seconds.append((ends[-1] - ends[0]) / (len(ends) - 1))
        self.epoch_end_seconds.append(now - ends[-1])


def run_case(network: dict, precision: str, strategy, batch: int, steps: int, epochs: int):
    config = config_from_dict(
        {
            "model": network,
            "train": {
                "epochs": epochs,
                "batch_size": batch,
                "val_batch_size": batch,
                "warmup_epochs": 0,
                "precision": precision,
            },
        }
    )
    keras.utils.set_random_seed(0)
    with dtype_policy(precision):
        model = posenets.create_model(
            network["name"],
            input_shape=network["input_size"],
            **({"genotype": network["genotype"]} if "genotype" in network else {}),
        )
    height, width = network["input_size"]
    out_h, out_w = model.output_shape[1:3]
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch, height, width, 3)).astype("float32")
    heatmaps = rng.uniform(0, 255, size=(batch, out_h, out_w, 17)).astype("float32")
    valid = np.ones((batch, 17), "float32")
    batches = tf.data.Dataset.from_tensors((images, heatmaps, valid))
    data = TrainData(train=batches.repeat(), steps_per_epoch=steps, val=batches, val_steps=1)
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as run_dir:
        train(config, run_dir, model=model, strategy=strategy, data=data, callbacks=[timer],
              verbose=0)  # fmt: skip
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    return timer.first_epoch, mean(timer.step_seconds), mean(timer.epoch_end_seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, the tiny network only")
    args = parser.parse_args()
    networks = dict(list(NETWORKS.items())[:1]) if args.quick else NETWORKS
    cases = (
        ("float32, 1 device", "float32", tf.distribute.get_strategy()),
        ("mixed_bfloat16, 1 device", "mixed_bfloat16", tf.distribute.get_strategy()),
        ("float32, 2 logical CPUs", "float32", TWO_DEVICES),
    )
    print(f"{os.cpu_count()} CPUs; the first epoch compiles, the next {EPOCHS - 1} are timed")
    print(
        "| network | case | first epoch (s) | s / step | images / s | vs float32 1 device "
        "| epoch end (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, (network, batch, steps) in networks.items():
        steps = min(steps, 10) if args.quick else steps
        baseline = None
        for case, precision, strategy in cases:
            first, per_step, epoch_end = run_case(
                network, precision, strategy, batch, steps, EPOCHS
            )
            baseline = baseline or per_step
            print(
                f"| {label}, batch {batch} | {case} | {first:.1f} | {per_step:.3f} | "
                f"{batch / per_step:.1f} | {baseline / per_step:.2f}x | {epoch_end:.2f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
