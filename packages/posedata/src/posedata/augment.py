"""Training augmentation: its configuration and the per-example random draw (stateless)."""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from posedata.errors import DataError
from posedata.info import DatasetInfo
from posedata.transform import BOX_PADDING


@dataclass(frozen=True)
class AugmentConfig:
    """SPEC.md's augmentation; the defaults are the full training recipe.

    Flip with probability `flip_prob` (left/right keypoints swapped); crop scale
    `1 + clip(N(0, 1) * scale_factor, +-scale_factor)`; with probability `rotation_prob` a
    rotation of `clip(N(0, rotation_std), +-rotation_max)` degrees; half-body with probability
    `half_body_prob` when more than `half_body_min_keypoints` keypoints are visible.
    """

    flip_prob: float = 0.5
    scale_factor: float = 0.3
    rotation_prob: float = 0.6
    rotation_std: float = 40.0
    rotation_max: float = 80.0
    half_body_prob: float = 0.0
    half_body_min_keypoints: int = 8
    half_body_padding: float = 1.5

    def __post_init__(self) -> None:
        for name in ("flip_prob", "rotation_prob", "half_body_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise DataError(f"AugmentConfig.{name}={getattr(self, name)}: must be in [0, 1]")
        if not 0.0 <= self.scale_factor < 1.0:
            raise DataError(f"AugmentConfig.scale_factor={self.scale_factor}: must be in [0, 1)")
        for name in ("rotation_std", "rotation_max", "half_body_min_keypoints"):
            if getattr(self, name) < 0:
                raise DataError(f"AugmentConfig.{name}={getattr(self, name)}: must be >= 0")
        if self.half_body_padding <= 0:
            raise DataError(
                f"AugmentConfig.half_body_padding={self.half_body_padding}: must be > 0"
            )

    @classmethod
    def flip_only(cls) -> AugmentConfig:
        """Horizontal flip as the only augmentation (the search's setting)."""
        return cls(scale_factor=0.0, rotation_prob=0.0)

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation at all."""
        return cls(flip_prob=0.0, scale_factor=0.0, rotation_prob=0.0)


def draw_augmentation(
    config: AugmentConfig, seed: tf.Tensor, box: tf.Tensor, keypoints: tf.Tensor, info: DatasetInfo
) -> dict[str, tf.Tensor]:
    """Draw one example's augmentation from a stateless `seed` (shape `[2]`).

    Returns the crop box (the half-body box when drawn), padding, scale, rotation and flip.
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
    return {"box": box, "padding": padding, "scale": scale, "rotation": rotation, "flip": flip}


def _half_body(
    config: AugmentConfig,
    draw: tf.Tensor,
    side: tf.Tensor,
    box: tf.Tensor,
    keypoints: tf.Tensor,
    info: DatasetInfo,
) -> tuple[tf.Tensor, tf.Tensor]:
    """The box around the visible upper (or lower) body keypoints, padded by 1.5 instead."""
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
    # The upper body half the time when it has more than two points, else the lower body if it
    # has more than two, else the upper body (as the reference code does).
    take_upper = ((side < 0.5) & (n_upper > 2)) | (n_lower <= 2)
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
