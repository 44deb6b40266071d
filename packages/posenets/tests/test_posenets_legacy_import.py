"""Importing the authors' released EvoPose2D files (Keras 2 / TF 2.3 HDF5), tested on files
written in that layout from posenets networks with random weights."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import posenets
from posenets import (
    EVOPOSE2D_S,
    EVOPOSE2D_XS,
    EvoPose2D,
    ImportedEvoPose2D,
    LegacyImportError,
    import_legacy_h5,
)


def _load_helper(path: Path):
    """`legacy_h5.py` beside this file (tests are imported in importlib mode, not as a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = sys.modules[path.stem] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_legacy = _load_helper(Path(__file__).with_name("legacy_h5.py"))
authors_layout, randomize = _legacy.authors_layout, _legacy.randomize
round_to_bfloat16, write_legacy_h5 = _legacy.round_to_bfloat16, _legacy.write_legacy_h5


def _source(genotype, input_size, seed=0, **kwargs) -> EvoPose2D:
    """The network the authors' code builds: compound scaling from the input size."""
    keras.utils.set_random_seed(seed)
    network = EvoPose2D(genotype, input_size, **kwargs)
    randomize(network, seed)
    return network


def _outputs(network: keras.Model, seed: int = 1) -> np.ndarray:
    shape = (1, *network.input_shape[1:])
    images = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return np.asarray(network(images, training=False))


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    """EvoPose2D-S at 64x48 in the authors' layout, and the network it was written from."""
    network = _source(EVOPOSE2D_S, (64, 48))
    legacy = authors_layout(network)
    path = write_legacy_h5(tmp_path_factory.mktemp("legacy") / "evopose2d_small.h5", legacy)
    return path, legacy, network


@pytest.mark.parametrize(
    "genotype, input_size, name, blocks",
    [
        (EVOPOSE2D_XS, (256, 192), "evopose2d_xs", 18),
        (EVOPOSE2D_S, (256, 192), "evopose2d_s", 18),
        (EVOPOSE2D_S, (272, 208), "evopose2d", 25),  # phi 0.49: 2, 3, 4, 5 blocks for 1..4
    ],
    ids=["xs", "s", "s-scaled-272x208"],
)
def test_a_published_layout_file_gives_the_network_it_was_written_from(
    tmp_path, genotype, input_size, name, blocks
):
    source = _source(genotype, input_size)
    path = write_legacy_h5(tmp_path / f"{name}_f32.h5", authors_layout(source))
    imported, report = import_legacy_h5(path)
    np.testing.assert_array_equal(_outputs(imported), _outputs(source))
    assert report.genotype == genotype
    assert report.input_shape == (*input_size, 3)
    assert report.model_name == name == imported.name
    assert report.num_keypoints == 17
    assert sum(layer.name.endswith("_dwconv") for layer in imported.layers) == blocks
    assert report.output_stride == posenets.output_stride(genotype)
    assert report.arrays == len(source.weights)
    assert report.parameters == source.count_params()
    assert report.stored_as == {"float32": len(source.weights)}
    assert not report.bfloat16 and report.equivalent_genotypes == 0


@pytest.mark.parametrize("encoding", ["opaque", "hdf5_float"])
def test_bfloat16_weights_are_converted_to_float32(tmp_path, encoding):
    source = _source(EVOPOSE2D_XS, (96, 64), num_keypoints=5)
    round_to_bfloat16(source)
    legacy = authors_layout(source, dtype_policy="mixed_bfloat16")
    path = write_legacy_h5(tmp_path / "evopose2d_XS_bf16.h5", legacy, bfloat16=encoding)
    with h5py.File(path) as handle:
        stored = handle["model_weights/stem_conv/stem_conv/kernel:0"]
        assert stored.id.get_type().get_size() == 2
    imported, report = import_legacy_h5(path)
    assert imported.weights[0].dtype == "float32"
    np.testing.assert_array_equal(_outputs(imported), _outputs(source))
    moving = sum("moving_" in v.path for v in source.weights)
    assert report.stored_as == {"bfloat16": len(source.weights) - moving, "float32": moving}
    assert report.bfloat16 and report.dtype_policy == "mixed_bfloat16"
    assert (report.genotype, report.num_keypoints) == (EVOPOSE2D_XS, 5)


def test_a_genotype_that_scaling_rounds_together_with_others_prefers_the_published_one(
    small_file,
):
    path, _, source = small_file
    imported, report = import_legacy_h5(path)
    assert report.genotype == EVOPOSE2D_S  # at 64x48 every module has one block
    assert report.equivalent_genotypes > 0
    np.testing.assert_array_equal(_outputs(imported), _outputs(source))


def test_the_imported_model_keeps_its_provenance_through_a_keras_file(small_file, tmp_path):
    path, _, source = small_file
    imported, report = import_legacy_h5(path)
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    saved = tmp_path / "imported.keras"
    imported.save(saved)
    loaded = keras.saving.load_model(saved, compile=False)
    assert isinstance(loaded, ImportedEvoPose2D) and isinstance(loaded, EvoPose2D)
    assert loaded.provenance["file"] == path.name
    assert loaded.provenance["sha256"] == report.sha256
    assert loaded.provenance["format"] == "Keras 2.4.0 HDF5 (tensorflow)"
    assert loaded.genotype == EVOPOSE2D_S
    np.testing.assert_array_equal(_outputs(loaded), _outputs(source))


def _import_error(tmp_path, legacy) -> str:
    path = write_legacy_h5(tmp_path / "broken.h5", legacy)
    with pytest.raises(LegacyImportError) as caught:
        import_legacy_h5(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("broken.h5: ")
    return message


def test_a_file_missing_a_layers_weights_is_refused(small_file, tmp_path):
    legacy = small_file[1].copy()
    legacy.layer_names.remove("block3a_dwconv")
    del legacy.weights["block3a_dwconv"]
    message = _import_error(tmp_path, legacy)
    assert "missing layer weights" in message and "'block3a_dwconv'" in message


def test_a_file_without_a_layer_of_the_network_is_refused(small_file, tmp_path):
    legacy = small_file[1].copy()
    layers = legacy.config["config"]["layers"]
    layers.remove(legacy.layer("block5a_bn"))
    legacy.layer_names.remove("block5a_bn")
    del legacy.weights["block5a_bn"]
    assert "missing layer: the file has no layers 'block5a_bn'" in _import_error(tmp_path, legacy)


def test_a_weight_of_the_wrong_shape_is_refused(small_file, tmp_path):
    legacy = small_file[1].copy()
    name, kernel = legacy.weights["block3a_dwconv"][0]
    legacy.weights["block3a_dwconv"][0] = (name, kernel[1:4, 1:4])  # 5x5 -> 3x3
    message = _import_error(tmp_path, legacy)
    assert "wrong shape: block3a_dwconv/kernel is (3, 3, 96, 1)" in message
    assert "expects (5, 5, 96, 1)" in message


def _set(legacy, layer, **settings):
    legacy.layer(layer)["config"].update(settings)


def _rename(legacy, old, new):
    entry = legacy.layer(old)
    entry["name"] = entry["config"]["name"] = new
    legacy.layer_names[legacy.layer_names.index(old)] = new
    legacy.weights[new] = legacy.weights.pop(old)


def _add_layer(legacy, name):
    layer = {"class_name": "Activation", "config": {"name": name, "activation": "sigmoid"}}
    legacy.config["config"]["layers"].append({**layer, "name": name, "inbound_nodes": []})


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            lambda legacy: _set(legacy, "head_block2_activation", activation="relu"),
            "layer 'head_block2_activation' has activation 'relu' in the file; EvoPose2D's has "
            "'swish'",
        ),
        (
            lambda legacy: _set(legacy, "block3a_dwconv", kernel_size=[7, 7]),
            "outside the EvoPose2D search space: module 3: kernel 7 is not allowed",
        ),
        (
            lambda legacy: _rename(legacy, "stem_conv", "conv1"),
            "not an EvoPose2D model, it has no 'stem_conv' layer",
        ),
        (
            lambda legacy: _add_layer(legacy, "extra"),
            "the file has layers 'extra' that the evopose2d network it describes has not",
        ),
        (
            lambda legacy: _set(legacy, "block7a_project_conv", filters=200),
            "module 7 has 200 channels",
        ),
    ],
    ids=["head-activation", "kernel-7", "no-stem", "extra-layer", "wider-module"],
)
def test_a_different_architecture_is_refused(small_file, tmp_path, change, expected):
    legacy = small_file[1].copy()
    change(legacy)
    message = _import_error(tmp_path, legacy)
    assert "different architecture" in message and expected in message


def test_a_file_of_weights_only_or_not_hdf5_is_refused(tmp_path, small_file):
    weights_only = tmp_path / "weights_only.h5"
    with h5py.File(weights_only, "w") as handle:
        handle.attrs["layer_names"] = np.array([b"stem_conv"])
    with pytest.raises(LegacyImportError, match="weights saved with save_weights"):
        import_legacy_h5(weights_only)
    text = tmp_path / "model.h5"
    text.write_text("not hdf5")
    with pytest.raises(LegacyImportError, match=r"model\.h5: not a readable HDF5 file"):
        import_legacy_h5(text)
    with pytest.raises(LegacyImportError, match="no such file"):
        import_legacy_h5(tmp_path / "absent.h5")


def test_an_input_that_is_not_a_multiple_of_the_backbone_stride_is_refused(tmp_path):
    legacy = authors_layout(_source(EVOPOSE2D_XS, (64, 48)))  # XS has stride 32
    assert "not a multiple of the backbone stride 32" in _import_error(tmp_path, legacy)
