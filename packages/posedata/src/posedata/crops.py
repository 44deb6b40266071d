"""Crops of person boxes: the one path from an image and a box to the network's input.

The training/validation pipeline (`posedata.make_dataset`) and prediction on single images
(`crop_jpeg`, `crop_pixels`) use the same transform and the same warp, so a model sees the same
pixels for the same image and box whichever way it is run.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from posedata.transform import apply_transform, crop_transform, invert_transform

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_DCT_RATIOS = (1, 2, 4, 8)  # the scales libjpeg decodes at


def crop_image(
    jpeg: tf.Tensor, image_size: tf.Tensor, transform: tf.Tensor, input_size: tuple[int, int]
) -> tf.Tensor:
    """The crop `(H, W, 3)` float32 RGB in [0, 255], black outside the image.

    Only the window of the JPEG that the crop samples is decoded (`decode_and_crop_jpeg`),
    and at 1/2, 1/4 or 1/8 scale (in the DCT, nearly free) when the crop shrinks the image by
    at least that much, so that the warp still reads at least one decoded pixel per output pixel.
    """
    height, width = input_size
    inverse = invert_transform(transform)
    # Image pixels per input pixel (rotation keeps it the same along both input axes).
    spacing = tf.norm(inverse[:, 0])
    level = tf.reduce_sum(tf.cast(spacing >= tf.constant(_DCT_RATIOS[1:], tf.float32), tf.int32))
    ratio = tf.gather(tf.constant(_DCT_RATIOS, tf.float32), level)
    # A decoded pixel i at 1/r scale is centred on image pixel r * i + (r - 1) / 2.
    offset = 0.5 * (ratio - 1.0)
    corners = tf.constant(
        [[-0.5, -0.5], [width - 0.5, -0.5], [-0.5, height - 0.5], [width - 0.5, height - 0.5]]
    )
    reach = (apply_transform(inverse, corners) - offset) / ratio
    scaled_size = tf.math.ceil(tf.cast(tf.reverse(image_size, [0]), tf.float32) / ratio)
    # One decoded pixel beyond the reach of the corners: bilinear sampling reads neighbours.
    low = tf.clip_by_value(tf.floor(tf.reduce_min(reach, 0)) - 1.0, 0.0, scaled_size - 1.0)
    high = tf.clip_by_value(tf.math.ceil(tf.reduce_max(reach, 0)) + 1.0, low, scaled_size - 1.0)
    low_i, size_i = tf.cast(low, tf.int32), tf.cast(high - low, tf.int32) + 1
    window = tf.stack([low_i[1], low_i[0], size_i[1], size_i[0]])
    pixels = tf.switch_case(
        level,
        [
            functools.partial(tf.image.decode_and_crop_jpeg, jpeg, window, channels=3, ratio=r)
            for r in _DCT_RATIOS
        ],
    )
    # Decoded pixel (x', y') is image point ratio * (x', y') + ratio * low + offset.
    origin = ratio * low + offset
    linear = transform[:, :2]
    shifted = tf.concat(
        [linear * ratio, transform[:, 2:] + tf.linalg.matvec(linear, origin)[:, None]], axis=1
    )
    return warp_image(tf.cast(pixels, tf.float32), shifted, input_size)


def warp_image(pixels: tf.Tensor, transform: tf.Tensor, input_size: tuple[int, int]) -> tf.Tensor:
    """`cv2.warpAffine` of one image `(h, w, C)` by a 2x3 matrix, bilinear, zero outside."""
    inverse = invert_transform(transform)
    flat = tf.concat([tf.reshape(inverse, [6]), tf.zeros([2])], axis=0)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=pixels[None],
        transforms=flat[None],
        output_shape=tf.constant(input_size, tf.int32),
        fill_value=tf.constant(0.0, pixels.dtype),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return warped[0]


def normalize_images(images: tf.Tensor) -> tf.Tensor:
    """RGB in [0, 255] to [0, 1], then ImageNet mean and standard deviation."""
    scale = tf.constant([1.0 / (255.0 * s) for s in IMAGENET_STD], tf.float32)
    offset = tf.constant([m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)])
    return tf.cast(images, tf.float32) * scale - offset


def crop_jpeg(
    jpeg: bytes | tf.Tensor, boxes: np.ndarray | tf.Tensor, input_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised crops `(N, H, W, 3)` and their transforms `(N, 2, 3)` of boxes `(N, 4)`
    `[x, y, w, h]` in a JPEG image: exactly the validation pipeline's path (window decode,
    DCT scaling, warp), so a prediction on a JPEG file sees the pixels evaluation sees."""
    boxes = tf.reshape(tf.convert_to_tensor(boxes, tf.float32), [-1, 4])
    images, transforms = _jpeg_cropper(_size(input_size))(tf.convert_to_tensor(jpeg), boxes)
    return images.numpy(), transforms.numpy()


def crop_pixels(
    rgb: np.ndarray | tf.Tensor, boxes: np.ndarray | tf.Tensor, input_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised crops `(N, H, W, 3)` and transforms `(N, 2, 3)` of boxes `(N, 4)` in a decoded
    RGB image `(h, w, 3)` (e.g. a video frame): the pipeline's transform and warp."""
    boxes = tf.reshape(tf.convert_to_tensor(boxes, tf.float32), [-1, 4])
    pixels = tf.cast(tf.convert_to_tensor(rgb), tf.float32)
    images, transforms = _pixel_cropper(_size(input_size))(pixels, boxes)
    return images.numpy(), transforms.numpy()


def _size(input_size: tuple[int, int]) -> tuple[int, int]:
    height, width = (int(s) for s in input_size)
    return height, width


@functools.lru_cache(maxsize=8)
def _jpeg_cropper(input_size: tuple[int, int]):
    spec = tf.TensorSpec([*input_size, 3], tf.float32)

    @tf.function(reduce_retracing=True)
    def crop(jpeg: tf.Tensor, boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image_size = tf.image.extract_jpeg_shape(jpeg)[:2]
        transforms = crop_transform(boxes, input_size)
        images = tf.map_fn(
            lambda t: normalize_images(crop_image(jpeg, image_size, t, input_size)),
            transforms,
            fn_output_signature=spec,
        )
        return images, transforms

    return crop


@functools.lru_cache(maxsize=8)
def _pixel_cropper(input_size: tuple[int, int]):
    spec = tf.TensorSpec([*input_size, 3], tf.float32)

    @tf.function(reduce_retracing=True)
    def crop(pixels: tf.Tensor, boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        transforms = crop_transform(boxes, input_size)
        images = tf.map_fn(
            lambda t: normalize_images(warp_image(pixels, t, input_size)),
            transforms,
            fn_output_signature=spec,
        )
        return images, transforms

    return crop
