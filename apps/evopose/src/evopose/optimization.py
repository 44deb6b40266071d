"""The optimisation recipe (SPEC section 3): Adam, L2 on kernels, LR scaled by batch/32 with
linear warmup from the base LR and cosine decay to 0 over the run."""

import keras

from evopose.config import TrainSection
from evopose.errors import ConfigFileError

REFERENCE_BATCH_SIZE = 32


def peak_learning_rate(train: TrainSection) -> float:
    """The LR reached after warmup: `base_lr * batch_size / 32`, or `base_lr` without scaling."""
    if not train.scale_lr:
        return train.base_lr
    return train.base_lr * train.batch_size / REFERENCE_BATCH_SIZE


def learning_rate_schedule(
    train: TrainSection, steps_per_epoch: int, epochs: int
) -> keras.optimizers.schedules.CosineDecay:
    """Keras's cosine decay with warmup: base LR -> peak LR over the warmup, then cosine to 0."""
    total_steps = steps_per_epoch * epochs
    warmup_steps = round(train.warmup_epochs * steps_per_epoch)
    peak = peak_learning_rate(train)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(peak, decay_steps=total_steps)
    if warmup_steps >= total_steps:
        raise ConfigFileError(
            f"train.warmup_epochs={train.warmup_epochs} must be shorter than the run "
            f"({epochs} epochs); lower it or set it to 0"
        )
    return keras.optimizers.schedules.CosineDecay(
        train.base_lr,
        decay_steps=total_steps - warmup_steps,
        warmup_target=peak,
        warmup_steps=warmup_steps,
    )


def make_optimizer(train: TrainSection, steps_per_epoch: int, epochs: int) -> keras.optimizers.Adam:
    """Adam driven by `learning_rate_schedule`."""
    return keras.optimizers.Adam(learning_rate_schedule(train, steps_per_epoch, epochs))


def regularize_kernels(model: keras.Model, weight_decay: float) -> int:
    """Puts an L2 penalty `weight_decay * sum(w**2)` on every kernel of `model` (convolution,
    depthwise, transposed and dense kernels; not biases or batch norm). Returns their count."""
    count = 0
    if weight_decay <= 0:
        return count
    for variable in model.trainable_weights:
        if variable.name.endswith("kernel"):
            variable.regularizer = keras.regularizers.L2(weight_decay)
            count += 1
    return count
