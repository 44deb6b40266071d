"""Heatmap targets: one Gaussian per keypoint, peak 255, computed for a whole batch at once.

The encoding half of the heatmap codec; cocoeval-tools decodes by the same contract (peak,
sigma, centre rounding, output stride: the repository README's "Contracts between packages",
SPEC.md sections 3 and 6).
"""

from __future__ import annotations

import tensorflow as tf

HEATMAP_PEAK = 255.0
"""Value of a target heatmap at its keypoint."""


def heatmap_sigma(heatmap_height: int) -> float:
    """The Gaussian's standard deviation in heatmap pixels: 2 on a 64-pixel-high map."""
    return 2.0 * heatmap_height / 64.0


def heatmap_centres(
    keypoints: tf.Tensor, input_size: tuple[int, int], heatmap_size: tuple[int, int]
) -> tf.Tensor:
    """Integer heatmap cells `(..., 2)` (x, y) of input-pixel keypoints `(..., 2)`.

    A cell is `floor(coord * out / in + 0.5)` per axis (x by widths, y by heights).
    """
    keypoints = tf.convert_to_tensor(keypoints, tf.float32)
    ratio = tf.constant(
        [heatmap_size[1] / input_size[1], heatmap_size[0] / input_size[0]], tf.float32
    )
    return tf.cast(tf.floor(keypoints * ratio + 0.5), tf.int32)


def encode_heatmaps(
    keypoints: tf.Tensor,
    valid: tf.Tensor,
    input_size: tuple[int, int],
    heatmap_size: tuple[int, int],
) -> tuple[tf.Tensor, tf.Tensor]:
    """Targets `(B, Ho, Wo, K)` and updated validity `(B, K)` for keypoints `(B, K, 2)`.

    A keypoint whose cell falls outside the heatmap leaves the crop: it becomes invalid and,
    like every invalid keypoint, gets an all-zero map.
    """
    height, width = heatmap_size
    centres = heatmap_centres(keypoints, input_size, heatmap_size)
    cx, cy = centres[..., 0], centres[..., 1]
    inside = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
    valid = tf.cast(valid, tf.bool) & inside
    two_sigma_sq = 2.0 * heatmap_sigma(height) ** 2
    dx = tf.range(width, dtype=tf.float32) - tf.cast(cx, tf.float32)[..., None]
    dy = tf.range(height, dtype=tf.float32) - tf.cast(cy, tf.float32)[..., None]
    gx = tf.exp(-tf.square(dx) / two_sigma_sq)
    gy = (
        tf.exp(-tf.square(dy) / two_sigma_sq)
        * (HEATMAP_PEAK * tf.cast(valid, tf.float32))[..., None]
    )
    return tf.einsum("bky,bkx->byxk", gy, gx), tf.cast(valid, tf.float32)
