"""weightxfer.keras: in-place transfer between two Keras 3 models."""

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the Keras adapter needs the 'keras' extra")

from weightxfer import WeightTransferError  # noqa: E402
from weightxfer.keras import layer_arrays, transfer_model  # noqa: E402

L = keras.layers


def randomise(model, seed=1):
    """Give every weight a distinct random value (variances positive) so copies are visible."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        arrays = [0.3 * rng.standard_normal(a.shape).astype(a.dtype) for a in layer.get_weights()]
        if isinstance(layer, L.BatchNormalization):
            arrays[-1] = np.abs(arrays[-1]) + 0.5
        layer.set_weights(arrays)
    return model


def conv_net(kernel=3, channels=8, init="glorot_uniform", extra_block=False):
    """A tiny 2-d conv net touching every kind of 2-d layer, output 8x8x4."""
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(channels, kernel, padding="same", kernel_initializer=init, name="stem_conv")(
        inputs
    )
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.Activation("swish")(x)
    blocks = ["block1a", "block1b"] if extra_block else ["block1a"]
    for block in blocks:
        y = L.DepthwiseConv2D(
            kernel, padding="same", depthwise_initializer=init, name=f"{block}_dwconv"
        )(x)
        y = L.BatchNormalization(name=f"{block}_bn")(y)
        y = L.Conv2D(channels, 1, kernel_initializer=init, name=f"{block}_project_conv")(y)
        x = L.Add()([x, y])
    x = L.SeparableConv2D(
        channels,
        kernel,
        strides=2,
        padding="same",
        depthwise_initializer=init,
        pointwise_initializer=init,
        name="sep_conv",
    )(x)
    x = L.Conv2DTranspose(
        channels, kernel, strides=2, padding="same", use_bias=False, kernel_initializer=init,
        name="head_deconv",
    )(x)  # fmt: skip
    x = L.Conv2D(4, 1, kernel_initializer=init, name="head_out")(x)
    return keras.Model(inputs, x, name="conv_net")


def images(shape=(2, 8, 8, 3)):
    return np.random.default_rng(7).standard_normal(shape).astype("float32")


def test_an_identical_child_computes_exactly_the_parents_function():
    parent, child = randomise(conv_net()), conv_net()
    report = transfer_model(parent, child)
    x = images()
    np.testing.assert_array_equal(child(x, training=False), parent(x, training=False))
    assert report.counts == {"full": len(report.layers), "partial": 0, "none": 0}
    assert report.inherited_fraction == 1.0
    assert report.total_params == child.count_params()


def test_a_child_with_3x3_kernels_grown_to_5x5_and_zero_init_computes_the_parents_function():
    parent, child = randomise(conv_net(kernel=3)), conv_net(kernel=5, init="zeros")
    report = transfer_model(parent, child)
    x = images()
    np.testing.assert_allclose(
        child(x, training=False), parent(x, training=False), rtol=1e-5, atol=1e-5
    )
    assert report["stem_conv"].status == "partial"
    assert report["stem_conv"].child_shapes[0] == (5, 5, 3, 8)
    assert report["stem_bn"].status == "full"


@pytest.mark.parametrize("rank", [1, 3])
def test_conv1d_and_conv3d_kernels_grown_with_zero_init_keep_the_function(rank):
    conv = {1: L.Conv1D, 3: L.Conv3D}[rank]
    shape = (6,) * rank + (2,)

    def net(kernel, init):
        inputs = keras.Input(shape)
        x = conv(3, kernel, padding="same", kernel_initializer=init, name="conv")(inputs)
        return keras.Model(
            inputs, conv(2, kernel, padding="same", kernel_initializer=init, name="out")(x)
        )

    parent, child = randomise(net(3, "glorot_uniform")), net(5, "zeros")
    transfer_model(parent, child)
    x = images((2, *shape))
    np.testing.assert_allclose(child(x), parent(x), rtol=1e-5, atol=1e-5)


def test_dense_layers_grown_with_zero_init_keep_the_function():
    def net(hidden, init):
        inputs = keras.Input((5,))
        x = L.Dense(hidden, activation="relu", kernel_initializer=init, name="hidden")(inputs)
        return keras.Model(inputs, L.Dense(3, kernel_initializer=init, name="out")(x))

    parent, child = randomise(net(4, "glorot_uniform")), net(9, "zeros")
    report = transfer_model(parent, child)
    x = images((4, 5))
    np.testing.assert_allclose(child(x), parent(x), atol=1e-6)
    assert report["hidden"].inherited_params == 5 * 4 + 4


def test_channels_grown_and_shrunk_inherit_leading_channels():
    parent, child = randomise(conv_net(channels=8)), conv_net(channels=12)
    before = child.get_layer("stem_conv").get_weights()[0]
    transfer_model(parent, child)
    kernel = child.get_layer("stem_conv").get_weights()[0]
    np.testing.assert_array_equal(kernel[..., :8], parent.get_layer("stem_conv").get_weights()[0])
    np.testing.assert_array_equal(kernel[..., 8:], before[..., 8:])

    smaller = conv_net(channels=4)
    report = transfer_model(parent, smaller)
    project = smaller.get_layer("block1a_project_conv").get_weights()[0]
    expected = parent.get_layer("block1a_project_conv").get_weights()[0][:, :, :4, :4]
    np.testing.assert_array_equal(project, expected)
    assert report["block1a_project_conv"].inherited_fraction == 1.0


def test_a_new_repeated_block_inherits_from_the_parents_last_block():
    parent, child = randomise(conv_net()), conv_net(extra_block=True)
    report = transfer_model(parent, child)
    for layer in ("dwconv", "bn", "project_conv"):
        assert report[f"block1b_{layer}"].source == f"block1a_{layer}"
        for new, old in zip(
            child.get_layer(f"block1b_{layer}").get_weights(),
            parent.get_layer(f"block1a_{layer}").get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(new, old)


def test_parent_mean_fill_applies_to_batch_norm_layers_only():
    parent, child = randomise(conv_net(channels=8)), conv_net(channels=12)
    conv_bias_before = child.get_layer("stem_conv").get_weights()[1]
    transfer_model(parent, child, batch_norm_fill="parent_mean")
    parent_gamma = parent.get_layer("stem_bn").get_weights()[0]
    gamma = child.get_layer("stem_bn").get_weights()[0]
    np.testing.assert_allclose(gamma[8:], parent_gamma.mean(), rtol=1e-6)
    np.testing.assert_array_equal(
        child.get_layer("stem_conv").get_weights()[1][8:], conv_bias_before[8:]
    )


def test_the_parent_is_not_modified():
    parent = randomise(conv_net())
    before = layer_arrays(parent)
    transfer_model(parent, conv_net(kernel=5, channels=12))
    for name, arrays in layer_arrays(parent).items():
        for new, old in zip(arrays, before[name], strict=True):
            np.testing.assert_array_equal(new, old)


def test_layers_of_nested_models_count_by_their_own_names():
    def net(channels):
        backbone = keras.Sequential(
            [keras.Input((8, 8, 3)), L.Conv2D(channels, 3, name="bb_conv")], name="backbone"
        )
        inputs = keras.Input((8, 8, 3))
        return keras.Model(inputs, L.Conv2D(2, 1, name="head")(backbone(inputs)))

    parent, child = randomise(net(4)), net(4)
    assert list(layer_arrays(parent)) == ["bb_conv", "head"]
    report = transfer_model(parent, child)
    assert report.counts["full"] == 2
    x = images()
    np.testing.assert_array_equal(child(x), parent(x))


# --- errors ---


def test_an_unbuilt_child_raises():
    class Unbuilt(keras.Model):
        def __init__(self):
            super().__init__(name="unbuilt")
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(WeightTransferError, match="'unbuilt' holds no weights: build it"):
        transfer_model(conv_net(), Unbuilt())


def test_an_unbuilt_parent_raises():
    unbuilt = keras.Sequential([L.Dense(2)], name="empty_parent")
    with pytest.raises(WeightTransferError, match="parent model 'empty_parent' holds no weights"):
        transfer_model(unbuilt, conv_net())


def test_duplicate_layer_names_across_nested_models_raise():
    inner = keras.Sequential([keras.Input((4,)), L.Dense(4, name="dense")], name="inner")
    inputs = keras.Input((4,))
    outer = keras.Model(inputs, L.Dense(2, name="dense")(inner(inputs)), name="outer")
    with pytest.raises(WeightTransferError, match="'outer' has two layers named 'dense'"):
        layer_arrays(outer)


def test_a_failed_transfer_leaves_the_child_untouched():
    def net(head):
        inputs = keras.Input((8, 8, 3))
        x = L.Conv2D(4, 3, name="conv")(inputs)
        if head == "dense":
            x = L.Dense(2, name="head")(L.GlobalAveragePooling2D()(x))
        else:
            x = L.Conv2D(2, 1, name="head")(x)
        return keras.Model(inputs, x)

    parent, child = randomise(net("dense")), net("conv")
    before = layer_arrays(child)
    with pytest.raises(WeightTransferError, match=r"layer 'head', array 0: .*ranks differ"):
        transfer_model(parent, child)
    np.testing.assert_array_equal(child.get_layer("conv").get_weights()[0], before["conv"][0])
