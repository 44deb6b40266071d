"""posenets.fused_batch_norm.BatchNormalization: Keras's batch norm computed by TensorFlow's fused
kernels in training; the same outputs, gradients, moving statistics and saved files up to float
rounding, and Keras's own code wherever the fused kernel would not compute the same thing."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import posenets
from posenets.fused_batch_norm import BatchNormalization


def _op_types(layer, x, training: bool) -> set[str]:
    function = tf.function(lambda t: layer(t, training=training))
    graph = function.get_concrete_function(tf.TensorSpec(x.shape, x.dtype)).graph
    return {op.type for op in graph.get_operations()}


def _step(layer, x, weights):
    """Output, gradients (input, gamma, beta) of a weighted sum, and the moving statistics."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * weights)
    grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return [np.asarray(v) for v in (y, *grads, layer.moving_mean, layer.moving_variance)]


def test_training_matches_keras_batch_norm_with_the_fused_kernel():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2.0, 3.0, size=(4, 8, 6, 5)).astype(np.float32))
    weights = tf.constant(rng.normal(size=(4, 8, 6, 5)).astype(np.float32))
    gamma = rng.uniform(0.5, 2.0, size=5).astype(np.float32)
    reference = keras.layers.BatchNormalization(momentum=0.9)
    fused = BatchNormalization(momentum=0.9)
    for layer in (reference, fused):
        layer.build(x.shape)
        layer.gamma.assign(gamma)
        layer.beta.assign(np.linspace(-1, 1, 5, dtype=np.float32))
    assert "FusedBatchNormV3" in _op_types(fused, x, training=True)
    assert "FusedBatchNormV3" not in _op_types(reference, x, training=True)
    for _ in range(2):  # the second step starts from updated moving statistics
        expected, actual = _step(reference, x, weights), _step(fused, x, weights)
        for a, e in zip(actual, expected, strict=True):
            assert np.allclose(a, e, rtol=1e-5, atol=1e-5 * np.max(np.abs(e))), (a, e)
    inference = fused(x, training=False)  # Keras's own code on the moving statistics
    assert np.allclose(inference, reference(x, training=False), rtol=1e-6, atol=1e-6)


def test_keras_code_runs_where_the_fused_kernel_would_differ(dtype_policy):
    x = tf.zeros((2, 4, 4, 3))
    assert "FusedBatchNormV3" not in _op_types(BatchNormalization(), x, training=False)
    assert "FusedBatchNormV3" not in _op_types(BatchNormalization(axis=1), x, training=True)
    assert "FusedBatchNormV3" not in _op_types(BatchNormalization(), tf.zeros((2, 3)), True)
    with dtype_policy("mixed_bfloat16"):
        mixed = BatchNormalization()
    assert "FusedBatchNormV3" not in _op_types(mixed, tf.zeros((2, 4, 4, 3), tf.bfloat16), True)


def test_networks_train_with_fused_batch_norm_and_the_same_gradients(tmp_path):
    keras.utils.set_random_seed(0)
    model = posenets.create_model("evopose2d_s", input_shape=(64, 48))
    norms = [la for la in model.layers if isinstance(la, keras.layers.BatchNormalization)]
    assert norms and all(type(la) is BatchNormalization for la in norms)
    rng = np.random.default_rng(1)
    images = tf.constant(rng.normal(size=(2, 64, 48, 3)).astype(np.float32))
    targets = tf.constant(rng.uniform(size=(2, *model.output_shape[1:])).astype(np.float32))
    weights = [np.asarray(w) for w in model.weights]

    def gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(images, training=True) - targets))
        return float(loss), [np.asarray(g) for g in tape.gradient(loss, model.trainable_weights)]

    loss, fused = gradients()
    for layer, value in zip(model.weights, weights, strict=True):
        layer.assign(value)  # the same starting point, moving statistics included
    for layer in norms:
        layer.__class__ = keras.layers.BatchNormalization
    keras_loss, expected = gradients()
    assert loss == pytest.approx(keras_loss, rel=1e-5)
    scale = max(float(np.max(np.abs(g))) for g in expected)
    assert max(float(np.max(np.abs(a - e))) for a, e in zip(fused, expected, strict=True)) < (
        1e-4 * scale
    )
    for layer in norms:
        layer.__class__ = BatchNormalization
    path = tmp_path / "s.keras"  # saved and loaded as posenets' layer, the same numbers
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert {type(la) for la in loaded.layers if "bn" in la.name} == {BatchNormalization}
    assert np.array_equal(loaded.predict_on_batch(images), model.predict_on_batch(images))
