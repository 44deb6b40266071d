"""The crop transform: one 2x3 affine matrix from image pixels to network-input pixels.

Pixel coordinates are the integer index at a pixel's centre, so an image of width W spans
[-0.5, W - 0.5]. `A` maps an image point to the input: `[u, v] = A @ [x, y, 1]` (the matrix
`cv2.warpAffine` takes). The crop is centred on the box, the box is widened to the input's
aspect ratio and enlarged by `padding` (1.25) and `scale`, then rotated about its centre and,
when flipped, mirrored about the input's vertical centre line.

Graph safety: TensorFlow 2.21's Grappler remapper can fuse `Maximum(a, Mul(b, c))` into a
LeakyRelu when `a` and `b` are different outputs of one multi-output node (`Unpack`, `Split`),
and then reads the wrong one (the class of tensorflow issue 60941; on by default wherever
oneDNN is). The code here therefore never unstacks or splits a tensor: every component is its
own slice (a single-output node), and the widening to the input's aspect ratio is a
`reduce_max` over `(w, h * aspect)`, which no binary-op fusion can match.
`posedata.check_graph_geometry` verifies the result at run time.
"""

from __future__ import annotations

import math

import tensorflow as tf

BOX_PADDING = 1.25
"""The crop is the box (at the input aspect ratio) enlarged by this factor."""


def crop_transform(
    box: tf.Tensor,
    input_size: tuple[int, int],
    *,
    scale: tf.Tensor | float = 1.0,
    rotation: tf.Tensor | float = 0.0,
    flip: tf.Tensor | bool = False,
    padding: tf.Tensor | float = BOX_PADDING,
) -> tf.Tensor:
    """2x3 affine matrices (shape `(..., 2, 3)`) for boxes `[x, y, w, h]` of shape `(..., 4)`.

    `scale` > 1 crops a larger region, `rotation` is in degrees (counter-clockwise on screen),
    `flip` mirrors the crop; all broadcast against the boxes' leading shape.
    """
    box = tf.convert_to_tensor(box, tf.float32)
    height, width = (float(s) for s in input_size)
    centre = box[..., 0:2] + 0.5 * box[..., 2:4]
    cx, cy = centre[..., 0], centre[..., 1]
    # The box widened to the input's aspect ratio: width max(w, h * aspect).
    widths = box[..., 2:4] * tf.constant([1.0, width / height])
    crop_w = tf.reduce_max(widths, axis=-1) * padding * scale
    zoom = width / tf.maximum(crop_w, 1e-6)
    theta = tf.convert_to_tensor(rotation, tf.float32) * (math.pi / 180.0)
    cos, sin = zoom * tf.cos(theta), zoom * tf.sin(theta)
    cos, sin, cx, cy = _broadcast(cos, sin, cx, cy)
    ox, oy = 0.5 * (width - 1.0), 0.5 * (height - 1.0)
    tx = ox - (cos * cx + sin * cy)
    ty = oy - (-sin * cx + cos * cy)
    mirror = tf.broadcast_to(tf.cast(flip, tf.bool), tf.shape(cos))
    sign = tf.where(mirror, -1.0, 1.0)
    row_u = tf.stack([sign * cos, sign * sin, sign * tx + tf.where(mirror, width - 1.0, 0.0)], -1)
    row_v = tf.stack([-sin, cos, ty], -1)
    return tf.stack([row_u, row_v], axis=-2)


def mirror_transform(transform: tf.Tensor, input_width: int) -> tf.Tensor:
    """The transform of the horizontally mirrored crop (`tf.reverse(images, axis=[-2])`)."""
    transform = tf.convert_to_tensor(transform, tf.float32)
    row_u, row_v = transform[..., 0, :], transform[..., 1, :]
    offset = tf.constant([0.0, 0.0, input_width - 1.0])
    return tf.stack([offset - row_u, row_v], axis=-2)


def invert_transform(transform: tf.Tensor) -> tf.Tensor:
    """Inverse of 2x3 affine matrices (`(..., 2, 3)`): input pixels back to image pixels."""
    transform = tf.convert_to_tensor(transform, tf.float32)
    a, b, c = transform[..., 0, 0], transform[..., 0, 1], transform[..., 0, 2]
    d, e, f = transform[..., 1, 0], transform[..., 1, 1], transform[..., 1, 2]
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    row_x = tf.stack([ia, ib, -(ia * c + ib * f)], -1)
    row_y = tf.stack([id_, ie, -(id_ * c + ie * f)], -1)
    return tf.stack([row_x, row_y], axis=-2)


def apply_transform(transform: tf.Tensor, points: tf.Tensor) -> tf.Tensor:
    """Map points `(..., N, 2)` through matrices `(..., 2, 3)`."""
    transform = tf.convert_to_tensor(transform, tf.float32)
    points = tf.convert_to_tensor(points, tf.float32)
    linear = transform[..., :2]
    return tf.linalg.matmul(points, linear, transpose_b=True) + transform[..., None, :, 2]


def _broadcast(*tensors: tf.Tensor) -> list[tf.Tensor]:
    shape = tf.shape(tensors[0])
    for t in tensors[1:]:
        shape = tf.broadcast_dynamic_shape(shape, tf.shape(t))
    return [tf.broadcast_to(t, shape) for t in tensors]
