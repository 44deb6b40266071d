"""SimpleBaseline (Xiao et al.): a Keras ResNet without top and three stride-2 transposed
convolutions (4x4, 256 channels) before the heatmap layer (SPEC.md section 2)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras

from posenets._common import check_num_keypoints, heatmap_conv, image_shape, require_multiple
from posenets.errors import InvalidModelArgumentError
from posenets.fused_batch_norm import BatchNormalization

RESNETS = {
    50: keras.applications.ResNet50,
    101: keras.applications.ResNet101,
    152: keras.applications.ResNet152,
}
BACKBONE_STRIDE = 32
HEAD_CHANNELS = 256
HEAD_KERNEL = 4
HEAD_UPSAMPLINGS = 3


@keras.saving.register_keras_serializable(package="posenets")
class SimpleBaseline(keras.Model):
    """SimpleBaseline on a Keras ResNet-50/101/152; heatmaps at 1/4 of the input.

    `backbone_weights` is an optional local path to Keras ResNet ImageNet weights without top
    (e.g. `resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`); nothing is downloaded.
    """

    def __init__(
        self,
        depth: int = 50,
        input_shape: Sequence[int] = (256, 192, 3),
        num_keypoints: int = 17,
        backbone_weights: str | os.PathLike | None = None,
        name: str = "simple_baseline",
        **kwargs,
    ) -> None:
        if depth not in RESNETS:
            raise InvalidModelArgumentError(
                f"{name}: ResNet depth {depth!r} is not available; use one of {sorted(RESNETS)}"
            )
        if backbone_weights is not None and not os.path.isfile(backbone_weights):
            raise InvalidModelArgumentError(
                f"{name}: backbone_weights {os.fspath(backbone_weights)!r} is not a file; give "
                "the path of a local Keras ResNet weights file (no downloads)"
            )
        height, width, channels = image_shape(input_shape, name)
        require_multiple(height, width, BACKBONE_STRIDE, name)
        keypoints = check_num_keypoints(num_keypoints, name)

        inputs = keras.Input((height, width, channels), name="image")
        backbone = RESNETS[depth](
            include_top=False,
            weights=None if backbone_weights is None else os.fspath(backbone_weights),
            input_tensor=inputs,
        )
        x = backbone.output
        for level in range(1, HEAD_UPSAMPLINGS + 1):
            prefix = f"head_block{level}_"
            x = keras.layers.Conv2DTranspose(
                HEAD_CHANNELS,
                HEAD_KERNEL,
                strides=2,
                padding="same",
                use_bias=False,
                name=prefix + "conv",
            )(x)
            x = BatchNormalization(name=prefix + "bn")(x)
            x = keras.layers.ReLU(name=prefix + "relu")(x)
        outputs = heatmap_conv(keypoints)(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        self.depth = depth
        self.image_shape = (height, width, channels)
        self.num_keypoints = keypoints

    def get_config(self) -> dict:
        """Every constructor argument but the weights path (weights travel in the file)."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "depth": self.depth,
            "input_shape": list(self.image_shape),
            "num_keypoints": self.num_keypoints,
        }

    @classmethod
    def from_config(cls, config: dict) -> SimpleBaseline:
        """Rebuild from `get_config`'s dictionary."""
        return cls(**config)
