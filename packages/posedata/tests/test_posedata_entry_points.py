"""The pipeline by purpose: training, validation and prediction batches, each the same batches
`make_dataset` gives for its mode (which stays for compatibility)."""

import numpy as np
import tensorflow as tf

import posedata

SMALL = {"input_size": (64, 48), "batch_size": 4}
HEATMAPS = {"heatmap_size": (16, 12)}


def _first(dataset):
    return tf.nest.map_structure(lambda t: t.numpy(), next(iter(dataset)))


def _assert_same(a, b):
    tf.nest.map_structure(np.testing.assert_array_equal, _first(a), _first(b))


def test_training_batches_are_make_datasets_train_mode(synthetic_shards):
    files = synthetic_shards / "train"
    augment = posedata.AugmentConfig.reference()
    ours = posedata.training_batches(files, **SMALL, **HEATMAPS, augment=augment, seed=3)
    theirs = posedata.make_dataset(
        files, mode="train", **SMALL, **HEATMAPS, augment=augment, seed=3
    )
    _assert_same(ours, theirs)


def test_validation_batches_are_make_datasets_val_mode(synthetic_shards):
    files = synthetic_shards / "val"
    ours = posedata.validation_batches(files, **SMALL, **HEATMAPS)
    _assert_same(ours, posedata.make_dataset(files, mode="val", **SMALL, **HEATMAPS))


def test_prediction_batches_are_make_datasets_predict_mode(synthetic_shards):
    files = synthetic_shards / "val-dets"
    ours = posedata.prediction_batches(files, **SMALL, flip_test=True)
    theirs = posedata.make_dataset(files, mode="predict", **SMALL, flip_test=True)
    _assert_same(ours, theirs)
    assert "images_flipped" in _first(ours)
