"""convert_coco: records, filtering, manifests, broken images and files, resuming."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import posedata
from posedata import DataError, convert_coco, read_manifest
from posedata.coco import sanitize_box
from posedata.records import parse_example


def _records(split_dir: Path) -> list[dict]:
    """Every example of a split folder, parsed to numpy."""
    files = sorted(str(p) for p in split_dir.glob("*.tfrecord"))
    out = []
    for serialized in tf.data.TFRecordDataset(files):
        ex = parse_example(serialized, 17)
        out.append({k: v.numpy() for k, v in ex.items()})
    return out


def _copy_synthetic(synthetic, tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    shutil.copytree(synthetic.val_images, images)
    annotations = tmp_path / "val.json"
    shutil.copy(synthetic.val_annotations, annotations)
    return annotations, images


def test_records_round_trip_the_annotations(synthetic, synthetic_shards):
    coco = json.loads(synthetic.train_annotations.read_text())
    sizes = {im["id"]: (im["height"], im["width"]) for im in coco["images"]}
    expected = {a["id"]: a for a in coco["annotations"] if any(v > 0 for v in a["keypoints"][2::3])}
    records = _records(synthetic_shards / "train")
    assert sorted(r["instance_id"] for r in records) == sorted(expected)
    for r in records:
        ann = expected[r["instance_id"]]
        height, width = sizes[ann["image_id"]]
        assert r["image_id"] == ann["image_id"]
        assert tuple(r["image_size"]) == (height, width)
        np.testing.assert_allclose(r["keypoints"].ravel(), ann["keypoints"], atol=1e-4)
        np.testing.assert_allclose(r["box"], sanitize_box(ann["bbox"], width, height), atol=1e-4)
        assert r["score"] == 1.0
        image = tf.io.decode_jpeg(r["jpeg"]).numpy()
        file_name = f"{ann['image_id']:012d}.jpg"
        assert r["jpeg"] == (synthetic.train_images / file_name).read_bytes()
        assert image.shape == (height, width, 3)


def test_keypoints_keep_sub_pixel_precision(synthetic_shards):
    keypoints = np.concatenate([r["keypoints"] for r in _records(synthetic_shards / "train")])
    xy = keypoints[keypoints[:, 2] > 0, :2]
    assert np.abs(xy - np.round(xy)).max() > 0.1


def test_shards_hold_shard_size_examples_in_order(synthetic_shards):
    manifest = read_manifest(synthetic_shards / "train")
    counts = [s["examples"] for s in manifest["shards"]]
    assert all(c == 8 for c in counts[:-1]) and 0 < counts[-1] <= 8
    assert sum(counts) == manifest["counts"]["examples"]
    names = [s["file"] for s in manifest["shards"]]
    assert names[0] == f"train-00000-of-{len(names):05d}.tfrecord"
    assert sorted(p.name for p in (synthetic_shards / "train").iterdir()) == sorted(
        [*names, "manifest.json"]
    )
    ids = [(r["image_id"], r["instance_id"]) for r in _records(synthetic_shards / "train")]
    assert ids == sorted(ids)


def test_manifest_describes_the_split(synthetic, synthetic_shards):
    manifest = read_manifest(synthetic_shards / "val")
    assert manifest["split"] == "val"
    assert manifest["num_keypoints"] == 17
    assert manifest["keypoint_names"] == list(posedata.COCO_PERSON.keypoint_names)
    assert manifest["flip_pairs"][0] == [1, 2]
    assert manifest["dataset_info"] == posedata.COCO_PERSON.to_dict()
    assert manifest["sources"]["annotation_file"] == str(synthetic.val_annotations)
    assert manifest["sources"]["image_dir"] == str(synthetic.val_images)
    counts = manifest["counts"]
    total = len(json.loads(synthetic.val_annotations.read_text())["annotations"])
    assert counts["instances_considered"] == total
    assert counts["examples"] + counts["skipped_instances"] == total
    assert counts["skipped_instances"] == len(manifest["skipped_instances"])


def test_real_sample_skips_the_two_instances_without_keypoints(coco_mini, tmp_path):
    manifest = convert_coco(coco_mini / "test_coco.json", coco_mini, tmp_path, split="train")
    assert manifest["counts"]["examples"] == 12
    assert manifest["counts"]["skipped_by_reason"] == {"no_keypoints": 2}
    skipped = {(s["image_id"], s["reason"]) for s in manifest["skipped_instances"]}
    assert skipped == {(40083, "no_keypoints"), (196141, "no_keypoints")}
    records = _records(tmp_path / "train")
    assert len(records) == 12
    edge = next(r for r in records if r["instance_id"] != 0 and r["box"][0] == 0.5)
    assert edge["image_id"] == 197388  # the box [0.5, 43.74, 90.1, 220.09] stays inside


def test_filtering_skips_crowds_empty_and_zero_area_and_clips_boxes(make_coco, tmp_path, dots):
    keypoints = [10.0, 10.0, 2] + [0.0] * 48
    anns = [
        make_coco.annotation(1, 1, [-20.0, 5.0, 60.0, 300.0], keypoints),  # clipped
        make_coco.annotation(2, 1, [10.0, 10.0, 20.0, 20.0], keypoints) | {"iscrowd": 1},
        make_coco.annotation(3, 1, [10.0, 10.0, 20.0, 20.0], [0.0] * 51),
        make_coco.annotation(4, 1, [300.0, 10.0, 20.0, 20.0], keypoints),  # outside: no area
        make_coco.annotation(5, 1, [10.0, 10.0, 0.0, 20.0], keypoints),
    ]
    image = {"id": 1, "file_name": "dots.jpg", "height": 180, "width": 220}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(make_coco.file([image], anns)))
    manifest = convert_coco(path, dots.images, tmp_path / "out", split="train")
    reasons = {s["instance_id"]: s["reason"] for s in manifest["skipped_instances"]}
    assert reasons == {2: "crowd", 3: "no_keypoints", 4: "zero_area", 5: "zero_area"}
    (record,) = _records(tmp_path / "out" / "train")
    np.testing.assert_allclose(record["box"], [0.0, 5.0, 40.0, 174.0])


def test_detections_carry_their_scores_and_the_threshold_applies(synthetic, synthetic_shards):
    detections = json.loads(synthetic.val_detections.read_text())
    kept = {i: d for i, d in enumerate(detections) if d["score"] >= 0.3}
    records = _records(synthetic_shards / "val-dets")
    assert sorted(r["instance_id"] for r in records) == sorted(kept)
    for r in records:
        det = kept[r["instance_id"]]
        assert r["score"] == pytest.approx(det["score"])
        assert r["image_id"] == det["image_id"]
        assert not r["keypoints"].any()
    manifest = read_manifest(synthetic_shards / "val-dets")
    low = sum(1 for d in detections if d["score"] < 0.3)
    assert manifest["counts"]["skipped_by_reason"].get("low_score", 0) == low
    assert manifest["options"]["det_score_threshold"] == 0.3
    assert manifest["sources"]["detections"] == str(synthetic.val_detections)


def test_real_detections_are_converted_with_scores(coco_mini, tmp_path):
    manifest = convert_coco(
        coco_mini / "test_coco.json",
        coco_mini,
        tmp_path,
        split="val-dets",
        detections=coco_mini / "test_coco_det_AP_H_56.json",
    )
    assert manifest["counts"]["examples"] == 118
    scores = sorted(r["score"] for r in _records(tmp_path / "val-dets"))
    detections = json.loads((coco_mini / "test_coco_det_AP_H_56.json").read_text())
    np.testing.assert_allclose(scores, sorted(d["score"] for d in detections), rtol=1e-6)


def test_broken_images_are_skipped_listed_and_counted(synthetic, tmp_path):
    annotations, images = _copy_synthetic(synthetic, tmp_path)
    files = sorted(images.iterdir())
    data = files[0].read_bytes()
    files[0].write_bytes(data[:200] + os.urandom(len(data) // 2) + b"\xff\xd9")  # corrupt
    files[1].write_bytes(files[1].read_bytes()[: len(data) // 2])  # truncated
    files[2].unlink()  # missing
    files[3].write_bytes(b"\x89PNG\r\n\x1a\n" + data[8:])  # not a JPEG
    coco = json.loads(annotations.read_text())
    coco["images"][4]["height"] += 1  # size disagrees with the annotation
    annotations.write_text(json.dumps(coco))

    manifest = convert_coco(annotations, images, tmp_path / "out", split="val", shard_size=3)
    reasons = {s["file_name"]: s["reason"] for s in manifest["skipped_images"]}
    assert reasons == {
        files[0].name: "image_corrupt",
        files[1].name: "image_truncated",
        files[2].name: "image_missing",
        files[3].name: "image_not_jpeg",
        coco["images"][4]["file_name"]: "image_size_mismatch",
    }
    assert all(s["detail"] for s in manifest["skipped_images"])
    bad_ids = {s["image_id"] for s in manifest["skipped_images"]}
    with_keypoints = [a for a in coco["annotations"] if any(v > 0 for v in a["keypoints"][2::3])]
    lost = [a for a in with_keypoints if a["image_id"] in bad_ids]
    assert manifest["counts"]["skipped_images"] == 5
    by_reason = manifest["counts"]["skipped_by_reason"]
    assert sum(v for k, v in by_reason.items() if k.startswith("image_")) == len(lost)
    records = _records(tmp_path / "out" / "val")
    assert len(records) == len(with_keypoints) - len(lost) == manifest["counts"]["examples"]
    assert not {r["image_id"] for r in records} & bad_ids


def test_check_jpeg_accepts_a_good_image_and_names_problems(dots):
    data = (dots.images / "dots.jpg").read_bytes()
    assert posedata.check_jpeg(data, 180, 220) is None
    assert posedata.check_jpeg(data[:1000], 180, 220)[0] == "image_truncated"
    assert posedata.check_jpeg(data, 181, 220)[0] == "image_size_mismatch"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"annotations": [], "categories": []}', "no 'images' list"),
        (
            '{"images": [], "annotations": [], "categories": [{"id": 1, "name": "cat"}]}',
            "one category with 'keypoints', found 0",
        ),
    ],
)
def test_malformed_annotation_file_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as caught:
        convert_coco(path, tmp_path, tmp_path / "out", split="train")
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("keypoints", [1.0, 2.0, 2], "'keypoints' must be a list of 51 numbers, got 3"),
        ("bbox", [1.0, "x", 3.0, 4.0], "'bbox' must hold finite numbers"),
        ("image_id", 99, "image_id 99 is not in the file's 'images'"),
        ("id", "seven", "'id' must be an integer"),
    ],
)
def test_malformed_annotation_names_the_entry(make_coco, tmp_path, field, value, message):
    ann = make_coco.annotation(7, 1, [1.0, 1.0, 5.0, 5.0], [1.0, 1.0, 2] + [0.0] * 48)
    ann[field] = value
    image = {"id": 1, "file_name": "a.jpg", "height": 10, "width": 10}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(make_coco.file([image], [ann])))
    with pytest.raises(DataError, match="annotation 0") as caught:
        convert_coco(path, tmp_path, tmp_path / "out", split="train")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_annotation_file_and_bad_arguments_are_data_errors(tmp_path, dots):
    with pytest.raises(DataError, match="no such file"):
        convert_coco(tmp_path / "nope.json", tmp_path, tmp_path / "out", split="train")
    with pytest.raises(DataError, match="split 'test'"):
        convert_coco(dots.annotations, dots.images, tmp_path, split="test")
    with pytest.raises(DataError, match="detections must be given"):
        convert_coco(dots.annotations, dots.images, tmp_path, split="val-dets")


def test_dataset_info_must_match_the_annotation_files_keypoints(dots, tmp_path):
    other = posedata.DatasetInfo(("a", "b"), (), (0,), (), (0.05, 0.05), name="two")
    with pytest.raises(DataError, match="17 keypoints, dataset_info 'two' has 2"):
        convert_coco(dots.annotations, dots.images, tmp_path, split="train", dataset_info=other)


def test_detections_of_another_split_are_a_data_error(dots, tmp_path):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 5, "bbox": [1, 1, 5, 5], "score": 0.9}]))
    with pytest.raises(DataError, match="none of its image ids"):
        convert_coco(dots.annotations, dots.images, tmp_path, split="val-dets", detections=path)


class Interrupted(Exception):
    pass


def test_interrupted_writing_resumes_and_matches_an_uninterrupted_run(synthetic, tmp_path):
    args = (synthetic.train_annotations, synthetic.train_images)

    def stop_after_two(done, total):
        if done == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        convert_coco(*args, tmp_path / "a", split="train", shard_size=3, progress=stop_after_two)
    split_dir = tmp_path / "a" / "train"
    written = sorted(split_dir.glob("*.tfrecord"))
    assert len(written) == 2 and not (split_dir / "manifest.json").exists()
    mtimes = [p.stat().st_mtime_ns for p in written]
    stray = split_dir / f".{written[-1].name.replace('00001', '00002')}.partial"
    stray.write_bytes(b"half a shard")  # as if killed while writing the third shard

    calls = []
    manifest = convert_coco(
        *args, tmp_path / "a", split="train", shard_size=3, progress=lambda d, t: calls.append(d)
    )
    assert calls[0] == 2  # it started from the two finished shards
    assert [p.stat().st_mtime_ns for p in written] == mtimes
    assert not list(split_dir.glob(".*"))
    clean = convert_coco(*args, tmp_path / "b", split="train", shard_size=3)
    assert manifest["counts"] == clean["counts"] and manifest["shards"] == clean["shards"]
    for shard in clean["shards"]:
        a, b = split_dir / shard["file"], tmp_path / "b" / "train" / shard["file"]
        assert a.read_bytes() == b.read_bytes()


def test_finished_conversion_is_not_redone_and_other_input_needs_overwrite(dots, tmp_path):
    first = convert_coco(dots.annotations, dots.images, tmp_path, split="train")
    shard = tmp_path / "train" / first["shards"][0]["file"]
    mtime = shard.stat().st_mtime_ns
    again = convert_coco(dots.annotations, dots.images, tmp_path, split="train")
    assert again == first and shard.stat().st_mtime_ns == mtime
    with pytest.raises(DataError, match="overwrite=True"):
        convert_coco(dots.annotations, dots.images, tmp_path, split="train", shard_size=5)
    replaced = convert_coco(
        dots.annotations, dots.images, tmp_path, split="train", shard_size=5, overwrite=True
    )
    assert replaced["options"]["shard_size"] == 5
