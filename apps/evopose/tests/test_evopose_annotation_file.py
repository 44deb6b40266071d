"""Evaluation reaches the annotation file a split was converted from even when the dataset has
moved: the stored absolute path, else the file's name in data.root or data.root/annotations/."""

from pathlib import Path

import pytest

from evopose.config import config_from_dict
from evopose.errors import ConfigFileError
from evopose.evaluation import _annotations


def _config(root, **eval_section):
    return config_from_dict(
        {"model": {"name": "evopose2d_s"}, "data": {"root": str(root)}, "eval": eval_section},
        source="run.yaml",
    )


def test_the_stored_path_is_used_while_it_exists(tmp_path):
    stored = tmp_path / "coco" / "annotations" / "person_keypoints_val2017.json"
    stored.parent.mkdir(parents=True)
    stored.write_text("{}")
    assert _annotations(_config(tmp_path / "data"), str(stored)) == str(stored)


@pytest.mark.parametrize("where", [".", "annotations"])
def test_a_moved_dataset_finds_the_file_by_name_in_its_data_root(tmp_path, where):
    gone = tmp_path / "elsewhere" / "person_keypoints_val2017.json"  # another machine's path
    root = tmp_path / "data"
    copy = root / where / gone.name
    copy.parent.mkdir(parents=True)
    copy.write_text("{}")
    assert Path(_annotations(_config(root), str(gone))).resolve() == copy.resolve()


def test_a_file_found_nowhere_is_one_line_naming_the_key_and_the_places(tmp_path):
    gone = tmp_path / "elsewhere" / "val.json"
    with pytest.raises(ConfigFileError) as error:
        _annotations(_config(tmp_path), str(gone))
    message = str(error.value)
    assert message.startswith("run.yaml: eval.annotations is not set")
    assert "'val.json' or 'annotations/val.json'" in message and "\n" not in message


def test_eval_annotations_wins_and_must_exist(tmp_path):
    given = tmp_path / "mine.json"
    given.write_text("{}")
    assert _annotations(_config(tmp_path, annotations=str(given)), "x") == str(given)
    with pytest.raises(ConfigFileError, match=r"eval\.annotations: no such file"):
        _annotations(_config(tmp_path, annotations=str(tmp_path / "no.json")), "x")
