"""make_dataset: crops, augmentation, heatmap targets, prediction batches."""

import json

import cv2
import numpy as np
import pytest
import tensorflow as tf

from posedata import (
    COCO_PERSON,
    AugmentConfig,
    DataError,
    DatasetInfo,
    convert_coco,
    crop_transform,
    invert_transform,
    make_dataset,
    read_manifest,
)
from posedata.augment import draw_augmentation
from posedata.crops import crop_image, warp_image
from posedata.records import parse_example

SMALL = {"input_size": (64, 48), "heatmap_size": (16, 12)}
LEFT_WRIST, RIGHT_WRIST, NOSE = 9, 10, 0


def _first(dataset):
    return tf.nest.map_structure(lambda t: t.numpy(), next(iter(dataset)))


def _dots_example(dots):
    (serialized,) = list(tf.data.TFRecordDataset(sorted(map(str, dots.shards.glob("*.tfrecord")))))
    return parse_example(serialized, 17)


def test_train_batches_have_static_shapes_and_spec_layout(synthetic_shards):
    ds = make_dataset(synthetic_shards / "train", mode="train", batch_size=4, seed=0, **SMALL)
    images, heatmaps, valid = ds.element_spec
    assert images.shape == (4, 64, 48, 3) and images.dtype == tf.float32
    assert heatmaps.shape == (4, 16, 12, 17) and valid.shape == (4, 17)
    count = read_manifest(synthetic_shards / "train")["counts"]["examples"]
    assert sum(1 for _ in ds) == count // 4  # full batches only


def test_images_are_imagenet_normalised(synthetic_shards):
    images, _, _ = _first(make_dataset(synthetic_shards / "val", mode="val", batch_size=4, **SMALL))
    low = (0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    high = (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    assert (images >= low - 1e-5).all() and (images <= high + 1e-5).all()
    assert images.std() > 0.3


def test_bfloat16_output(synthetic_shards):
    ds = make_dataset(
        synthetic_shards / "train", mode="train", batch_size=2, dtype="bfloat16", seed=0, **SMALL
    )
    images, heatmaps, valid = ds.element_spec
    assert images.dtype == heatmaps.dtype == tf.bfloat16 and valid.dtype == tf.float32
    next(iter(ds))


def test_same_seed_gives_the_same_batches_and_another_seed_others(synthetic_shards):
    def batches(seed):
        ds = make_dataset(
            synthetic_shards / "train", mode="train", batch_size=4, seed=seed, **SMALL
        )
        return [b[0].numpy() for b in ds.take(2)]

    first, again, other = batches(5), batches(5), batches(6)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_epochs_are_reshuffled_and_reaugmented_when_repeating(synthetic_shards):
    count = read_manifest(synthetic_shards / "train")["counts"]["examples"]
    ds = make_dataset(
        synthetic_shards / "train", mode="train", batch_size=count, seed=1, repeat=True, **SMALL
    )
    epoch_one, epoch_two = (b[0].numpy() for b in ds.take(2))
    assert not np.array_equal(epoch_one, epoch_two)


def test_crop_and_back_through_the_inverse_transform_within_half_a_pixel(dots, blob):
    example = _dots_example(dots)
    for rotation, scale, flip in [(0.0, 1.0, False), (37.0, 1.3, True), (-64.0, 0.75, False)]:
        transform = crop_transform(
            example["box"], (160, 128), rotation=rotation, scale=scale, flip=flip
        )
        crop = crop_image(example["jpeg"], example["image_size"], transform, (160, 128)).numpy()
        inverse = invert_transform(transform).numpy()
        for (x, y), colour in dots.keypoints.values():
            u, v = blob.centre(crop, colour)
            back = inverse @ [u, v, 1.0]
            assert np.hypot(back[0] - x, back[1] - y) < 0.5, (rotation, colour, back, (x, y))


def test_partial_decoding_gives_the_same_crop_as_decoding_everything(dots):
    example = _dots_example(dots)
    transform = crop_transform(example["box"], (96, 72), rotation=25.0, scale=0.8)
    partial = crop_image(example["jpeg"], example["image_size"], transform, (96, 72))
    full = warp_image(tf.cast(tf.io.decode_jpeg(example["jpeg"]), tf.float32), transform, (96, 72))
    np.testing.assert_allclose(partial, full, atol=1e-3)


@pytest.mark.parametrize("side", [48, 24, 12, 6])  # decoded at scale 1, 1/2, 1/4, 1/8
def test_crop_samples_the_image_where_the_transform_says_at_every_decoding_scale(side):
    # Grey ramps rising 4 levels per pixel: a crop pixel's value says where it sampled.
    ramp = np.broadcast_to((4 * np.arange(64, dtype=np.uint8))[None, :, None], (64, 64, 3))
    transform = crop_transform([8.0, 8.0, 48.0, 48.0], (side, side), rotation=30.0)
    v, u = np.mgrid[0:side, 0:side]
    xy = np.stack([u, v, np.ones_like(u)], -1) @ invert_transform(transform).numpy().T
    inside = ((xy > 4.5) & (xy < 58.5)).all(-1)  # a 1/8-scale decode's edge pixels centre at 3.5
    assert inside.sum() >= side * side / 4
    for axis, image in enumerate([ramp, ramp.transpose(1, 0, 2)]):  # x, then y
        jpeg = cv2.imencode(".jpg", np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, 100])
        crop = crop_image(tf.constant(jpeg[1].tobytes()), [64, 64], transform, (side, side))
        error = crop.numpy()[..., 0][inside] / 4 - xy[inside][:, axis]
        assert abs(error.mean()) < 0.2  # no offset: a fraction of a pixel
        assert np.abs(error).max() < 1.0


def test_heatmap_peaks_sit_on_the_keypoints_under_full_augmentation(dots, blob):
    augment = AugmentConfig(flip_prob=0.5, scale_factor=0.3, rotation_prob=1.0)
    ds = make_dataset(
        [dots.shards] * 8,
        mode="train",
        input_size=(128, 96),
        heatmap_size=(64, 48),
        batch_size=8,
        augment=augment,
        seed=3,
    )
    images, heatmaps, valid = _first(ds)
    for i in range(8):
        crop = blob.denormalize(images[i])
        centres = {k: blob.centre(crop, colour) for k, (_, colour) in dots.keypoints.items()}
        # A flipped crop shows the right wrist where the left one is expected (and so is
        # labelled left wrist): the heatmap of each channel must sit on one of the blobs.
        for k in (NOSE, LEFT_WRIST, RIGHT_WRIST):
            if not valid[i, k]:  # rotated or scaled out of the crop
                assert heatmaps[i, :, :, k].max() == 0.0
                continue
            y, x = np.unravel_index(heatmaps[i, :, :, k].argmax(), (64, 48))
            assert heatmaps[i, y, x, k] == pytest.approx(255.0)
            near = min(centres.values(), key=lambda c: np.hypot(c[0] - 2 * x, c[1] - 2 * y))
            assert np.abs(near - 2 * np.array([x, y])).max() <= 1.0 + 0.3
    assert valid[:, [1, 2, 3]].sum() == 0  # unlabelled keypoints stay invalid
    assert valid[:, [NOSE, LEFT_WRIST, RIGHT_WRIST]].sum() >= 18


def test_flip_mirrors_the_crop_and_swaps_left_and_right(dots, blob):
    def batch(flip_prob):
        augment = AugmentConfig(flip_prob=flip_prob, scale_factor=0.0, rotation_prob=0.0)
        ds = make_dataset(dots.shards, mode="train", batch_size=1, augment=augment, seed=0, **SMALL)
        return _first(ds)

    (plain, plain_maps, _), (flipped, flipped_maps, _) = batch(0.0), batch(1.0)
    np.testing.assert_allclose(flipped, plain[:, :, ::-1], atol=1e-4)
    red, blue = dots.keypoints[LEFT_WRIST][1], dots.keypoints[RIGHT_WRIST][1]
    # Unflipped, the left wrist's heatmap is on the red blob; flipped, the blue blob (the right
    # wrist, mirrored) is where a left wrist is, and the left wrist's heatmap follows it.
    for images, maps, colour in [(plain, plain_maps, red), (flipped, flipped_maps, blue)]:
        y, x = np.unravel_index(maps[0, :, :, LEFT_WRIST].argmax(), (16, 12))
        u, v = blob.centre(blob.denormalize(images[0]), colour)
        assert abs(4 * x - u) <= 2.3 and abs(4 * y - v) <= 2.3
    blue_before = blob.centre(blob.denormalize(plain[0]), blue)[0]
    blue_after = blob.centre(blob.denormalize(flipped[0]), blue)[0]
    assert blue_after < 24 < blue_before  # the right wrist moved across the crop


def test_half_body_box_surrounds_the_upper_or_the_lower_body():
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(0, 100, (17, 2)), np.full((17, 1), 2.0)], axis=1)
    box = tf.constant([0.0, 0.0, 100.0, 100.0])
    augment = AugmentConfig(half_body_prob=1.0)
    sides = set()
    for i in range(12):
        aug = draw_augmentation(augment, tf.constant([i, 0]), box, keypoints, COCO_PERSON)
        part = None
        for name, indices in (("upper", COCO_PERSON.upper_body), ("lower", COCO_PERSON.lower_body)):
            points = keypoints[list(indices), :2]
            extent = points.max(0) - points.min(0)
            expected = np.concatenate([points.mean(0) - extent / 2, extent])
            if np.allclose(aug["box"], expected, atol=1e-3):
                part = name
        assert part in ("upper", "lower")
        assert aug["padding"].numpy() == pytest.approx(1.5)
        sides.add(part)
    assert sides == {"upper", "lower"}
    few = keypoints.copy()
    few[8:, 2] = 0  # 8 visible keypoints: not more than 8, so no half-body
    aug = draw_augmentation(augment, tf.constant([0, 0]), box, few, COCO_PERSON)
    np.testing.assert_allclose(aug["box"], box)
    assert aug["padding"].numpy() == pytest.approx(1.25)


def test_validation_mode_pads_the_last_batch_with_invalid_entries(synthetic_shards):
    count = read_manifest(synthetic_shards / "val")["counts"]["examples"]
    batch_size = count - 1 if count > 2 else 4
    ds = make_dataset(synthetic_shards / "val", mode="val", batch_size=batch_size, **SMALL)
    batches = list(ds)
    assert all(b[0].shape[0] == batch_size for b in batches)
    valid = np.concatenate([b[2].numpy() for b in batches])
    heatmaps = np.concatenate([b[1].numpy() for b in batches])
    assert not valid[count:].any() and not heatmaps[count:].any()
    assert valid[:count].sum(axis=1).min() > 0


def test_prediction_batches_are_padded_masked_and_carry_what_evaluation_needs(
    synthetic, synthetic_shards
):
    count = read_manifest(synthetic_shards / "val-dets")["counts"]["examples"]
    ds = make_dataset(
        synthetic_shards / "val-dets", mode="predict", input_size=(64, 48), batch_size=4,
        flip_test=True,
    )  # fmt: skip
    spec = ds.element_spec
    assert spec["images"].shape == spec["images_flipped"].shape == (4, 64, 48, 3)
    assert spec["transform"].shape == (4, 2, 3) and spec["box"].shape == (4, 4)
    assert spec["mask"].shape == (4,) and spec["mask"].dtype == tf.bool
    batches = [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds]
    mask = np.concatenate([b["mask"] for b in batches])
    assert len(mask) == -(-count // 4) * 4 and mask.sum() == count and mask[:count].all()
    ids = np.concatenate([b["instance_id"] for b in batches])[mask]
    assert len(set(ids)) == count  # no instance twice
    detections = json.loads(synthetic.val_detections.read_text())
    scores = np.concatenate([b["score"] for b in batches])[mask]
    np.testing.assert_allclose(scores, [detections[i]["score"] for i in ids], rtol=1e-6)
    image_ids = np.concatenate([b["image_id"] for b in batches])
    assert (image_ids[~mask] == -1).all()
    for b in batches:
        np.testing.assert_array_equal(b["images_flipped"], b["images"][:, :, ::-1])
        boxes, transforms = b["box"][b["mask"]], b["transform"][b["mask"]]
        np.testing.assert_allclose(transforms, crop_transform(boxes, (64, 48)), atol=1e-4)
        assert all(abs(np.linalg.det(t[:, :2])) > 0 for t in b["transform"])


def test_real_sample_targets_sit_on_the_annotated_keypoints(coco_mini, tmp_path):
    convert_coco(coco_mini / "test_coco.json", coco_mini, tmp_path, split="val")
    ds = make_dataset(tmp_path / "val", mode="val", batch_size=12, **SMALL)
    _, heatmaps, valid = _first(ds)
    coco = json.loads((coco_mini / "test_coco.json").read_text())
    examples = list(
        tf.data.TFRecordDataset(sorted(map(str, (tmp_path / "val").glob("*.tfrecord"))))
    )
    assert len(examples) == 12
    for i, serialized in enumerate(examples):
        ex = parse_example(serialized, 17)
        transform = crop_transform(ex["box"], (64, 48)).numpy()
        keypoints = ex["keypoints"].numpy()
        uv = keypoints[:, :2] @ transform[:, :2].T + transform[:, 2]
        for k in np.flatnonzero(valid[i]):
            assert keypoints[k, 2] > 0
            y, x = np.unravel_index(heatmaps[i, :, :, k].argmax(), (16, 12))
            assert (x, y) == (np.floor(uv[k, 0] / 4 + 0.5), np.floor(uv[k, 1] / 4 + 0.5))
    labelled = sum(sum(1 for v in a["keypoints"][2::3] if v > 0) for a in coco["annotations"])
    assert 0 < valid.sum() <= labelled


def test_input_context_shards_files_and_uses_the_per_replica_batch(synthetic_shards):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2
    )
    ds = make_dataset(
        synthetic_shards / "train", mode="train", batch_size=4, seed=0, input_context=context,
        **SMALL,
    )  # fmt: skip
    assert ds.element_spec[0].shape[0] == 2
    assert next(iter(ds))[0].shape == (2, 64, 48, 3)


def test_bad_arguments_are_data_errors(synthetic_shards, tmp_path):
    with pytest.raises(DataError, match="mode 'test'"):
        make_dataset(synthetic_shards / "train", mode="test", batch_size=2, **SMALL)
    with pytest.raises(DataError, match="no files match"):
        make_dataset(tmp_path / "*.tfrecord", mode="train", batch_size=2, **SMALL)
    with pytest.raises(DataError, match="needs heatmap_size"):
        make_dataset(synthetic_shards / "train", mode="train", batch_size=2, input_size=(64, 48))
    with pytest.raises(DataError, match="detector boxes without keypoints"):
        make_dataset(synthetic_shards / "val-dets", mode="val", batch_size=2, **SMALL)
    other = DatasetInfo(("a", "b"), (), (0,), (), (0.05, 0.05))
    with pytest.raises(DataError, match="hold 17 keypoints"):
        make_dataset(
            synthetic_shards / "train", mode="train", batch_size=2, dataset_info=other, **SMALL
        )
    with pytest.raises(DataError, match="dtype"):
        make_dataset(synthetic_shards / "train", mode="train", batch_size=2, dtype="int8", **SMALL)
