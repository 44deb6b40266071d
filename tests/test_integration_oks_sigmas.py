"""OKS sigmas have one owner: the keypoint description (posedata's `DatasetInfo`). Every other
copy, and what the app hands to the evaluation, must equal pycocotools' own floats bit for bit,
or COCO AP is not the official protocol's."""

import json
import zipfile

import numpy as np
from pycocotools.cocoeval import COCOeval

import cocoeval_tools
import posedata
from cocoeval_tools.oks import COCO_SIGMAS as COCOEVAL_TOOLS_SIGMAS
from evopose import keypoints


def _pycocotools_sigmas() -> np.ndarray:
    return COCOeval(iouType="keypoints").params.kpt_oks_sigmas


def _same_bits(values) -> bool:
    ours = np.asarray(values, dtype=np.float64)
    theirs = _pycocotools_sigmas()
    return ours.shape == theirs.shape and ours.tobytes() == theirs.tobytes()


def test_posedatas_coco_sigmas_are_pycocotools_bit_for_bit():
    assert _same_bits(posedata.COCO_PERSON.sigmas)


def test_every_known_set_with_cocos_keypoints_has_pycocotools_sigmas():
    for name in ("coco", "ochuman", "posetrack18"):
        assert _same_bits(posedata.keypoint_set(name).sigmas), name


def test_cocoeval_tools_default_sigmas_are_pycocotools_bit_for_bit():
    assert _same_bits(COCOEVAL_TOOLS_SIGMAS)
    assert _same_bits(cocoeval_tools.oks.resolve_sigmas(None, 17))


def test_crowdpose_sigmas_are_computed_as_the_crowdpose_api_computes_them():
    # crowdposetools: np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89,
    # .79, .79]) / 10.0
    tenths = np.array([0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89,
                       0.79, 0.79])  # fmt: skip
    ours = np.asarray(posedata.keypoint_set("crowdpose").sigmas, dtype=np.float64)
    assert ours.tobytes() == (tenths / 10.0).tobytes()


def test_a_description_stored_with_rounded_sigmas_reads_back_with_the_official_ones():
    # A manifest or model written with 0.026-style literals (the last bit differs for five
    # keypoints) must still be evaluated with pycocotools' sigmas.
    stored = posedata.COCO_PERSON.to_dict()
    stored["sigmas"] = [round(s, 3) for s in stored["sigmas"]]
    assert not _same_bits(stored["sigmas"])  # the drift this guards against is real
    read = posedata.DatasetInfo.from_dict(json.loads(json.dumps(stored)))
    assert _same_bits(read.sigmas)


def test_a_description_with_other_sigmas_keeps_them():
    stored = posedata.COCO_PERSON.to_dict()
    stored["sigmas"] = [0.05] * 17
    assert posedata.DatasetInfo.from_dict(stored).sigmas == (0.05,) * 17


def test_the_keypoint_description_a_model_carries_reads_back_with_pycocotools_sigmas(tmp_path):
    # What a trained COCO model carries in its .keras file (and eval passes to cocoeval-tools).
    archive = tmp_path / "model.keras"
    zipfile.ZipFile(archive, "w").close()
    keypoints.write_keras(archive, posedata.COCO_PERSON)
    assert _same_bits(keypoints.read_keras(archive).sigmas)
