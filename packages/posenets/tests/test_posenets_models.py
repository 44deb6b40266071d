"""Every family checked the same way: config round trip, `.keras` round trip, bfloat16."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import posenets
from posenets import ANCESTOR

# (registered name, create_model arguments): small inputs where building is cheap; HRNet at its
# paper size, shared with the size tests (its 978 layers make every build slow).
FAMILIES = {
    "evopose2d": {"genotype": ANCESTOR, "input_shape": (64, 48), "num_keypoints": 5},
    "simple_baseline_r50": {"input_shape": (64, 64), "num_keypoints": 5},
    "hrnet_w32": {},
}


@pytest.fixture
def family_model(built_model):
    return lambda name: built_model(name, **FAMILIES[name])


def images(model: keras.Model, batch: int = 2) -> np.ndarray:
    shape = (batch, *model.input_shape[1:])
    return np.random.default_rng(0).normal(size=shape).astype("float32")


@pytest.mark.parametrize("name", FAMILIES)
def test_config_round_trip_rebuilds_the_same_architecture(family_model, name):
    model = family_model(name)
    rebuilt = type(model).from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    assert [(w.path, w.shape) for w in rebuilt.weights] == [
        (w.path, w.shape) for w in model.weights
    ]


# HRNet's round trip through a file takes a minute on 2 cores; its class saves the same way.
@pytest.mark.parametrize("name", ["evopose2d", "simple_baseline_r50"])
def test_keras_file_round_trip_gives_identical_outputs(family_model, name, tmp_path):
    model = family_model(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    batch = images(model)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(batch, training=False)),
        keras.ops.convert_to_numpy(model(batch, training=False)),
    )


@pytest.mark.parametrize("name", FAMILIES)
def test_models_hold_no_lambda_layers(family_model, name):
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in family_model(name).layers)


@pytest.mark.parametrize("name", ["evopose2d", "simple_baseline_r50"])
def test_forward_pass_under_mixed_bfloat16(dtype_policy, name):
    with dtype_policy("mixed_bfloat16"):
        model = posenets.create_model(name, **FAMILIES[name])
    assert model.get_layer("stem_conv" if name == "evopose2d" else "conv1_conv").compute_dtype == (
        "bfloat16"
    )
    outputs = keras.ops.convert_to_numpy(model(images(model), training=False))
    assert outputs.dtype == np.float32  # the heatmap layer computes in float32
    assert outputs.shape == (2, *model.output_shape[1:])
    assert np.isfinite(outputs).all()


def test_a_few_training_steps_lower_the_loss(family_model):
    model = family_model("evopose2d")
    batch = images(model)
    targets = np.ones((2, *model.output_shape[1:]), "float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", run_eagerly=True)
    before = model.test_on_batch(batch, targets)
    for _ in range(3):
        model.train_on_batch(batch, targets)
    assert model.test_on_batch(batch, targets) < before


def test_simple_baseline_loads_backbone_weights_from_a_local_file(tmp_path):
    resnet = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3))
    path = tmp_path / "resnet50_notop.weights.h5"
    resnet.save_weights(path)
    model = posenets.create_model(
        "simple_baseline_r50", input_shape=(64, 64), backbone_weights=path
    )
    for name in ("conv1_conv", "conv5_block3_3_bn"):
        for ours, theirs in zip(
            model.get_layer(name).get_weights(), resnet.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(ours, theirs)
    assert "backbone_weights" not in model.get_config()  # the weights travel in the model file
