"""The TFRecord example: one instance (box and keypoints) with its image's JPEG bytes."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

SHARD_SUFFIX = ".tfrecord"


def serialize_example(
    *,
    jpeg: bytes,
    image_id: int,
    height: int,
    width: int,
    instance_id: int,
    box: Sequence[float],
    keypoints: Sequence[float],
    score: float,
) -> bytes:
    """One instance as a serialized `tf.train.Example` (keypoints flat `[x, y, v] * K`)."""

    def ints(*values: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def floats(values: Sequence[float]) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    features = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
        "image/id": ints(image_id),
        "image/height": ints(height),
        "image/width": ints(width),
        "instance/id": ints(instance_id),
        "instance/box": floats(box),
        "instance/keypoints": floats(keypoints),
        "instance/score": floats([score]),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def parse_example(serialized: tf.Tensor, num_keypoints: int) -> dict[str, tf.Tensor]:
    """Parse one serialized example; keypoints come back as `(K, 3)` floats."""
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/id": tf.io.FixedLenFeature([], tf.int64),
        "image/height": tf.io.FixedLenFeature([], tf.int64),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
        "instance/id": tf.io.FixedLenFeature([], tf.int64),
        "instance/box": tf.io.FixedLenFeature([4], tf.float32),
        "instance/keypoints": tf.io.FixedLenFeature([num_keypoints * 3], tf.float32),
        "instance/score": tf.io.FixedLenFeature([], tf.float32),
    }
    ex = tf.io.parse_single_example(serialized, spec)
    return {
        "jpeg": ex["image/encoded"],
        "image_id": ex["image/id"],
        "image_size": tf.cast(tf.stack([ex["image/height"], ex["image/width"]]), tf.int32),
        "instance_id": ex["instance/id"],
        "box": ex["instance/box"],
        "keypoints": tf.reshape(ex["instance/keypoints"], [num_keypoints, 3]),
        "score": ex["instance/score"],
    }
