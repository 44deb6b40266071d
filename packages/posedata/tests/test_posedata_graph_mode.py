"""posedata's TensorFlow code in graph mode, with oneDNN's graph rewrites forced on and off.

TensorFlow 2.21's Grappler remapper miscompiled the crop transform wherever oneDNN is on by
default (tensorflow issue 60941's class): eager results were right, `tf.function` and `tf.data`
were not. `TF_ENABLE_ONEDNN_OPTS` is read at import, so `graph_checks.py` runs in a fresh
process per setting, whatever this CPU's default is.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import posedata
from posedata.graphcheck import reference_crop_transform

SCRIPT = Path(__file__).with_name("graph_checks.py")
PX = 0.01  # input pixels


@pytest.fixture(scope="module", params=["1", "0"], ids=["onednn-on", "onednn-off"])
def report(request, synthetic_shards) -> dict:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": request.param, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(synthetic_shards / "train")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_crop_geometry_matches_the_float64_reference_in_every_mode(report):
    errors = report["geometry"]
    assert {key.split()[0] for key in errors} == {"eager", "tf.function", "tf.data"}
    assert max(errors.values()) < PX, errors


def test_training_pipeline_puts_heatmap_peaks_on_the_reference_cells(report):
    pipeline = report["pipeline"]
    assert pipeline["keypoints checked"] > 200
    assert pipeline["wrong cells"] == 0, pipeline
    assert pipeline["wrong valid"] == 0, pipeline


def test_every_tf_function_gives_the_same_result_eager_and_in_graph(report):
    differences = report["eager vs graph"]
    assert max(differences.values()) < 1e-3, differences


def test_eager_vs_graph_covers_every_public_tensorflow_function_of_posedata(report):
    not_tensorflow = {  # plain Python / NumPy / file work, nothing for Grappler to rewrite
        "augment_problem",  # plain Python: the augmentation settings' bounds
        "check_jpeg",
        "convert_coco",
        "make_synthetic_coco",
        "read_manifest",
        "heatmap_sigma",
        "keypoint_set",  # keypoint descriptions: plain data
        "find_keypoint_set",
        "check_graph_geometry",  # runs graph code itself; tested below
        "make_dataset",  # the pipeline test above runs it in graph mode
        "training_batches",  # make_dataset by purpose (mode "train", "val", "predict")
        "validation_batches",
        "prediction_batches",
        "crop_jpeg",  # tf.functions over crop_transform + crop_image (held to the pipeline)
        "crop_pixels",  # a tf.function over crop_transform + warp_image
    }
    functions = {
        name
        for name in posedata.__all__
        if callable(getattr(posedata, name)) and not isinstance(getattr(posedata, name), type)
    }
    assert functions - not_tensorflow - set(report["eager vs graph"]) == set()


def test_tripwire_passes_on_the_fixed_geometry(report):
    assert report["tripwire"]["passes"] is True


def test_tripwire_stops_the_pre_fix_geometry_where_tensorflow_miscompiles_it(report):
    tripwire = report["tripwire"]
    if not tripwire["bug reproduces"]:
        assert tripwire["old geometry stopped"] is None  # nothing miscompiled, nothing stopped
        pytest.skip("this TensorFlow/CPU/setting does not miscompile the pre-fix geometry")
    message = tripwire["old geometry stopped"]
    assert message is not None
    assert "TF_ENABLE_ONEDNN_OPTS=0" in message and "60941" in message
    assert "\n" not in message


def test_reference_transform_maps_the_box_centre_to_the_input_centre():
    matrix = reference_crop_transform(np.array([10.0, 20.0, 30.0, 80.0]), (64, 48))
    assert np.allclose(matrix @ [25.0, 60.0, 1.0], [23.5, 31.5])
    # 80 px of box height (x 1.25 padding) fill the 64-pixel input height.
    assert np.isclose(np.hypot(*matrix[:, 1]), 64 / (80 * 1.25))


def test_geometry_check_passes_in_this_process():
    assert posedata.check_graph_geometry() < PX


def test_graph_code_never_unstacks_or_splits_a_tensor():
    """Multi-output nodes are what the remapper confused; posedata's graph code uses slices."""
    source = Path(posedata.__file__).parent
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(source.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if any(call in line for call in ("tf.unstack(", "tf.split(", "tf.raw_ops.Unpack("))
    ]
    assert offenders == []


def test_geometry_check_runs_while_a_tf_function_is_traced():
    import tensorflow as tf

    @tf.function
    def traced() -> tf.Tensor:
        error = posedata.check_graph_geometry()  # lifted out of the graph being built
        return tf.constant(error)

    assert float(traced()) < PX
