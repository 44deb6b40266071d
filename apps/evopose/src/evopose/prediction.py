"""Poses on pictures: an image, a folder of images or a video in; annotated copies and a JSON of
keypoints out. Person boxes come from a JSON file, an ONNX detector model, or OpenCV's HOG
people detector."""

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np

import posedata
from evopose import atomic
from evopose.errors import InputFileError
from evopose.runtimes import KerasRuntime, Runtime

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_LEFT, _RIGHT, _CENTRE = (0, 140, 255), (255, 120, 0), (60, 220, 60)  # BGR


@dataclass(frozen=True)
class Person:
    """One detected person: box `[x, y, w, h]`, box score and keypoints (K, 3) x, y, score."""

    box: tuple[float, float, float, float]
    box_score: float
    keypoints: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "box_score": round(float(self.box_score), 4),
            "keypoints": [
                [round(float(v), 2) for v in kp[:2]] + [round(float(kp[2]), 4)]
                for kp in self.keypoints
            ],
        }


class PosePredictor:
    """Crops person boxes out of BGR images, runs the network (with flip test) and decodes poses."""

    def __init__(
        self,
        model: keras.Model,
        info: posedata.DatasetInfo = posedata.COCO_PERSON,
        *,
        flip: bool = True,
        runtime: Runtime | None = None,
    ):
        keypoints = int(model.output_shape[-1])
        if keypoints != info.num_keypoints:
            raise InputFileError(
                f"the model predicts {keypoints} keypoints but the keypoint description "
                f"'{info.name}' has {info.num_keypoints}"
            )
        self.model = model
        self.info = info
        self.flip = flip
        self.input_size = tuple(int(s) for s in model.input_shape[1:3])
        self.runtime = runtime if runtime is not None else KerasRuntime(model)

    def __call__(
        self,
        image_bgr: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        *,
        jpeg: bytes | None = None,
    ) -> list[Person]:
        """Poses of the people in `boxes` (N, 4) `[x, y, w, h]` of one BGR image; all their
        crops (and mirrored crops for the flip test) go through the network in one call.

        Crops come from posedata, the pipeline's own code: given the image's `jpeg` bytes,
        exactly the evaluation path (so `predict` and `eval` agree on the same image and box);
        otherwise (a video frame, a PNG) the same transform and warp on the decoded pixels.
        """
        if len(boxes) == 0:
            return []
        import cocoeval_tools

        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if jpeg is not None:
            crops, transforms = posedata.crop_jpeg(jpeg, boxes, self.input_size)
        else:
            rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
            crops, transforms = posedata.crop_pixels(rgb, boxes, self.input_size)
        crops = np.asarray(crops, np.float32)
        batch = np.concatenate([crops, crops[:, :, ::-1]]) if self.flip else crops
        heatmaps = self.runtime(batch)
        if self.flip:
            count = len(crops)
            heatmaps = cocoeval_tools.flip_merge(
                heatmaps[:count], heatmaps[count:], self.info.flip_pairs
            )
        coords, kp_scores = cocoeval_tools.decode_heatmaps(heatmaps, input_size=self.input_size)
        image_coords = cocoeval_tools.to_image_coords(coords, transforms)
        keypoints = np.concatenate([image_coords, kp_scores[..., None]], axis=-1)
        return [
            Person(tuple(float(v) for v in box), float(score), kps)
            for box, score, kps in zip(boxes, scores, keypoints, strict=True)
        ]


class HogPeopleDetector:
    """OpenCV's built-in HOG + linear SVM people detector (no download), run on the frame
    downscaled to `max_side` pixels on its longest side (0.7-0.9 s per 720p frame at full size;
    its 64x128 window finds people taller than ~128 pixels of the downscaled frame)."""

    def __init__(
        self, min_score: float = 0.3, nms_threshold: float = 0.45, max_side: int | None = 640
    ):
        if not hasattr(cv2, "HOGDescriptor"):
            raise InputFileError(
                f"OpenCV {cv2.__version__} has no HOG people detector (OpenCV 5 moved it out); "
                "give person boxes with --boxes, or install opencv-python-headless<5"
            )
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.min_score = min_score
        self.nms_threshold = nms_threshold
        self.max_side = max_side

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) `[x, y, w, h]` and scores (N,) in (0, 1) of the people in the image.

        An image larger than `max_side` is downscaled first; one smaller than the detector's
        window (64 wide, 128 tall), on which OpenCV's detector crashes the process, is enlarged
        to it first; boxes are mapped back to the image."""
        window_w, window_h = self.hog.winSize
        height, width = image_bgr.shape[:2]
        if height < 1 or width < 1:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        scale = max(1.0, window_h / height, window_w / width)
        if scale == 1.0 and self.max_side and max(height, width) > self.max_side:
            scale = max(self.max_side / max(height, width), window_h / height, window_w / width)
            size = (max(window_w, round(width * scale)), max(window_h, round(height * scale)))
            image_bgr = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
        elif scale > 1.0:
            log.info(
                "the image (%dx%d) is smaller than the people detector's %dx%d window; "
                "enlarged %.2fx to look for people",
                height,
                width,
                window_h,
                window_w,
                scale,
            )
            size = (max(window_w, round(width * scale)), max(window_h, round(height * scale)))
            image_bgr = cv2.resize(image_bgr, size, interpolation=cv2.INTER_LINEAR)
        rects, weights = self.hog.detectMultiScale(
            image_bgr, winStride=(8, 8), padding=(8, 8), scale=1.05
        )
        if len(rects) == 0:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        rects = np.asarray(rects, np.float32) / np.float32(scale)
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        keep = cv2.dnn.NMSBoxes(
            [list(map(int, r)) for r in rects], scores.tolist(), self.min_score, self.nms_threshold
        )
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        return np.asarray(rects, np.float32)[keep], scores[keep]


class OnnxPeopleDetector:
    """A person detector the user brings as an ONNX file, run by onnxruntime.

    Input: one float32 RGB image scaled to [0, 1] (uint8 inputs get 0-255), batch 1, laid out
    NCHW `[1, 3, H, W]` or NHWC `[1, H, W, 3]` (whichever axis has 3 channels); a model with a
    fixed H, W gets the frame resized to it (boxes mapped back), one with free H, W the frame
    as it is. Output (the first one): boxes `[N, 5]` or `[N, 6]` (a leading batch axis of 1
    allowed), `x1, y1, x2, y2, score[, class]` in the input's pixels; with a class column only
    class `person_class` (0: COCO's person in YOLO/torchvision-style exports) is kept.
    """

    def __init__(self, path: str | Path, *, person_class: int = 0, threads: int | None = None):
        self.path = Path(path)
        try:
            import onnxruntime
        except ImportError:
            raise InputFileError(
                f"detector '{self.path}' needs onnxruntime: pip install 'evopose[onnx]'"
            ) from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own classes for unreadable models
            detail = " ".join(str(error).split())[:200]
            raise InputFileError(
                f"detector '{self.path}' is not an ONNX model onnxruntime can load ({detail})"
            ) from None
        spec = self.session.get_inputs()[0]
        shape = list(spec.shape)
        if len(shape) != 4 or 3 not in (shape[1], shape[3]):
            raise InputFileError(
                f"detector '{self.path}' takes input '{spec.name}' of shape {shape}; expected "
                "an image [1, 3, H, W] or [1, H, W, 3] (see the app README)"
            )
        self.input = spec.name
        self.channels_first = shape[1] == 3
        size = shape[2:4] if self.channels_first else shape[1:3]
        self.size = tuple(size) if all(isinstance(v, int) and v > 0 for v in size) else None
        self.uint8 = spec.type == "tensor(uint8)"
        self.person_class = person_class
        self(np.zeros((64, 64, 3), np.uint8))  # a wrong output format stops here, not mid-run

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) `[x, y, w, h]` and scores (N,) of the people in the image."""
        height, width = image_bgr.shape[:2]
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        scale_x = scale_y = 1.0
        if self.size is not None:
            rgb = cv2.resize(rgb, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)
            scale_x, scale_y = width / self.size[1], height / self.size[0]
        tensor = rgb if self.uint8 else rgb.astype(np.float32) / np.float32(255)
        tensor = tensor.transpose(2, 0, 1)[None] if self.channels_first else tensor[None]
        output = np.asarray(self.session.run(None, {self.input: np.ascontiguousarray(tensor)})[0])
        if output.ndim == 3 and output.shape[0] == 1:
            output = output[0]
        if output.ndim != 2 or output.shape[1] not in (5, 6):
            raise InputFileError(
                f"detector '{self.path}' gave an output of shape {list(output.shape)}; "
                "expected boxes [N, 5] or [N, 6]: x1, y1, x2, y2, score[, class] (see the app "
                "README)"
            )
        output = output.astype(np.float32)
        if output.shape[1] == 6:
            output = output[np.rint(output[:, 5]) == self.person_class]
        x1, x2 = output[:, 0] * scale_x, output[:, 2] * scale_x
        y1, y2 = output[:, 1] * scale_y, output[:, 3] * scale_y
        boxes = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1).reshape(-1, 4)
        keep = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        return boxes[keep], output[keep, 4]


def predict_path(
    input_path: str | Path,
    weights: str | Path,
    *,
    boxes: str | Path | None = None,
    out_dir: str | Path | None = None,
    min_score: float = 0.2,
    flip: bool = True,
    keypoints: str | None = None,
    annotations: str | Path | None = None,
    box_score: float = 0.0,
    box_nms: float | None = None,
    runtime: str = "auto",
    threads: int | None = None,
    detector: str | Path | None = None,
) -> list[str]:
    """Predicts poses on an image, a folder of images or a video; writes annotated copies and
    `keypoints.json` into `out_dir` (default `<input>_poses`). Returns one line per output,
    the first one naming the runtime (`evopose.runtimes`: `runtime` with `threads` threads).

    The keypoints (names, flip pairs for the flip test, skeleton to draw) are the model's own
    description (`evopose.keypoints`); `keypoints` names a known set to use instead. `boxes`,
    `annotations`, `box_score` and `box_nms` are `read_boxes`'s file and options; without
    `boxes`, people are found by the ONNX model `detector` (`OnnxPeopleDetector`, its boxes
    filtered by `box_score` and `box_nms` too) or else by OpenCV's HOG detector."""
    input_path = Path(input_path)
    if not input_path.exists():
        raise InputFileError(f"INPUT: no such file or folder '{input_path}'")
    given_boxes = (
        read_boxes(boxes, annotations=annotations, min_score=box_score, nms_iou=box_nms)
        if boxes is not None
        else None
    )
    onnx_detector = (
        OnnxPeopleDetector(detector, threads=threads)
        if detector is not None and given_boxes is None
        else None
    )
    from evopose.keypoints import model_keypoints
    from evopose.models import load_model

    model = load_model(weights)
    info = model_keypoints(weights, int(model.output_shape[-1]), keypoints)
    from evopose.runtimes import open_runtime

    engine = open_runtime(runtime, model, weights, threads=threads, first_batch=2 if flip else 1)
    predictor = PosePredictor(model, info, flip=flip, runtime=engine)
    hog = HogPeopleDetector() if given_boxes is None and onnx_detector is None else None
    out_dir = (
        Path(out_dir) if out_dir is not None else input_path.with_name(input_path.stem + "_poses")
    )

    def people_in(key: str, image: np.ndarray, jpeg: bytes | None = None) -> list[Person]:
        if given_boxes is not None:
            rows = boxes_for(given_boxes, key)
            found = np.asarray([r[:4] for r in rows], np.float32).reshape(-1, 4)
            scores = np.asarray([r[4] if len(r) > 4 else 1.0 for r in rows], np.float32)
        elif onnx_detector is not None:
            found, scores = onnx_detector(image)
            rows = _select_boxes(
                [[*b, s] for b, s in zip(found.tolist(), scores.tolist(), strict=True)],
                box_score,
                box_nms,
            )
            found = np.asarray([r[:4] for r in rows], np.float32).reshape(-1, 4)
            scores = np.asarray([r[4] for r in rows], np.float32)
        else:
            found, scores = hog(image)
            if len(found) == 0:
                log.info("%s: the HOG detector found nobody; using the whole image", key)
                found = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)
                scores = np.ones(1, np.float32)
        return predictor(image, found, scores, jpeg=jpeg)

    chosen = f"runtime: {engine.description}"
    if input_path.suffix.lower() in VIDEO_SUFFIXES:
        return [chosen, *_predict_video(input_path, out_dir, people_in, predictor, min_score)]
    if input_path.is_dir():
        images = sorted(p for p in input_path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise InputFileError(
                f"INPUT: '{input_path}' holds no images ({', '.join(IMAGE_SUFFIXES)})"
            )
    elif input_path.suffix.lower() in IMAGE_SUFFIXES:
        images = [input_path]
    else:
        raise InputFileError(
            f"INPUT: '{input_path}' is neither an image ({', '.join(IMAGE_SUFFIXES)}), "
            f"a video ({', '.join(VIDEO_SUFFIXES)}) nor a folder"
        )
    decoded = [(path, _read_image(path, strict=len(images) == 1)) for path in images]
    everything: dict[str, Any] = {}
    lines = [chosen]
    hidden = [0, 0]  # keypoints below min_score, keypoints in all
    started = time.monotonic()
    for path, image in _progress(decoded, "images"):
        if image is None:
            lines.append(f"{path}: skipped, not a readable image")
            continue
        people = people_in(path.name, image, _jpeg_bytes(path))
        target = out_dir / path.name
        _write_image(target, draw_poses(image, people, predictor.info, min_score))
        everything[path.name] = [person.to_dict() for person in people]
        _count_hidden(people, min_score, hidden)
        lines.append(f"{target}: {len(people)} people")
    elapsed = time.monotonic() - started
    atomic.write_json(out_dir / "keypoints.json", everything)
    lines.append(f"{out_dir / 'keypoints.json'}: keypoints of {len(everything)} images")
    lines.append(_speed(len(everything), "images", elapsed))
    lines.extend(_hidden_note(hidden, min_score))
    return lines


def _progress(items: Sequence, unit: str, total: int | None = None):
    """`items` with a progress bar on stderr when there are several."""
    from tqdm import tqdm

    count = total if total is not None else len(items)
    return tqdm(items, total=count or None, unit=unit[:-1], disable=count == 1, leave=False)


def _speed(count: int, unit: str, seconds: float) -> str:
    rate = count / seconds if seconds > 0 else float("inf")
    return f"{count} {unit} in {seconds:.1f} s ({rate:.2f} {unit}/s)"


def _count_hidden(people: list[Person], min_score: float, counts: list[int]) -> None:
    for person in people:
        counts[0] += int(np.sum(person.keypoints[:, 2] < min_score))
        counts[1] += len(person.keypoints)


def _hidden_note(counts: list[int], min_score: float) -> list[str]:
    """One line saying how many keypoints scored below `min_score` and were not drawn."""
    below, total = counts
    if not below:
        return []
    return [
        f"{below} of {total} keypoints scored below --min-score {min_score:g} and are not "
        "drawn (keypoints.json holds them all)"
    ]


def draw_poses(
    image_bgr: np.ndarray,
    people: list[Person],
    info: posedata.DatasetInfo,
    min_score: float = 0.2,
) -> np.ndarray:
    """A copy of the image with each person's box, skeleton and keypoints drawn."""
    canvas = image_bgr.copy()
    thickness = max(1, round(min(canvas.shape[:2]) / 240))
    left = {a for a, _ in info.flip_pairs}
    right = {b for _, b in info.flip_pairs}

    def colour(index: int) -> tuple[int, int, int]:
        return _LEFT if index in left else _RIGHT if index in right else _CENTRE

    for person in people:
        x, y, w, h = (int(np.rint(v)) for v in person.box)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), (200, 200, 200), thickness, cv2.LINE_AA)
        points = person.keypoints
        for a, b in info.skeleton:
            if points[a, 2] >= min_score and points[b, 2] >= min_score:
                start, end = _pixel(points[a]), _pixel(points[b])
                cv2.line(canvas, start, end, colour(b), thickness + 1, cv2.LINE_AA)
        for index, point in enumerate(points):
            if point[2] >= min_score:
                cv2.circle(canvas, _pixel(point), thickness + 2, colour(index), -1, cv2.LINE_AA)
    return canvas


def _pixel(point: np.ndarray) -> tuple[int, int]:
    return int(np.rint(point[0])), int(np.rint(point[1]))


def read_boxes(
    path: str | Path,
    *,
    annotations: str | Path | None = None,
    min_score: float = 0.0,
    nms_iou: float | None = None,
) -> dict[str, list[list[float]]]:
    """Person boxes by image file name (or video frame number): `{key: [[x, y, w, h, score]]}`.

    Also reads COCO detection results lists (the file `data convert --detections` takes):
    entries carry `bbox` and `score` and either a `file_name`, a video `frame`, or an
    `image_id`, named by the COCO annotation file `annotations` or, without one, keyed by the
    id (an image whose file name is that number, as COCO's `000000123456.jpg`, finds it).
    Boxes scoring below `min_score` are dropped; with `nms_iou`, boxes of one image that
    overlap a higher-scoring one by more than that IoU are dropped too.
    """
    path = Path(path)
    data = _read_json(path, "boxes file")
    boxes: dict[str, list[list[float]]] = {}
    if isinstance(data, dict) and {"images", "annotations"} <= data.keys():
        raise InputFileError(
            f"boxes file '{path}' is a COCO annotation file (images, annotations, categories), "
            "not person boxes; give detection results (a list of {image_id, bbox, score}, "
            "with this file as the annotations) or {file name: [[x, y, w, h, score], ...]}"
        )
    names = _image_names(Path(annotations)) if annotations is not None else None
    if isinstance(data, list):
        for index, entry in enumerate(data):
            if not isinstance(entry, dict) or "bbox" not in entry:
                raise InputFileError(f"boxes file '{path}' entry {index} has no 'bbox'")
            key = entry.get("file_name", entry.get("frame"))
            if key is None and "image_id" in entry:
                key = entry["image_id"] if names is None else names.get(entry["image_id"])
                if key is None:
                    raise InputFileError(
                        f"boxes file '{path}' entry {index}: image_id {entry['image_id']!r} is "
                        f"not in annotation file '{annotations}'"
                    )
            if key is None:
                raise InputFileError(
                    f"boxes file '{path}' entry {index} has no 'file_name', 'frame' or 'image_id'"
                )
            boxes.setdefault(str(key), []).append([*entry["bbox"], entry.get("score", 1.0)])
    elif isinstance(data, dict):
        boxes = {str(k): v for k, v in data.items()}
    else:
        raise InputFileError(f"boxes file '{path}' must hold a JSON object or list")
    for key, rows in boxes.items():
        if not isinstance(rows, list) or not all(
            isinstance(r, list) and len(r) in (4, 5) and all(isinstance(v, int | float) for v in r)
            for r in rows
        ):
            raise InputFileError(
                f"boxes file '{path}' entry '{key}' must be a list of [x, y, w, h] or "
                "[x, y, w, h, score]"
            )
        for r in rows:
            if r[2] <= 0 or r[3] <= 0:
                raise InputFileError(
                    f"boxes file '{path}' entry '{key}' has a box of zero size: {r}"
                )
    return {key: _select_boxes(rows, min_score, nms_iou) for key, rows in boxes.items()}


def boxes_for(boxes: dict[str, list[list[float]]], name: str) -> list[list[float]]:
    """The boxes of the image (or frame) `name`: by file name, else by the image id its file
    name spells (`000000123456.jpg` -> `123456`)."""
    if name in boxes:
        return boxes[name]
    stem = Path(name).stem
    return boxes.get(str(int(stem)), []) if stem.isdigit() else []


def _select_boxes(
    rows: list[list[float]], min_score: float, nms_iou: float | None
) -> list[list[float]]:
    """Rows scoring at least `min_score`, best first, less those overlapping a better one by
    more than `nms_iou` (IoU)."""
    kept = sorted(
        (r for r in rows if (r[4] if len(r) > 4 else 1.0) >= min_score),
        key=lambda r: -(r[4] if len(r) > 4 else 1.0),
    )
    if nms_iou is None:
        return kept
    chosen: list[list[float]] = []
    for row in kept:
        if all(_iou(row, other) <= nms_iou for other in chosen):
            chosen.append(row)
    return chosen


def _iou(a: list[float], b: list[float]) -> float:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _read_json(path: Path, what: str) -> Any:
    """The JSON in `path`; a InputFileError naming `what` and the file when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{what} '{path}': no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileError(f"{what} '{path}' is not readable JSON ({error})") from None


def _image_names(annotations: Path) -> dict[int, str]:
    """Image file names (their last part, as predict keys images) by id, from a COCO
    annotation file."""
    data = _read_json(annotations, "annotation file")
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise InputFileError(f"annotation file '{annotations}' has no 'images' list (COCO format)")
    return {
        entry["id"]: Path(str(entry["file_name"])).name
        for entry in images
        if isinstance(entry, dict) and "id" in entry and "file_name" in entry
    }


def _predict_video(input_path: Path, out_dir: Path, people_in, predictor, min_score) -> list[str]:
    capture = cv2.VideoCapture(str(input_path))
    if not capture.isOpened():
        raise InputFileError(f"INPUT: '{input_path}' cannot be opened as a video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    target = out_dir / (input_path.stem + "_poses.mp4")
    frames: dict[str, Any] = {}
    writer = None
    hidden = [0, 0]
    started = time.monotonic()
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
    with atomic.atomic_path(target, suffix=".mp4") as tmp:
        try:
            for index, frame in _progress(_frames(capture), "frames", total=total or 0):
                if writer is None:
                    size = (frame.shape[1], frame.shape[0])
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
                people = people_in(str(index), frame)
                writer.write(draw_poses(frame, people, predictor.info, min_score))
                frames[str(index)] = [person.to_dict() for person in people]
                _count_hidden(people, min_score, hidden)
        finally:
            capture.release()
            if writer is not None:
                writer.release()
        if not frames:
            raise InputFileError(f"INPUT: '{input_path}' holds no readable frames")
    elapsed = time.monotonic() - started
    atomic.write_json(out_dir / "keypoints.json", {input_path.name: frames})
    lines = [f"{target}: {len(frames)} frames", _speed(len(frames), "frames", elapsed)]
    return lines + _hidden_note(hidden, min_score)


def _frames(capture: cv2.VideoCapture) -> Iterator[tuple[int, np.ndarray]]:
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield index, frame
        index += 1


def _read_image(path: Path, *, strict: bool) -> np.ndarray | None:
    """The image at `path` (BGR); None (a InputFileError when `strict`) when it cannot be read,
    or when it is a JPEG cut short (OpenCV would decode the part it has, silently)."""
    problem = None
    if path.suffix.lower() in (".jpg", ".jpeg") and is_truncated_jpeg(path):
        problem = "is a truncated JPEG (no end-of-image marker); copy or export it again"
        image = None
    else:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            problem = "cannot be read as an image (corrupt or unsupported)"
    if problem is not None:
        if strict:
            raise InputFileError(f"INPUT: '{path}' {problem}")
        log.warning("%s: %s; skipped", path, problem)
    return image


def is_truncated_jpeg(path: Path) -> bool:
    """True when the file starts like a JPEG but lacks the end-of-image marker (FFD9) at its
    end (a little trailing padding allowed): the file was cut short."""
    try:
        with open(path, "rb") as file:
            head = file.read(2)
            file.seek(0, 2)
            file.seek(max(0, file.tell() - 32))
            tail = file.read()
    except OSError:
        return False
    return head == b"\xff\xd8" and b"\xff\xd9" not in tail


def _jpeg_bytes(path: Path) -> bytes | None:
    """The file's bytes if it is an upright JPEG (crops then take the pipeline's decode path).

    OpenCV turns images by their EXIF orientation and TensorFlow does not, so a turned JPEG
    is cropped from OpenCV's pixels, in the orientation the boxes and drawings use.
    """
    data = path.read_bytes()
    if data[:3] != b"\xff\xd8\xff" or _exif_orientation(data) != 1:
        return None
    return data


def _exif_orientation(jpeg: bytes) -> int:
    """The EXIF orientation tag (0x0112) of a JPEG; 1 (upright) when there is none."""
    at = 2
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF:
        marker, length = jpeg[at + 1], int.from_bytes(jpeg[at + 2 : at + 4], "big")
        if marker in (0xDA, 0xD9):  # image data: no more metadata segments
            break
        if marker == 0xE1 and jpeg[at + 4 : at + 10] == b"Exif\0\0":
            tiff = jpeg[at + 10 : at + 2 + length]
            order = "little" if tiff[:2] == b"II" else "big"
            ifd = int.from_bytes(tiff[4:8], order)
            for k in range(int.from_bytes(tiff[ifd : ifd + 2], order)):
                entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
                if len(entry) == 12 and int.from_bytes(entry[:2], order) == 0x0112:
                    return int.from_bytes(entry[8:10], order)
            return 1
        at += 2 + length
    return 1


def _write_image(path: Path, image: np.ndarray) -> None:
    with atomic.atomic_path(path, suffix=path.suffix) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise InputFileError(f"cannot write '{path}'")
