"""Test support: HDF5 files in the layout of the EvoPose2D models the authors released, written
from a posenets network (what Keras 2.4 / TensorFlow 2.3 `model.save(path, save_format="h5")`
writes: `model_config` JSON of a Keras 2 functional model, `model_weights/<layer>/<layer>/
<weight>:0` datasets, `layer_names` and `weight_names` attributes).

The authors' network differs from posenets' only in how it is written down: weight names end in
`:0`, depthwise kernels are `depthwise_kernel`, the input is `input_1`, the model `evopose`, and
the squeeze-excite pooling is followed by a `Reshape` layer `<block>se_reshape`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import keras
import numpy as np

KERAS_VERSION = "2.4.0"  # what TensorFlow 2.3 writes
BACKEND = "tensorflow"
INPUT_NAME = "input_1"
MODEL_NAME = "evopose"
_KERAS2_WEIGHT_NAMES = {("DepthwiseConv2D", "kernel"): "depthwise_kernel"}
_KERAS3_ONLY_SETTINGS = {"synchronized", "optional", "keepdims", "lora_rank", "lora_alpha"}
_CONV_KERNELS = {"Conv2D": "kernel_regularizer", "Conv2DTranspose": "kernel_regularizer"}
_L2 = {"class_name": "L2", "config": {"l2": 9.999999747378752e-06}}  # the authors' 1e-5 decay


@dataclass
class LegacyModel:
    """A legacy file's content before writing: tests change it to make broken files."""

    config: dict
    layer_names: list[str]
    weights: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)

    def layer(self, name: str) -> dict:
        """The `model_config` entry of layer `name`."""
        return next(entry for entry in self.config["config"]["layers"] if entry["name"] == name)

    def copy(self) -> LegacyModel:
        """A deep copy to break."""
        return copy.deepcopy(self)


def randomize(network: keras.Model, seed: int = 0) -> None:
    """Gives batch norm and biases random values (the initialisers leave them 0 and 1), so a
    loaded network shows every weight; kernels keep their random initial values."""
    rng = np.random.default_rng(seed)
    for layer in network.layers:
        values = []
        for variable in layer.weights:
            shape = tuple(variable.shape)
            if variable.name in ("gamma", "moving_variance"):
                values.append(rng.uniform(0.5, 1.5, shape))
            elif variable.name in ("beta", "moving_mean", "bias"):
                values.append(rng.normal(0.0, 0.1, shape))
            else:
                values.append(variable.numpy())
        if values:
            layer.set_weights([np.asarray(value, np.float32) for value in values])


def bfloat16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounded to nearest even."""
    bits = np.ascontiguousarray(values, np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def round_to_bfloat16(network: keras.Model) -> None:
    """Sets every weight that `write_legacy_h5(bfloat16=...)` stores as bfloat16 to the value
    it will hold in the file."""
    for layer in network.layers:
        if layer.weights:
            layer.set_weights(
                [
                    v.numpy()
                    if _keeps_float32(v.name)
                    else (bfloat16_bits(v.numpy()).astype(np.uint32) << 16).view(np.float32)
                    for v in layer.weights
                ]
            )


def authors_layout(network: keras.Model, *, dtype_policy: str = "float32") -> LegacyModel:
    """The layers and weights of `network` named and configured as the authors' TF 2.3 code
    wrote them; `dtype_policy` ('mixed_bfloat16' for their bfloat16 models) goes in every
    layer config, as Keras 2 serialised it."""
    policy: str | dict = (
        dtype_policy
        if dtype_policy == "float32"
        else {"class_name": "Policy", "config": {"name": dtype_policy}}
    )
    functional = keras.Model(network.inputs, network.outputs).get_config()
    renamed = {network.layers[0].name: INPUT_NAME}
    entries = []
    for entry in functional["layers"]:
        name = renamed.get(entry["name"], entry["name"])
        kind = entry["class_name"]
        config = _keras2_settings(entry["config"], policy)
        config["name"] = name
        if kind == "InputLayer":
            config = {
                "batch_input_shape": entry["config"]["batch_shape"],
                "dtype": "float32",
                "sparse": False,
                "ragged": False,
                "name": name,
            }
        if kind in _CONV_KERNELS:
            config[_CONV_KERNELS[kind]] = _L2
        if kind == "DepthwiseConv2D":
            config["depthwise_regularizer"] = _L2
        inbound = _keras2_inbound(entry["inbound_nodes"], renamed)
        entries.append(
            {"class_name": kind, "config": config, "name": name, "inbound_nodes": inbound}
        )
        if kind == "GlobalAveragePooling2D":  # the authors pool to a vector, then reshape
            reshape = name.removesuffix("se_squeeze") + "se_reshape"
            channels = network.get_layer(entry["name"]).output.shape[-1]
            entries.append(
                {
                    "class_name": "Reshape",
                    "config": {
                        "name": reshape,
                        "trainable": True,
                        "dtype": policy,
                        "target_shape": [1, 1, channels],
                    },
                    "name": reshape,
                    "inbound_nodes": [[[name, 0, 0, {}]]],
                }
            )
            renamed[entry["name"]] = reshape  # what used the pooling now uses the reshape
    weights = {}
    for layer in network.layers:
        if layer.weights:
            kind = type(layer).__name__
            weights[layer.name] = [
                (
                    f"{layer.name}/{_KERAS2_WEIGHT_NAMES.get((kind, v.name), v.name)}:0",
                    np.array(v.numpy(), np.float32),
                )
                for v in layer.weights
            ]
    config = {
        "class_name": "Functional",
        "config": {
            "name": MODEL_NAME,
            "layers": entries,
            "input_layers": [[INPUT_NAME, 0, 0]],
            "output_layers": [[renamed.get(n, n), i, j] for n, i, j in functional["output_layers"]],
        },
    }
    return LegacyModel(config, [entry["name"] for entry in entries], weights)


def write_legacy_h5(path: Path, legacy: LegacyModel, *, bfloat16: str | None = None) -> Path:
    """Writes `legacy` as TF 2.3's `model.save(path, save_format="h5")` lays a model out.

    `bfloat16`: None (float32 weights), 'opaque' (2-byte opaque data, as h5py stores numpy's
    bfloat16) or 'hdf5_float' (an HDF5 float type with bfloat16's 8 exponent and 7 mantissa
    bits); batch-norm moving statistics stay float32 either way.
    """
    with h5py.File(path, "w") as handle:
        handle.attrs["backend"] = BACKEND.encode()
        handle.attrs["keras_version"] = KERAS_VERSION.encode()
        handle.attrs["model_config"] = json.dumps(legacy.config).encode("utf-8")
        group = handle.create_group("model_weights")
        group.attrs["backend"] = BACKEND.encode()
        group.attrs["keras_version"] = KERAS_VERSION.encode()
        group.attrs["layer_names"] = np.array([name.encode() for name in legacy.layer_names])
        for name in legacy.layer_names:
            layer_group = group.create_group(name)
            pairs = legacy.weights.get(name, [])
            layer_group.attrs["weight_names"] = np.array(
                [weight_name.encode() for weight_name, _ in pairs], dtype="S"
            )
            for weight_name, values in pairs:
                if bfloat16 is None or _keeps_float32(weight_name):
                    layer_group.create_dataset(weight_name, data=values)
                else:
                    _write_bfloat16(layer_group, weight_name, values, bfloat16)
    return path


def _write_bfloat16(group: h5py.Group, name: str, values: np.ndarray, encoding: str) -> None:
    bits = bfloat16_bits(values)
    if encoding == "opaque":
        group.create_dataset(name, data=bits.view("V2"))
        return
    if encoding != "hdf5_float":
        raise ValueError(f"bfloat16 encoding {encoding!r}: use 'opaque' or 'hdf5_float'")
    brain_float = h5py.h5t.IEEE_F32LE.copy()
    brain_float.set_fields(15, 7, 8, 0, 7)  # sign bit, exponent at 7 (8 bits), mantissa 7 bits
    brain_float.set_size(2)
    brain_float.set_ebias(127)
    folder, _, leaf = name.rpartition("/")
    parent = group.require_group(folder) if folder else group
    space = h5py.h5s.create_simple(bits.shape)
    dataset = h5py.h5d.create(parent.id, leaf.encode(), brain_float, space)
    dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, bits, mtype=brain_float)


def _keeps_float32(weight_name: str) -> bool:
    return "moving_" in weight_name


def _keras2_settings(config: dict, policy: str | dict) -> dict:
    """A Keras 3 layer config as Keras 2 wrote it: plain initialisers, 'swish', a policy."""
    settings = {}
    for key, value in config.items():
        if key in _KERAS3_ONLY_SETTINGS:
            continue
        if key == "dtype":
            value = policy
        elif isinstance(value, dict) and "class_name" in value:
            value = {"class_name": value["class_name"], "config": value.get("config", {})}
        elif value == "silu":
            value = "swish"
        settings[key] = value
    return settings


def _keras2_inbound(nodes: list, renamed: dict) -> list:
    """Keras 3 inbound nodes (`keras_history` in args) as Keras 2's `[[name, 0, 0, {}], ...]`."""
    converted = []
    for node in nodes:
        tensors = []
        for argument in node["args"]:
            for tensor in argument if isinstance(argument, list) else [argument]:
                name, node_index, tensor_index = tensor["config"]["keras_history"]
                tensors.append([renamed.get(name, name), node_index, tensor_index, {}])
        converted.append(tensors)
    return converted
