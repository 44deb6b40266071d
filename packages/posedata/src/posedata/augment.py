"""Training augmentation: the per-example random draw (stateless) of an `AugmentConfig`
(`posedata.augment_config`, which holds the settings, their bounds and the presets)."""

from __future__ import annotations

import tensorflow as tf

from posedata.augment_config import AugmentConfig
from posedata.info import DatasetInfo
from posedata.transform import BOX_PADDING


def draw_augmentation(
    config: AugmentConfig, seed: tf.Tensor, box: tf.Tensor, keypoints: tf.Tensor, info: DatasetInfo
) -> dict[str, tf.Tensor]:
    """Draw one example's augmentation from a stateless `seed` (shape `[2]`).

    Returns the crop box (the half-body box when drawn, its centre shifted when
    `config.shift_factor` > 0), padding, scale, rotation and flip.
    """
    box = tf.convert_to_tensor(box, tf.float32)
    keypoints = tf.convert_to_tensor(keypoints, tf.float32)
    uniform = tf.random.stateless_uniform([4], seed=seed)
    normal = tf.random.stateless_normal([2], seed=tf.random.experimental.stateless_fold_in(seed, 1))
    sf = config.scale_factor
    scale = 1.0 + tf.clip_by_value(normal[0] * sf, -sf, sf)
    angle = tf.clip_by_value(
        normal[1] * config.rotation_std, -config.rotation_max, config.rotation_max
    )
    rotation = tf.where(uniform[0] < config.rotation_prob, angle, 0.0)
    flip = uniform[1] < config.flip_prob
    box, padding = _half_body(config, uniform[2], uniform[3], box, keypoints, info)
    if config.shift_factor > 0.0:  # its own draw: the other draws are the same with or without
        shift = tf.random.stateless_normal(
            [2], seed=tf.random.experimental.stateless_fold_in(seed, 2)
        )
        limit = 2.0 * config.shift_factor
        offset = tf.clip_by_value(shift * config.shift_factor, -limit, limit) * box[2:4]
        box = box + tf.concat([offset, tf.zeros([2], tf.float32)], axis=0)
    return {"box": box, "padding": padding, "scale": scale, "rotation": rotation, "flip": flip}


def _half_body(
    config: AugmentConfig,
    draw: tf.Tensor,
    side: tf.Tensor,
    box: tf.Tensor,
    keypoints: tf.Tensor,
    info: DatasetInfo,
) -> tuple[tf.Tensor, tf.Tensor]:
    """The box around the visible upper (or lower) body keypoints, padded by
    `half_body_padding` instead of the usual 1.25."""
    if config.half_body_prob <= 0.0:
        return box, tf.constant(BOX_PADDING)
    visible = keypoints[:, 2] > 0
    upper = tf.scatter_nd(
        [[i] for i in info.upper_body],
        tf.ones([len(info.upper_body)], tf.bool),
        [info.num_keypoints],
    )
    upper_visible, lower_visible = visible & upper, visible & ~upper
    n_upper = tf.reduce_sum(tf.cast(upper_visible, tf.int32))
    n_lower = tf.reduce_sum(tf.cast(lower_visible, tf.int32))
    # The upper body half the time when it has more than two points; otherwise 'balanced': the
    # lower body if it has more than two, else the upper; 'reference' (the authors' code): the
    # lower body if the *upper* has more than two, else the upper.
    fallback_to_upper = (
        (n_upper <= 2) if config.half_body_selection == "reference" else (n_lower <= 2)
    )
    take_upper = ((side < 0.5) & (n_upper > 2)) | fallback_to_upper
    selected = tf.where(take_upper, upper_visible, lower_visible)
    n_selected = tf.reduce_sum(tf.cast(selected, tf.int32))
    n_visible = tf.reduce_sum(tf.cast(visible, tf.int32))
    apply = (draw < config.half_body_prob) & (n_visible > config.half_body_min_keypoints)
    apply &= n_selected >= 2
    points = tf.boolean_mask(keypoints[:, :2], selected)
    centre = tf.reduce_mean(points, axis=0)
    extent = tf.reduce_max(points, axis=0) - tf.reduce_min(points, axis=0)
    half_box = tf.concat([centre - 0.5 * extent, extent], axis=0)
    half_box = tf.where(apply, half_box, box)
    return half_box, tf.where(apply, config.half_body_padding, BOX_PADDING)
