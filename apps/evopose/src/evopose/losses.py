"""The training loss (Eq. 1): mean squared heatmap error with invisible keypoints masked out.

Targets and predictions are NHWK heatmaps; the visibility mask is NK (1 = keypoint labelled
inside the crop). Keras passes the mask as the per-keypoint sample weight, so the batch loss is
`sum_{n,k} valid[n,k] * mse[n,k] / (N * K)`: the mean over the batch of Eq. 1.
"""

import keras
from keras import ops


def keypoint_mse(y_true, y_pred):
    """Per-keypoint mean squared error over the heatmap pixels: NHWK, NHWK -> NK."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    return ops.mean(ops.square(y_pred - y_true), axis=(1, 2))


@keras.saving.register_keras_serializable(package="evopose")
class HeatmapLoss(keras.losses.Loss):
    """Eq. 1 as a Keras loss; give the visibility mask (NK) as the sample weight."""

    def __init__(
        self, name: str = "heatmap_loss", reduction: str = "sum_over_batch_size", dtype=None
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return keypoint_mse(y_true, y_pred)


@keras.saving.register_keras_serializable(package="evopose")
class HeatmapLossMetric(keras.metrics.Metric):
    """The running mean of Eq. 1 over samples, without the L2 term the training loss carries.

    Give the visibility mask as the sample weight (`weighted_metrics`). Samples without any
    visible keypoint add nothing to the sum and are not counted: they are the padding of a
    short last validation batch.
    """

    def __init__(self, name: str = "heatmap_loss", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        per_keypoint = keypoint_mse(y_true, y_pred)
        if sample_weight is None:
            counted = ops.cast(ops.shape(per_keypoint)[0], "float32")
        else:
            valid = ops.cast(sample_weight, "float32")
            per_keypoint = per_keypoint * valid
            counted = ops.sum(ops.cast(ops.max(valid, axis=1) > 0, "float32"))
        self.total.assign_add(ops.sum(ops.mean(per_keypoint, axis=1)))
        self.count.assign_add(counted)

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)
