"""EvoPose2D: an MBConv backbone from a genotype, compound scaled from the input size, and a
head of three stride-2 transposed convolutions (SPEC.md section 2)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from posenets.fused_batch_norm import BatchNormalization
from posenets.scaling import PAPER_SEARCH_RESOLUTION, CompoundScaling, compound_scaling
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


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block as built: its layer-shape parameters (compared) and drop-connect rate."""

    name: str
    kernel: int
    stride: int
    filters_in: int
    filters_out: int
    expand_ratio: int
    drop_rate: float = field(compare=False)


@dataclass(frozen=True)
class NetworkStructure:
    """The layer shapes of an EvoPose2D as built: two networks with equal structures have the
    same layers of the same shapes (a mutation that leaves it unchanged changes nothing)."""

    stem_channels: int
    blocks: tuple[BlockSpec, ...]
    head_channels: int


def network_structure(
    genotype: GenotypeLike,
    input_size: Sequence[int] = PAPER_SEARCH_RESOLUTION,
    search_resolution: Sequence[int] = PAPER_SEARCH_RESOLUTION,
    head_channels: int = HEAD_CHANNELS,
) -> NetworkStructure:
    """What `EvoPose2D` builds for `genotype` at `input_size` `(h, w)` when it was searched at
    `search_resolution`: compound-scaled stem, blocks and head (the builder's own rule), the
    head `head_channels` wide at phi = 0 (the paper's 128).

    Cheap (no Keras): the search compares it to tell whether a mutant is a new network.
    """
    genes = SearchSpace().validate(genotype)
    height, width = (int(side) for side in input_size[:2])
    search = (int(search_resolution[0]), int(search_resolution[1]))
    return _structure(
        genes, compound_scaling(height, width, search), check_head_channels(head_channels)
    )


def check_head_channels(head_channels: object, name: str = "evopose2d") -> int:
    """`head_channels` as an int >= 1, or InvalidModelArgumentError naming it."""
    if isinstance(head_channels, bool) or not isinstance(head_channels, int) or head_channels < 1:
        raise InvalidModelArgumentError(
            f"{name}: head_channels must be a whole number >= 1 (the paper's is "
            f"{HEAD_CHANNELS}), not {head_channels!r}"
        )
    return head_channels


@functools.lru_cache(maxsize=65536)
def _structure(genes: Genotype, scaling: CompoundScaling, head_channels: int) -> NetworkStructure:
    repeats = [scaling.repeats(gene.repeats) for gene in genes]
    if max(repeats) > len(ascii_lowercase):
        raise InvalidModelArgumentError(
            f"the input is too large; compound scaling gives {max(repeats)} blocks in one "
            f"module and block names allow {len(ascii_lowercase)}"
        )
    total_blocks = sum(repeats)
    stem = scaling.channels(STEM_CHANNELS)
    blocks = []
    filters_in = stem
    for module, (gene, module_repeats) in enumerate(zip(genes, repeats, strict=True), start=1):
        filters_out = scaling.channels(gene.channels)
        for letter in ascii_lowercase[:module_repeats]:
            blocks.append(
                BlockSpec(
                    name=f"block{module}{letter}_",
                    kernel=gene.kernel,
                    stride=gene.stride if letter == "a" else 1,
                    filters_in=filters_in,
                    filters_out=filters_out,
                    expand_ratio=1 if module == 1 else EXPAND_RATIO,
                    drop_rate=scaling.drop_connect_rate * len(blocks) / total_blocks,
                )
            )
            filters_in = filters_out
    return NetworkStructure(stem, tuple(blocks), scaling.channels(head_channels))


@keras.saving.register_keras_serializable(package="posenets")
class EvoPose2D(keras.Model):
    """EvoPose2D built from a genotype at any input size, with any number of keypoints.

    Channels and depth are compound scaled (Eq. 3) from `scaling_size` `(h, w)`, by default
    the input size, relative to `search_resolution`, where the genotype was searched (phi = 0
    there; default the paper's 256x192). Give the input size as `search_resolution` to build
    the genes as written. `head_channels` is the width of the head's transposed convolutions
    at phi = 0 (the paper's 128; narrower heads make small CPU searches affordable, e.g. the
    demo's). Inputs whose sides are not multiples of the backbone stride work: the head crops
    its maps to `heatmap_size`.
    """

    def __init__(
        self,
        genotype: GenotypeLike,
        input_shape: Sequence[int] = (256, 192, 3),
        num_keypoints: int = 17,
        scaling_size: Sequence[int] | None = None,
        search_resolution: Sequence[int] = PAPER_SEARCH_RESOLUTION,
        head_channels: int = HEAD_CHANNELS,
        name: str = "evopose2d",
        **kwargs,
    ) -> None:
        genes = SearchSpace().validate(genotype)
        height, width, channels = image_shape(input_shape, name)
        keypoints = check_num_keypoints(num_keypoints, name)
        if scaling_size is None:
            scaling_size = (height, width)
        scaling_height, scaling_width, _ = image_shape(scaling_size, name, "scaling_size")
        search_height, search_width, _ = image_shape(search_resolution, name, "search_resolution")
        head_channels = check_head_channels(head_channels, name)
        try:
            structure = network_structure(
                genes, (scaling_height, scaling_width), (search_height, search_width), head_channels
            )
        except InvalidModelArgumentError as error:
            raise InvalidModelArgumentError(f"{name}: {error}") from None

        inputs = keras.Input((height, width, channels), name="image")
        x = _stem(inputs, structure.stem_channels)
        x = _backbone(x, structure.blocks)
        x = _head(x, structure.head_channels, backbone_stride(genes), height, width)
        outputs = heatmap_conv(keypoints)(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        self.genotype: Genotype = genes
        self.image_shape = (height, width, channels)
        self.num_keypoints = keypoints
        self.scaling_size = (scaling_height, scaling_width)
        self.search_resolution = (search_height, search_width)
        self.head_channels = head_channels

    def get_config(self) -> dict:
        """Every constructor argument, so the model round-trips through `.keras` files."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "genotype": [list(gene) for gene in self.genotype],
            "input_shape": list(self.image_shape),
            "num_keypoints": self.num_keypoints,
            "scaling_size": list(self.scaling_size),
            "search_resolution": list(self.search_resolution),
            "head_channels": self.head_channels,
        }

    @classmethod
    def from_config(cls, config: dict) -> EvoPose2D:
        """Rebuild from `get_config`'s dictionary."""
        return cls(**config)


def _stem(inputs: keras.KerasTensor, channels: int) -> keras.KerasTensor:
    x = keras.layers.Conv2D(
        channels,
        3,
        strides=STEM_STRIDE,
        padding="same",
        use_bias=False,
        kernel_initializer=conv_kernel_initializer(),
        name="stem_conv",
    )(inputs)
    x = BatchNormalization(name="stem_bn")(x)
    return keras.layers.Activation("swish", name="stem_activation")(x)


def _backbone(x: keras.KerasTensor, blocks: Sequence[BlockSpec]) -> keras.KerasTensor:
    """The MBConv blocks of `network_structure`, named `block{module}{letter}_`."""
    for block in blocks:
        x = mbconv_block(
            x,
            block.filters_out,
            kernel_size=block.kernel,
            strides=block.stride,
            expand_ratio=block.expand_ratio,
            drop_rate=block.drop_rate,
            name=block.name,
        )
    return x


def _head(
    x: keras.KerasTensor, channels: int, stride: int, height: int, width: int
) -> keras.KerasTensor:
    """Three (transposed conv 3x3 stride 2 + BN + swish); maps cropped to ceil(side / stride)."""
    for level in range(1, HEAD_UPSAMPLINGS + 1):
        name = f"head_block{level}_"
        x = keras.layers.Conv2DTranspose(
            channels,
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
        x = BatchNormalization(name=name + "bn")(x)
        x = keras.layers.Activation("swish", name=name + "activation")(x)
    return x
