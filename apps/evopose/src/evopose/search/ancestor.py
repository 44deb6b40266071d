"""The ancestor's ImageNet start (SPEC section 4): weights read from a local EfficientNet-B0
file, inherited by the transfer rule (SPEC section 1) as the paper's generation 0 did.

Accepted files: keras.applications' weights `.h5` (legacy HDF5, layers by name), a legacy
full-model `.h5`, or a `.keras` model; any of them from a network whose layers follow
EfficientNet's names (`stem_conv`, `block2a_expand_conv`, ...). Nothing is downloaded.
"""

import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from evopose.errors import ConfigFileError, first_line

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".h5", ".hdf5", ".keras")
_KERAS3_WEIGHTS = ".weights.h5"


def read_weight_file(path: str | Path, key: str = "search.ancestor_weights") -> dict[str, list]:
    """Layer name -> its weight arrays (Keras order) from a `.h5` / `.keras` file; a ConfigFileError
    naming `key` and the fix when the file is missing or of another kind."""
    path = Path(path)
    if not path.is_file():
        raise ConfigFileError(f"{key}: no such file '{path}'")
    name = path.name.lower()
    if name.endswith(_KERAS3_WEIGHTS):
        raise ConfigFileError(
            f"{key}: '{path}' is a Keras 3 weights file, which holds no layer names; give the "
            "model as a .keras file (model.save('b0.keras')) or keras.applications' .h5 weights"
        )
    if not name.endswith(WEIGHT_SUFFIXES):
        raise ConfigFileError(
            f"{key}: '{path}' must be a {', '.join(WEIGHT_SUFFIXES)} file (keras.applications' "
            "EfficientNet-B0 weights or a saved Keras model)"
        )
    try:
        arrays = _read_keras(path) if name.endswith(".keras") else _read_legacy_h5(path)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ConfigFileError(f"{key}: cannot read '{path}': {first_line(error)}") from None
    if not any(layer.startswith(("stem_", "block")) for layer in arrays):
        raise ConfigFileError(
            f"{key}: '{path}' has no layer named like EfficientNet's (stem_conv, block1a_dwconv, "
            "...); nothing could be inherited"
        )
    return arrays


def inherit_weights(source: dict[str, list], model: Any) -> Any:
    """Sets `model`'s layers to what they inherit from `source` (layer name -> arrays) by the
    transfer rule, in place; returns weightxfer's report (`inherited_fraction`, per layer)."""
    import keras

    from weightxfer import transfer_layers

    layers = {layer.name: layer for layer in _flatten(model) if layer.weights}
    batch_norm = [n for n, la in layers.items() if isinstance(la, keras.layers.BatchNormalization)]
    arrays, report = transfer_layers(
        source,
        {name: layer.get_weights() for name, layer in layers.items()},
        batch_norm_layers=batch_norm,
    )
    for entry in report.layers:
        if entry.status != "none":
            layers[entry.name].set_weights(arrays[entry.name])
    return report


def _read_keras(path: Path) -> dict[str, list]:
    import keras

    from weightxfer.keras import layer_arrays

    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    return layer_arrays(model)


def _read_legacy_h5(path: Path) -> dict[str, list]:
    """keras.applications' weights files: a `layer_names` list, each layer a group whose
    `weight_names` list its arrays in order; full-model files hold them under model_weights."""
    import h5py

    with h5py.File(path, "r") as file:
        group = file.get("model_weights", file)
        if "layer_names" not in group.attrs:
            raise ValueError("no 'layer_names': not a Keras HDF5 weights or model file")
        arrays = {}
        for raw in group.attrs["layer_names"]:
            layer = _text(raw)
            names = [_text(n) for n in group[layer].attrs.get("weight_names", [])]
            if names:
                arrays[layer] = [np.asarray(group[layer][n]) for n in names]
    log.info("read %d weighted layers from %s", len(arrays), path)
    return arrays


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _flatten(model: Any):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flatten(layer)
        else:
            yield layer
