"""`evopose import-weights`: an EvoPose2D file in the layout the authors released, imported as a
.keras model that info, predict and a fine-tuning run (`model.transfer_from`) take."""

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

import posenets
from evopose.cli import main
from evopose.config import ModelSection
from evopose.models import build_model, load_model

# posenets' test helper that writes the authors' Keras 2 HDF5 layout (one writer for both suites)
LEGACY_WRITER = Path(__file__).resolve().parents[3] / "packages/posenets/tests/legacy_h5.py"


def _legacy_writer():
    spec = importlib.util.spec_from_file_location("legacy_h5", LEGACY_WRITER)
    module = sys.modules["legacy_h5"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def published_layout_file(tmp_path_factory):
    """EvoPose2D-S at 64x48 with random weights, in the authors' file layout."""
    writer = _legacy_writer()
    keras.utils.set_random_seed(0)
    network = posenets.EvoPose2D(posenets.EVOPOSE2D_S, (64, 48))
    writer.randomize(network)
    path = tmp_path_factory.mktemp("published") / "evopose2d_S_f32.h5"
    writer.write_legacy_h5(path, writer.authors_layout(network))
    return path, network


def test_imported_model_works_with_info_predict_and_as_a_fine_tuning_parent(
    published_layout_file, tmp_path, capsys
):
    source, network = published_layout_file
    out = tmp_path / "models" / "evopose2d_s_imported.keras"
    assert main(["import-weights", str(source), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "evopose2d_S_f32.h5: evopose2d 64x48x3, 17 keypoints, output stride 2" in printed
    assert f"written: {out}" in printed
    assert [path.name for path in out.parent.iterdir()] == [out.name]  # no temporary left

    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert f"imported from: evopose2d_S_f32.h5 (sha256 {sha256})" in info
    assert "32x24x17" in info

    images = np.random.default_rng(0).normal(size=(1, 64, 48, 3)).astype(np.float32)
    expected = np.asarray(network(images, training=False))
    np.testing.assert_array_equal(np.asarray(load_model(out)(images, training=False)), expected)

    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.random.default_rng(1).integers(0, 255, (160, 120, 3), np.uint8))
    assert main(["predict", "--weights", str(out), str(photo), "--out", str(tmp_path / "p")]) == 0
    poses = json.loads((tmp_path / "p" / "keypoints.json").read_text())
    assert poses and "photo.jpg" in json.dumps(poses)

    child = build_model(ModelSection("evopose2d_s", (64, 48), transfer_from=str(out)))
    np.testing.assert_array_equal(np.asarray(child(images, training=False)), expected)


def test_import_weights_user_errors_are_one_line_and_write_nothing(
    published_layout_file, tmp_path, capsys
):
    out = tmp_path / "out.keras"
    assert main(["import-weights", str(tmp_path / "absent.h5"), "--out", str(out)]) == 2
    assert "evopose: error: legacy model file" in capsys.readouterr().err
    assert main(["import-weights", str(published_layout_file[0]), "--out", "x.h5"]) == 2
    assert "end it in .keras" in capsys.readouterr().err
    broken = tmp_path / "broken.h5"
    broken.write_bytes(published_layout_file[0].read_bytes()[:4096])
    assert main(["import-weights", str(broken), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("evopose: error: broken.h5: not a readable HDF5 file")
    assert error.count("\n") == 1
    assert list(tmp_path.iterdir()) == [broken]
