"""Import the EvoPose2D models the paper's authors released: Keras 2 HDF5 model files written by
TensorFlow 2.3's `model.save(path, save_format="h5")`, with float32 or bfloat16 weights.

The file is read with h5py (which Keras depends on), not with Keras 2: the network is recognised
from the file's `model_config` (input size, genotype, keypoints), built as a posenets
`EvoPose2D`, checked layer by layer against the file's layers, and every weight is loaded by its
layer's name. Nothing is guessed: a layer, weight or shape that does not match stops the import
with one line naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import ascii_lowercase

import h5py
import keras
import numpy as np

from posenets.errors import InvalidGenotypeError, LegacyImportError
from posenets.evopose2d import EvoPose2D, backbone_stride, output_stride
from posenets.registry import MODELS
from posenets.scaling import compound_scaling
from posenets.search_space import (
    ANCESTOR,
    EVOPOSE2D_S,
    EVOPOSE2D_XS,
    NUM_MODULES,
    Gene,
    Genotype,
    SearchSpace,
)

log = logging.getLogger(__name__)

# Keras 2 weight names that Keras 3 spells differently, by layer class.
_KERAS3_WEIGHT_NAMES = {("DepthwiseConv2D", "depthwise_kernel"): "kernel"}
# The authors' squeeze-excite reshapes the pooled vector; posenets' pooling keeps the dimensions.
_FOLDED_LAYER_SUFFIX = "_se_reshape"
# Layer settings that change what a layer computes; compared where both configs have them.
_COMPARED_SETTINGS = (
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "dilation_rate",
    "depth_multiplier",
    "use_bias",
    "activation",
    "epsilon",
    "center",
    "scale",
    "data_format",
)
_SAME_ACTIVATION = {"silu": "swish"}  # Keras 3 writes swish as silu
# When compound scaling maps several genotypes onto one network, a published one is preferred.
_PUBLISHED_GENOTYPES = (EVOPOSE2D_S, EVOPOSE2D_XS, ANCESTOR)
_DWCONV_LAYER = re.compile(r"block(\d+)([a-z])_dwconv")
_WEIGHT_SUFFIX = re.compile(r":\d+$")
_BFLOAT16_EXPONENT_BITS = 8
_HASH_CHUNK = 1 << 20
_NAMES_SHOWN = 3


@dataclass(frozen=True)
class ImportReport:
    """What `import_legacy_h5` recognised in a file and loaded from it.

    `stored_as` counts the file's weight arrays by stored type (`{"float32": 359}`, or
    `"bfloat16"` for arrays converted to float32); `equivalent_genotypes` counts the other
    genotypes of the search space that build the same network at this input size (compound
    scaling rounds them together; a published genotype is preferred, else the smallest).
    """

    file: str
    sha256: str
    model_name: str
    genotype: Genotype
    input_shape: tuple[int, int, int]
    num_keypoints: int
    output_stride: int
    dtype_policy: str
    stored_as: Mapping[str, int]
    layers: int
    arrays: int
    parameters: int
    keras_version: str
    equivalent_genotypes: int = 0

    @property
    def bfloat16(self) -> bool:
        """True when the file was saved in bfloat16: weights stored so, or a bfloat16 policy."""
        return "bfloat16" in self.stored_as or "bfloat16" in self.dtype_policy

    def summary(self) -> str:
        """One line: which EvoPose2D the file holds and what was loaded."""
        height, width, channels = self.input_shape
        stored = ", ".join(f"{count} {kind}" for kind, count in sorted(self.stored_as.items()))
        return (
            f"{self.file}: {self.model_name} {height}x{width}x{channels}, "
            f"{self.num_keypoints} keypoints, output stride {self.output_stride}, "
            f"{self.dtype_policy} policy; {self.arrays} weight arrays ({stored}; "
            f"{self.parameters:,} values) in {self.layers} layers, every one loaded"
        )


@keras.saving.register_keras_serializable(package="posenets")
class ImportedEvoPose2D(EvoPose2D):
    """An EvoPose2D whose weights came from a file: `provenance` (the file's name and sha256,
    its Keras version and dtype policy) travels with the model through `.keras` files."""

    def __init__(self, *args, provenance: Mapping[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.provenance: dict[str, str] = {str(k): str(v) for k, v in dict(provenance).items()}

    def get_config(self) -> dict:
        """EvoPose2D's arguments and the provenance."""
        return {**super().get_config(), "provenance": dict(self.provenance)}


def import_legacy_h5(path: str | os.PathLike) -> tuple[ImportedEvoPose2D, ImportReport]:
    """The EvoPose2D a legacy Keras 2 HDF5 model file holds, with every weight loaded.

    Recognises the genotype, input size, keypoints and precision from the file's
    `model_config`, builds the network, checks that every layer matches and loads the
    weights by layer name (bfloat16 converted to float32). Every weight of the file is used
    and every weight of the network is set, or `LegacyImportError` names what did not match.
    """
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise LegacyImportError(f"{path}: no such file")
    stored = _read_file(path, label)
    genotype, input_shape, keypoints, equivalent = _recognise(stored.layers, label)
    height, width, _ = input_shape
    stride = backbone_stride(genotype)
    if height % stride or width % stride:
        raise LegacyImportError(
            f"{label}: the input {height}x{width} is not a multiple of the backbone stride "
            f"{stride}; there the file's network upsamples to other sizes than posenets' "
            "EvoPose2D (which crops its maps), so its weights would not give its outputs"
        )
    sha256 = _sha256(path)
    model_name = _registry_name(genotype, height, width)
    dtype_policy = _dtype_policy(stored.layers["stem_conv"][1])
    network = ImportedEvoPose2D(
        genotype,
        input_shape,
        num_keypoints=keypoints,
        name=model_name,
        provenance={
            "file": label,
            "sha256": sha256,
            "format": f"Keras {stored.keras_version} HDF5 ({stored.backend})",
            "dtype_policy": dtype_policy,
        },
    )
    _check_layers(stored.layers, network, label)
    layers, arrays, values = _load_weights(stored.weights, network, label)
    report = ImportReport(
        file=label,
        sha256=sha256,
        model_name=model_name,
        genotype=genotype,
        input_shape=input_shape,
        num_keypoints=keypoints,
        output_stride=output_stride(genotype),
        dtype_policy=dtype_policy,
        stored_as=dict(stored.stored_as),
        layers=layers,
        arrays=arrays,
        parameters=values,
        keras_version=stored.keras_version,
        equivalent_genotypes=equivalent,
    )
    log.info("%s", report.summary())
    return network, report


# --- reading the file ---------------------------------------------------------------------


@dataclass(frozen=True)
class _StoredModel:
    """A legacy file's content: layer configs in file order and float32 weights by layer."""

    layers: Mapping[str, tuple[str, Mapping]]  # name -> (class name, config)
    weights: Mapping[str, list[tuple[str, np.ndarray]]]  # layer -> [(weight name, values)]
    stored_as: Counter
    keras_version: str
    backend: str


def _read_file(path: Path, label: str) -> _StoredModel:
    try:
        with h5py.File(path, "r") as handle:
            return _read_model(handle, label)
    except (OSError, KeyError, RuntimeError) as error:  # h5py: not HDF5, truncated, damaged
        raise LegacyImportError(
            f"{label}: not a readable HDF5 file ({_first_line(error)})"
        ) from None


def _read_model(handle: h5py.File, label: str) -> _StoredModel:
    """The model_config and every weight of an open legacy file."""
    config_text = _text_attribute(handle.attrs, "model_config")
    if config_text is None or "model_weights" not in handle:
        raise LegacyImportError(
            f"{label}: no model_config and model_weights: not a Keras model file (weights "
            "saved with save_weights lack the architecture); import the file written by "
            "model.save(path, save_format='h5')"
        )
    try:
        config = json.loads(config_text)
    except ValueError as error:
        raise LegacyImportError(
            f"{label}: model_config is not JSON ({_first_line(error)})"
        ) from None
    layers = _layer_configs(config, label)
    group = handle["model_weights"]
    stored_as: Counter = Counter()
    weights = _read_weights(group, layers, stored_as, label)
    keras_version = _text_attribute(handle.attrs, "keras_version") or _text_attribute(
        group.attrs, "keras_version"
    )
    backend = _text_attribute(handle.attrs, "backend") or _text_attribute(group.attrs, "backend")
    return _StoredModel(layers, weights, stored_as, keras_version or "?", backend or "?")


def _layer_configs(config: object, label: str) -> dict[str, tuple[str, Mapping]]:
    """`{layer name: (class name, config)}` of a Keras 2 functional model's config."""
    kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
    body = config.get("config") if isinstance(config, dict) else None
    entries = body.get("layers") if isinstance(body, dict) else None
    if kind not in ("Functional", "Model") or not isinstance(entries, list):
        raise LegacyImportError(
            f"{label}: model_config describes a {kind}, not a Keras functional model "
            "(EvoPose2D is one)"
        )
    layers: dict[str, tuple[str, Mapping]] = {}
    for entry in entries:
        layer_config = entry.get("config") if isinstance(entry, dict) else None
        if not isinstance(layer_config, dict) or not isinstance(entry.get("class_name"), str):
            raise LegacyImportError(f"{label}: model_config has a malformed layer: {entry!r:.80}")
        layers[str(entry.get("name", layer_config.get("name")))] = (
            entry["class_name"],
            layer_config,
        )
    return layers


def _read_weights(
    group: h5py.Group, layers: Mapping, stored_as: Counter, label: str
) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Every weight listed under `model_weights` (layer_names, then each layer's weight_names)."""
    layer_names = _names_attribute(group, "layer_names")
    unlisted = [name for name in group if name not in layer_names and _holds_data(group[name])]
    if unlisted:
        raise LegacyImportError(
            f"{label}: model_weights holds weights for {_few(unlisted)} that its layer_names "
            "do not list; the file is inconsistent"
        )
    weights: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name in layer_names:
        if name not in group:
            raise LegacyImportError(
                f"{label}: missing weights: model_weights lists layer {name!r} but has no "
                "group for it"
            )
        layer_group = group[name]
        arrays = []
        for weight_name in _names_attribute(layer_group, "weight_names"):
            if weight_name not in layer_group:
                raise LegacyImportError(
                    f"{label}: missing weights: layer {name!r} lists weight {weight_name!r}, "
                    "which the file does not hold"
                )
            values, kind = _float32_values(layer_group[weight_name], label)
            stored_as[kind] += 1
            arrays.append((_WEIGHT_SUFFIX.sub("", weight_name.rsplit("/", 1)[-1]), values))
        if arrays:
            if name not in layers:
                raise LegacyImportError(
                    f"{label}: model_weights holds weights for layer {name!r}, which "
                    "model_config does not have"
                )
            weights[name] = arrays
    return weights


def _float32_values(dataset: h5py.Dataset, label: str) -> tuple[np.ndarray, str]:
    """A weight array as float32, and the type it was stored as ('bfloat16' for 16-bit
    brain floats, whether written as an HDF5 float type, opaque bytes or raw integers)."""
    stored_type = dataset.id.get_type()
    kind, size = dataset.dtype.kind, stored_type.get_size()
    if isinstance(stored_type, h5py.h5t.TypeFloatID) and size == 2:
        exponent_bits = stored_type.get_fields()[2]
        name = "bfloat16" if exponent_bits == _BFLOAT16_EXPONENT_BITS else "float16"
        return np.asarray(dataset[()], dtype=np.float32), name  # HDF5 converts the floats
    if size == 2 and kind in "Viu":  # the 16 high bits of float32, as bytes or integers
        raw = np.asarray(dataset[()])
        bits = raw.view("<u2") if kind == "V" else raw.astype(np.uint16)
        return (bits.astype(np.uint32) << 16).view(np.float32), "bfloat16"
    if kind == "f":
        return np.asarray(dataset[()], dtype=np.float32), dataset.dtype.name
    raise LegacyImportError(
        f"{label}: weight {dataset.name} is stored as {dataset.dtype}, neither a float type "
        "nor bfloat16"
    )


def _holds_data(item: h5py.Group | h5py.Dataset) -> bool:
    if isinstance(item, h5py.Dataset):
        return True
    found = []
    item.visititems(lambda _, child: found.append(1) if isinstance(child, h5py.Dataset) else None)
    return bool(found)


def _text_attribute(attributes: h5py.AttributeManager, name: str) -> str | None:
    value = attributes.get(name)
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8")
    return None if value is None else str(value)


def _names_attribute(item: h5py.Group, name: str) -> list[str]:
    """A list-of-names attribute, also when Keras split it into `name0`, `name1`, ... chunks
    (HDF5 attributes are limited to 64 KiB)."""
    if name in item.attrs:
        chunks = [item.attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in item.attrs:
            chunks.append(item.attrs[f"{name}{len(chunks)}"])
    return [
        value.decode("utf-8") if isinstance(value, bytes | np.bytes_) else str(value)
        for chunk in chunks
        for value in np.atleast_1d(chunk).tolist()
    ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- recognising the network --------------------------------------------------------------


def _recognise(
    layers: Mapping[str, tuple[str, Mapping]], label: str
) -> tuple[Genotype, tuple[int, int, int], int, int]:
    """Genotype, input shape, keypoints and the number of equivalent genotypes of a file's
    network, from its layer configs (compound scaling from the input size, as the authors')."""
    inputs = [config for kind, config in layers.values() if kind == "InputLayer"]
    if len(inputs) != 1:
        raise LegacyImportError(
            f"{label}: the model has {len(inputs)} inputs; EvoPose2D has one image input"
        )
    shape = inputs[0].get("batch_input_shape") or inputs[0].get("batch_shape")
    if (
        not isinstance(shape, Sequence)
        or len(shape) != 4
        or not all(isinstance(side, int) and side > 0 for side in shape[1:])
    ):
        raise LegacyImportError(
            f"{label}: the input shape {shape!r} is not (batch, height, width, channels) with "
            "known sizes"
        )
    height, width, channels = (int(side) for side in shape[1:])
    for name in ("stem_conv", "final_conv"):
        if name not in layers:
            raise LegacyImportError(
                f"{label}: different architecture: not an EvoPose2D model, it has no {name!r} "
                f"layer (its layers include {_few(list(layers)[1:])})"
            )
    blocks: dict[int, list[str]] = {}
    for name in layers:
        if match := _DWCONV_LAYER.fullmatch(name):
            blocks.setdefault(int(match[1]), []).append(match[2])
    if sorted(blocks) != list(range(1, NUM_MODULES + 1)):
        raise LegacyImportError(
            f"{label}: different architecture: its MBConv blocks form modules "
            f"{sorted(blocks)}; EvoPose2D has modules 1 to {NUM_MODULES}"
        )
    space = SearchSpace()
    scaling = compound_scaling(height, width)
    genes = []
    for module, ancestral in enumerate(space.ancestor, start=1):
        letters = "".join(sorted(blocks[module]))
        if letters != ascii_lowercase[: len(letters)]:
            raise LegacyImportError(
                f"{label}: different architecture: module {module} has blocks "
                f"{', '.join(letters)}; EvoPose2D names them a, b, c, ... in order"
            )
        first = layers[f"block{module}a_dwconv"][1]
        project = layers.get(f"block{module}a_project_conv")
        if project is None:
            raise LegacyImportError(
                f"{label}: different architecture: block {module}a has no "
                f"'block{module}a_project_conv' layer"
            )
        kernel = _square(first, "kernel_size", f"block{module}a_dwconv", label)
        stride = _square(first, "strides", f"block{module}a_dwconv", label)
        filters = project[1].get("filters")
        repeats = [r for r in range(1, space.max_repeats + 1) if scaling.repeats(r) == len(letters)]
        widths = [
            c for c in range(1, ancestral.channels_div8 + 1) if scaling.channels(8 * c) == filters
        ]
        where = f"at {height}x{width} EvoPose2D's compound scaling"
        if not repeats:
            allowed = sorted({scaling.repeats(r) for r in range(1, space.max_repeats + 1)})
            raise LegacyImportError(
                f"{label}: different architecture: module {module} has {len(letters)} blocks; "
                f"{where} gives {', '.join(map(str, allowed))}"
            )
        if not widths:
            raise LegacyImportError(
                f"{label}: different architecture: module {module} has {filters} channels; "
                f"{where} gives none of the search space's widths "
                f"({scaling.channels(8)}..{scaling.channels(ancestral.channels)})"
            )
        genes.append((kernel, repeats, widths, stride))
    published = [
        genotype
        for genotype in _PUBLISHED_GENOTYPES
        if all(
            gene.kernel == kernel
            and gene.repeats in repeats
            and gene.channels_div8 in widths
            and gene.stride == stride
            for gene, (kernel, repeats, widths, stride) in zip(genotype, genes, strict=True)
        )
    ]
    chosen = published[0] if published else tuple(Gene(k, r[0], w[0], s) for k, r, w, s in genes)
    equivalent = math.prod(len(repeats) * len(widths) for _, repeats, widths, _ in genes) - 1
    try:
        genotype = space.validate(chosen)
    except InvalidGenotypeError as error:
        raise LegacyImportError(
            f"{label}: different architecture: the file's network is outside the EvoPose2D "
            f"search space: {error}"
        ) from None
    keypoints = layers["final_conv"][1].get("filters")
    if not isinstance(keypoints, int) or keypoints < 1:
        raise LegacyImportError(f"{label}: final_conv has {keypoints!r} filters")
    return genotype, (height, width, channels), keypoints, equivalent


def _square(config: Mapping, key: str, layer: str, label: str) -> int:
    """A `(n, n)` config value (kernel size, strides) as `n`."""
    value = config.get(key)
    values = list(value) if isinstance(value, Sequence) else [value]
    if len(values) not in (1, 2) or len(set(values)) != 1 or not isinstance(values[0], int):
        raise LegacyImportError(
            f"{label}: different architecture: {layer} has {key} {value!r}; EvoPose2D's are square"
        )
    return values[0]


def _dtype_policy(config: Mapping) -> str:
    """The dtype policy a Keras 2 layer config names ('float32', 'mixed_bfloat16', ...)."""
    policy = config.get("dtype", "float32")
    if isinstance(policy, dict):
        policy = policy.get("config", {}).get("name", "float32")
    return str(policy)


def _registry_name(genotype: Genotype, height: int, width: int) -> str:
    """The posenets model name the network matches ('evopose2d_s'), else 'evopose2d'."""
    for name, entry in MODELS.items():
        if entry.arguments.get("genotype") == genotype and entry.input_size == (height, width):
            return name
    return "evopose2d"


# --- checking and loading -----------------------------------------------------------------


def _check_layers(
    layers: Mapping[str, tuple[str, Mapping]], network: keras.Model, label: str
) -> None:
    """The file's layers are the network's layers, of the same classes and settings."""
    ours = {layer.name: layer for layer in network.layers if not _is_input(layer)}
    theirs = [
        name
        for name, (kind, _) in layers.items()
        if kind != "InputLayer" and not (kind == "Reshape" and name.endswith(_FOLDED_LAYER_SUFFIX))
    ]
    described = f"the {network.name} network it describes"
    extra = [name for name in theirs if name not in ours]
    if extra:
        raise LegacyImportError(
            f"{label}: different architecture: the file has layers {_few(extra)} that "
            f"{described} has not"
        )
    missing = [name for name in ours if name not in layers]
    if missing:
        raise LegacyImportError(
            f"{label}: missing layer: the file has no layers {_few(missing)}, which {described} has"
        )
    for name in theirs:
        kind, config = layers[name]
        layer = ours[name]
        if kind != type(layer).__name__:
            raise LegacyImportError(
                f"{label}: different architecture: layer {name!r} is a {kind} in the file and "
                f"a {type(layer).__name__} in EvoPose2D"
            )
        reference = layer.get_config()
        for key in _COMPARED_SETTINGS:
            if key in config and key in reference:
                value, expected = _comparable(config[key]), _comparable(reference[key])
                if value != expected:
                    raise LegacyImportError(
                        f"{label}: different architecture: layer {name!r} has {key} {value!r} "
                        f"in the file; EvoPose2D's has {expected!r}"
                    )


def _load_weights(
    weights: Mapping[str, list[tuple[str, np.ndarray]]], network: keras.Model, label: str
) -> tuple[int, int, int]:
    """Sets every weight of `network` from `weights` once all of them were checked; returns
    (layers, arrays, values) loaded."""
    weighted = {layer.name: layer for layer in network.layers if layer.weights}
    unused = [name for name in weights if name not in weighted]
    if unused:
        raise LegacyImportError(
            f"{label}: the file holds weights for layers {_few(unused)}, which have none in "
            f"the {network.name} network it describes"
        )
    assignments = []
    for name, layer in weighted.items():
        if name not in weights:
            raise LegacyImportError(
                f"{label}: missing layer weights: the file holds no weights for layer {name!r} "
                f"(model_weights/{name})"
            )
        kind = type(layer).__name__
        by_name: dict[str, np.ndarray] = {}
        for weight_name, values in weights[name]:
            by_name[_KERAS3_WEIGHT_NAMES.get((kind, weight_name), weight_name)] = values
        expected = [variable.name for variable in layer.weights]
        if sorted(by_name) != sorted(expected) or len(weights[name]) != len(expected):
            stored = ", ".join(weight_name for weight_name, _ in weights[name])
            raise LegacyImportError(
                f"{label}: layer {name!r} holds weights ({stored}) in the file; EvoPose2D's "
                f"has ({', '.join(expected)})"
            )
        for variable in layer.weights:
            shape, wanted = tuple(by_name[variable.name].shape), tuple(variable.shape)
            if shape != wanted:
                raise LegacyImportError(
                    f"{label}: wrong shape: {name}/{variable.name} is {shape} in the file; the "
                    f"network expects {wanted}"
                )
        assignments.append((layer, [by_name[variable.name] for variable in layer.weights]))
    for layer, values in assignments:
        layer.set_weights(values)
    arrays = sum(len(values) for _, values in assignments)
    total = sum(int(array.size) for _, values in assignments for array in values)
    return len(assignments), arrays, total


def _is_input(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.InputLayer)


def _comparable(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(_comparable(item) for item in value)
    if isinstance(value, str):
        return _SAME_ACTIVATION.get(value, value)
    return value


def _few(names: Sequence[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
