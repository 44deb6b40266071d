"""EvoPose2D: an MBConv backbone from a genotype, compound scaled from the input size, and a
head of three stride-2 transposed convolutions (SPEC.md section 2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from string import ascii_lowercase

import keras

from posenets._common import (
    check_num_keypoints,
    conv_kernel_initializer,
    heatmap_conv,
    image_shape,
)
from posenets.blocks import mbconv_block
from posenets.errors import InvalidModelArgumentError
from posenets.scaling import CompoundScaling, compound_scaling
from posenets.search_space import Genotype, GenotypeLike, SearchSpace

STEM_CHANNELS = 32
STEM_STRIDE = 2
HEAD_CHANNELS = 128
HEAD_KERNEL = 3
HEAD_UPSAMPLINGS = 3
EXPAND_RATIO = 6  # module 1 uses 1


def backbone_stride(genotype: GenotypeLike) -> int:
    """Total stride of the backbone: the stem's 2 times every module's stride."""
    return STEM_STRIDE * math.prod(gene.stride for gene in SearchSpace().validate(genotype))


def output_stride(genotype: GenotypeLike) -> int:
    """Input size / heatmap size (2 for EvoPose2D-S, 4 for XS)."""
    return backbone_stride(genotype) // 2**HEAD_UPSAMPLINGS


def heatmap_size(genotype: GenotypeLike, height: int, width: int) -> tuple[int, int]:
    """`(height, width)` of the heatmaps for an input size; sides round up when not divisible."""
    stride = output_stride(genotype)
    return math.ceil(height / stride), math.ceil(width / stride)


@keras.saving.register_keras_serializable(package="posenets")
class EvoPose2D(keras.Model):
    """EvoPose2D built from a genotype at any input size, with any number of keypoints.

    Channels and depth are compound scaled from `scaling_size` `(h, w)`, by default the input
    size (phi = 0 at 256x192; give `scaling_size=(256, 192)` to keep the searched widths and
    depths at a smaller input). Inputs whose sides are not multiples of the backbone stride
    work: the head crops its maps to `heatmap_size`.
    """

    def __init__(
        self,
        genotype: GenotypeLike,
        input_shape: Sequence[int] = (256, 192, 3),
        num_keypoints: int = 17,
        scaling_size: Sequence[int] | None = None,
        name: str = "evopose2d",
        **kwargs,
    ) -> None:
        genes = SearchSpace().validate(genotype)
        height, width, channels = image_shape(input_shape, name)
        keypoints = check_num_keypoints(num_keypoints, name)
        if scaling_size is None:
            scaling_size = (height, width)
        scaling_height, scaling_width, _ = image_shape(scaling_size, name, "scaling_size")
        scaling = compound_scaling(scaling_height, scaling_width)

        inputs = keras.Input((height, width, channels), name="image")
        x = _stem(inputs, scaling)
        x = _backbone(x, genes, scaling, name)
        x = _head(x, scaling, backbone_stride(genes), height, width)
        outputs = heatmap_conv(keypoints)(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        self.genotype: Genotype = genes
        self.image_shape = (height, width, channels)
        self.num_keypoints = keypoints
        self.scaling_size = (scaling_height, scaling_width)

    def get_config(self) -> dict:
        """Every constructor argument, so the model round-trips through `.keras` files."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "genotype": [list(gene) for gene in self.genotype],
            "input_shape": list(self.image_shape),
            "num_keypoints": self.num_keypoints,
            "scaling_size": list(self.scaling_size),
        }

    @classmethod
    def from_config(cls, config: dict) -> EvoPose2D:
        """Rebuild from `get_config`'s dictionary."""
        return cls(**config)


def _stem(inputs: keras.KerasTensor, scaling: CompoundScaling) -> keras.KerasTensor:
    x = keras.layers.Conv2D(
        scaling.channels(STEM_CHANNELS),
        3,
        strides=STEM_STRIDE,
        padding="same",
        use_bias=False,
        kernel_initializer=conv_kernel_initializer(),
        name="stem_conv",
    )(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    return keras.layers.Activation("swish", name="stem_activation")(x)


def _backbone(
    x: keras.KerasTensor, genes: Genotype, scaling: CompoundScaling, model: str
) -> keras.KerasTensor:
    """Seven modules of MBConv blocks named `block{module}{letter}_`, drop-connect by depth."""
    repeats = [scaling.repeats(gene.repeats) for gene in genes]
    if max(repeats) > len(ascii_lowercase):
        raise InvalidModelArgumentError(
            f"{model}: the input is too large; compound scaling gives {max(repeats)} blocks in "
            f"one module and block names allow {len(ascii_lowercase)}"
        )
    total_blocks = sum(repeats)
    block_index = 0
    for module, (gene, module_repeats) in enumerate(zip(genes, repeats, strict=True), start=1):
        for letter in ascii_lowercase[:module_repeats]:
            x = mbconv_block(
                x,
                scaling.channels(gene.channels),
                kernel_size=gene.kernel,
                strides=gene.stride if letter == "a" else 1,
                expand_ratio=1 if module == 1 else EXPAND_RATIO,
                drop_rate=scaling.drop_connect_rate * block_index / total_blocks,
                name=f"block{module}{letter}_",
            )
            block_index += 1
    return x


def _head(
    x: keras.KerasTensor, scaling: CompoundScaling, stride: int, height: int, width: int
) -> keras.KerasTensor:
    """Three (transposed conv 3x3 stride 2 + BN + swish); maps cropped to ceil(side / stride)."""
    for level in range(1, HEAD_UPSAMPLINGS + 1):
        name = f"head_block{level}_"
        x = keras.layers.Conv2DTranspose(
            scaling.channels(HEAD_CHANNELS),
            HEAD_KERNEL,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=conv_kernel_initializer(),
            name=name + "conv",
        )(x)
        level_stride = stride // 2**level
        extra_rows = x.shape[1] - math.ceil(height / level_stride)
        extra_cols = x.shape[2] - math.ceil(width / level_stride)
        if extra_rows or extra_cols:
            x = keras.layers.Cropping2D(((0, extra_rows), (0, extra_cols)), name=name + "crop")(x)
        x = keras.layers.BatchNormalization(name=name + "bn")(x)
        x = keras.layers.Activation("swish", name=name + "activation")(x)
    return x
