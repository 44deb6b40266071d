"""COCO keypoint evaluation (OKS AP/AR) through pycocotools or faster-coco-eval, minus the traps."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cocoeval_tools._checks import is_integer, preview
from cocoeval_tools.errors import (
    BackendUnavailableError,
    EmptyResultsWarning,
    GroundTruthError,
    InvalidInputError,
)
from cocoeval_tools.oks import resolve_sigmas
from cocoeval_tools.results import check_results, read_results

logger = logging.getLogger(__name__)

STAT_NAMES: tuple[str, ...] = (
    "AP",
    "AP50",
    "AP75",
    "APM",
    "APL",
    "AR",
    "AR50",
    "AR75",
    "ARM",
    "ARL",
)
"""The 10 COCO keypoint statistics, in pycocotools' ``stats`` order."""

BACKENDS: tuple[str, ...] = ("pycocotools", "faster-coco-eval")
"""Evaluation backends ``evaluate`` accepts; the second needs the ``fast`` extra."""

ANNOTATION_KEYS = ("id", "image_id", "category_id", "keypoints", "num_keypoints", "area", "bbox")
"""Keys every ground-truth annotation needs for keypoint evaluation."""


class CocoStats(dict[str, float]):
    """The 10 COCO keypoint statistics by name (AP, AP50, ..., ARL); ``str()`` gives a table."""

    @classmethod
    def from_stats(cls, stats: Sequence[float]) -> CocoStats:
        """Name the first 10 values of a pycocotools ``stats`` array."""
        if len(stats) < len(STAT_NAMES):
            raise InvalidInputError(f"need {len(STAT_NAMES)} stats, got {len(stats)}")
        return cls(
            zip(STAT_NAMES, (float(value) for value in stats[: len(STAT_NAMES)]), strict=True)
        )

    def table(self, digits: int = 3) -> str:
        """The statistics as a one-row markdown table."""
        cells = [f"{self[name]:.{digits}f}" for name in STAT_NAMES]
        widths = [max(len(name), len(cell)) for name, cell in zip(STAT_NAMES, cells, strict=True)]
        header = " | ".join(
            name.ljust(width) for name, width in zip(STAT_NAMES, widths, strict=True)
        )
        rule = " | ".join("-" * width for width in widths)
        row = " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        return f"| {header} |\n| {rule} |\n| {row} |"

    def __str__(self) -> str:
        return self.table()


@dataclass(frozen=True)
class _GroundTruth:
    """A checked COCO keypoints dataset, with the COCO object it came from (if any)."""

    dataset: Mapping
    source: object | None
    image_ids: frozenset[int]
    category_ids: frozenset[int]
    keypoint_values: frozenset[int]  # lengths of the annotations' keypoint lists


def evaluate(
    ground_truth: str | os.PathLike | Mapping | COCO,
    results: str | os.PathLike | Sequence[Mapping],
    *,
    image_ids: Sequence[int] | None = None,
    sigmas: Sequence[float] | np.ndarray | None = None,
    backend: str = "pycocotools",
) -> CocoStats:
    """COCO keypoint AP/AR of ``results`` (a results JSON path or list of dicts) against
    ``ground_truth`` (a keypoints JSON path, dataset dict or loaded COCO object).

    ``image_ids`` restricts the evaluation, ground truth included, to those images; ``sigmas``
    gives one OKS sigma per keypoint (COCO's when None); ``backend`` is one of ``BACKENDS``.
    """
    run = _backend(backend)
    truth = _load_ground_truth(ground_truth)
    checked = (
        read_results(results) if isinstance(results, str | os.PathLike) else check_results(results)
    )
    _require_known_images(checked, truth)
    _require_known_categories(checked, truth)
    if image_ids is not None:
        subset = _check_image_ids(image_ids, truth)
        kept = [result for result in checked if result["image_id"] in subset]
        if len(kept) < len(checked):
            logger.info("dropped %d results outside image_ids", len(checked) - len(kept))
        checked, image_ids = kept, sorted(subset)
    num_keypoints = _keypoint_count(checked, truth)
    oks_sigmas = resolve_sigmas(sigmas, num_keypoints) if num_keypoints else None
    if not checked or oks_sigmas is None:
        warnings.warn(
            "no keypoint results to evaluate: every metric is reported as 0",
            EmptyResultsWarning,
            stacklevel=2,
        )
        return CocoStats.from_stats([0.0] * len(STAT_NAMES))
    stats = run(truth, checked, image_ids, oks_sigmas)
    return CocoStats.from_stats(stats)


def _keypoint_count(results: list[dict], truth: _GroundTruth) -> int | None:
    """Keypoints per pose, the same in results and ground truth (None when neither has any)."""
    counts = sorted({values // 3 for values in truth.keypoint_values})
    if results:
        per_pose = len(results[0]["keypoints"]) // 3
        if set(counts) - {per_pose}:
            raise GroundTruthError(
                f"results hold {per_pose} keypoints per pose but ground-truth annotations "
                f"hold {preview(counts)}"
            )
        return per_pose
    if len(counts) > 1:
        raise GroundTruthError(f"ground-truth annotations hold {preview(counts)} keypoints")
    return counts[0] if counts else None


def _backend(
    name: str,
) -> Callable[[_GroundTruth, list[dict], list[int] | None, np.ndarray], np.ndarray]:
    """The runner of the backend called ``name``; imports faster-coco-eval only when asked."""
    if name == "pycocotools":
        return _run_pycocotools
    if name == "faster-coco-eval":
        _import_faster_coco_eval()
        return _run_faster_coco_eval
    raise InvalidInputError(f"backend must be one of {', '.join(BACKENDS)}; got {name!r}")


def _import_faster_coco_eval() -> ModuleType:
    try:
        return importlib.import_module("faster_coco_eval")
    except ImportError:
        raise BackendUnavailableError(
            "backend 'faster-coco-eval' needs the optional package faster-coco-eval: "
            "pip install 'cocoeval-tools[fast]'"
        ) from None


@contextlib.contextmanager
def _quiet(backend: str) -> Iterator[None]:
    """Capture what a backend prints and log it at debug level instead."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        text = captured.getvalue().strip()
        if text:
            logger.debug("%s output:\n%s", backend, text)


def _run_pycocotools(
    truth: _GroundTruth, results: list[dict], image_ids: list[int] | None, sigmas: np.ndarray
) -> np.ndarray:
    with _quiet("pycocotools"):
        if isinstance(truth.source, COCO):
            ground_truth = truth.source
        else:
            ground_truth = COCO()
            ground_truth.dataset = truth.dataset
            ground_truth.createIndex()
        evaluator = COCOeval(ground_truth, ground_truth.loadRes(results), iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = sigmas
        if image_ids is not None:
            evaluator.params.imgIds = image_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats)


def _run_faster_coco_eval(
    truth: _GroundTruth, results: list[dict], image_ids: list[int] | None, sigmas: np.ndarray
) -> np.ndarray:
    faster = _import_faster_coco_eval()
    with _quiet("faster-coco-eval"):
        if isinstance(truth.source, faster.COCO):
            ground_truth = truth.source
        else:
            ground_truth = faster.COCO(truth.dataset, print_function=logger.debug)
        evaluator = faster.COCOeval_faster(
            ground_truth,
            ground_truth.loadRes(results),
            iouType="keypoints",
            kpt_oks_sigmas=sigmas.tolist(),
            print_function=logger.debug,
        )
        if image_ids is not None:
            evaluator.params.imgIds = image_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats)


def _load_ground_truth(ground_truth: object) -> _GroundTruth:
    """Read and check a COCO keypoints dataset given as a path, a dict or a COCO object."""
    source = None
    if isinstance(ground_truth, str | os.PathLike):
        dataset = _read_json(Path(ground_truth))
        where = str(ground_truth)
    elif isinstance(ground_truth, Mapping):
        dataset, where = ground_truth, "the ground-truth dict"
    elif isinstance(getattr(ground_truth, "dataset", None), Mapping):
        source, dataset, where = ground_truth, ground_truth.dataset, "the ground-truth COCO object"
    else:
        raise GroundTruthError(
            "ground_truth must be a COCO keypoints JSON path, a dataset dict or a loaded COCO "
            f"object; got {type(ground_truth).__name__}"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(dataset.get(key), list):
            raise GroundTruthError(f"{where} lacks a '{key}' list (not a COCO dataset)")
    lacking_id = [position for position, image in enumerate(dataset["images"]) if "id" not in image]
    if lacking_id:
        raise GroundTruthError(f"images[{lacking_id[0]}] in {where} lacks an 'id'")
    image_ids = frozenset(image["id"] for image in dataset["images"])
    keypoint_values = set()
    for position, annotation in enumerate(dataset["annotations"]):
        missing = [key for key in ANNOTATION_KEYS if key not in annotation]
        if missing:
            raise GroundTruthError(
                f"annotation {annotation.get('id', f'#{position}')} in {where} lacks "
                f"{', '.join(map(repr, missing))}: ground truth must be a COCO keypoints file"
            )
        keypoint_values.add(len(annotation["keypoints"]))
    return _GroundTruth(
        dataset=dataset,
        source=source,
        image_ids=image_ids,
        category_ids=frozenset(category["id"] for category in dataset["categories"]),
        keypoint_values=frozenset(keypoint_values),
    )


def _read_json(path: Path) -> Mapping:
    try:
        with path.open() as stream:
            loaded = json.load(stream)
    except FileNotFoundError:
        raise GroundTruthError(f"ground-truth file not found: {path}") from None
    except json.JSONDecodeError as error:
        raise GroundTruthError(f"ground-truth file {path} is not valid JSON: {error}") from None
    if not isinstance(loaded, Mapping):
        raise GroundTruthError(f"ground-truth file {path} must hold a JSON object (a COCO dataset)")
    return loaded


def _require_known_images(results: list[dict], truth: _GroundTruth) -> None:
    unknown = sorted({result["image_id"] for result in results} - truth.image_ids)
    if unknown:
        raise GroundTruthError(
            f"results name {len(unknown)} image(s) missing from the ground truth: "
            f"{preview(unknown)}; evaluate against the annotation file these images come from"
        )


def _require_known_categories(results: list[dict], truth: _GroundTruth) -> None:
    unknown = sorted({result["category_id"] for result in results} - truth.category_ids)
    if unknown:
        raise GroundTruthError(
            f"results use category_id {preview(unknown)}, not among the ground truth's "
            f"categories {preview(sorted(truth.category_ids))}"
        )


def _check_image_ids(image_ids: Sequence[int], truth: _GroundTruth) -> frozenset[int]:
    if isinstance(image_ids, str | bytes) or not isinstance(image_ids, Sequence | np.ndarray):
        raise InvalidInputError(f"image_ids must be a sequence of integers, got {image_ids!r}")
    ids = image_ids.ravel().tolist() if isinstance(image_ids, np.ndarray) else list(image_ids)
    bad = [value for value in ids if not is_integer(value)]
    if bad:
        raise InvalidInputError(f"image_ids must be integers, got {preview(bad)}")
    if not ids:
        raise InvalidInputError("image_ids is empty: pass None to evaluate every image")
    unknown = sorted(set(ids) - truth.image_ids)
    if unknown:
        raise GroundTruthError(
            f"image_ids name {len(unknown)} image(s) missing from the ground truth: "
            f"{preview(unknown)}"
        )
    return frozenset(int(value) for value in ids)
