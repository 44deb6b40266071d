"""count_flops: hand-checked layer formulas, errors, and agreement with the TF profiler."""

from __future__ import annotations

import keras
import pytest

import posenets
from posenets import UnsupportedLayerError, count_flops, count_params


def single_layer(layer, input_shape) -> keras.Model:
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, layer(inputs))


def test_conv2d_counts_one_multiply_add_per_tap_plus_half_the_bias_adds():
    model = single_layer(keras.layers.Conv2D(8, 3, strides=2, padding="same"), (16, 12, 4))
    outputs = 8 * 6 * 8
    assert count_flops(model) == (2 * outputs * 3 * 3 * 4 + outputs) // 2


def test_depthwise_conv_counts_its_window_only():
    layer = keras.layers.DepthwiseConv2D(5, padding="same", use_bias=False)
    assert count_flops(single_layer(layer, (8, 8, 6))) == 8 * 8 * 6 * 5 * 5


def test_transposed_conv_counts_taps_per_input_position():
    layer = keras.layers.Conv2DTranspose(16, 3, strides=2, padding="same", use_bias=False)
    model = single_layer(layer, (4, 3, 8))
    assert model.output_shape == (None, 8, 6, 16)
    assert count_flops(model) == 4 * 3 * 3 * 3 * 8 * 16


def test_batch_norm_counts_a_multiply_and_an_add_per_value():
    model = single_layer(keras.layers.BatchNormalization(), (4, 4, 10))
    assert count_flops(model) == (2 * 160 + 6 * 10) // 2


def test_swish_counts_two_multiplies_and_relu_is_free():
    assert count_flops(single_layer(keras.layers.Activation("swish"), (4, 4, 2))) == 32
    assert count_flops(single_layer(keras.layers.ReLU(), (4, 4, 2))) == 0
    assert count_flops(single_layer(keras.layers.Activation("sigmoid"), (4, 4, 2))) == 0


def test_dense_and_pooling():
    assert count_flops(single_layer(keras.layers.Dense(5), (7,))) == (2 * 7 * 5 + 5) // 2
    assert count_flops(single_layer(keras.layers.GlobalAveragePooling2D(), (4, 4, 3))) == 24
    assert count_flops(single_layer(keras.layers.MaxPooling2D(2), (4, 4, 3))) == (4 * 12) // 2


def test_nested_models_are_counted():
    inner = single_layer(keras.layers.Conv2D(2, 1, use_bias=False), (4, 4, 2))
    inputs = keras.Input((4, 4, 2))
    outer = keras.Model(inputs, keras.layers.Add()([inner(inputs), inputs]))
    assert count_flops(outer) == count_flops(inner) + (4 * 4 * 2) // 2


def test_unknown_layers_are_refused_by_name():
    model = single_layer(keras.layers.LayerNormalization(name="norm"), (4, 3))
    with pytest.raises(
        UnsupportedLayerError, match=r"'norm': .* no formula for LayerNormalization"
    ):
        count_flops(model)


def test_unknown_activations_are_refused_by_name():
    model = single_layer(keras.layers.Activation("gelu", name="act"), (4, 3))
    with pytest.raises(UnsupportedLayerError, match=r"'act': .* activation 'gelu'"):
        count_flops(model)


def test_dynamic_input_sizes_are_refused():
    model = single_layer(keras.layers.Conv2D(4, 3, name="conv"), (None, None, 3))
    with pytest.raises(UnsupportedLayerError, match=r"'conv' .* fixed input size"):
        count_flops(model)


def test_counts_do_not_depend_on_the_precision_policy(dtype_policy):
    reference = posenets.create_model("evopose2d_s", input_shape=(64, 48))
    with dtype_policy("mixed_bfloat16"):
        mixed = posenets.create_model("evopose2d_s", input_shape=(64, 48))
    assert count_flops(mixed) == count_flops(reference)
    assert count_params(mixed) == count_params(reference)


def tf_profiler_multiply_adds(model: keras.Model) -> float:
    """The TF profiler's float operations of a frozen batch-1 graph of `model`, halved."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    spec = tf.TensorSpec((1, *model.input_shape[1:]), tf.float32)
    function = tf.function(lambda images: model(images, training=False))
    graph = convert_variables_to_constants_v2(function.get_concrete_function(spec)).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    profile = tf.compat.v1.profiler.profile(
        graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
    )
    return profile.total_float_ops / 2


@pytest.mark.parametrize(
    ("name", "input_shape"),
    [("evopose2d_s", None), ("simple_baseline_r50", None), ("evopose2d_xs", (72, 40))],
)
def test_count_flops_agrees_with_the_tensorflow_profiler(built_model, name, input_shape):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TF profiler needs the tensorflow backend")
    if input_shape is None:
        model = built_model(name)
    else:
        model = posenets.create_model(name, input_shape=input_shape)
    assert count_flops(model) == pytest.approx(tf_profiler_multiply_adds(model), rel=0.01)
