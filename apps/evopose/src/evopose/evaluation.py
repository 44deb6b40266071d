"""The full evaluation protocol (SPEC section 6): crops of detector (or ground-truth) boxes,
flip test, heatmap decoding, mapping back to the image, rescoring, optional OKS-NMS, COCO
results JSON and OKS AP/AR from pycocotools; and PCKh@0.5, MPII's metric, when the ground truth
holds each person's head size (`evopose data convert --format mpii` stores it)."""

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

import cocoeval_tools
import posedata
from evopose import atomic
from evopose.config import Config
from evopose.datasets import VAL, VAL_DETECTIONS, open_split
from evopose.errors import ConfigFileError, InputFileError, first_line

if TYPE_CHECKING:
    from evopose.engines import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalReport:
    """The metrics of one evaluation and where its results went."""

    metrics: cocoeval_tools.CocoStats  # AP, AP50, AP75, APM, APL, AR, ...
    results_path: Path
    metrics_path: Path
    images: int
    instances: int
    pckh: cocoeval_tools.PCKhResult | None = None  # with ground-truth boxes and head sizes
    keypoint_names: tuple[str, ...] = ()
    runtime: str = "keras (predict_on_batch)"  # what ran the network (`Runtime.description`)

    def text(self) -> str:
        """The OKS metrics table, and PCKh by body part when it was computed."""
        tables = [self.metrics.table()]
        if self.pckh is not None:
            tables.append(self.pckh.table(self.keypoint_names))
        return "\n\n".join(tables)


@dataclass(frozen=True)
class Poses:
    """Keypoints in image pixels for a set of instances, before rescoring."""

    image_ids: np.ndarray  # (N,)
    keypoints: np.ndarray  # (N, K, 3): x, y, keypoint score
    box_scores: np.ndarray  # (N,)
    instance_ids: np.ndarray  # (N,): annotation ids with ground-truth boxes


def evaluate_model(
    config: Config,
    weights: str | Path | None = None,
    *,
    model: keras.Model | None = None,
    limit: int | None = None,
    results_path: str | Path | None = None,
    split: posedata.ConvertedSplit | None = None,
    runtime: str = "keras",
    threads: int | None = None,
) -> EvalReport:
    """Evaluates `model` (or the one in `weights`) on the val split with `config.eval`'s protocol,
    writes the COCO results and metrics JSON, and returns the metrics.

    `split` is the converted split to evaluate on (default: `evaluation_split(config)`);
    `data.root` may be local or any filesystem TensorFlow reads (`gs://`): the ground truth is
    read beside the shards. `limit` evaluates only the first `limit` images (by image id).
    `runtime` (one of `evopose.runtimes.RUNTIMES`) runs the network with `threads` CPU threads:
    Keras by default, so that the figures are the very ones training's validation computes with
    the same Keras model; `tflite` (a static-batch export at `eval.batch_size`, made once and
    cached by the weights file's hash), `onnxruntime` or `auto` are faster on CPU and agree with
    Keras up to float rounding (the export is checked against Keras, relative to its outputs'
    scale).
    """
    protocol = config.eval
    if limit is not None and limit < 1:
        raise ConfigFileError(f"limit must be at least 1, got {limit}")
    from evopose.runtimes import RUNTIMES

    if runtime not in RUNTIMES:
        raise ConfigFileError(f"runtime {runtime!r}: must be one of {', '.join(RUNTIMES)}")
    if threads is not None and threads < 1:
        raise ConfigFileError(f"threads {threads}: must be at least 1")
    if runtime != "keras" and weights is None:
        raise ConfigFileError(
            f"runtime {runtime}: needs the weights file (its exports are cached by its hash)"
        )
    split = split or evaluation_split(config)
    folder = split.folder
    annotations = _annotations(config, split.annotation_file, split.ground_truth)
    annotation_data = _read_annotations(annotations)
    ground_truth = _ground_truth(annotations, annotation_data)  # checked before predicting
    info = split.dataset_info
    if model is None:
        if weights is None:
            raise ConfigFileError("evaluate_model needs weights or a model")
        model = load_evaluated_model(config, weights, split)
    if info.default_sigmas:
        log.warning(
            "%s: keypoint set %r has default OKS sigmas (0.05 each); its AP is not comparable "
            "with published figures",
            folder,
            info.name,
        )
    if results_path is None:
        if weights is None:
            raise ConfigFileError("evaluate_model needs results_path when given a model")
        weights = Path(weights)
        dataset = Path(str(config.data.root).rstrip("/")).name or "data"
        stem = weights.name.split(".")[0]
        results_path = weights.with_name(f"{stem}.{dataset}.{split.split}.results.json")
    results_path = Path(results_path)
    metrics_path = results_path.with_name(results_path.name.replace(".results.", ".metrics."))
    if metrics_path == results_path:
        metrics_path = results_path.with_suffix(".metrics.json")
    _refuse_other_dataset(metrics_path, folder)

    from evopose.runtimes import open_runtime

    engine = open_runtime(
        runtime,
        model,
        weights,
        threads=threads,
        first_batch=protocol.batch_size,
        static_batch=protocol.batch_size,
    )
    log.info("runtime: %s", engine.description)
    poses = predict_split(
        model,
        split,
        info,
        flip=protocol.flip,
        batch_size=protocol.batch_size,
        limit=limit,
        runtime=engine,
    )
    scores = cocoeval_tools.rescore(
        poses.box_scores, poses.keypoints[..., 2], threshold=protocol.keypoint_threshold
    )
    keep = np.arange(len(scores))
    if protocol.oks_nms is not None and len(scores):
        keep = cocoeval_tools.oks_nms(
            poses.keypoints,
            scores,
            image_ids=poses.image_ids,
            threshold=protocol.oks_nms,
            sigmas=info.sigmas,
        )
    results = cocoeval_tools.to_coco_results(
        poses.image_ids[keep],
        poses.keypoints[keep],
        scores[keep],
        category_id=split.category_id,
    )
    with atomic.atomic_path(results_path, suffix=".json") as tmp:
        cocoeval_tools.write_results(tmp, results)
    image_ids = sorted({int(i) for i in poses.image_ids})
    metrics = cocoeval_tools.evaluate(
        ground_truth, results, image_ids=image_ids if limit else None, sigmas=info.sigmas
    )
    pckh = _pckh(annotation_data, poses, info, protocol.boxes, annotations)
    atomic.write_json(
        metrics_path,
        {
            "metrics": dict(metrics),
            **({} if pckh is None else {"pckh": _pckh_record(pckh, info, annotation_data)}),
            "boxes": protocol.boxes,
            "flip": protocol.flip,
            "images": len(image_ids),
            "instances": len(results),
            "annotations": str(annotations),
            "split_folder": str(folder),
            "results": str(results_path),
        },
    )
    log.info("evaluated %d instances on %d images", len(results), len(image_ids))
    return EvalReport(
        metrics,
        results_path,
        metrics_path,
        len(image_ids),
        len(results),
        pckh,
        tuple(info.keypoint_names),
        engine.description,
    )


def evaluation_split(config: Config) -> posedata.ConvertedSplit:
    """The converted split `config.eval.boxes` evaluates on: `val-dets` (detector boxes) or
    `val` (ground-truth boxes) under `data.root`, opened (read once per evaluation)."""
    name = VAL_DETECTIONS if config.eval.boxes == "detections" else VAL
    try:
        return open_split(config, name)
    except ConfigFileError as error:
        if name != VAL_DETECTIONS:
            raise
        raise ConfigFileError(  # MPII, for one, comes without detector boxes
            f"{error}; or evaluate on the ground-truth boxes with --boxes ground_truth"
        ) from None


def load_evaluated_model(
    config: Config, weights: str | Path, split: posedata.ConvertedSplit
) -> keras.Model:
    """The model in `weights` (a `.keras` file, or `.weights.h5` for the config's network),
    checked to predict the keypoints `split` holds (a InputFileError naming the file otherwise)."""
    from evopose.models import load_model

    model = load_model(weights, config, num_keypoints=split.num_keypoints)
    _check_model_keypoints(weights, model, split.dataset_info, split.folder)
    return model


def _check_model_keypoints(
    weights: str | Path, model: keras.Model, info: posedata.DatasetInfo, folder: str
) -> None:
    """A InputFileError when the model predicts other keypoints than the split holds."""
    from evopose.keypoints import read_keras

    predicted = int(model.output_shape[-1])
    if predicted != info.num_keypoints:
        raise InputFileError(
            f"weights file '{weights}' predicts {predicted} keypoints but {folder} holds "
            f"{info.num_keypoints} ({info.name}); evaluate it on a dataset of its keypoints"
        )
    stored = read_keras(weights) if str(weights).lower().endswith(".keras") else None
    if stored is not None and stored.keypoint_names != info.keypoint_names:
        raise InputFileError(
            f"weights file '{weights}' was trained on the keypoints {stored.summary()}, but "
            f"{folder} holds {info.summary()}"
        )


def predict_split(
    model: keras.Model,
    split: posedata.ConvertedSplit | str | Path,
    info: posedata.DatasetInfo,
    *,
    flip: bool,
    batch_size: int,
    limit: int | None = None,
    runtime: "Runtime | None" = None,
) -> Poses:
    """Keypoints in image pixels for every instance of a converted split (or its folder; first
    `limit` images)."""
    if not isinstance(split, posedata.ConvertedSplit):
        split = posedata.ConvertedSplit.open(split)
    folder = split.folder
    from evopose.engines import KerasRuntime

    runtime = runtime if runtime is not None else KerasRuntime(model)
    input_size = tuple(int(s) for s in model.input_shape[1:3])
    batches = posedata.prediction_batches(
        split,
        input_size=input_size,
        batch_size=batch_size,
        dataset_info=info,
        flip_test=flip,
    )
    ids, keypoints, box_scores, instance_ids = [], [], [], []
    seen: set[int] = set()
    from tqdm import tqdm

    batches = tqdm(
        batches, total=-(-split.examples // batch_size), desc="eval", unit="batch", leave=False
    )
    for batch in batches:
        mask = batch["mask"].numpy()
        batch_ids = batch["image_id"].numpy()[mask]
        if limit is not None:
            keep = np.array([_admit(int(i), seen, limit) for i in batch_ids], dtype=bool)
        else:
            keep = np.ones(len(batch_ids), dtype=bool)
        if not keep.any():
            break
        heatmaps = predict_heatmaps(
            runtime, batch["images"], batch.get("images_flipped"), info.flip_pairs
        )[mask][keep]
        coords, scores = cocoeval_tools.decode_heatmaps(heatmaps, input_size=input_size)
        transforms = batch["transform"].numpy()[mask][keep]
        image_coords = cocoeval_tools.to_image_coords(coords, transforms)
        ids.append(batch_ids[keep])
        keypoints.append(np.concatenate([image_coords, scores[..., None]], axis=-1))
        box_scores.append(batch["score"].numpy()[mask][keep])
        instance_ids.append(batch["instance_id"].numpy()[mask][keep])
    batches.close()
    if not ids:
        raise InputFileError(f"{folder} holds no instances to evaluate")
    return Poses(
        image_ids=np.concatenate(ids).astype(np.int64),
        keypoints=np.concatenate(keypoints).astype(np.float64),
        box_scores=np.concatenate(box_scores).astype(np.float64),
        instance_ids=np.concatenate(instance_ids).astype(np.int64),
    )


def predict_heatmaps(
    model: "keras.Model | Runtime",
    images: np.ndarray | tf.Tensor,
    flipped_images: np.ndarray | tf.Tensor | None,
    flip_pairs: Sequence[Sequence[int]],
) -> np.ndarray:
    """NHWK heatmaps of a batch of crops, averaged with the mirrored crops' when given; `model`
    is a Keras model or an `evopose.engines.Runtime`."""
    from evopose.engines import KerasRuntime, Runtime

    run = model if isinstance(model, Runtime) else KerasRuntime(model)
    heatmaps = run(np.asarray(images, dtype=np.float32))
    if flipped_images is None:
        return heatmaps
    mirrored = run(np.asarray(flipped_images, dtype=np.float32))
    return cocoeval_tools.flip_merge(heatmaps, mirrored, flip_pairs)


def format_metrics(metrics: cocoeval_tools.CocoStats) -> str:
    """The metrics as a markdown table."""
    return metrics.table()


def _admit(image_id: int, seen: set[int], limit: int) -> bool:
    if image_id in seen:
        return True
    if len(seen) >= limit:
        return False
    seen.add(image_id)
    return True


def _refuse_other_dataset(metrics_path: Path, folder: str) -> None:
    """A InputFileError when `metrics_path` holds the metrics of another split folder (a rerun on
    the same data may overwrite its own results)."""
    import json

    if not metrics_path.is_file():
        return
    try:
        previous = json.loads(metrics_path.read_text(encoding="utf-8")).get("split_folder")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        previous = None

    def where(path: str) -> str:
        return path.rstrip("/") if "://" in path else str(Path(path).resolve())

    if previous is not None and where(str(previous)) != where(str(folder)):
        raise InputFileError(
            f"{metrics_path} holds the results of another dataset ({previous}); "
            "write these elsewhere (results_path; `evopose eval --out`), or remove it"
        )


def _read_annotations(annotations: str) -> object:
    """The annotation file's JSON data, read through `tf.io.gfile` (local, `gs://`, ...); a
    InputFileError naming the file when it cannot be read."""
    import json

    try:
        with tf.io.gfile.GFile(annotations, "rb") as stream:
            return json.loads(stream.read())
    except (tf.errors.OpError, OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileError(
            f"annotation file {annotations}: cannot be read as JSON ({first_line(error)})"
        ) from None


def _ground_truth(annotations: str, data: object) -> object:
    """The ground truth for evaluation: the annotation file's data (`data`, which is changed
    where annotations lack 'area', as CrowdPose's and PoseTrack's do: each missing area is
    derived from the box (width x height), with a notice)."""
    entries = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return data  # cocoeval_tools names the problem
    missing = [a for a in entries if isinstance(a, dict) and "area" not in a]
    if not missing:
        return data
    for annotation in missing:
        box = annotation.get("bbox")
        if not (isinstance(box, list) and len(box) == 4):
            raise InputFileError(
                f"annotation file {annotations}: annotation {annotation.get('id')!r} has neither "
                "'area' nor a 'bbox' to derive it from"
            )
        annotation["area"] = float(box[2]) * float(box[3])
    log.warning(
        "annotation file %s: %d annotations have no 'area'; derived from their boxes "
        "(width x height)",
        annotations,
        len(missing),
    )
    return data


def _annotations(config: Config, stored: str, ground_truth: str | None = None) -> str:
    """The COCO ground truth of the evaluated split: `eval.annotations`, else the split's own
    (`ground_truth`, beside its shards), else the file the split was converted from (`stored`,
    for splits converted before posedata 0.4): where it was then, or, when the dataset has
    moved (another machine, a copied folder), by its name in `data.root` or
    `data.root/annotations/`. Every check goes through `tf.io.gfile`, so `gs://` works."""
    if config.eval.annotations is not None:
        given = str(config.eval.annotations)
        if not _is_file(given):
            raise ConfigFileError(f"{config.source}: eval.annotations: no such file '{given}'")
        return given
    if ground_truth is not None and _is_file(ground_truth):
        return ground_truth
    root = str(config.data.root)
    name = stored.rstrip("/").rsplit("/", 1)[-1]
    for path in (stored, _join(root, name), _join(root, "annotations", name)):
        if _is_file(path):
            if path != stored:
                log.info("annotation file %s (converted from %s, which is gone)", path, stored)
            return path
    raise ConfigFileError(
        f"{config.source}: eval.annotations is not set and the annotation file the val split "
        f"was converted from is gone ('{stored}'), nor is it in data.root ('{name}' or "
        f"'annotations/{name}'); set eval.annotations, copy the file there, or convert the "
        "split again (`evopose data convert --overwrite`) to keep its ground truth beside "
        "the shards"
    )


def _is_file(path: str) -> bool:
    try:
        return tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)
    except tf.errors.OpError:
        return False


def _join(root: str, *names: str) -> str:
    if "://" in root:
        return "/".join([root.rstrip("/"), *names])
    return os.path.join(root, *names)


PCKH_THRESHOLD = 0.5


def _pckh(
    data: object,
    poses: Poses,
    info: posedata.DatasetInfo,
    boxes: str,
    annotations: str,
) -> cocoeval_tools.PCKhResult | None:
    """PCKh@0.5 of the poses against the ground truth when its annotations hold `head_size`
    (as `evopose data convert --format mpii` writes them) and the boxes were the ground
    truth's (MPII's protocol; each pose is then one annotation's); else None, with a notice
    for an MPII dataset. MPII's mean leaves out pelvis and thorax."""
    entries = data.get("annotations") if isinstance(data, dict) else None
    with_heads = {
        int(a["id"]): a
        for a in entries or ()
        if isinstance(a, dict) and isinstance(a.get("head_size"), int | float) and "id" in a
    }
    if not with_heads:
        if info.name == "mpii":
            log.warning(
                "annotation file %s: no 'head_size' in its annotations, so no PCKh (MPII's "
                "metric); convert MPII's own JSON files with `evopose data convert --format mpii`",
                annotations,
            )
        return None
    if boxes != "ground_truth":
        log.warning(
            "PCKh (MPII's metric) is measured on ground-truth boxes; rerun with "
            "`--boxes ground_truth` for it"
        )
        return None
    rows = [
        i
        for i, instance in enumerate(poses.instance_ids)
        if with_heads.get(int(instance), {}).get("head_size", 0) > 0
    ]
    if len(rows) < len(poses.instance_ids):
        log.warning(
            "PCKh: %d of %d people have no head size (no labelled head) and are left out",
            len(poses.instance_ids) - len(rows),
            len(poses.instance_ids),
        )
    if not rows:
        return None
    chosen = [with_heads[int(poses.instance_ids[i])] for i in rows]
    truth = np.array([a["keypoints"] for a in chosen], dtype=np.float64)
    truth = truth.reshape(len(rows), info.num_keypoints, 3)
    exclude = [
        info.keypoint_names.index(name)
        for name in cocoeval_tools.MPII_MEAN_EXCLUDED
        if name in info.keypoint_names
    ]
    return cocoeval_tools.pckh(
        poses.keypoints[rows],
        truth,
        [float(a["head_size"]) for a in chosen],
        threshold=PCKH_THRESHOLD,
        exclude=exclude,
    )


def _pckh_record(pckh: cocoeval_tools.PCKhResult, info: posedata.DatasetInfo, data: object) -> dict:
    """PCKh for the metrics JSON: the mean, by body part and per keypoint (percent), the
    counts and how the head sizes were made."""
    header = data.get("info") if isinstance(data, dict) else None
    per_keypoint = [None if np.isnan(v) else float(v) for v in pckh.per_keypoint]
    return {
        "threshold": pckh.threshold,
        "mean": None if np.isnan(pckh.mean) else pckh.mean,
        "by_part": {
            k: (None if np.isnan(v) else v) for k, v in pckh.by_part(info.keypoint_names).items()
        },
        "per_keypoint": dict(zip(info.keypoint_names, per_keypoint, strict=True)),
        "counts": dict(zip(info.keypoint_names, map(int, pckh.counts), strict=True)),
        "excluded_from_mean": [info.keypoint_names[i] for i in pckh.excluded],
        "head_size": (header or {}).get("head_size", "head_size of each annotation"),
    }
