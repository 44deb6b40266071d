"""The crop transform has one owner (posedata); cocoeval-tools' NumPy inverse, which maps
predictions back to the image, must stay its exact inverse on random boxes, rotations, scales
and flips, and the app's prediction path (posedata's crops, the mirrored crops of its flip test,
cocoeval-tools' inverse) must find a point where it is in the image."""

import keras
import numpy as np
import pytest

import cocoeval_tools
import posedata
from evopose.prediction import PosePredictor
from posedata.crops import warp_image
from posedata.graphcheck import reference_crop_transform

INPUT = (256, 192)
INPUT_SMALL = (64, 48)


def _random_crops(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    size = np.exp(rng.uniform(np.log(4.0), np.log(900.0), (n, 2)))
    boxes = np.concatenate([rng.uniform(-50.0, 1200.0, (n, 2)), size], 1).astype(np.float32)
    return {
        "boxes": boxes,
        "scale": rng.uniform(0.7, 1.3, n).astype(np.float32),
        "rotation": rng.uniform(-180.0, 180.0, n).astype(np.float32),
        "flip": rng.uniform(size=n) < 0.5,
    }


def test_cocoeval_tools_maps_input_pixels_back_through_posedatas_transform():
    crops = _random_crops(300)
    transforms = posedata.crop_transform(
        crops["boxes"], INPUT, scale=crops["scale"], rotation=crops["rotation"], flip=crops["flip"]
    ).numpy()
    boxes = crops["boxes"].astype(np.float64)
    image_points = np.stack([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1)  # corners
    input_points = np.einsum("nij,nkj->nki", transforms[..., :2], image_points)
    input_points += transforms[:, None, :, 2]
    back = cocoeval_tools.to_image_coords(input_points, transforms)
    assert np.abs(back - image_points).max() < 1e-3 * max(1.0, np.abs(image_points).max())


def test_both_inverses_agree():
    crops = _random_crops(300, seed=1)
    transforms = posedata.crop_transform(
        crops["boxes"], INPUT, scale=crops["scale"], rotation=crops["rotation"], flip=crops["flip"]
    )
    np.testing.assert_allclose(
        posedata.invert_transform(transforms).numpy(),
        cocoeval_tools.invert_transforms(transforms.numpy()),
        rtol=1e-4,
        atol=1e-3,
    )


def test_posedata_transform_equals_the_float64_reference():
    crops = _random_crops(100, seed=2)
    transforms = posedata.crop_transform(
        crops["boxes"], INPUT, scale=crops["scale"], rotation=crops["rotation"], flip=crops["flip"]
    ).numpy()
    for i, box in enumerate(crops["boxes"]):
        expected = reference_crop_transform(
            box,
            INPUT,
            scale=crops["scale"][i],
            rotation=crops["rotation"][i],
            flip=crops["flip"][i],
        )
        np.testing.assert_allclose(transforms[i], expected, rtol=1e-4, atol=1e-3)


def _dot_image(rng, height=180, width=220, sigma=1.5):
    """A black BGR image with one bright Gaussian dot; returns it and the dot's (x, y)."""
    centre = rng.uniform([40.0, 40.0], [width - 40.0, height - 40.0])
    y, x = np.mgrid[0:height, 0:width]
    dot = 255.0 * np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2))
    return np.repeat(dot[..., None], 3, axis=2).astype(np.uint8), centre


def _boxes_around(rng, point, n):
    """Random boxes [x, y, w, h] (aspect ratios on both sides of the input's) holding `point`
    well inside."""
    size = rng.uniform([30.0, 30.0], [110.0, 110.0], (n, 2))
    corner = point - size * rng.uniform(0.25, 0.75, (n, 2))
    return np.concatenate([corner, size], 1).astype(np.float32)


def test_posedatas_warp_and_cocoeval_tools_inverse_put_a_dot_back_where_it_is():
    # Real pixels through posedata's TF warp with random boxes, rotations and flips; the dot's
    # position in the crop, mapped back by cocoeval-tools' NumPy inverse, is the dot.
    rng = np.random.default_rng(3)
    image, dot = _dot_image(rng, sigma=3.0)
    crops = _random_crops(12, seed=4)
    crops["boxes"] = _boxes_around(rng, dot, 12)
    crops["rotation"] = rng.uniform(-80.0, 80.0, 12).astype(np.float32)
    transforms = posedata.crop_transform(
        crops["boxes"], INPUT, scale=crops["scale"], rotation=crops["rotation"], flip=crops["flip"]
    )
    pixels = image.astype(np.float32)
    warped = np.stack([warp_image(pixels, t, INPUT).numpy()[..., :1] for t in transforms])
    found, _ = cocoeval_tools.decode_heatmaps(warped)  # the brightest crop pixel, sub-pixel
    back = cocoeval_tools.to_image_coords(found, transforms.numpy())[:, 0]
    image_per_input = 1.25 * crops["scale"] * crops["boxes"][:, 3] / INPUT[0]  # >= per width
    error = np.linalg.norm(back - dot, axis=1)
    assert (error <= np.maximum(1.0, image_per_input)).all(), error


def _dot_detector(input_size, stride, keypoints):
    """A real Keras network that 'detects' a bright dot: its heatmaps are the crop's
    brightness at the output stride (every channel the same, so flip pairs swap like maps)."""
    inputs = keras.Input((*input_size, 3))
    pooled = keras.layers.AveragePooling2D(stride)(inputs)
    heatmaps = keras.layers.Conv2D(
        keypoints, 1, use_bias=False, kernel_initializer=keras.initializers.Constant(1.0)
    )(pooled)
    return keras.Model(inputs, heatmaps)


@pytest.mark.parametrize("flip", [False, True])
def test_the_apps_predictor_finds_a_dot_where_it_is_drawn(flip):
    # The app's whole prediction transform: posedata's crops of random boxes, the flip test's
    # mirrored crops and merge, decoding at the output stride and cocoeval-tools' inverse.
    rng = np.random.default_rng(5 + flip)
    image, dot = _dot_image(rng)
    boxes = _boxes_around(rng, dot, 10)
    stride = 2
    model = _dot_detector(INPUT_SMALL, stride, posedata.COCO_PERSON.num_keypoints)
    people = PosePredictor(model, flip=flip)(image, boxes, np.ones(len(boxes)))
    found = np.array([person.keypoints[0, :2] for person in people])
    error = np.linalg.norm(found - dot, axis=1)
    # Within one heatmap pixel (the flip test's one-pixel shift moves the merged peak by half
    # of one), in image pixels.
    image_per_heatmap = (
        stride * 1.25 * np.maximum(boxes[:, 3] / INPUT_SMALL[0], boxes[:, 2] / INPUT_SMALL[1])
    )
    assert (error <= image_per_heatmap).all(), (error, image_per_heatmap)
