"""Training a pose network: `train(config, run_dir)` fits, validates every epoch, checkpoints
every epoch, resumes when rerun, and leaves a complete run folder (see `evopose.runfiles`).

Resuming is exact: each epoch's batches are a pure function of (seed, epoch) (see
`TrainData.train`), and a checkpoint holds the weights, the optimizer state and the state of
every random-number generator the network draws from (dropout, drop-connect), so a run killed
after epoch k and rerun ends bit-identical to one never interrupted. One process at a time
holds a run folder (`evopose.folderlock`); a rerun removes the temporary files a killed one left.

A finished run can be extended: rerun it with more epochs (`--epochs N` or
`--set train.epochs=N`, nothing else changed) and it continues from its last epoch's state
(`last.weights.h5`: weights, optimizer state; the generator states are in `result.json`). The
learning-rate schedule is then that of an N-epoch run (warmup, cosine decay to 0 at epoch N),
picked up where the run stands: a warm restart from the run's end, where the old schedule had
decayed to 0, to the new schedule's value at that epoch. `result.json` lists each extension.

Each epoch ends with one line: the heatmap loss (Eq. 1) of training and validation. The
history also holds Keras's `loss`, the value Adam minimises: Eq. 1 averaged over all N x K
keypoint slots of a batch (a padded validation batch's empty rows included) plus the L2 term.

Model construction stays outside: pass `model=` (a search child that inherited its parent's
weights) or let `train` build the network named in the config.
"""

import contextlib
import dataclasses
import io
import json
import logging
import math
import shutil
import sys
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
from evopose.datasets import TrainData, TrainingSplits
from evopose.distribute import check_batch_size
from evopose.errors import InputFileError, TrainingError, first_line
from evopose.folderlock import hold_folder, is_lock_file
from evopose.losses import HeatmapLoss, HeatmapLossMetric
from evopose.optimization import make_optimizer, regularize_kernels
from evopose.runfiles import RunFiles, plot_loss_curve, write_history

log = logging.getLogger(__name__)

MONITOR = "val_heatmap_loss"
_STATE_FILE = "state.json"


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
    keep_last_state: bool = True,
    splits: TrainingSplits | None = None,
) -> TrainResult:
    """Trains `model` (default: the network of `config.model`) for `epochs` (default:
    `config.train.epochs`) and returns the history and best validation loss.

    Rerunning with the same arguments after an interruption continues from the last finished
    epoch; rerunning a finished run returns its stored result. `data` defaults to batches of
    `splits` (default: opened from `config.data.root`); `strategy` to TensorFlow's current
    one. `callbacks` run after the run folder's own (history, checkpoints, TensorBoard).
    `keep_last_state` keeps the last epoch's weights and optimizer state (`last.weights.h5`) so
    that the run can be extended; without it the finished run holds only its models.
    """
    if epochs is not None:
        if epochs < 1:
            raise TrainingError(f"epochs must be at least 1, got {epochs}")
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))
    recipe = config.train
    strategy = strategy or tf.distribute.get_strategy()
    check_batch_size(recipe.batch_size, strategy, "train.batch_size")
    check_batch_size(recipe.val_batch_size, strategy, "train.val_batch_size")
    files = RunFiles(Path(run_dir))
    existed = files.root.exists()
    _check_run_folder(files)  # before the lock file goes in
    with hold_folder(files.root, "run folder"):
        atomic.remove_leftovers(files.root)
        fresh = [False]  # set once this call has started a new run in the folder
        try:
            return _train_held(
                config,
                files,
                model,
                strategy,
                data,
                callbacks,
                verbose,
                fresh,
                keep_last_state,
                splits,
            )
        except BaseException as error:
            if fresh[0] and not _checkpoint_epoch(files):
                _remove_unfinished(files.root, keep_folder=existed)  # no half-made run folder
            if isinstance(error, tf.errors.DataLossError):
                raise _corrupt_data_error(config, error, given=data is not None) from None
            if not isinstance(error, atomic.DiskFullError) and atomic.is_disk_full(error):
                raise atomic.disk_full_error(files.root) from None
            raise


def _train_held(
    config: Config,
    files: RunFiles,
    model: keras.Model | None,
    strategy: tf.distribute.Strategy,
    data: TrainData | None,
    callbacks: Sequence[keras.callbacks.Callback],
    verbose: int | str,
    fresh: list[bool],
    keep_last_state: bool = True,
    splits: TrainingSplits | None = None,
) -> TrainResult:
    """`train` once the run folder is held; sets `fresh[0]` when it starts a new run there."""
    recipe = config.train
    current = tf.distribute.get_strategy()
    finished = _finished_result(files, config)
    if finished is not None:
        _tidy_finished(files, keep_last_state)  # a kill came after result.json was written
        log.info("%s already holds this finished run; nothing to do", files.root)
        return finished

    keypoint_info = None  # the description the saved models carry (evopose.keypoints)
    if data is None:
        from evopose.datasets import open_training_splits

        splits = splits or open_training_splits(config)  # checks data.root's splits
        keypoint_info = splits.dataset_info
        num_keypoints = keypoint_info.num_keypoints
    else:
        num_keypoints = int(data.val.element_spec[1].shape[-1])  # val: a dataset either way
    start_epoch = _checkpoint_epoch(files)
    fresh[0] = start_epoch == 0
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
        data = make_train_data(config, input_size, heatmap_size, splits)
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
    recorder = _RunRecorder(
        files, history, state["best_epoch"], state["best_val_loss"], state.get("extensions", [])
    )
    callbacks = [
        recorder,
        _EpochLine(recorder, recipe.epochs, data.steps_per_epoch, verbose),
        keras.callbacks.TensorBoard(str(files.tensorboard)),
        *callbacks,
    ]
    started = time.monotonic()
    if start_epoch < recipe.epochs:
        _fit(model, data, recipe.epochs, start_epoch, callbacks, verbose)
    if recorder.failure is not None:
        raise TrainingError(recorder.failure)
    if len(history.get(MONITOR, [])) < recipe.epochs:
        raise TrainingError(f"training stopped after {len(history.get(MONITOR, []))} epochs")

    _save_model(model, files.final_model, keypoint_info)
    model.load_weights(files.best_weights)
    _save_model(model, files.best_model, keypoint_info)
    result = TrainResult(
        run_dir=files.root,
        history=history,
        best_epoch=recorder.best_epoch,
        best_val_loss=recorder.best_val_loss,
        epochs=recipe.epochs,
        resumed_from_epoch=start_epoch,
    )
    last = json.loads((files.checkpoint / _STATE_FILE).read_text(encoding="utf-8"))
    atomic.write_json(
        files.result,
        {
            "epochs": result.epochs,
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "parameters": int(model.count_params()),
            "wall_seconds_last_call": round(time.monotonic() - started, 1),
            "history": history,
            "extensions": last.get("extensions", []),
            "random_states": last["random_states"],  # with last.weights.h5: the last state
        },
    )
    _tidy_finished(files, keep_last_state)
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


def _fit(
    model: keras.Model,
    data: TrainData,
    epochs: int,
    start_epoch: int,
    callbacks: Sequence[keras.callbacks.Callback],
    verbose: int | str,
) -> None:
    """Trains epochs `start_epoch + 1 .. epochs`: one `fit` per epoch on that epoch's batches
    when `data.train` gives them per epoch, else one `fit` reading on through `data.train`."""
    common = {
        "epochs": epochs,
        "steps_per_epoch": data.steps_per_epoch,
        "validation_data": data.val,
        "validation_steps": data.val_steps,
        "verbose": 0,  # _EpochLine shows the progress, by `verbose`
        "shuffle": False,  # the datasets shuffle themselves
    }
    if not callable(data.train):
        model.fit(data.train, initial_epoch=start_epoch, callbacks=list(callbacks), **common)
        return
    one_epoch = _OneEpoch()
    for epoch in range(start_epoch, epochs):
        one_epoch.finished = one_epoch.stop_requested = False
        model.fit(
            data.train(epoch), initial_epoch=epoch, callbacks=[*callbacks, one_epoch], **common
        )
        if not one_epoch.finished or one_epoch.stop_requested:
            return


class _OneEpoch(keras.callbacks.Callback):
    """Ends `fit` after one epoch, noting whether another callback had asked it to stop."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = False
        self.stop_requested = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.stop_requested = bool(self.model.stop_training)
        self.finished = True
        self.model.stop_training = True


def _remove_unfinished(root: Path, *, keep_folder: bool) -> None:
    """Removes what a run that finished no epoch wrote (all of `root` unless `keep_folder`)."""
    if not root.is_dir():
        return
    if not keep_folder:
        shutil.rmtree(root, ignore_errors=True)
        return
    for path in root.iterdir():
        if not is_lock_file(path):
            with contextlib.suppress(OSError):
                atomic.remove_path(path)


def _corrupt_data_error(config: Config, error: Exception, *, given: bool) -> InputFileError:
    """One line naming the corrupt shard (found by reading the config's splits) and the fix."""
    detail = str(getattr(error, "message", error)).strip().splitlines()
    detail_line = detail[0] if detail else type(error).__name__
    if not given:
        from evopose.datasets import TRAIN, VAL, find_corrupt_shards, split_folder

        for split in (TRAIN, VAL):
            for shard, problem in find_corrupt_shards(split_folder(config, split)):
                return InputFileError(
                    f"{shard}: corrupt TFRecord shard ({problem}); re-run the conversion "
                    "(`evopose data convert --overwrite ...` or `evopose data synth "
                    "--overwrite ...`) to rewrite it"
                )
    return InputFileError(
        f"the training data holds a corrupt TFRecord shard ({detail_line}); re-run the "
        "conversion (`evopose data convert --overwrite ...`) to rewrite it"
    )


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


class _WeightsBuffer(io.BytesIO):
    """An in-memory `.weights.h5` target for `keras.Model.save_weights`."""

    def __str__(self) -> str:
        return "buffer.weights.h5"


def save_weights(model: keras.Model, path: Path) -> None:
    """Saves the weights (and optimizer state) of `model` as `.weights.h5` at `path`,
    atomically. The HDF5 file is built in memory and written by Python, so a full disk gives
    `atomic.DiskFullError` (HDF5 writing to a full disk crashes the process at exit)."""
    buffer = _WeightsBuffer()
    model.save_weights(buffer)
    with atomic.atomic_path(path, suffix=".weights.h5") as tmp:
        tmp.write_bytes(buffer.getbuffer())


def _save_model(model: keras.Model, path: Path, keypoint_info: Any = None) -> None:
    """Saves `model` as float32 and uncompiled (deployable without evopose) to `path`, with
    the keypoint description `keypoint_info` (a `posedata.DatasetInfo`) inside when given."""
    with dtype_policy("float32"):
        plain = _copy_model(model)
    with atomic.atomic_path(path, suffix=".keras") as tmp:
        plain.save(tmp)
        if keypoint_info is not None:
            from evopose.keypoints import write_keras

            write_keras(tmp, keypoint_info)


def _finished_result(files: RunFiles, config: Config) -> TrainResult | None:
    """The stored result when `files` holds this config's finished run; errors on a mismatch."""
    if not files.root.exists():
        return None
    if not files.config.is_file():
        _check_run_folder(files)
        return None
    stored = yaml.safe_load(files.config.read_text(encoding="utf-8"))
    wanted = config_to_dict(config)
    if stored != wanted:
        changed = _changed_keys(stored, wanted)
        old_epochs = (stored.get("train") or {}).get("epochs")
        if changed == ["train.epochs"] and config.train.epochs > old_epochs:
            _extend(files, config, old_epochs)
            return None
        if changed == ["train.epochs"]:
            raise TrainingError(
                f"{files.root} holds a run of {old_epochs} epochs; it can be extended to more "
                f"epochs, not cut to {config.train.epochs} (choose another run folder)"
            )
        raise TrainingError(
            f"{files.root} holds a run with another config (differs in {', '.join(changed)}); "
            "rerun with the same config to resume, or choose another run folder"
        )
    if not files.result.is_file():
        return None
    result = json.loads(files.result.read_text(encoding="utf-8"))
    if result["epochs"] != config.train.epochs:
        return None  # an extension stopped before it removed the old result: resume it
    return TrainResult(
        run_dir=files.root,
        history=result["history"],
        best_epoch=result["best_epoch"],
        best_val_loss=result["best_val_loss"],
        epochs=result["epochs"],
        resumed_from_epoch=result["epochs"],
    )


def _extend(files: RunFiles, config: Config, old_epochs: int) -> None:
    """Makes the run of `old_epochs` in `files` one of `config.train.epochs`: a finished run
    gets its last state back as the checkpoint (continued from there); the new config goes
    in, the old result out (in that order, so a kill at any point leaves a run that a rerun
    of the same command extends)."""
    new_epochs = config.train.epochs
    if files.result.is_file() and not _checkpoint_epoch(files):
        result = json.loads(files.result.read_text(encoding="utf-8"))
        if not files.last_weights.is_file() or "random_states" not in result:
            raise TrainingError(
                f"{files.root} was finished without its last state ({files.last_weights.name}), "
                "so it cannot be extended; train a new run from its weights with "
                f"--set model.transfer_from={files.final_model}"
            )
        done = int(result["epochs"])
        weights = f"epoch-{done:04d}.weights.h5"
        files.checkpoint.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(files.checkpoint / weights, suffix=".weights.h5") as tmp:
            shutil.copyfile(files.last_weights, tmp)
        extension = {"from_epochs": done, "to_epochs": new_epochs}
        state = {
            "epoch": done,
            "weights": weights,
            "random_states": result["random_states"],
            "best_epoch": result["best_epoch"],
            "best_val_loss": result["best_val_loss"],
            "history": result["history"],
            "extensions": [*result.get("extensions", []), extension],
        }
        atomic.write_json(files.checkpoint / _STATE_FILE, state)
    else:  # not finished yet: the checkpoint (if any) just runs on to the new total
        done = _checkpoint_epoch(files)
        state_path = files.checkpoint / _STATE_FILE
        if state_path.is_file():
            state = json.loads(state_path.read_text(encoding="utf-8"))
            extensions = state.get("extensions", [])
            if not extensions or extensions[-1]["to_epochs"] != new_epochs:  # not a rerun
                extension = {"from_epochs": old_epochs, "to_epochs": new_epochs}
                state["extensions"] = [*extensions, extension]
                atomic.write_json(state_path, state)
    atomic.write_text(files.config, dump_config(config))
    atomic.remove_path(files.result)
    log.info(
        "extending %s from %d to %d epochs, continuing after epoch %d: the learning rate now "
        "follows the schedule of a %d-epoch run (warmup, cosine decay to 0 at epoch %d) from "
        "that epoch on",
        files.root,
        old_epochs,
        new_epochs,
        done,
        new_epochs,
        new_epochs,
    )


def _tidy_finished(files: RunFiles, keep_last_state: bool) -> None:
    """A finished run drops its checkpoint folder, keeping its last epoch's weights and
    optimizer state as `last.weights.h5` (to be extended later) when `keep_last_state`."""
    state_path = files.checkpoint / _STATE_FILE
    if keep_last_state and state_path.is_file():
        state = json.loads(state_path.read_text(encoding="utf-8"))
        weights = files.checkpoint / state["weights"]
        if weights.is_file():
            weights.replace(files.last_weights)
    atomic.remove_path(files.checkpoint)


def _check_run_folder(files: RunFiles) -> None:
    """A TrainingError when `files.root` holds files but no run (no config.yaml)."""
    if files.config.is_file() or not files.root.is_dir():
        return
    if any(not is_lock_file(p) and not atomic.is_leftover(p) for p in files.root.iterdir()):
        raise TrainingError(
            f"{files.root} exists and is not a run folder (no config.yaml); "
            "choose another run folder"
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
        _set_random_states(model, state.get("random_states", []))
    except (OSError, ValueError) as error:
        raise TrainingError(
            f"cannot resume from {files.checkpoint}: {first_line(error)}; "
            "remove the run folder to start over"
        ) from None
    return state


def _random_states(model: keras.Model) -> list[keras.Variable]:
    """The state variables of the model's random-number generators (dropout, drop-connect):
    `model.variables` less `model.weights`, in the model's order."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _set_random_states(model: keras.Model, saved: list[list[int]]) -> None:
    """Restores the generator states a checkpoint saved (a ValueError when they do not fit)."""
    states = _random_states(model)
    if len(saved) != len(states):
        raise ValueError(
            f"the checkpoint holds {len(saved)} random-generator states, the model has "
            f"{len(states)}"
        )
    for variable, value in zip(states, saved, strict=True):
        variable.assign(keras.ops.convert_to_tensor(value, dtype=variable.dtype))


class _RunRecorder(keras.callbacks.Callback):
    """After each epoch: history, best weights, checkpoint, CSV/JSON and loss curve, in that
    order, each written atomically, so a kill at any point leaves a resumable folder."""

    def __init__(
        self,
        files: RunFiles,
        history: dict[str, list[float]],
        best_epoch: int,
        best: float,
        extensions: list[dict[str, int]],
    ):
        super().__init__()
        self.files = files
        self.history = history
        self.best_epoch = best_epoch
        self.best_val_loss = best
        self.extensions = extensions
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
            save_weights(self.model, self.files.best_weights)
        self._checkpoint(epoch + 1)
        write_history(self.files, self.history)
        plot_loss_curve(self.files, self.history)

    def _checkpoint(self, epochs_done: int) -> None:
        folder = self.files.checkpoint
        folder.mkdir(parents=True, exist_ok=True)
        weights = f"epoch-{epochs_done:04d}.weights.h5"
        save_weights(self.model, folder / weights)
        state = {
            "epoch": epochs_done,
            "weights": weights,
            "random_states": [
                keras.ops.convert_to_numpy(v).tolist() for v in _random_states(self.model)
            ],
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "history": self.history,
            "extensions": self.extensions,
        }
        atomic.write_json(folder / _STATE_FILE, state)
        for old in folder.glob("epoch-*.weights.h5"):
            if old.name != weights:
                old.unlink()


class _EpochLine(keras.callbacks.Callback):
    """What training shows (in place of Keras's progress bar, which also shows `loss`, Eq. 1
    plus L2 over the padded batch): with `verbose` 1 or "auto" a bar over the epoch's steps
    with the running training heatmap loss, and with 1, 2 or "auto" one line per epoch:
    `Epoch 3/8 - 12s - heatmap_loss (Eq. 1) 0.0123 - val_heatmap_loss 0.0145 (best) - lr 0.02`.
    """

    def __init__(self, recorder: "_RunRecorder", epochs: int, steps: int, verbose: int | str):
        super().__init__()
        self.recorder = recorder
        self.epochs = epochs
        self.steps = steps
        self.bar = verbose in (1, "auto")
        self.lines = verbose in (1, 2, "auto")
        self.progbar: keras.utils.Progbar | None = None
        self.started = 0.0
        self.explained = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Once per run: a run trains one `fit` per epoch with this same callback.
        if self.lines and not self.explained:
            self.explained = True
            log.info(
                "heatmap_loss: Eq. 1, the masked heatmap MSE per person, on the training "
                "batches and (val_heatmap_loss) on the validation split, which picks best.keras; "
                "history.csv also holds 'loss', what Adam minimises: Eq. 1 over every keypoint "
                "slot of a batch (padding included) plus the L2 term"
            )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.monotonic()
        if self.bar:
            sys.stdout.write(f"Epoch {epoch + 1}/{self.epochs}\n")
            self.progbar = keras.utils.Progbar(
                self.steps, stateful_metrics=["heatmap_loss"], unit_name="step"
            )

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.progbar is not None and logs and "heatmap_loss" in logs:
            self.progbar.update(batch + 1, [("heatmap_loss", float(logs["heatmap_loss"]))])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.progbar = None
        if not self.lines or self.recorder.failure is not None:
            return
        sys.stdout.write(epoch_line(epoch + 1, self.epochs, self.recorder, self.started) + "\n")
        sys.stdout.flush()


def epoch_line(epoch: int, epochs: int, recorder: "_RunRecorder", started: float) -> str:
    """The line shown after epoch `epoch` (1-based) from the run's recorded history."""
    history = recorder.history
    train_loss = history["heatmap_loss"][-1]
    val_loss = history[MONITOR][-1]
    best = " (best)" if recorder.best_epoch == epoch else f" (best {recorder.best_val_loss:.4g})"
    rate = history.get("learning_rate", [math.nan])[-1]
    seconds = time.monotonic() - started
    return (
        f"Epoch {epoch}/{epochs} - {seconds:.0f}s - heatmap_loss (Eq. 1) {train_loss:.4g} - "
        f"val_heatmap_loss {val_loss:.4g}{best} - lr {rate:.3g}"
    )
