"""Layers the networks are built of where Keras's own are slower on CPU for the same function.

`BatchNormalization` is Keras's, computed in training by TensorFlow's fused kernel
(`FusedBatchNormV3` and, for the gradient, `FusedBatchNormGradV3`) instead of Keras 3's
`tf.nn.moments` + `tf.nn.batch_normalization`, a dozen elementwise ops forward and twice as
many (with broadcasting `Tile`s) backward. Same function: the batch's mean and biased variance
normalise the input; the moving statistics are updated as Keras updates them; inference, other
backends, masks, renormalisation, synchronised statistics and axes other than the last are
Keras's own code. Outputs and gradients agree with Keras's to float rounding
(`bench/training_profile.py` measures the time; `tests/test_posenets_fused_batch_norm.py` the
agreement).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="posenets")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with TensorFlow's fused kernel in training (see the
    module's description); the same arguments, weights and saved configuration."""

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones((channels,), tf.float32)
        beta = self.beta if self.center else tf.zeros((channels,), tf.float32)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            tf.convert_to_tensor(gamma, tf.float32),
            tf.convert_to_tensor(beta, tf.float32),
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=True,
        )
        # The kernel's variance is the unbiased one (n / (n - 1) times the biased variance
        # it normalises with); Keras's moving variance follows the biased one.
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), tf.float32)
        variance = variance * ((count - 1.0) / tf.maximum(count, 1.0))
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return outputs

    def _fusable(self, inputs, training, mask) -> bool:
        """Whether the fused kernel computes exactly this call: training statistics of a 4-D
        float32 channels-last input, TensorFlow backend, no mask / renorm / synchronisation."""
        axis = self.axis if isinstance(self.axis, int) else None
        return bool(
            training
            and self.trainable
            and mask is None
            and not self.renorm
            and not self.synchronized
            and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and axis in (-1, 3)
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
            and self.compute_dtype == "float32"
            and self.epsilon >= 1.001e-5  # the fused kernel's smallest
        )
