"""Building blocks: the MBConv block and the ResNet blocks HRNet uses."""

from __future__ import annotations

import keras

from posenets.blocks import basic_block, bottleneck_block, mbconv_block


def block_model(block, input_shape=(16, 12, 24), **kwargs) -> keras.Model:
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, block(inputs, **kwargs))


def layer_names(model: keras.Model) -> set[str]:
    return {layer.name for layer in model.layers}


def mbconv(**kwargs) -> keras.Model:
    arguments = {"filters_out": 24, "kernel_size": 3, "strides": 1, "expand_ratio": 6}
    arguments |= {"drop_rate": 0.1, "name": "block2b_"} | kwargs
    return block_model(mbconv_block, **arguments)


def test_mbconv_has_efficientnet_layer_names_and_a_dropped_skip():
    assert layer_names(mbconv()) >= {
        "block2b_expand_conv", "block2b_expand_bn", "block2b_dwconv", "block2b_bn",
        "block2b_se_squeeze", "block2b_se_reduce", "block2b_se_expand", "block2b_se_excite",
        "block2b_project_conv", "block2b_project_bn", "block2b_drop", "block2b_add",
    }  # fmt: skip


def test_mbconv_parameters_match_the_block_definition():
    c_in, expanded, squeezed, c_out, k = 24, 144, 6, 24, 3
    expected = (
        c_in * expanded + 4 * expanded  # expand conv + BN
        + k * k * expanded + 4 * expanded  # depthwise conv + BN
        + expanded * squeezed + squeezed  # SE reduce (bias)
        + squeezed * expanded + expanded  # SE expand (bias)
        + expanded * c_out + 4 * c_out  # projection + BN
    )  # fmt: skip
    assert mbconv().count_params() == expected


def test_mbconv_squeeze_excite_uses_a_quarter_of_the_input_channels():
    model = mbconv(filters_out=40, strides=2)
    assert model.get_layer("block2b_se_reduce").filters == 6  # 24 / 4, not 144 / 4


def test_mbconv_has_no_skip_when_stride_or_channels_change():
    assert "block2b_add" not in layer_names(mbconv(strides=2))
    assert "block2b_add" not in layer_names(mbconv(filters_out=40))
    assert mbconv(strides=2).output_shape == (None, 8, 6, 24)


def test_mbconv_without_expansion_has_no_expand_conv_and_no_drop_at_rate_zero():
    names = layer_names(mbconv(expand_ratio=1, drop_rate=0.0))
    assert "block2b_expand_conv" not in names
    assert "block2b_drop" not in names
    assert "block2b_add" in names


def test_basic_block_projects_the_shortcut_only_when_the_shape_changes():
    same = block_model(basic_block, filters=24, name="b_")
    wider = block_model(basic_block, filters=32, strides=2, name="b_")
    assert "b_skip_conv" not in layer_names(same)
    assert {"b_skip_conv", "b_skip_bn"} <= layer_names(wider)
    assert wider.output_shape == (None, 8, 6, 32)


def test_bottleneck_block_expands_four_times():
    model = block_model(bottleneck_block, filters=16, name="b_")
    assert model.output_shape == (None, 16, 12, 64)
    assert model.get_layer("b_2_conv").kernel_size == (3, 3)
