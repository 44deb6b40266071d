"""Keras 3 adapter: transfer between two ``keras.Model``s in place, through the numpy core.

Every layer that holds weights takes part (Conv1D/2D/3D, DepthwiseConv2D, SeparableConv2D,
Conv2DTranspose, Dense, BatchNormalization, ...); layers of nested models count by their own
names. Needs the ``keras`` extra and a Keras backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from weightxfer.errors import WeightTransferError
from weightxfer.layers import BatchNormFill, Fallback, last_block_fallback, transfer_layers
from weightxfer.transfer_report import TransferReport

try:
    import keras
except ImportError as error:
    raise ImportError(
        "weightxfer.keras needs Keras 3 and a backend: pip install 'weightxfer[keras]' tensorflow"
    ) from error


def layer_arrays(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """The model's weights as plain data: layer name -> its arrays, in the model's layer order."""
    return {layer.name: layer.get_weights() for layer in _weighted_layers(model)}


def transfer_model(
    parent: keras.Model,
    child: keras.Model,
    *,
    fallback: Fallback | None = last_block_fallback,
    batch_norm_fill: BatchNormFill = "child",
) -> TransferReport:
    """Set ``child``'s weights to what it inherits from ``parent`` (in place) and report it.

    ``fallback`` and ``batch_norm_fill`` are those of ``weightxfer.transfer_layers``; the fill
    policy applies to ``BatchNormalization`` layers. The child is untouched if any layer fails.
    """
    child_layers = {layer.name: layer for layer in _weighted_layers(child)}
    if not child_layers:
        raise WeightTransferError(
            f"child model {child.name!r} holds no weights: build it (call it once on an input) "
            "before transferring into it"
        )
    parent_arrays = layer_arrays(parent)
    if not parent_arrays:
        raise WeightTransferError(
            f"parent model {parent.name!r} holds no weights: build it before transferring from it"
        )
    batch_norm_layers = [
        name
        for name, layer in child_layers.items()
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    arrays, report = transfer_layers(
        parent_arrays,
        {name: layer.get_weights() for name, layer in child_layers.items()},
        fallback=fallback,
        batch_norm_fill=batch_norm_fill,
        batch_norm_layers=batch_norm_layers,
    )
    for entry in report.layers:
        if entry.status != "none":
            child_layers[entry.name].set_weights(arrays[entry.name])
    return report


def _weighted_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """The layers holding weights, nested models opened up; layer names must be unique."""
    seen: set[str] = set()
    for layer in _flatten(model):
        if layer.name in seen:
            raise WeightTransferError(
                f"model {model.name!r} has two layers named {layer.name!r}: layers are matched "
                "by name, so rename one"
            )
        seen.add(layer.name)
        yield layer


def _flatten(model: keras.Model) -> Iterator[keras.layers.Layer]:
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flatten(layer)
        elif layer.weights:
            yield layer
