"""The app's TensorFlow code eager vs in graph mode, run as a script in a fresh process.

`TF_ENABLE_ONEDNN_OPTS` is read when TensorFlow is imported, so the test runs this file once
with it forced to 1 and once to 0 and reads the JSON it prints as its last line.
"""

import json

import keras
import numpy as np
import tensorflow as tf

import posedata
from evopose.config import ModelSection, TrainSection
from evopose.losses import HeatmapLoss, HeatmapLossMetric, keypoint_mse
from evopose.models import build_model
from evopose.optimization import learning_rate_schedule

GENOTYPE = [[3, 1, 1, 1], [3, 1, 1, 2], [3, 1, 2, 2], [3, 1, 2, 2], [5, 1, 3, 1], [3, 1, 4, 1],
            [3, 1, 4, 1]]  # fmt: skip


def difference(call) -> float:
    """Largest difference between `call()` run eagerly and as a `tf.function`."""
    eager = np.asarray(call(), np.float64)
    graph = np.asarray(tf.function(call)(), np.float64)
    return float(np.max(np.abs(eager - graph)))


def metric_value(metric: HeatmapLossMetric, y_true, y_pred, valid) -> tf.Tensor:
    """The metric's value after one update from zero (its variables live outside the call)."""
    metric.reset_state()
    metric.update_state(y_true, y_pred, sample_weight=valid)
    return metric.result()


def main() -> None:
    rng = np.random.default_rng(0)
    y_true = tf.constant(rng.uniform(0, 255, (4, 16, 12, 17)), tf.float32)
    y_pred = tf.constant(rng.uniform(0, 255, (4, 16, 12, 17)), tf.float32)
    valid = tf.constant(rng.uniform(size=(4, 17)) < 0.7, tf.float32)
    metric = HeatmapLossMetric()
    schedule = learning_rate_schedule(
        TrainSection(epochs=4, batch_size=64, base_lr=1e-3, warmup_epochs=1.5), 10, 4
    )
    model = build_model(ModelSection(name="evopose2d", input_size=(64, 48), genotype=GENOTYPE))
    images = tf.constant(rng.normal(size=(2, 64, 48, 3)), tf.float32)
    boxes = np.array([[3.0, 5.0, 20.0, 50.0], [30.0, 2.0, 40.0, 20.0]], np.float32)
    ok, jpeg = __import__("cv2").imencode(".jpg", rng.integers(0, 255, (60, 80, 3), np.uint8))
    assert ok
    transforms = posedata.crop_transform(boxes, (64, 48))
    pixels = tf.cast(tf.io.decode_jpeg(jpeg.tobytes(), channels=3), tf.float32)
    differences = {
        "keypoint_mse": difference(lambda: keypoint_mse(y_true, y_pred)),
        "HeatmapLoss": difference(lambda: HeatmapLoss()(y_true, y_pred, sample_weight=valid)),
        "HeatmapLossMetric": difference(lambda: metric_value(metric, y_true, y_pred, valid)),
        "learning_rate_schedule": difference(
            lambda: tf.stack([schedule(step) for step in range(0, 41, 5)])
        ),
        "model forward": difference(lambda: model(images, training=False)),
        # posedata.crop_pixels (a tf.function) against the same warp run eagerly.
        "crop_pixels": float(
            np.max(
                np.abs(
                    posedata.crop_pixels(pixels, boxes, (64, 48))[0]
                    - np.stack(
                        [
                            posedata.normalize_images(posedata.warp_image(pixels, t, (64, 48)))
                            for t in transforms
                        ]
                    )
                )
            )
        ),
    }
    print(json.dumps({"keras": keras.__version__, "differences": differences}))


if __name__ == "__main__":
    main()
