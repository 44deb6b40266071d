"""DatasetInfo: keypoint metadata as plain data, flip indices derived from the flip pairs."""

import json

import pytest

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
