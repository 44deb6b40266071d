"""The training recipe: the masked loss of Eq. 1, the learning-rate schedule, L2 on kernels."""

import keras
import numpy as np
import pytest

from evopose.config import TrainSection
from evopose.errors import ConfigFileError, TrainingError
from evopose.losses import HeatmapLoss, HeatmapLossMetric
from evopose.optimization import learning_rate_schedule, peak_learning_rate, regularize_kernels


def eq1(target: np.ndarray, pred: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Eq. 1 per sample, written out: (1/K) sum_k valid_k * mean over pixels of the error^2."""
    per_keypoint = ((pred - target) ** 2).mean(axis=(1, 2))
    return (valid * per_keypoint).sum(axis=1) / target.shape[-1]


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 255, (4, 8, 6, 5)).astype(np.float32)
    pred = rng.uniform(0, 255, (4, 8, 6, 5)).astype(np.float32)
    valid = (rng.random((4, 5)) > 0.4).astype(np.float32)
    return target, pred, valid


def test_loss_is_the_batch_mean_of_eq1(batch):
    target, pred, valid = batch
    loss = float(HeatmapLoss()(target, pred, sample_weight=valid))
    assert loss == pytest.approx(eq1(target, pred, valid).mean(), rel=1e-5)


def test_invisible_keypoints_do_not_contribute_to_the_loss(batch):
    target, pred, valid = batch
    changed = pred.copy()
    changed[..., 0] += 1000.0 * (valid[:, 0] == 0)[:, None, None]  # only masked maps change
    assert float(HeatmapLoss()(target, changed, sample_weight=valid)) == pytest.approx(
        float(HeatmapLoss()(target, pred, sample_weight=valid)), rel=1e-6
    )


def test_loss_metric_matches_eq1_and_skips_padding_samples(batch):
    target, pred, valid = batch
    metric = HeatmapLossMetric()
    padded = np.concatenate([valid, np.zeros((2, 5), np.float32)])
    metric.update_state(
        np.concatenate([target, target[:2]]), np.concatenate([pred, pred[:2]]), padded
    )
    assert float(metric.result()) == pytest.approx(eq1(target, pred, valid).mean(), rel=1e-5)


def test_peak_learning_rate_scales_with_batch_over_32():
    assert peak_learning_rate(TrainSection(batch_size=512)) == pytest.approx(4e-3)
    assert peak_learning_rate(TrainSection(batch_size=512, scale_lr=False)) == 2.5e-4


def test_schedule_warms_up_from_base_lr_then_decays_to_zero():
    recipe = TrainSection(batch_size=256, epochs=20, warmup_epochs=5)
    schedule = learning_rate_schedule(recipe, steps_per_epoch=10, epochs=20)
    lr = [float(schedule(step)) for step in (0, 25, 50, 125, 200)]
    assert lr[0] == pytest.approx(2.5e-4)
    assert lr[1] == pytest.approx((2.5e-4 + 2e-3) / 2)
    assert lr[2] == pytest.approx(2e-3)
    assert lr[3] == pytest.approx(1e-3, rel=1e-4)  # half-way through the cosine
    assert lr[4] == pytest.approx(0.0, abs=1e-9)


def test_schedule_without_warmup_starts_at_the_scaled_rate():
    recipe = TrainSection(batch_size=64, epochs=5, warmup_epochs=0)
    schedule = learning_rate_schedule(recipe, steps_per_epoch=4, epochs=5)
    assert float(schedule(0)) == pytest.approx(5e-4)
    assert float(schedule(20)) == pytest.approx(0.0, abs=1e-9)


def test_warmup_as_long_as_the_run_is_a_config_error():
    with pytest.raises(ConfigFileError, match=r"train.warmup_epochs"):
        learning_rate_schedule(TrainSection(epochs=3, warmup_epochs=5), steps_per_epoch=2, epochs=3)


def test_l2_goes_on_kernels_only():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.DepthwiseConv2D(3, name="dw")(x)
    model = keras.Model(inputs, keras.layers.Conv2DTranspose(2, 3, name="up")(x))
    assert regularize_kernels(model, 1e-5) == 3
    kernels = [w for w in model.trainable_weights if w.name.endswith("kernel")]
    expected = 1e-5 * sum(float(np.sum(np.square(w.numpy()))) for w in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)


def test_batch_size_must_split_over_the_replicas():
    import tensorflow as tf

    from evopose.distribute import check_batch_size

    class TwoReplicas:
        num_replicas_in_sync = 2

    assert check_batch_size(8, tf.distribute.get_strategy(), "train.batch_size") == 8
    assert check_batch_size(8, TwoReplicas(), "train.batch_size") == 4
    with pytest.raises(TrainingError, match=r"train\.batch_size=7 cannot be split over 2"):
        check_batch_size(7, TwoReplicas(), "train.batch_size")
