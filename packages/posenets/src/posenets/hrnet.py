"""HRNet (Sun et al.) for pose: four stages of parallel branches at 1/4 ... 1/32 of the input,
fused after every module; upsampling in the fuse layers by a strided 1x1 transposed
convolution (SPEC.md section 2). Heatmaps come from the 1/4 branch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras

from posenets._common import check_num_keypoints, heatmap_conv, image_shape, require_multiple
from posenets.blocks import basic_block, bottleneck_block, conv_bn
from posenets.errors import InvalidModelArgumentError
from posenets.fused_batch_norm import BatchNormalization

STEM_CHANNELS = 64
BACKBONE_STRIDE = 32
_BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


@dataclass(frozen=True)
class HRNetStage:
    """One stage: `modules` repetitions of `blocks` residual blocks per branch, then a fuse."""

    modules: int
    block: str
    blocks: int
    channels: tuple[int, ...]


def hrnet_stages(width: int) -> tuple[HRNetStage, ...]:
    """HRNet-W{width}: 1/1/4/3 modules, a bottleneck stage 1, basic blocks elsewhere."""
    return (
        HRNetStage(1, "bottleneck", 4, (STEM_CHANNELS,)),
        HRNetStage(1, "basic", 4, (width, 2 * width)),
        HRNetStage(4, "basic", 4, (width, 2 * width, 4 * width)),
        HRNetStage(3, "basic", 4, (width, 2 * width, 4 * width, 8 * width)),
    )


@keras.saving.register_keras_serializable(package="posenets")
class HRNet(keras.Model):
    """HRNet-W`width` pose network; heatmaps at 1/4 of the input."""

    def __init__(
        self,
        width: int = 32,
        input_shape: Sequence[int] = (256, 192, 3),
        num_keypoints: int = 17,
        name: str = "hrnet",
        **kwargs,
    ) -> None:
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise InvalidModelArgumentError(
                f"{name}: width must be a positive integer (32 or 48 in the paper), got {width!r}"
            )
        height, image_width, channels = image_shape(input_shape, name)
        require_multiple(height, image_width, BACKBONE_STRIDE, name)
        keypoints = check_num_keypoints(num_keypoints, name)

        inputs = keras.Input((height, image_width, channels), name="image")
        x = conv_bn(inputs, STEM_CHANNELS, 3, strides=2, name="stem_1_")
        x = conv_bn(x, STEM_CHANNELS, 3, strides=2, name="stem_2_")
        branches = [x]
        stages = hrnet_stages(width)
        for number, stage in enumerate(stages, start=1):
            branches = _transition(branches, stage.channels, name=f"stage{number}_transition")
            for module in range(1, stage.modules + 1):
                last = number == len(stages) and module == stage.modules
                branches = _module(
                    branches, stage, outputs=1 if last else None, name=f"stage{number}_m{module}"
                )
        outputs = heatmap_conv(keypoints)(branches[0])
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        self.width = width
        self.image_shape = (height, image_width, channels)
        self.num_keypoints = keypoints

    def get_config(self) -> dict:
        """Every constructor argument, so the model round-trips through `.keras` files."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "width": self.width,
            "input_shape": list(self.image_shape),
            "num_keypoints": self.num_keypoints,
        }

    @classmethod
    def from_config(cls, config: dict) -> HRNet:
        """Rebuild from `get_config`'s dictionary."""
        return cls(**config)


def _transition(
    branches: list[keras.KerasTensor], channels: Sequence[int], name: str
) -> list[keras.KerasTensor]:
    """Adapt existing branches to the stage's channels; open a new branch by a stride-2 conv."""
    result = []
    for index, filters in enumerate(channels):
        prefix = f"{name}_branch{index + 1}_"
        if index < len(branches):
            x = branches[index]
            if x.shape[-1] != filters:
                x = conv_bn(x, filters, 3, name=prefix)
        else:
            x = conv_bn(branches[-1], filters, 3, strides=2, name=prefix)
        result.append(x)
    return result


def _module(
    branches: list[keras.KerasTensor], stage: HRNetStage, outputs: int | None, name: str
) -> list[keras.KerasTensor]:
    """Residual blocks on every branch, then the fuse (of the first `outputs` branches)."""
    block = _BLOCKS[stage.block]
    processed = []
    for index, (x, filters) in enumerate(zip(branches, stage.channels, strict=True), start=1):
        for number in range(1, stage.blocks + 1):
            x = block(x, filters, name=f"{name}_branch{index}_block{number}_")
        processed.append(x)
    return _fuse(processed, outputs or len(processed), name=f"{name}_fuse")


def _fuse(branches: list[keras.KerasTensor], outputs: int, name: str) -> list[keras.KerasTensor]:
    """Each output branch sums every branch brought to its resolution and channels, then ReLU.

    Lower resolutions come up by a 1x1 transposed conv of stride 2^k + BN; higher ones go down
    by k stride-2 3x3 convs + BN (ReLU between them, the last one changing the channels).
    """
    if len(branches) == 1:
        return branches
    fused = []
    for i in range(outputs):
        target = branches[i].shape[-1]
        terms = []
        for j, x in enumerate(branches):
            prefix = f"{name}{i + 1}{j + 1}_"
            if j > i:
                x = keras.layers.Conv2DTranspose(
                    target, 1, strides=2 ** (j - i), use_bias=False, name=prefix + "conv"
                )(x)
                x = BatchNormalization(name=prefix + "bn")(x)
            for step in range(1, i - j + 1):
                last = step == i - j
                filters = target if last else x.shape[-1]
                x = conv_bn(x, filters, 3, strides=2, relu=not last, name=f"{prefix}{step}_")
            terms.append(x)
        x = keras.layers.Add(name=f"{name}{i + 1}_add")(terms)
        fused.append(keras.layers.ReLU(name=f"{name}{i + 1}_relu")(x))
    return fused
