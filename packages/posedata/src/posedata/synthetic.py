"""A synthetic COCO keypoints dataset: stick people on textured backgrounds, no download.

Each image holds a few figures (torso, head with a face, limbs with hands and feet) of varied
colours, widths, poses and sizes, some partly occluded by objects or other figures and some cut
by the image edge. The 17 COCO keypoints are exact: visibility 2 where the figure is seen at
the keypoint, 1 where something covers it, 0 (and 0, 0) outside the image. Figures face the
viewer, so a figure's left side is on the image's right, as for most people in COCO, and the
mirror image of a figure is again a valid figure (flip augmentation stays consistent).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from posedata._writing import write_bytes, write_json
from posedata.errors import DataError
from posedata.info import COCO_PERSON

_SHIFT = 4  # fractional bits for cv2 drawing: sub-pixel exact shapes
_ONE = 1 << _SHIFT
_VAL_ID_OFFSET = 1_000_000
_OCCLUDER = 255
# Keypoint indices (COCO order).
_NOSE, _EYES, _EARS = 0, (1, 2), (3, 4)
_SHOULDERS, _ELBOWS, _WRISTS = (5, 6), (7, 8), (9, 10)
_HIPS, _KNEES, _ANKLES = (11, 12), (13, 14), (15, 16)


@dataclass(frozen=True)
class SyntheticCoco:
    """Where a synthetic dataset was written."""

    root: Path
    train_images: Path
    val_images: Path
    train_annotations: Path
    val_annotations: Path
    val_detections: Path


def make_synthetic_coco(
    out_dir: str | os.PathLike,
    *,
    num_train_images: int,
    num_val_images: int,
    image_size: tuple[int, int] = (240, 320),
    people_per_image: tuple[int, int] = (1, 3),
    seed: int = 0,
) -> SyntheticCoco:
    """Write `images/train`, `images/val`, `train.json`, `val.json`, `val_detections.json`.

    `image_size` is (height, width); each image holds `people_per_image` (min, max) figures.
    The same seed gives the same files; image i does not depend on how many are drawn.
    """
    if num_train_images < 0 or num_val_images < 0:
        raise DataError("make_synthetic_coco: image counts must be >= 0")
    height, width = image_size
    if height < 32 or width < 32:
        raise DataError(f"make_synthetic_coco: image_size {image_size} must be at least 32x32")
    low, high = people_per_image
    if not 1 <= low <= high:
        raise DataError(
            f"make_synthetic_coco: people_per_image {people_per_image} must be 1 <= min <= max"
        )
    root = Path(out_dir)
    paths = SyntheticCoco(
        root=root,
        train_images=root / "images" / "train",
        val_images=root / "images" / "val",
        train_annotations=root / "train.json",
        val_annotations=root / "val.json",
        val_detections=root / "val_detections.json",
    )
    detections: list[dict[str, Any]] = []
    for split, count, folder, path, id_offset in (
        ("train", num_train_images, paths.train_images, paths.train_annotations, 0),
        ("val", num_val_images, paths.val_images, paths.val_annotations, _VAL_ID_OFFSET),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for index in range(count):
            rng = np.random.default_rng([seed, id_offset, index])
            image_id = id_offset + index + 1
            pixels, people = _draw_scene(rng, height, width, rng.integers(low, high + 1))
            file_name = f"{image_id:012d}.jpg"
            write_bytes(folder / file_name, _encode_jpeg(pixels))
            images.append(
                {"id": image_id, "file_name": file_name, "height": height, "width": width}
            )
            for person in people:
                annotations.append(
                    {
                        "id": id_offset + len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": 1,
                        "iscrowd": 0,
                        "bbox": person["bbox"],
                        "area": person["area"],
                        "keypoints": person["keypoints"],
                        "num_keypoints": person["num_keypoints"],
                        "segmentation": [],
                    }
                )
            if split == "val":
                detections += _detections(rng, image_id, people, height, width)
        write_json(path, _coco_file(images, annotations, split))
    write_json(paths.val_detections, detections)
    return paths


def _draw_scene(
    rng: np.random.Generator, height: int, width: int, count: int
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """An image with `count` figures and their annotations (visibility from the final scene)."""
    image = _background(rng, height, width)
    labels = np.zeros((height, width), np.uint8)  # which figure (1..) is on top at each pixel
    slots = rng.permutation(count)  # spread figures across the width, some overlap
    figures = [_pose(rng, height, width, (slot + 0.5) / count) for slot in slots]
    own_masks = []
    for i, figure in enumerate(figures, start=1):
        own = np.zeros((height, width), np.uint8)
        _draw_figure(image, figure, labels, i, own, rng)
        own_masks.append(own)
    for _ in range(rng.binomial(2, 0.25)):
        _draw_occluder(rng, image, labels, figures)
    people = []
    for i, (figure, own) in enumerate(zip(figures, own_masks, strict=True), start=1):
        person = _annotate(figure["keypoints"], own, labels, i)
        if person is not None:
            people.append(person)
    return image, people


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Muted texture: smooth colour noise or stripes, fine grain, and some clutter shapes."""
    if rng.random() < 0.5:
        cells = (int(rng.integers(3, 9)), int(rng.integers(3, 9)))
        grid = rng.uniform(50, 190, (*cells, 1)) + rng.uniform(-25, 25, (*cells, 3))
        base = cv2.resize(grid.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    else:
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 40)
        phase_x = np.arange(width, dtype=np.float32) * np.float32(
            np.cos(angle) * 2 * np.pi / period
        )
        phase_y = np.arange(height, dtype=np.float32) * np.float32(
            np.sin(angle) * 2 * np.pi / period
        )
        wave = 0.5 + 0.5 * np.sin(phase_y[:, None] + phase_x[None, :])
        a, b = np.float32(_muted(rng)), np.float32(_muted(rng))
        base = (wave[..., None] * (a - b) + b).astype(np.uint8)
    spread = int(rng.integers(2, 12))
    grain = rng.integers(-spread, spread + 1, (height, width, 1), dtype=np.int16)
    image = np.clip(base + grain, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(0, 10)):
        colour = _muted(rng)
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(4, max(5, min(height, width) // 5)))
        if rng.random() < 0.5:
            cv2.rectangle(
                image, (x, y), (x + size, y + int(size * rng.uniform(0.3, 2))), colour, -1
            )
        else:
            cv2.circle(image, (x, y), size // 2, colour, -1)
    return image


def _pose(rng: np.random.Generator, height: int, width: int, where: float) -> dict[str, Any]:
    """A random figure near `where` (a fraction of the width): keypoints and drawing details."""
    size = rng.uniform(0.45, 0.95) * height  # head top to ankles, standing straight
    u = rng.uniform(0.85, 1.15, 12)  # proportions jitter
    torso, neck, head_r = 0.30 * size * u[0], 0.10 * size * u[1], 0.07 * size * u[2]
    shoulder_w, hip_w = 0.11 * size * u[3], 0.075 * size * u[4]
    arm = (0.16 * size * u[5], 0.15 * size * u[6])
    leg = (0.23 * size * u[7], 0.22 * size * u[8])
    kp = np.zeros((17, 2))
    neck_pt = np.array([0.0, -torso])
    for side, sign in ((0, 1.0), (1, -1.0)):  # left (index 0 of each pair) on image right
        shoulder = neck_pt + np.array([sign * shoulder_w, 0.03 * size])
        hip = np.array([sign * hip_w, 0.0])
        kp[_SHOULDERS[side]], kp[_HIPS[side]] = shoulder, hip
        kp[_ELBOWS[side]], kp[_WRISTS[side]] = _limb(
            rng, shoulder, sign, arm, rng.uniform(-20, 160), rng.uniform(-20, 140)
        )
        kp[_KNEES[side]], kp[_ANKLES[side]] = _limb(
            rng, hip, sign, leg, rng.uniform(-15, 50), rng.uniform(0, 100)
        )
    tilt = np.deg2rad(rng.normal(0, 10))
    head = neck_pt + neck * np.array([np.sin(tilt), -np.cos(tilt)])
    face = {
        _NOSE: (0.0, 0.3),
        _EYES[0]: (0.38, -0.1),
        _EYES[1]: (-0.38, -0.1),
        _EARS[0]: (0.95, 0.05),
        _EARS[1]: (-0.95, 0.05),
    }
    rot_head = _rotation(tilt)
    for index, offset in face.items():
        kp[index] = head + rot_head @ (np.array(offset) * head_r)
    # Place the figure: mostly inside the image, sometimes cut by an edge.
    angle = np.deg2rad(np.clip(rng.normal(0, 12), -35, 35))
    truncated = rng.random() < 0.2
    x = where * width + rng.normal(0, 0.12 * width)
    if truncated:  # pushed over the left or right edge, or down over the bottom
        x = rng.choice([-0.05, 1.05]) * width if rng.random() < 0.6 else x
    y = rng.uniform(0.55 * size, max(0.55 * size, height - 0.45 * size))
    y += rng.uniform(0.1, 0.35) * size * (truncated and rng.random() < 0.4)
    root = np.array([x, y])
    rot = _rotation(angle)
    points = kp @ rot.T + root
    return {
        "keypoints": points,
        "head": (head @ rot.T + root, head_r),
        "widths": {"arm": 0.055 * size * u[9], "leg": 0.07 * size * u[10], "size": size},
        "colours": {name: _vivid(rng) for name in ("torso", "arm", "leg", "hand", "head")},
    }


def _limb(
    rng: np.random.Generator,
    start: np.ndarray,
    sign: float,
    lengths: tuple[float, float],
    spread: float,
    bend: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Middle and end joint of a two-segment limb; angles in degrees from straight down."""
    first = np.deg2rad(spread)
    second = first + np.deg2rad(bend) * rng.choice([-1.0, 1.0])
    fore = rng.uniform(0.75, 1.0, 2)  # foreshortening
    middle = start + lengths[0] * fore[0] * np.array([sign * np.sin(first), np.cos(first)])
    end = middle + lengths[1] * fore[1] * np.array([sign * np.sin(second), np.cos(second)])
    return middle, end


def _draw_figure(
    image: np.ndarray,
    figure: dict[str, Any],
    labels: np.ndarray,
    label: int,
    own: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Paint a figure into the image, the label map (as `label`) and its own mask.

    Every part is drawn twice: a dark outline (also marking the label map and mask), then its
    colour on the image.
    """
    kp, colours, widths = figure["keypoints"], figure["colours"], figure["widths"]
    outline = tuple(int(c * 0.3) for c in colours["torso"])

    def layers(colour: tuple[int, ...]) -> list[tuple[np.ndarray, Any]]:
        return [(image, colour), (labels, label), (own, 1)]

    def segment(a: np.ndarray, b: np.ndarray, width: float, colour: tuple[int, ...]) -> None:
        for targets, grow in ((layers(outline), 2), ([(image, colour)], 0)):
            for im, value in targets:
                thickness = max(1, round(width) + grow)
                cv2.line(im, _pt(a), _pt(b), value, thickness, _line_type(im), _SHIFT)

    def disc(centre: np.ndarray, radius: float, colour: tuple[int, ...]) -> None:
        for targets, grow in ((layers(outline), 1.5), ([(image, colour)], 0.0)):
            for im, value in targets:
                r = round(float(radius + grow) * _ONE)
                cv2.circle(im, _pt(centre), r, value, -1, _line_type(im), _SHIFT)

    legs = (1, 0) if rng.random() < 0.5 else (0, 1)
    for side in legs:  # legs first: behind the torso
        segment(kp[_HIPS[side]], kp[_KNEES[side]], widths["leg"], colours["leg"])
        segment(kp[_KNEES[side]], kp[_ANKLES[side]], widths["leg"] * 0.85, colours["leg"])
        disc(kp[_ANKLES[side]], widths["leg"] * 0.55, colours["hand"])
    quad = np.array([kp[_SHOULDERS[0]], kp[_SHOULDERS[1]], kp[_HIPS[1]], kp[_HIPS[0]]])
    quad = np.round((quad + (quad - quad.mean(0)) * 0.15) * _ONE).astype(np.int32)
    for im, value in layers(colours["torso"]):
        cv2.fillPoly(im, [quad], value, _line_type(im), _SHIFT)
        cv2.polylines(
            im, [quad], True, outline if im is image else value, 2, _line_type(im), _SHIFT
        )
    centre, radius = figure["head"]
    for ear in _EARS:
        disc(kp[ear], radius * 0.28, colours["head"])
    disc(centre, radius, colours["head"])
    for side in (0, 1):  # arms: in front of the torso
        segment(kp[_SHOULDERS[side]], kp[_ELBOWS[side]], widths["arm"], colours["arm"])
        segment(kp[_ELBOWS[side]], kp[_WRISTS[side]], widths["arm"] * 0.85, colours["arm"])
        disc(kp[_WRISTS[side]], widths["arm"] * 0.75, colours["hand"])
    features = [(kp[e], 0.16, (20, 20, 20)) for e in _EYES] + [(kp[_NOSE], 0.14, (200, 40, 40))]
    for point, fraction, colour in features:
        r = round(float(max(1.0, radius * fraction)) * _ONE)
        cv2.circle(image, _pt(point), r, colour, -1, cv2.LINE_AA, _SHIFT)


def _line_type(im: np.ndarray) -> int:
    """Anti-aliased on the image, hard edges on label maps and masks."""
    return cv2.LINE_AA if im.ndim == 3 else cv2.LINE_8


def _draw_occluder(
    rng: np.random.Generator, image: np.ndarray, labels: np.ndarray, figures: list[dict[str, Any]]
) -> None:
    """A box or ellipse over part of a random figure."""
    figure = figures[rng.integers(len(figures))]
    centre = figure["keypoints"][rng.integers(17)] + rng.normal(0, 5, 2)
    size = figure["widths"]["size"] * rng.uniform(0.1, 0.25, 2)
    colour = _muted(rng)
    if rng.random() < 0.5:
        lo, hi = _pt(centre - size / 2), _pt(centre + size / 2)
        for im, value in ((image, colour), (labels, _OCCLUDER)):
            cv2.rectangle(im, lo, hi, value, -1, cv2.LINE_8, _SHIFT)
    else:
        axes = (int(size[0] / 2 * _ONE), int(size[1] / 2 * _ONE))
        angle = float(rng.uniform(0, 180))
        for im, value in ((image, colour), (labels, _OCCLUDER)):
            cv2.ellipse(im, _pt(centre), axes, angle, 0, 360, value, -1, cv2.LINE_8, _SHIFT)


def _annotate(
    keypoints: np.ndarray, own: np.ndarray, labels: np.ndarray, label: int
) -> dict[str, Any] | None:
    """COCO annotation fields of a figure; None when no part of it is in the image."""
    area = cv2.countNonZero(own)
    if area == 0:
        return None
    height, width = own.shape
    flat: list[float] = []
    for x, y in keypoints:
        xi, yi = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        if not (0 <= xi < width and 0 <= yi < height):
            flat += [0.0, 0.0, 0]
            continue
        visibility = 2 if labels[yi, xi] == label else 1
        flat += [round(float(x), 2), round(float(y), 2), visibility]
    x0, y0, w, h = cv2.boundingRect(own)
    return {
        "bbox": [float(x0), float(y0), float(w), float(h)],
        "area": float(area),
        "keypoints": flat,
        "num_keypoints": sum(1 for v in flat[2::3] if v > 0),
    }


def _detections(
    rng: np.random.Generator, image_id: int, people: list[dict[str, Any]], height: int, width: int
) -> list[dict[str, Any]]:
    """A detector's output: each person's box jittered with a high score, a few false boxes."""
    out = []
    for person in people:
        x, y, w, h = person["bbox"]
        cx, cy = x + w / 2 + rng.normal(0, 0.05 * w), y + h / 2 + rng.normal(0, 0.05 * h)
        w, h = w * np.exp(rng.normal(0, 0.08)), h * np.exp(rng.normal(0, 0.08))
        score = rng.uniform(0.6, 1.0)
        out.append(_result(image_id, [cx - w / 2, cy - h / 2, w, h], score))
    for _ in range(rng.binomial(2, 0.3)):
        w, h = rng.uniform(0.1, 0.4) * width, rng.uniform(0.2, 0.6) * height
        box = [rng.uniform(0, width - w), rng.uniform(0, height - h), w, h]
        out.append(_result(image_id, box, rng.uniform(0.02, 0.4)))
    return out


def _result(image_id: int, box: list[float], score: float) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "category_id": 1,
        "bbox": [round(float(v), 2) for v in box],
        "score": round(float(score), 5),
    }


def _coco_file(images: list[dict], annotations: list[dict], split: str) -> dict[str, Any]:
    info = COCO_PERSON
    category = {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(info.keypoint_names),
        "skeleton": [[a + 1, b + 1] for a, b in info.skeleton],
    }
    return {
        "info": {"description": f"posedata synthetic people ({split})", "version": "1"},
        "licenses": [],
        "categories": [category],
        "images": images,
        "annotations": annotations,
    }


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _pt(p: np.ndarray) -> tuple[int, int]:
    return round(float(p[0]) * _ONE), round(float(p[1]) * _ONE)


def _vivid(rng: np.random.Generator) -> tuple[int, int, int]:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(150, 256), rng.integers(150, 256)]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0])


def _muted(rng: np.random.Generator) -> tuple[int, int, int]:
    grey = rng.uniform(60, 180)
    return tuple(int(grey + d) for d in rng.uniform(-30, 30, 3))


def _encode_jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
    )
    if not ok:
        raise DataError("synthetic image could not be JPEG-encoded")
    return data.tobytes()
