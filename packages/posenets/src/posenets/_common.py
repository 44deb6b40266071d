"""Pieces every network shares: argument checks, initialisers and the heatmap layer."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from posenets.errors import InvalidModelArgumentError


def conv_kernel_initializer() -> keras.initializers.Initializer:
    """A fresh EfficientNet convolution initialiser (an unseeded instance repeats its draws)."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="truncated_normal"
    )


def heatmap_kernel_initializer() -> keras.initializers.Initializer:
    """A fresh EfficientNet dense-layer initialiser, used for the heatmap layer."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_out", distribution="uniform"
    )


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value > 0


def image_shape(
    input_shape: Sequence[int], model: str, argument: str = "input_shape"
) -> tuple[int, int, int]:
    """`(height, width)` or `(height, width, channels)` as a checked `(h, w, c)` tuple."""
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else None
    if shape is None or len(shape) not in (2, 3) or not all(map(_is_positive_int, shape)):
        raise InvalidModelArgumentError(
            f"{model}: {argument} must be (height, width) or (height, width, channels) of "
            f"positive integers, got {input_shape!r}"
        )
    height, width, *channels = (int(value) for value in shape)
    return height, width, channels[0] if channels else 3


def require_multiple(height: int, width: int, multiple: int, model: str) -> None:
    """Raise unless both sides of the input are multiples of the network's total stride."""
    if height % multiple or width % multiple:
        raise InvalidModelArgumentError(
            f"{model}: input height and width must be multiples of {multiple}, got {height}x{width}"
        )


def check_num_keypoints(num_keypoints: int, model: str) -> int:
    """A positive integer number of heatmaps."""
    if not _is_positive_int(num_keypoints):
        raise InvalidModelArgumentError(
            f"{model}: num_keypoints must be a positive integer, got {num_keypoints!r}"
        )
    return int(num_keypoints)


def heatmap_conv(num_keypoints: int) -> keras.layers.Conv2D:
    """The final 1x1 convolution to one heatmap per keypoint; it computes in float32."""
    return keras.layers.Conv2D(
        num_keypoints,
        1,
        padding="same",
        use_bias=True,
        kernel_initializer=heatmap_kernel_initializer(),
        dtype="float32",
        name="final_conv",
    )
