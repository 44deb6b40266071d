"""Training a pose network: `train(config, run_dir)` fits, validates every epoch, checkpoints
every epoch, resumes when rerun, and leaves a complete run folder (see `evopose.runfiles`).

Model construction stays outside: pass `model=` (a search child that inherited its parent's
weights) or let `train` build the network named in the config.
"""

import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
import yaml

from evopose import atomic
from evopose.config import Config, config_to_dict, dump_config
from evopose.distribute import check_batch_size
from evopose.errors import TrainingError
from evopose.losses import HeatmapLoss, HeatmapLossMetric
from evopose.optimization import make_optimizer, regularize_kernels
from evopose.runfiles import RunFiles, plot_loss_curve, write_history

log = logging.getLogger(__name__)

MONITOR = "val_heatmap_loss"
_STATE_FILE = "state.json"


@dataclass(frozen=True)
class TrainData:
    """Batched datasets of `(images NHWC, heatmaps NHWK, valid NK)`: `train` repeats forever."""

    train: tf.data.Dataset
    steps_per_epoch: int
    val: tf.data.Dataset
    val_steps: int | None = None  # None: run `val` to its end


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced: its per-epoch history and its best validation loss."""

    run_dir: Path
    history: dict[str, list[float]]
    best_epoch: int  # 1-based
    best_val_loss: float  # Eq. 1 on the validation split, the lowest over the epochs
    epochs: int
    resumed_from_epoch: int  # epochs already done when this call started (0: a fresh run)

    @property
    def final_model(self) -> Path:
        """The `.keras` model after the last epoch."""
        return RunFiles(self.run_dir).final_model

    @property
    def best_model(self) -> Path:
        """The `.keras` model with the best epoch's weights."""
        return RunFiles(self.run_dir).best_model


def train(
    config: Config,
    run_dir: str | Path,
    *,
    model: keras.Model | None = None,
    epochs: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    data: TrainData | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> TrainResult:
    """Trains `model` (default: the network of `config.model`) for `epochs` (default:
    `config.train.epochs`) and returns the history and best validation loss.

    Rerunning with the same arguments after an interruption continues from the last finished
    epoch; rerunning a finished run returns its stored result. `data` defaults to the TFRecords
    named in `config.data`; `strategy` to TensorFlow's current one. `callbacks` run after the
    run folder's own (history, checkpoints, TensorBoard).
    """
    if epochs is not None:
        if epochs < 1:
            raise TrainingError(f"epochs must be at least 1, got {epochs}")
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))
    recipe = config.train
    current = tf.distribute.get_strategy()
    strategy = strategy or current
    check_batch_size(recipe.batch_size, strategy, "train.batch_size")
    check_batch_size(recipe.val_batch_size, strategy, "train.val_batch_size")
    files = RunFiles(Path(run_dir))
    finished = _finished_result(files, config)
    if finished is not None:
        log.info("%s already holds this finished run; nothing to do", files.root)
        return finished

    if data is None:
        from evopose.datasets import TRAIN, dataset_info

        num_keypoints = dataset_info(config, TRAIN).num_keypoints  # checks data.root's splits
    else:
        num_keypoints = int(data.train.element_spec[1].shape[-1])
    start_epoch = _checkpoint_epoch(files)
    with strategy.scope():
        if model is None:
            from evopose.models import build_model

            keras.utils.set_random_seed(recipe.seed)
            with dtype_policy(recipe.precision):
                model = build_model(config.model, num_keypoints)
        elif strategy is not current:
            with dtype_policy(recipe.precision):
                model = _copy_model(model)  # its variables must live under `strategy`
        if strategy.num_replicas_in_sync > 1 and recipe.sync_batch_norm:
            _synchronize_batch_norm(model)
    if data is None:
        from evopose.datasets import make_train_data

        input_size = tuple(int(s) for s in model.input_shape[1:3])
        heatmap_size = tuple(int(s) for s in model.output_shape[1:3])
        data = make_train_data(config, input_size, heatmap_size, seed_offset=start_epoch)
    with strategy.scope():  # the optimizer and metrics belong to the strategy too
        regularize_kernels(model, recipe.weight_decay)
        model.compile(
            optimizer=make_optimizer(recipe, data.steps_per_epoch, recipe.epochs),
            loss=HeatmapLoss(),
            weighted_metrics=[HeatmapLossMetric()],
            # XLA (Keras's "auto" on TensorFlow) compiles these networks for minutes on a CPU
            # and then runs their depthwise convolutions about 10x slower.
            jit_compile=False,
        )
        # Created here, eagerly: created inside the first traced step they cost seconds each.
        model.optimizer.build(model.trainable_variables)

    files.root.mkdir(parents=True, exist_ok=True)
    atomic.write_text(files.config, dump_config(config))
    state = _load_checkpoint(files, model)
    history: dict[str, list[float]] = state["history"]
    if start_epoch:
        log.info("resuming %s after epoch %d of %d", files.root, start_epoch, recipe.epochs)
    recorder = _RunRecorder(files, history, state["best_epoch"], state["best_val_loss"])
    callbacks = [recorder, keras.callbacks.TensorBoard(str(files.tensorboard)), *callbacks]
    started = time.monotonic()
    if start_epoch < recipe.epochs:
        model.fit(
            data.train,
            epochs=recipe.epochs,
            initial_epoch=start_epoch,
            steps_per_epoch=data.steps_per_epoch,
            validation_data=data.val,
            validation_steps=data.val_steps,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the datasets shuffle themselves
        )
    if recorder.failure is not None:
        raise TrainingError(recorder.failure)
    if len(history.get(MONITOR, [])) < recipe.epochs:
        raise TrainingError(f"training stopped after {len(history.get(MONITOR, []))} epochs")

    _save_model(model, files.final_model)
    model.load_weights(files.best_weights)
    _save_model(model, files.best_model)
    result = TrainResult(
        run_dir=files.root,
        history=history,
        best_epoch=recorder.best_epoch,
        best_val_loss=recorder.best_val_loss,
        epochs=recipe.epochs,
        resumed_from_epoch=start_epoch,
    )
    atomic.write_json(
        files.result,
        {
            "epochs": result.epochs,
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "parameters": int(model.count_params()),
            "wall_seconds_last_call": round(time.monotonic() - started, 1),
            "history": history,
        },
    )
    atomic.remove_path(files.checkpoint)
    return result


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Builds layers under the Keras dtype policy `name` ('float32', 'mixed_bfloat16')."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _synchronize_batch_norm(model: keras.Model) -> None:
    """Batch norm over the global batch: every replica normalises with the same statistics,
    so several replicas train like one device."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _synchronize_batch_norm(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


def _copy_model(model: keras.Model) -> keras.Model:
    """A copy of `model` with the same weights, its variables created in the current scope."""
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    copy.set_weights(model.get_weights())
    return copy


def _save_model(model: keras.Model, path: Path) -> None:
    """Saves `model` as float32 and uncompiled (deployable without evopose) to `path`."""
    with dtype_policy("float32"):
        plain = _copy_model(model)
    with atomic.atomic_path(path, suffix=".keras") as tmp:
        plain.save(tmp)


def _finished_result(files: RunFiles, config: Config) -> TrainResult | None:
    """The stored result when `files` holds this config's finished run; errors on a mismatch."""
    if not files.root.exists():
        return None
    if not files.config.is_file():
        if any(files.root.iterdir()):
            raise TrainingError(
                f"{files.root} exists and is not a run folder (no config.yaml); "
                "choose another run folder"
            )
        return None
    stored = yaml.safe_load(files.config.read_text(encoding="utf-8"))
    if stored != config_to_dict(config):
        changed = _changed_keys(stored, config_to_dict(config))
        raise TrainingError(
            f"{files.root} holds a run with another config (differs in {', '.join(changed)}); "
            "rerun with the same config to resume, or choose another run folder"
        )
    if not files.result.is_file():
        return None
    result = json.loads(files.result.read_text(encoding="utf-8"))
    return TrainResult(
        run_dir=files.root,
        history=result["history"],
        best_epoch=result["best_epoch"],
        best_val_loss=result["best_val_loss"],
        epochs=result["epochs"],
        resumed_from_epoch=result["epochs"],
    )


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [c for k in keys for c in _changed_keys(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [prefix.rstrip(".")] if old != new else []


def _checkpoint_epoch(files: RunFiles) -> int:
    """How many epochs the run folder's checkpoint holds (0 when there is none)."""
    state_path = files.checkpoint / _STATE_FILE
    if not state_path.is_file():
        return 0
    return int(json.loads(state_path.read_text(encoding="utf-8"))["epoch"])


def _load_checkpoint(files: RunFiles, model: keras.Model) -> dict[str, Any]:
    """Restores weights and optimizer state from the last checkpoint; the saved run state."""
    fresh = {"epoch": 0, "history": {}, "best_epoch": 0, "best_val_loss": math.inf}
    state_path = files.checkpoint / _STATE_FILE
    if not state_path.is_file():
        return fresh
    state = json.loads(state_path.read_text(encoding="utf-8"))
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(files.checkpoint / state["weights"])
    except (OSError, ValueError) as error:
        raise TrainingError(
            f"cannot resume from {files.checkpoint}: {str(error).splitlines()[0]}; "
            "remove the run folder to start over"
        ) from None
    return state


class _RunRecorder(keras.callbacks.Callback):
    """After each epoch: history, best weights, checkpoint, CSV/JSON and loss curve, in that
    order, each written atomically, so a kill at any point leaves a resumable folder."""

    def __init__(
        self, files: RunFiles, history: dict[str, list[float]], best_epoch: int, best: float
    ):
        super().__init__()
        self.files = files
        self.history = history
        self.best_epoch = best_epoch
        self.best_val_loss = best
        self.failure: str | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        if MONITOR not in logs:
            self.failure = "no validation loss was computed; the validation split gave no batch"
            self.model.stop_training = True
            return
        if not all(math.isfinite(float(v)) for v in logs.values()):
            self.failure = (
                f"the loss is not finite after epoch {epoch + 1}; lower train.base_lr "
                "or check the data"
            )
            self.model.stop_training = True
            return
        for name, value in logs.items():
            self.history.setdefault(name, []).append(float(value))
        value = float(logs[MONITOR])
        if value < self.best_val_loss:
            self.best_val_loss, self.best_epoch = value, epoch + 1
            with atomic.atomic_path(self.files.best_weights, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
        self._checkpoint(epoch + 1)
        write_history(self.files, self.history)
        plot_loss_curve(self.files, self.history)

    def _checkpoint(self, epochs_done: int) -> None:
        folder = self.files.checkpoint
        folder.mkdir(parents=True, exist_ok=True)
        weights = f"epoch-{epochs_done:04d}.weights.h5"
        with atomic.atomic_path(folder / weights, suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        state = {
            "epoch": epochs_done,
            "weights": weights,
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "history": self.history,
        }
        atomic.write_json(folder / _STATE_FILE, state)
        for old in folder.glob("epoch-*.weights.h5"):
            if old.name != weights:
                old.unlink()
