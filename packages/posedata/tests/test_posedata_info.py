"""DatasetInfo: keypoint metadata as plain data, flip indices derived from the flip pairs."""

import json

import pytest

import posedata
from posedata import COCO_PERSON, DataError, DatasetInfo

SPEC_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def test_coco_flip_indices_are_the_spec_list():
    assert list(COCO_PERSON.flip_indices) == SPEC_FLIP


def test_coco_upper_body_is_keypoints_0_to_10_and_lower_body_the_rest():
    assert COCO_PERSON.upper_body == tuple(range(11))
    assert COCO_PERSON.lower_body == tuple(range(11, 17))


def test_coco_sigmas_are_the_coco_evaluation_sigmas():
    assert COCO_PERSON.sigmas[0] == pytest.approx(0.026)
    assert COCO_PERSON.sigmas[11] == pytest.approx(0.107)
    assert len(COCO_PERSON.sigmas) == COCO_PERSON.num_keypoints == 17


def test_real_coco_category_gives_coco_person(coco_mini):
    category = json.loads((coco_mini / "test_coco.json").read_text())["categories"][0]
    info = DatasetInfo.from_coco_category(category)
    assert info == COCO_PERSON
    assert info.skeleton[0] == (15, 13)  # the file's 1-based [16, 14]


def test_other_category_pairs_left_and_right_by_name_and_finds_the_upper_body():
    category = {
        "name": "hand-and-foot",
        "keypoints": ["head", "l_hand", "r_hand", "left_foot", "right_foot", "tail"],
        "skeleton": [[1, 2], [1, 3]],
    }
    info = DatasetInfo.from_coco_category(category)
    assert info.flip_pairs == ((1, 2), (3, 4))
    assert info.flip_indices == (0, 2, 1, 4, 3, 5)
    assert info.upper_body == (0, 1, 2)
    assert info.skeleton == ((0, 1), (0, 2))
    assert info.sigmas == (0.05,) * 6


def test_dict_round_trip_keeps_everything():
    assert DatasetInfo.from_dict(COCO_PERSON.to_dict()) == COCO_PERSON


def test_description_file_is_read(tmp_path):
    path = tmp_path / "desc.json"
    path.write_text(json.dumps({"keypoint_names": ["a", "b"], "flip_pairs": [], "upper_body": [0]}))
    info = DatasetInfo.from_json(str(path))
    assert info.keypoint_names == ("a", "b")
    assert info.flip_indices == (0, 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"flip_pairs": ((0, 17),)}, "flip pair"),
        ({"flip_pairs": ((1, 2), (2, 3))}, "two flip pairs"),
        ({"sigmas": (0.1,) * 3}, "sigmas"),
        ({"upper_body": (40,)}, "upper-body"),
        ({"keypoint_names": ("a",) * 17}, "repeat"),
    ],
)
def test_inconsistent_description_is_a_data_error(change, message):
    fields = COCO_PERSON.to_dict() | {k: list(v) for k, v in change.items()}
    with pytest.raises(DataError, match=message):
        DatasetInfo.from_dict(fields)


def test_description_missing_a_field_names_what_is_needed():
    with pytest.raises(DataError, match="needs keypoint_names, flip_pairs and upper_body"):
        DatasetInfo.from_dict({"keypoint_names": ["a"]})


# --- known keypoint sets (issue 14) ---------------------------------------------------------

CROWDPOSE_FILE_CATEGORY = {  # as CrowdPose's own annotation files have it: COCO's skeleton
    "id": 1,
    "name": "person",
    "supercategory": "person",
    "keypoints": [
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
        "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle", "head", "neck",
    ],
    "skeleton": [
        [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
        [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "count", "first_sigma"),
    [
        ("coco", 17, 0.026),
        ("crowdpose", 14, 0.079),
        ("aic", 14, 0.01388152),
        ("mpii", 16, 0.089),
        ("posetrack18", 17, 0.026),
        ("ochuman", 17, 0.026),
    ],
)
def test_known_sets_by_name_have_their_official_sigmas(name, count, first_sigma):
    info = posedata.keypoint_set(name.upper())
    assert info.num_keypoints == count == len(info.sigmas)
    assert info.sigmas[0] == pytest.approx(first_sigma)
    assert not info.default_sigmas
    for a, b in info.flip_pairs:  # every pair is a left and a right of the same part
        left, right = info.keypoint_names[a], info.keypoint_names[b]
        assert left.startswith("left_") and right == "right_" + left[len("left_") :]


def test_crowdpose_sigmas_are_the_crowdpose_api_ones():
    api = [0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89, 0.79, 0.79]
    assert posedata.CROWDPOSE.sigmas == pytest.approx([s / 10 for s in api])
    assert posedata.CROWDPOSE.flip_indices == (1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13)


def test_posetrack_flip_never_swaps_head_bottom_and_head_top():
    info = posedata.POSETRACK18
    bottom, top = info.keypoint_names.index("head_bottom"), info.keypoint_names.index("head_top")
    assert info.flip_indices[bottom] == bottom and info.flip_indices[top] == top
    assert info.flip_indices[3] == 4  # left_ear <-> right_ear


def test_unknown_set_name_lists_the_known_ones():
    with pytest.raises(DataError, match="crowdpose, aic, mpii"):
        posedata.keypoint_set("halpe")


def test_crowdpose_file_category_is_crowdpose_with_its_skeleton_repaired(caplog):
    info = DatasetInfo.from_coco_category(
        CROWDPOSE_FILE_CATEGORY, source="annotation file crowdpose_val.json"
    )
    assert info == posedata.CROWDPOSE
    assert info.name == "crowdpose"
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "crowdpose_val.json" in warning and "skeleton" in warning


def test_skeleton_of_an_unknown_set_that_does_not_fit_is_dropped_with_a_warning(caplog):
    category = {"name": "thing", "keypoints": ["a", "b"], "skeleton": [[1, 3]]}
    info = DatasetInfo.from_coco_category(category, source="annotation file t.json")
    assert info.skeleton == ()
    assert "t.json: categories['thing'].skeleton" in caplog.text


def test_default_sigmas_of_an_unknown_set_are_said_in_one_warning(caplog):
    category = {"name": "thing", "keypoints": ["a", "left_b", "right_b"]}
    info = DatasetInfo.from_coco_category(category, source="annotation file t.json")
    assert info.default_sigmas and info.flip_pairs == ((1, 2),)
    warnings = [r for r in caplog.records if "sigmas default" in r.getMessage()]
    assert len(warnings) == 1 and "not comparable" in warnings[0].getMessage()


def test_coco_category_gives_no_warning(caplog):
    category = {"name": "person", "keypoints": list(COCO_PERSON.keypoint_names)}
    assert DatasetInfo.from_coco_category(category) is COCO_PERSON
    assert not caplog.records
