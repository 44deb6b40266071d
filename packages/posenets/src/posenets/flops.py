"""Exact sizes of a built model: parameters, and multiply-adds computed from the layers.

`count_flops` follows the TensorFlow profiler's accounting of a Keras 3 graph (the convention
of the paper's FLOPs, SPEC.md section 2) without running anything: float operations are
counted per layer from its output shape and configuration, and halved. A convolution is one
multiply-add per kernel tap and output value; a batch norm at inference is one multiply and one
add per value (plus a few per channel for its scale); biases, residual adds, the squeeze-excite
product and swish (x * sigmoid(beta * x): two multiplies) count their float operations;
ReLU, sigmoid, padding, cropping and reshapes are free, as the profiler has them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras

from posenets.errors import UnsupportedLayerError

# Float operations per output value of an activation function (serialised name).
_ACTIVATION_FLOAT_OPS = {"linear": 0, "relu": 0, "sigmoid": 0, "silu": 2, "swish": 2}
_FREE_LAYERS = (
    keras.layers.InputLayer,
    keras.layers.Dropout,
    keras.layers.ZeroPadding2D,
    keras.layers.Cropping2D,
    keras.layers.Reshape,
    keras.layers.Flatten,
    keras.layers.Identity,
    keras.layers.Concatenate,
)


def count_params(model: keras.Model) -> int:
    """All weights, trainable or not (batch-norm statistics included), as the paper counts."""
    return int(model.count_params())


def count_flops(model: keras.Model) -> int:
    """Multiply-adds of one forward pass at batch 1 (the TF profiler's float ops / 2)."""
    return _model_float_ops(model) // 2


def _model_float_ops(model: keras.Model) -> int:
    total = 0
    for operation in model.operations:
        if isinstance(operation, keras.Model):
            total += _model_float_ops(operation)
        else:
            total += _layer_float_ops(operation)
    return total


def _elements(tensor: keras.KerasTensor, layer: keras.Layer) -> int:
    """Number of values of one example of `tensor` (batch 1)."""
    dims = tensor.shape[1:]
    if any(dim is None for dim in dims):
        raise UnsupportedLayerError(
            f"layer {layer.name!r} has shape {tensor.shape}; count_flops needs a model built "
            "with a fixed input size"
        )
    return math.prod(dims)


def _activation_float_ops(layer: keras.Layer, activation: Callable) -> int:
    name = keras.activations.serialize(activation)
    if name not in _ACTIVATION_FLOAT_OPS:
        raise UnsupportedLayerError(
            f"layer {layer.name!r}: count_flops has no formula for activation {name!r}; "
            f"known: {', '.join(sorted(_ACTIVATION_FLOAT_OPS))}"
        )
    return _ACTIVATION_FLOAT_OPS[name]


def _conv_extras(layer: keras.Layer, outputs: int) -> int:
    """Bias add and fused activation of a convolution or dense layer."""
    bias = outputs if layer.use_bias else 0
    return bias + outputs * _activation_float_ops(layer, layer.activation)


def _layer_float_ops(layer: keras.Operation) -> int:
    """Float operations of one layer call, as the TF profiler counts them."""
    if isinstance(layer, _FREE_LAYERS):
        return 0
    try:
        inputs, output = layer.input, layer.output
    except (AttributeError, ValueError) as error:
        raise UnsupportedLayerError(
            f"layer {layer.name!r}: count_flops needs every layer called exactly once ({error})"
        ) from error
    first_input = inputs[0] if isinstance(inputs, list | tuple) else inputs
    outputs = _elements(output, layer)

    if isinstance(layer, keras.layers.DepthwiseConv2D):
        taps = math.prod(layer.kernel_size)
        return 2 * outputs * taps + _conv_extras(layer, outputs)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        taps = math.prod(layer.kernel_size) * first_input.shape[-1]
        return 2 * outputs * taps // math.prod(layer.strides) + _conv_extras(layer, outputs)
    if isinstance(layer, keras.layers.Conv2D):
        taps = math.prod(layer.kernel_size) * first_input.shape[-1] // layer.groups
        return 2 * outputs * taps + _conv_extras(layer, outputs)
    if isinstance(layer, keras.layers.Dense):
        return 2 * outputs * first_input.shape[-1] + _conv_extras(layer, outputs)
    if isinstance(layer, keras.layers.BatchNormalization):
        # x * inv + (beta - mean * inv), inv = rsqrt(var + eps) * gamma: two ops per value;
        # per channel: add eps, rsqrt (2), mean * inv, beta - ..., and gamma's multiply.
        channels = first_input.shape[layer.axis]
        return 2 * outputs + (5 + int(layer.scale)) * channels
    if isinstance(layer, keras.layers.Activation):
        return outputs * _activation_float_ops(layer, layer.activation)
    if isinstance(layer, keras.layers.ReLU):
        if layer.max_value is not None or layer.negative_slope or layer.threshold:
            raise UnsupportedLayerError(
                f"layer {layer.name!r}: count_flops only knows the plain ReLU "
                "(no max_value, negative_slope or threshold)"
            )
        return 0
    if isinstance(layer, keras.layers.Add | keras.layers.Multiply | keras.layers.Subtract):
        return (len(inputs) - 1) * outputs
    if isinstance(layer, keras.layers.GlobalAveragePooling2D):
        return _elements(first_input, layer)
    if isinstance(layer, keras.layers.MaxPooling2D | keras.layers.AveragePooling2D):
        return math.prod(layer.pool_size) * outputs
    raise UnsupportedLayerError(
        f"layer {layer.name!r}: count_flops has no formula for {type(layer).__name__}"
    )
