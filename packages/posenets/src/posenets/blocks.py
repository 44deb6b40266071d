"""Reusable building blocks, written as functions over Keras tensors (functional API).

Layer names follow the conventions that make weights transferable: MBConv blocks use
keras.applications.EfficientNetB0's names (`{prefix}expand_conv`, `{prefix}dwconv`, ...).
"""

from __future__ import annotations

import keras

from posenets._common import conv_kernel_initializer
from posenets.fused_batch_norm import BatchNormalization

SE_RATIO = 0.25


def mbconv_block(
    x: keras.KerasTensor,
    filters_out: int,
    *,
    kernel_size: int,
    strides: int,
    expand_ratio: int,
    drop_rate: float,
    name: str,
    activation: str = "swish",
) -> keras.KerasTensor:
    """Inverted residual block with squeeze-excite (EfficientNet's MBConv).

    Expansion 1x1 conv (skipped when `expand_ratio` is 1), depthwise conv, squeeze-excite
    with `SE_RATIO` of the block's input channels, 1x1 projection; identity skip with
    drop-connect (`drop_rate`) when the stride is 1 and the channels do not change.
    """
    filters_in = x.shape[-1]
    filters = filters_in * expand_ratio
    inputs = x
    if expand_ratio != 1:
        x = _pointwise_conv(filters, name + "expand_conv")(x)
        x = BatchNormalization(name=name + "expand_bn")(x)
        x = keras.layers.Activation(activation, name=name + "expand_activation")(x)

    x = keras.layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        depthwise_initializer=conv_kernel_initializer(),
        name=name + "dwconv",
    )(x)
    x = BatchNormalization(name=name + "bn")(x)
    x = keras.layers.Activation(activation, name=name + "activation")(x)

    filters_se = max(1, int(filters_in * SE_RATIO))
    se = keras.layers.GlobalAveragePooling2D(keepdims=True, name=name + "se_squeeze")(x)
    se = _pointwise_conv(filters_se, name + "se_reduce", activation=activation)(se)
    se = _pointwise_conv(filters, name + "se_expand", activation="sigmoid")(se)
    x = keras.layers.Multiply(name=name + "se_excite")([x, se])

    x = _pointwise_conv(filters_out, name + "project_conv")(x)
    x = BatchNormalization(name=name + "project_bn")(x)

    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=name + "drop")(x)
        x = keras.layers.Add(name=name + "add")([x, inputs])
    return x


def _pointwise_conv(filters: int, name: str, activation: str | None = None) -> keras.layers.Conv2D:
    """1x1 convolution with EfficientNet's initialiser; a bias only when it has an activation."""
    return keras.layers.Conv2D(
        filters,
        1,
        padding="same",
        use_bias=activation is not None,
        activation=activation,
        kernel_initializer=conv_kernel_initializer(),
        name=name,
    )


def conv_bn(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    *,
    strides: int = 1,
    relu: bool = True,
    name: str,
) -> keras.KerasTensor:
    """Convolution without bias, batch norm, then ReLU unless `relu` is False."""
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False, name=name + "conv"
    )(x)
    x = BatchNormalization(name=name + "bn")(x)
    if relu:
        x = keras.layers.ReLU(name=name + "relu")(x)
    return x


def _residual(
    x: keras.KerasTensor, shortcut: keras.KerasTensor, strides: int, name: str
) -> keras.KerasTensor:
    """Add a shortcut (projected by 1x1 conv + BN when the shape changes), then ReLU."""
    filters = x.shape[-1]
    if strides != 1 or shortcut.shape[-1] != filters:
        shortcut = conv_bn(shortcut, filters, 1, strides=strides, relu=False, name=name + "skip_")
    x = keras.layers.Add(name=name + "add")([x, shortcut])
    return keras.layers.ReLU(name=name + "out")(x)


def basic_block(
    x: keras.KerasTensor, filters: int, *, strides: int = 1, name: str
) -> keras.KerasTensor:
    """ResNet basic block: two 3x3 convolutions and a residual connection."""
    y = conv_bn(x, filters, 3, strides=strides, name=name + "1_")
    y = conv_bn(y, filters, 3, relu=False, name=name + "2_")
    return _residual(y, x, strides, name)


def bottleneck_block(
    x: keras.KerasTensor, filters: int, *, strides: int = 1, expansion: int = 4, name: str
) -> keras.KerasTensor:
    """ResNet bottleneck block: 1x1, 3x3 and 1x1 (`filters * expansion`) convolutions."""
    y = conv_bn(x, filters, 1, name=name + "1_")
    y = conv_bn(y, filters, 3, strides=strides, name=name + "2_")
    y = conv_bn(y, filters * expansion, 1, relu=False, name=name + "3_")
    return _residual(y, x, strides, name)
