"""The ancestor's start as in the paper: it inherits from a local EfficientNet-B0 weights file
(keras.applications' .h5 or a .keras model) by the transfer rule and reports how much."""

import json
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import evosearch
import posenets
from evopose.config import config_from_dict
from evopose.errors import ConfigFileError
from evopose.search.ancestor import inherit_weights, read_weight_file
from evopose.search.candidate import (
    TRANSFER_JSON,
    CandidateInfo,
    CandidateMetrics,
    TrainCandidate,
)

SIZE = (64, 48)  # small, to stay fast; the layer shapes do not depend on it
SLIM = [[3, 1, 1, 1], [3, 1, 1, 2], [3, 1, 2, 2], [3, 1, 2, 2], [3, 1, 3, 1], [3, 1, 4, 1],
        [3, 1, 4, 1]]  # fmt: skip


@pytest.fixture(scope="module")
def efficientnet_b0(tmp_path_factory):
    """A randomly initialised EfficientNet-B0 (with its classifier) in both file kinds."""
    from keras.src.legacy.saving import legacy_h5_format

    folder = tmp_path_factory.mktemp("b0")
    keras.utils.set_random_seed(0)
    b0 = keras.applications.EfficientNetB0(weights=None, input_shape=(*SIZE, 3))
    legacy = folder / "efficientnetb0.h5"  # keras.applications' own weights format
    with h5py.File(legacy, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, b0)
    b0.save(folder / "efficientnetb0.keras")
    return b0, {"h5": legacy, "keras": folder / "efficientnetb0.keras"}


def backbone_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    return {
        layer.name: layer
        for layer in model.layers
        if layer.weights and layer.name.startswith(("stem_", "block"))
    }


@pytest.mark.parametrize("kind", ["h5", "keras"])
def test_both_file_kinds_give_every_layer_by_name(efficientnet_b0, kind):
    b0, files = efficientnet_b0
    arrays = read_weight_file(files[kind])
    assert set(arrays) == {layer.name for layer in b0.layers if layer.weights}
    expected = b0.get_layer("block6c_se_reduce").get_weights()
    for mine, source in zip(arrays["block6c_se_reduce"], expected, strict=True):
        np.testing.assert_array_equal(mine, source)


def test_the_ancestor_inherits_every_backbone_layer_of_efficientnet_b0(efficientnet_b0):
    b0, files = efficientnet_b0
    ancestor = posenets.create_model(
        "evopose2d", genotype=posenets.ANCESTOR, input_shape=SIZE, search_resolution=SIZE
    )
    report = inherit_weights(read_weight_file(files["h5"]), ancestor)
    ours = backbone_layers(ancestor)
    theirs = backbone_layers(b0)
    assert set(ours) == set(theirs) and len(ours) == 2 + 6 + 15 * 8
    status = {layer.name: layer.status for layer in report.layers}
    assert all(status[name] == "full" for name in ours)
    assert all(status[name] == "none" for name in status if name not in ours)  # head
    for name in ("stem_conv", "block2b_expand_conv", "block6d_dwconv", "block7a_project_bn"):
        for mine, source in zip(ours[name].get_weights(), theirs[name].get_weights(), strict=True):
            np.testing.assert_array_equal(mine, source)
    backbone = sum(layer.count_params() for layer in ours.values())
    assert report.inherited_fraction == pytest.approx(backbone / ancestor.count_params())
    assert 0.8 < report.inherited_fraction < 0.9  # the head is new


def test_a_file_without_efficientnet_names_is_refused(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    model.save(tmp_path / "other.keras")
    with pytest.raises(ConfigFileError, match="no layer named like EfficientNet's"):
        read_weight_file(tmp_path / "other.keras")


def test_the_search_ancestor_starts_from_the_weights_file(
    efficientnet_b0, synthetic_root, tmp_path
):
    """Any ancestor genotype inherits by the rule (a slim one here, to train fast)."""
    _, files = efficientnet_b0
    config = config_from_dict(
        {
            "model": {"name": "evopose2d", "input_size": list(SIZE), "genotype": SLIM},
            "data": {"root": str(synthetic_root)},
            "train": {"batch_size": 8, "steps_per_epoch": 1, "val_steps": 1, "val_batch_size": 8},
            "search": {"ancestor_weights": str(files["keras"])},
        }
    )
    request = evosearch.EvalRequest(
        candidate_id=0,
        genotype=SLIM,
        generation=0,
        parent_id=None,
        parent_artifact=None,
        artifact_dir=str(tmp_path / "ancestor"),
        budget=1,
        seed=0,
    )
    Path(request.artifact_dir).mkdir()
    result = TrainCandidate(config, verbose=0)(request)
    # read back as every reader of the ledger reads it: a key the writer drifted on fails here
    metrics, info = CandidateMetrics.from_json(result.metrics), CandidateInfo.from_json(result.info)
    assert 0.1 < metrics.inherited_fraction < 0.9
    assert info.transfer["partial"] > 0  # slim layers take the leading channels
    assert info.inherited_from == str(files["keras"])
    assert info.transfer["inherited_fraction"] == metrics.inherited_fraction
    assert info.input_size == info.search_resolution == tuple(SIZE)
    assert info.mutation is None and metrics.epochs == 1
    saved = json.loads((tmp_path / "ancestor" / TRANSFER_JSON).read_text())
    inherited = metrics.inherited_fraction
    assert saved["totals"]["inherited_fraction"] == pytest.approx(inherited)
