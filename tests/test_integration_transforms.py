"""The crop transform has one owner (posedata); cocoeval-tools' NumPy inverse, which maps
predictions back to the image, must stay its exact inverse on random boxes, rotations, scales
and flips."""

import numpy as np

import cocoeval_tools
import posedata
from posedata.graphcheck import reference_crop_transform

INPUT = (256, 192)


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
