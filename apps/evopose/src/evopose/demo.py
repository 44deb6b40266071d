"""`evopose demo`: the whole method in minutes on a CPU, from nothing, with no download.

It writes a synthetic dataset, runs a small neuroevolution (the ancestor, then generations of
children that inherit their parents' weights), trains the best network a little longer,
evaluates its COCO keypoint AP, draws the search's report pictures and an annotated
prediction, and prints where everything is. Every step skips what is already done, so
rerunning the demo on its folder resumes it.

    DIR/data/             synthetic people: COCO files in coco/, TFRecords in train/, val/,
                          val-dets/
    DIR/demo.yaml         the search config the demo ran (`evopose search DIR/demo.yaml` works too)
    DIR/search/           the search folder: ledger, candidates/, report/*.png
    DIR/best.yaml         the best network's train config, continuing from its searched weights
    DIR/final/candidate-N/  its longer training (per candidate: a rerun with more generations
                          may crown another); best.keras there is the demo's final network
    DIR/prediction.png    the poses it finds on validation images
"""

import argparse
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evopose import atomic
from evopose.config import Config, apply_overrides, config_from_dict, dump_config, load_config
from evopose.errors import InputFileError
from evopose.search import export_best, run_search, write_report
from evopose.search.candidate import CandidateInfo, CandidateMetrics, search_resolution

log = logging.getLogger(__name__)

DEFAULT_WORK_DIR = Path("evopose-demo")
DEFAULT_IMAGES = (500, 40)  # synthetic train and validation images
IMAGE_SIZE = (128, 160)  # height, width of the synthetic images
PREDICTION_IMAGES = 4  # validation images in the prediction picture
PREDICTION_SCALE = 3  # the picture is drawn at 3x the synthetic images' size

# The search the demo runs: SPEC section 4's method at a size a CPU finishes in minutes.
DEMO_CONFIG = """\
model:
  name: evopose2d
  input_size: [96, 72]    # the search resolution: every candidate is built as written here
  # The ancestor: a slim genotype of the space (one block per module, few channels; module
  # strides as EvoPose2D-S: heatmaps at 1/2 of the input, 48x36), so that a CPU trains each
  # candidate in seconds; the search grows it where that pays (Eq. 2 charges parameters).
  genotype: [[3, 1, 1, 1], [3, 1, 1, 2], [3, 1, 2, 2], [3, 1, 2, 2], [3, 1, 3, 1],
             [3, 1, 4, 1], [3, 1, 4, 1]]
  # The paper's head is 128 wide: at 96x72 that is 97% of this ancestor's 91 MFLOPs. A
  # 48-wide head (19 MFLOPs in all) affords the 48x36 heatmaps that a precise pose needs.
  head_channels: 48
data:
  root: data
  shuffle_buffer: 1024
  # The final training's augmentation (the search's children flip only, as in the paper):
  # scale jitter and crop-centre shifts make the network robust to the detector's boxes.
  augment: {flip_prob: 0.5, scale_factor: 0.25, rotation_prob: 0.0, shift_factor: 0.08}
train:
  epochs: 18              # the best network's final training (children: search.child_epochs)
  batch_size: 16          # many small steps: at batch 32 the ancestor's validation loss was
                          # still on the all-zero plateau after 5 epochs (BENCHMARKS.md)
  val_batch_size: 64
  base_lr: 4.0e-3         # above the paper's: short runs of small networks; low enough that
                          # a child restarting from its parent's weights keeps them
  scale_lr: false
  warmup_epochs: 0
  weight_decay: 1.0e-5
eval:
  boxes: detections
  flip: true
  batch_size: 64
search:
  generations: 2
  children: 4             # lambda: 1 + 2 x 4 = 9 networks, each one different
  parents: 2              # mu
  ancestor_epochs: 5      # e0
  child_epochs: 1         # e
  target: 1.0e+5          # T, in parameters (about the ancestor's)
  gamma: -0.07
  cost: params
  warmup_epochs: 0
  flip_only: true
  seed: 0
"""


@dataclass(frozen=True)
class Finding:
    """One network of the search as the summary tells it."""

    id: int
    generation: int
    params: float
    val_loss: float
    fitness: float
    mutations: tuple[str, ...] = ()  # from the ancestor to it


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: the final network's metrics and where everything is."""

    work_dir: Path
    metrics: dict[str, float]
    best_candidate: int
    best_genotype: str
    paths: dict[str, Path]
    seconds: float
    stopped: bool = False  # the search was stopped (Ctrl-C) before it finished
    fitness: tuple[float, float] = (float("nan"), float("nan"))  # ancestor's, best's
    candidates: int = 0  # networks the search trained
    networks: int = 0  # distinct networks (layer shapes) among them
    ancestor: Finding | None = None
    best: Finding | None = None
    resolution: tuple[int, int] = (0, 0)
    final_epochs: int = 0


def demo_config(
    work_dir: str | Path, overrides: Sequence[str] = (), data_root: str | Path | None = None
) -> Config:
    """The demo's search config with `data.root` in the work folder and `overrides` applied."""
    raw = yaml.safe_load(DEMO_CONFIG)
    raw["data"]["root"] = str(data_root or Path(work_dir) / "data")
    return config_from_dict(apply_overrides(raw, overrides), source="evopose demo")


def run_demo(
    work_dir: str | Path = DEFAULT_WORK_DIR,
    *,
    overrides: Sequence[str] = (),
    images: tuple[int, int] = DEFAULT_IMAGES,
    say: Callable[[str], None] = log.info,
) -> DemoResult:
    """Runs (or resumes) the demo in `work_dir`; `say` receives one line per step."""
    started = time.monotonic()
    work_dir = Path(work_dir)
    paths = _paths(work_dir)
    steps = 7

    def step(number: int, text: str) -> None:
        say(f"[{number}/{steps} {time.monotonic() - started:5.0f}s] {text}")

    step(1, f"synthetic dataset ({images[0]} train + {images[1]} val images) -> {paths['data']}")
    _make_data(paths["data"], images)

    config = demo_config(work_dir, overrides)
    atomic.write_text(paths["config"], dump_config(config))
    s = config.search
    step(
        2,
        f"search: ancestor {_count(s.ancestor_epochs, 'epoch')}, then "
        f"{_count(s.generations, 'generation')} of "
        f"{s.children} children ({_count(s.child_epochs, 'epoch')} each, weights inherited) -> "
        f"{paths['search']}",
    )
    outcome = run_search(config, paths["search"])
    if outcome.reason == "requested":
        best = outcome.best
        return DemoResult(
            work_dir, {}, best.id if best else -1, "", paths, time.monotonic() - started, True
        )

    step(3, f"report pictures -> {paths['search'] / 'report'}")
    report = write_report(paths["search"])

    exported = export_best(paths["search"], paths["best_config"], transfer=True)
    best = exported.candidate
    paths["final"] = work_dir / "final" / f"candidate-{best.id}"
    step(
        4,
        f"training the best network (candidate {best.id}, generation {best.generation}) "
        f"{_count(config.train.epochs, 'more epoch')} -> {paths['final']}",
    )
    from evopose.evaluation import evaluate_model
    from evopose.training import train

    best_config = load_config(paths["best_config"])
    result = train(best_config, paths["final"], verbose=2)

    step(5, "COCO keypoint AP of the final network (detector boxes, flip test)")
    evaluation = evaluate_model(
        best_config, result.best_model, results_path=paths["final"] / "val-dets.results.json"
    )
    metrics = {name: float(value) for name, value in dict(evaluation.metrics).items()}

    step(6, f"annotated prediction -> {paths['prediction']}")
    draw_prediction(result.best_model, paths["data"], paths["prediction"])

    step(7, "done")
    paths = {
        **paths,
        "final_model": result.best_model,
        "metrics": evaluation.metrics_path,
        **{f"picture_{name}": path for name, path in report.pictures.items()},
    }
    ancestor = next(c for c in report.lineage if c.parent_id is None)
    return DemoResult(
        work_dir,
        metrics,
        best.id,
        CandidateInfo.of(best).genotype,
        paths,
        time.monotonic() - started,
        fitness=(ancestor.fitness, best.fitness),
        candidates=report.counts["done"],
        networks=_distinct_networks(paths["search"], search_resolution(config)),
        ancestor=_finding(ancestor, []),
        best=_finding(best, report.lineage),
        resolution=search_resolution(config),
        final_epochs=config.train.epochs,
    )


def draw_prediction(model_path: Path, data_root: Path, out: Path) -> Path:
    """Draws the poses `model_path` finds in the first validation images (detector boxes)
    into one picture `out`, enlarged so the skeletons are visible."""
    import cv2
    import numpy as np

    import posedata
    from evopose.datasets import RAW_FOLDER
    from evopose.models import load_model
    from evopose.prediction import PosePredictor, draw_poses

    raw = data_root / RAW_FOLDER
    annotations = _read_json(raw / "val.json")
    detections = _read_json(raw / "val_detections.json")
    predictor = PosePredictor(load_model(model_path), posedata.COCO_PERSON)
    tiles = []
    for image in annotations["images"][:PREDICTION_IMAGES]:
        pixels = cv2.imread(str(raw / "images" / "val" / image["file_name"]), cv2.IMREAD_COLOR)
        if pixels is None:
            raise InputFileError(f"cannot read the synthetic image {image['file_name']} in {raw}")
        big = cv2.resize(
            pixels, None, fx=PREDICTION_SCALE, fy=PREDICTION_SCALE, interpolation=cv2.INTER_CUBIC
        )
        found = [d for d in detections if d["image_id"] == image["id"] and d["score"] >= 0.5]
        boxes = np.asarray([d["bbox"] for d in found], np.float32).reshape(-1, 4)
        scores = np.asarray([d["score"] for d in found], np.float32)
        people = predictor(big, boxes * PREDICTION_SCALE, scores)
        tiles.append(draw_poses(big, people, posedata.COCO_PERSON))
    if not tiles:
        raise InputFileError(f"{raw / 'val.json'} lists no validation images")
    rows = [np.hstack(tiles[i : i + 2]) for i in range(0, len(tiles) - 1, 2)]
    picture = np.vstack(rows) if rows else tiles[0]
    with atomic.atomic_path(out, suffix=out.suffix) as tmp:
        if not cv2.imwrite(str(tmp), picture):
            raise InputFileError(f"cannot write {out}")
    return out


def format_result(result: DemoResult) -> str:
    """The demo's closing summary in plain words: what the search found, how good the final
    network is, and where the pictures and files are."""
    if result.stopped:
        return f"demo stopped; rerun `evopose demo --work-dir {result.work_dir}` to resume"
    m = result.metrics
    nan = float("nan")
    lines = [f"evopose demo finished in {result.seconds / 60:.1f} min.", ""]
    ancestor, best = result.ancestor, result.best
    height, width = result.resolution
    if ancestor is not None and best is not None:
        lines.append(
            f"The search trained {result.candidates} networks ({result.networks} different) at "
            f"{height}x{width}, each child starting from its parent's weights."
        )
        if best.id == ancestor.id:
            lines.append("  No child beat the ancestor; the best network is the ancestor itself.")
        else:
            how = "; ".join(best.mutations) or "no change"
            lines += [
                f"  The best, candidate {best.id} (generation {best.generation}), is the ancestor "
                f"changed by: {how}.",
                f"  It has {_size(best.params)} parameters (the ancestor {_size(ancestor.params)})"
                f" and a validation loss {_change(best.val_loss, ancestor.val_loss)} the "
                f"ancestor's ({ancestor.val_loss:.1f} -> {best.val_loss:.1f});",
                f"  its fitness J (Eq. 2, loss weighed by size; lower is better) is "
                f"{_change(best.fitness, ancestor.fitness)} the ancestor's "
                f"({ancestor.fitness:.4g} -> {best.fitness:.4g}).",
            ]
    lines += [
        f"Trained {_count(result.final_epochs, 'more epoch')}, it finds the synthetic "
        f"validation people with AP {m.get('AP', nan):.3f} (AP50 {m.get('AP50', nan):.3f}, AP75 "
        f"{m.get('AP75', nan):.3f}; detector boxes, flip test; 1.0 would be perfect).",
        f"  genotype {result.best_genotype}",
        "",
    ]
    pictures = {
        "prediction": "its poses on validation images",
        "picture_convergence": "fitness by generation (the paper's Fig. 4)",
        "picture_pareto": "every network: loss against size, Pareto front (Fig. 5)",
        "picture_lineage": "how the best network descends from the ancestor",
    }
    files = {
        "data": "synthetic dataset",
        "config": "search config",
        "search": "search folder (ledger, candidates)",
        "best_config": "best network's train config",
        "final_model": "final network",
        "metrics": "its COCO metrics",
    }
    width_ = max(len(text) for text in (*pictures.values(), *files.values()))
    lines.append("Pictures:")
    lines += [f"  {text:<{width_}}  {result.paths[key]}" for key, text in pictures.items()]
    lines.append("Files:")
    lines += [f"  {text:<{width_}}  {result.paths[key]}" for key, text in files.items()]
    lines += [
        "",
        f"rerun `evopose demo --work-dir {result.work_dir}` to resume; "
        f"`evopose search report {result.paths['search']}` to see the search again",
    ]
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    """`1 epoch`, `2 epochs`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _size(params: float) -> str:
    return f"{params / 1e6:.2f}M" if params >= 1e6 else f"{params / 1e3:.0f}k"


def _change(value: float, reference: float) -> str:
    """`23% below` / `5% above` / `equal to`, for a lower-is-better number."""
    if not reference or value == reference:
        return "equal to"
    percent = 100 * (value - reference) / abs(reference)
    return f"{abs(percent):.0f}% {'below' if percent < 0 else 'above'}"


def _finding(candidate: Any, lineage: Sequence[Any]) -> Finding:
    infos = [CandidateInfo.of(c) for c in lineage if c.parent_id is not None]
    mutations = tuple(info.mutation for info in infos if info.mutation)
    metrics = CandidateMetrics.of(candidate)
    return Finding(
        candidate.id,
        candidate.generation,
        float(metrics.params),
        float(metrics.val_loss),
        float(candidate.fitness),
        mutations,
    )


def _distinct_networks(search_dir: Path, resolution: tuple[int, int]) -> int:
    """How many different networks (layer shapes) the search trained."""
    import evosearch
    import posenets

    with evosearch.Ledger(search_dir / "ledger.sqlite", create=False) as ledger:
        done = ledger.candidates(status="done")
    return len(
        {
            posenets.network_structure(c.genotype, resolution, search_resolution=resolution)
            for c in done
        }
    )


# --- command line ---------------------------------------------------------------------------


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Registers `evopose demo`."""
    from evopose.cliutil import add_command as _command
    from evopose.cliutil import examples as _examples

    demo = _command(
        commands,
        "demo",
        "the method end to end in minutes on a CPU: synthetic data, a small search, the best "
        "network trained longer, its AP and pictures; rerun to resume",
        _examples(
            "evopose demo",
            "evopose demo --work-dir /tmp/demo --set search.generations=3",
        ),
    )
    demo.add_argument(
        "--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="demo folder (default: %(default)s)"
    )
    demo.add_argument(
        "--images",
        type=int,
        nargs=2,
        default=DEFAULT_IMAGES,
        metavar=("TRAIN", "VAL"),
        help="synthetic images to make (default: %(default)s)",
    )
    demo.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change the demo's search config, e.g. --set search.children=8 (repeatable)",
    )
    demo.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    result = run_demo(
        args.work_dir,
        overrides=args.overrides,
        images=tuple(args.images),
        say=lambda text: print(text, flush=True),
    )
    print(format_result(result), flush=True)
    return 130 if result.stopped else 0


# --- helpers --------------------------------------------------------------------------------


def _paths(work_dir: Path) -> dict[str, Path]:
    return {
        "data": work_dir / "data",
        "config": work_dir / "demo.yaml",
        "search": work_dir / "search",
        "best_config": work_dir / "best.yaml",
        "prediction": work_dir / "prediction.png",
    }


def _make_data(root: Path, images: tuple[int, int]) -> None:
    """The synthetic dataset, unless `root` already holds it complete."""
    from evopose.datasets import MANIFEST, TRAIN, VAL, VAL_DETECTIONS, write_synthetic_dataset

    if all((root / split / MANIFEST).is_file() for split in (TRAIN, VAL, VAL_DETECTIONS)):
        log.info("%s already holds the synthetic dataset", root)
        return
    train_images, val_images = images
    write_synthetic_dataset(
        root,
        train_images=train_images,
        val_images=val_images,
        image_size=IMAGE_SIZE,
        overwrite=True,  # a partial dataset from an interrupted demo
    )


def _read_json(path: Path) -> Any:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{path} is missing; remove {path.parent.parent} and rerun") from None
