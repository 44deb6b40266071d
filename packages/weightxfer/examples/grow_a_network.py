"""Mutate a small conv network and let the mutated child inherit its parent's weights.

The child differs from its parent in four ways, as in an architecture search: block 1's 3x3
depthwise kernel became 5x5; the stem grew from 16 to 24 channels; module 2 shrank from 32 to 16
channels; module 2 gained a second block (``block2b_...``), which inherits from the parent's last
block of that module. The script prints the transfer report, then how close each child's output
is to the parent's, with and without the transfer.

Run: hatch run python packages/weightxfer/examples/grow_a_network.py
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import keras
import numpy as np

from weightxfer.keras import transfer_model

L = keras.layers
PARENT = {"stem_channels": 16, "block1_kernel": 3, "block2_channels": 32, "block2_repeats": 1}
MUTATIONS = {
    "block 1 kernel 3x3 -> 5x5": {"block1_kernel": 5},
    "stem channels 16 -> 24": {"stem_channels": 24},
    "module 2 channels 32 -> 16": {"block2_channels": 16},
    "module 2 gains block2b": {"block2_repeats": 2},
}


def mbconv_block(x, name, kernel, channels, stride, expansion):
    """An inverted residual block: expand 1x1, depthwise, project 1x1, skip if shapes match."""
    inputs = x
    if expansion > 1:
        x = L.Conv2D(x.shape[-1] * expansion, 1, use_bias=False, name=f"{name}_expand_conv")(x)
        x = L.BatchNormalization(name=f"{name}_expand_bn")(x)
        x = L.Activation("swish")(x)
    x = L.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dwconv")(x)
    x = L.BatchNormalization(name=f"{name}_bn")(x)
    x = L.Activation("swish")(x)
    x = L.Conv2D(channels, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = L.BatchNormalization(name=f"{name}_project_bn")(x)
    if stride == 1 and inputs.shape[-1] == channels:
        x = L.Add(name=f"{name}_add")([x, inputs])
    return x


def build(stem_channels, block1_kernel, block2_channels, block2_repeats):
    """Stem, module 1 (one block), module 2 (repeated blocks named block2a, block2b, ...), head."""
    inputs = keras.Input((32, 32, 3))
    x = L.Conv2D(stem_channels, 3, 2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.Activation("swish")(x)
    x = mbconv_block(x, "block1a", block1_kernel, stem_channels, 1, expansion=1)
    for i in range(block2_repeats):
        stride = 2 if i == 0 else 1
        x = mbconv_block(x, f"block2{'abcd'[i]}", 3, block2_channels, stride, expansion=4)
    return keras.Model(inputs, L.Conv2D(8, 1, name="head_conv")(x))


def pretend_trained(model, rng):
    """Stand-in for training: give the batch-norm layers non-trivial statistics."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, variance = 0.2 * rng.standard_normal((4, layer.input.shape[-1]))
            layer.set_weights([1 + gamma, beta, mean, np.exp(variance)])


def closeness(child, parent, images):
    """(cosine similarity, relative difference) of the child's outputs to the parent's."""
    c, p = np.asarray(child(images)).ravel(), np.asarray(parent(images)).ravel()
    cosine = float(c @ p / (np.linalg.norm(c) * np.linalg.norm(p)))
    return cosine, float(np.linalg.norm(c - p) / np.linalg.norm(p))


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((8, 32, 32, 3)).astype("float32")
    parent = build(**PARENT)
    pretend_trained(parent, rng)

    every_mutation = {
        gene: value for mutation in MUTATIONS.values() for gene, value in mutation.items()
    }
    rows = []
    for label, mutation in [*MUTATIONS.items(), ("all four at once", every_mutation)]:
        child = build(**{**PARENT, **mutation})
        fresh = closeness(child, parent, images)
        report = transfer_model(parent, child)  # in place; returns the report
        rows.append((label, report.inherited_fraction, *fresh, *closeness(child, parent, images)))

    print("Transfer report of the child with all four mutations:\n")
    print(report.table())
    print("\nHow close is each child's output to its parent's, before (fresh random init) and")
    print("after the transfer? cosine: 1 = same outputs up to scale, 0 = unrelated;")
    print("difference: ||child - parent|| / ||parent||, 0 = exactly the parent's outputs.\n")
    header = ("child", "inherited", "cosine before", "after", "difference before", "after")
    print("{:<27}{:>10}{:>15}{:>7}{:>19}{:>7}".format(*header))
    for label, inherited, cos_before, diff_before, cos_after, diff_after in rows:
        print(
            f"{label:<27}{inherited:>10.1%}{cos_before:>15.2f}{cos_after:>7.2f}"
            f"{diff_before:>19.2f}{diff_after:>7.2f}"
        )


if __name__ == "__main__":
    main()
