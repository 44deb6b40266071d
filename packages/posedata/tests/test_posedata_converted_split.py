"""`ConvertedSplit`: a converted split's manifest read once, checked, typed; the pipeline takes
it where it takes a folder; the split's ground truth is kept beside the shards."""

import dataclasses
import json
import shutil

import pytest
import tensorflow as tf

import posedata
from posedata import ConvertedSplit, DataError


def test_open_exposes_the_manifest_as_typed_fields(synthetic, synthetic_shards):
    split = ConvertedSplit.open(synthetic_shards / "train")
    manifest = posedata.read_manifest(synthetic_shards / "train")
    assert split.split == "train"
    assert split.folder == str(synthetic_shards / "train")
    assert split.dataset_info == posedata.COCO_PERSON
    assert split.num_keypoints == 17
    assert split.examples == manifest["counts"]["examples"] == sum(s.examples for s in split.shards)
    assert split.shard_paths == tuple(
        str(synthetic_shards / "train" / s["file"]) for s in manifest["shards"]
    )
    assert all(tf.io.gfile.exists(path) for path in split.shard_paths)
    assert split.counts.skipped_instances == manifest["counts"]["skipped_instances"]
    assert split.category_id == 1
    assert split.annotation_file == str(synthetic.train_annotations)
    assert split.detections is None and split.ground_truth is None  # train: no ground truth
    assert ConvertedSplit.open(synthetic_shards / "train" / "manifest.json") == split
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.split = "val"  # type: ignore[misc]


def test_evaluated_splits_keep_their_compact_ground_truth_beside_the_shards(
    synthetic, synthetic_shards
):
    original = json.loads(synthetic.val_annotations.read_text())
    for name in ("val", "val-dets"):
        split = ConvertedSplit.open(synthetic_shards / name)
        assert split.ground_truth == str(synthetic_shards / name / "ground_truth.json")
        with tf.io.gfile.GFile(split.ground_truth) as f:
            truth = json.loads(f.read())
        assert [c["id"] for c in truth["categories"]] == [split.category_id]
        assert sorted(i["id"] for i in truth["images"]) == sorted(
            i["id"] for i in original["images"]
        )
        expected = [
            {k: v for k, v in a.items() if k != "segmentation"}
            for a in original["annotations"]
            if a["category_id"] == split.category_id
        ]
        assert truth["annotations"] == expected
    assert ConvertedSplit.open(synthetic_shards / "val-dets").detections == str(
        synthetic.val_detections
    )


def _broken(tmp_path, synthetic_shards, change):
    folder = tmp_path / "val"
    shutil.copytree(synthetic_shards / "val", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (lambda m: m.pop("split"), "split", "no 'split' key"),
        (lambda m: m["counts"].pop("examples"), "counts.examples", "no 'counts.examples' key"),
        (
            lambda m: m["counts"].update(examples="12"),
            "counts.examples",
            "'counts.examples' must be an integer",
        ),
        (lambda m: m.update(shards={}), "shards", "'shards' must be a list"),
        (
            lambda m: m["shards"][0].update(file=3),
            "shards[0].file",
            "'shards[0].file' must be a string",
        ),
        (
            lambda m: m["options"].update(category_id=None),
            "options.category_id",
            "'options.category_id' must be an integer",
        ),
        (lambda m: m.update(num_keypoints=16), "num_keypoints", "'num_keypoints' is 16"),
    ],
)
def test_a_missing_or_mistyped_key_is_one_line_naming_the_file_and_the_key(
    tmp_path, synthetic_shards, change, key, problem
):
    folder = _broken(tmp_path, synthetic_shards, change)
    with pytest.raises(DataError) as error:
        ConvertedSplit.open(folder)
    message = str(error.value)
    assert message.startswith(f"manifest {folder / 'manifest.json'}: ")
    assert key in message and problem in message and "\n" not in message


def test_a_split_converted_before_ground_truth_was_kept_still_opens(tmp_path, synthetic_shards):
    folder = _broken(tmp_path, synthetic_shards, lambda m: m.pop("ground_truth"))
    (folder / "ground_truth.json").unlink()
    assert ConvertedSplit.open(folder).ground_truth is None


def test_a_missing_manifest_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"manifest .*manifest\.json: no such file"):
        ConvertedSplit.open(tmp_path)


def test_the_pipeline_takes_a_converted_split_and_reads_no_manifest(synthetic_shards, tmp_path):
    split = ConvertedSplit.open(synthetic_shards / "val")
    by_folder = posedata.prediction_batches(
        synthetic_shards / "val", input_size=(64, 48), batch_size=4
    )
    # The manifest is gone: the split object is all the pipeline reads about the split.
    copy = tmp_path / "val"
    shutil.copytree(synthetic_shards / "val", copy)
    moved = dataclasses.replace(
        split,
        folder=str(copy),
        shards=tuple(
            dataclasses.replace(s, path=str(copy / s.path.rsplit("/", 1)[1])) for s in split.shards
        ),
    )
    (copy / "manifest.json").unlink()
    by_split = posedata.prediction_batches(moved, input_size=(64, 48), batch_size=4)
    ids = [b["instance_id"].numpy().tolist() for b in by_folder]
    assert [b["instance_id"].numpy().tolist() for b in by_split] == ids
    with pytest.raises(DataError, match="detector boxes without keypoints"):
        posedata.validation_batches(
            ConvertedSplit.open(synthetic_shards / "val-dets"),
            input_size=(64, 48),
            heatmap_size=(16, 12),
            batch_size=4,
        )


def test_a_split_copied_to_another_filesystem_opens_and_reads_there(synthetic_shards):
    target = "ram://posedata-converted-split/val"
    tf.io.gfile.makedirs(target)
    for name in tf.io.gfile.listdir(str(synthetic_shards / "val")):
        tf.io.gfile.copy(str(synthetic_shards / "val" / name), f"{target}/{name}", overwrite=True)
    split = ConvertedSplit.open(target)
    assert split.folder == target
    assert split.ground_truth == f"{target}/ground_truth.json"
    assert all(path.startswith(f"{target}/") for path in split.shard_paths)
    batches = posedata.prediction_batches(split, input_size=(64, 48), batch_size=4)
    assert sum(int(b["mask"].numpy().sum()) for b in batches) == split.examples
