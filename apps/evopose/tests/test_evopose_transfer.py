"""Transfer then train has one path (`evopose.models.transfer_weights`): a fine-tuning run's
`model.transfer_from` and a search child from its parent, with the batch-norm fill the config
chooses (`model.transfer_batch_norm_fill`)."""

import keras
import numpy as np
import pytest

from evopose.config import ModelSection
from evopose.models import build_model

PARENT = ((3, 1, 1, 1), (3, 1, 1, 2), (3, 1, 2, 2), (3, 1, 2, 2), (3, 1, 3, 1), (3, 1, 4, 1),
          (3, 1, 4, 1))  # fmt: skip
SIZE = (64, 48)
CHILD = (*PARENT[:4], (3, 1, 4, 1), *PARENT[5:])  # module 5: 24 -> 32 channels


@pytest.fixture(scope="module")
def parent_file(tmp_path_factory):
    """A saved parent whose batch-norm vectors are random (so their mean is not the init)."""
    keras.utils.set_random_seed(0)
    parent = build_model(ModelSection("evopose2d", SIZE, genotype=PARENT, search_resolution=SIZE))
    rng = np.random.default_rng(0)
    for layer in parent.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    path = tmp_path_factory.mktemp("parent") / "parent.keras"
    parent.save(path)
    gammas = {
        layer.name: layer.get_weights()[0]
        for layer in parent.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    return path, gammas


def _grown_batch_norm(parent_gammas, child):
    """A batch-norm layer with more entries in the child than in the parent: the parent's
    gamma, the child's and the parent's length."""
    for layer in child.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.name in parent_gammas:
            before = parent_gammas[layer.name]
            if layer.get_weights()[0].shape[0] > before.shape[0]:
                return before, layer.get_weights()[0], before.shape[0]
    raise AssertionError("no batch-norm layer grew")


@pytest.mark.parametrize("fill", ["child", "parent_mean"])
def test_transfer_from_fills_new_batch_norm_entries_as_the_config_says(parent_file, fill):
    parent_path, parent_gammas = parent_file
    config = ModelSection(
        "evopose2d",
        SIZE,
        genotype=CHILD,
        search_resolution=SIZE,  # built as written (no compound scaling)
        transfer_from=str(parent_path),
        transfer_batch_norm_fill=fill,
    )
    child = build_model(config)
    gamma_parent, gamma_child, n = _grown_batch_norm(parent_gammas, child)
    np.testing.assert_array_equal(gamma_child[:n], gamma_parent)  # inherited
    expected = gamma_parent.mean() if fill == "parent_mean" else 1.0  # Keras' gamma init: 1
    np.testing.assert_allclose(gamma_child[n:], expected, rtol=1e-6)
