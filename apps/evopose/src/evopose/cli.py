"""The `evopose` command: data, train, eval, predict, info, export, search and demo.

User errors (`EvoposeError` and the packages' own input errors) become one line on stderr and
exit code 2, without a traceback. TensorFlow is imported only by the commands that need it.
"""

import argparse
import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from evopose import __version__
from evopose.cliutil import USER_ERROR_EXIT, given
from evopose.cliutil import add_command as _command
from evopose.cliutil import add_config_arguments as _add_config_arguments
from evopose.cliutil import examples as _examples
from evopose.errors import EvoposeError

log = logging.getLogger("evopose")

# posedata.KEYPOINT_SETS's names (posedata imports TensorFlow; arguments are checked before it).
KEYPOINT_SETS = ("coco", "crowdpose", "aic", "mpii", "posetrack18", "ochuman")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line `argv` (default: `sys.argv[1:]`) and returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.handler is None:
        parser.print_help()
        return USER_ERROR_EXIT
    level = args.verbose - args.quiet
    with contextlib.ExitStack() as stack:
        if level < 1:  # TensorFlow's C++ start-up lines only with -v
            stack.enter_context(native_logs_filtered())
        _setup_logging(level)
        return _run_handler(args)


def _run_handler(args: argparse.Namespace) -> int:
    """Runs the subcommand; user errors become one line and exit code 2."""
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        print("evopose: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # only user errors (see _is_user_error) become one line
        if not _is_user_error(error):
            from evopose.atomic import disk_full_error, is_disk_full

            if not is_disk_full(error):
                raise
            error = disk_full_error(_output_folder(args))  # e.g. SQLite's "disk is full"
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"evopose: error: {message}", file=sys.stderr)
        return USER_ERROR_EXIT


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the whole command, with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="evopose",
        description="Train, evaluate and deploy EvoPose2D and other top-down pose networks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples(
            "evopose demo",
            "evopose data synth --out data/synth",
            "evopose train apps/evopose/configs/tiny_synthetic.yaml",
            "evopose eval runs/tiny_synthetic/config.yaml --weights runs/tiny_synthetic/best.keras",
            "evopose predict --weights runs/tiny_synthetic/best.keras photo.jpg",
            "evopose info apps/evopose/configs/evopose2d_s.yaml",
            "evopose search apps/evopose/configs/search-cpu.yaml",
        ),
    )
    parser.add_argument("--version", action="version", version=f"evopose {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less log output")
    parser.set_defaults(handler=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_data(commands)
    _add_train(commands)
    _add_eval(commands)
    _add_predict(commands)
    _add_info(commands)
    _add_export(commands)
    from evopose.demo import add_parser as add_demo_parser
    from evopose.import_weights import add_parser as add_import_weights_parser
    from evopose.search.command import add_parser as add_search_parser

    add_import_weights_parser(commands)
    add_search_parser(commands)
    add_demo_parser(commands)
    return parser


# --- subcommands ------------------------------------------------------------------------


def _add_data(commands: argparse._SubParsersAction) -> None:
    data = _command(commands, "data", "prepare datasets (COCO to TFRecords, synthetic data)")
    data.set_defaults(handler=lambda args: data.print_help() or USER_ERROR_EXIT)
    sub = data.add_subparsers(title="data commands", metavar="COMMAND")

    convert = _command(
        sub,
        "convert",
        "COCO keypoint annotations + images (+ person detections) to TFRecord shards",
        _examples(
            "evopose data convert --split train --annotations person_keypoints_train2017.json "
            "--images train2017 --out data/coco",
            "evopose data convert --split val --annotations person_keypoints_val2017.json "
            "--images val2017 --detections COCO_val2017_detections_AP_H_56_person.json "
            "--out data/coco",
            "evopose data convert --format mpii --split val --annotations mpii_val.json "
            "--images mpii/images --head-boxes gt_valid.mat --out data/mpii",
        ),
    )
    convert.add_argument("--split", choices=("train", "val"), required=True, help="which split")
    convert.add_argument(
        "--annotations", required=True, type=Path, help="COCO keypoints JSON (or MPII's JSON)"
    )
    convert.add_argument(
        "--format",
        choices=("coco", "mpii"),
        default="coco",
        help="annotation format: COCO keypoints (default) or MPII's own JSON (mpii_train.json, "
        "mpii_val.json as HRNet and mmpose distribute them)",
    )
    convert.add_argument(
        "--head-boxes",
        type=Path,
        help="with --format mpii: MPII's head boxes for PCKh (gt_valid.mat / mpii_gt_val.mat, "
        "or a JSON list of [x1, y1, x2, y2]); default: the head_top-upper_neck segment",
    )
    convert.add_argument("--images", required=True, type=Path, help="folder of the JPEG images")
    convert.add_argument(
        "--detections",
        type=Path,
        help="person detections (COCO results JSON) for the val split: also writes 'val-dets'",
    )
    convert.add_argument("--out", required=True, type=Path, help="dataset folder (data.root)")
    convert.add_argument("--shard-size", type=int, default=1024, help="examples per shard")
    _add_keypoints_argument(
        convert, "default: the annotation file's category (known sets by their names)"
    )
    convert.add_argument(
        "--overwrite", action="store_true", help="replace a conversion of other input"
    )
    convert.set_defaults(handler=_run_convert)

    synth = _command(
        sub,
        "synth",
        "write the synthetic pose dataset (train, val, val-dets and its annotations)",
        _examples("evopose data synth --out data/synth --train 512 --val 64"),
    )
    synth.add_argument("--out", required=True, type=Path, help="dataset folder (data.root)")
    synth.add_argument("--train", type=int, default=512, help="training images")
    synth.add_argument("--val", type=int, default=64, help="validation images")
    synth.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), help="image height and width"
    )
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    synth.set_defaults(handler=_run_synth)


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = _command(
        commands,
        "train",
        "train and validate a network; rerun the same command to resume",
        _examples(
            "evopose train apps/evopose/configs/evopose2d_s.yaml --tpu my-tpu",
            "evopose train apps/evopose/configs/tiny_synthetic.yaml --devices 2 "
            "--set train.batch_size=16",
        ),
    )
    _add_config_arguments(train)
    train.add_argument("--run-dir", type=Path, help="run folder (default: runs/<config name>)")
    train.add_argument("--epochs", type=int, help="override train.epochs")
    where = train.add_mutually_exclusive_group()
    where.add_argument(
        "--tpu", metavar="NAME", help="train on this Cloud TPU ('local' on a TPU VM)"
    )
    where.add_argument(
        "--devices", type=int, metavar="N", help="split the CPU into N logical devices (testing)"
    )
    train.set_defaults(handler=_run_train)


def _add_eval(commands: argparse._SubParsersAction) -> None:
    evaluate = _command(
        commands,
        "eval",
        "COCO keypoint AP with detector (or ground-truth) boxes, flip test and rescoring",
        _examples(
            "evopose eval runs/evopose2d_s/config.yaml --weights runs/evopose2d_s/best.keras",
            "evopose eval CONFIG --weights W --boxes ground_truth --no-flip --limit 100",
            "evopose eval CONFIG --weights W --runtime tflite --threads 2",
        ),
    )
    _add_config_arguments(evaluate)
    evaluate.add_argument("--weights", required=True, type=Path, help=".keras or .weights.h5")
    evaluate.add_argument("--limit", type=int, help="evaluate only the first N images")
    evaluate.add_argument(
        "--boxes", choices=("detections", "ground_truth"), help="override eval.boxes"
    )
    evaluate.add_argument("--no-flip", action="store_true", help="turn the flip test off")
    evaluate.add_argument("--out", type=Path, help="results JSON (default: beside the weights)")
    _add_runtime_arguments(evaluate, "keras")  # the figures of training's validation, exactly
    evaluate.set_defaults(handler=_run_eval)


def _add_predict(commands: argparse._SubParsersAction) -> None:
    predict = _command(
        commands,
        "predict",
        "draw the poses found in an image, a folder of images or a video",
        _examples(
            "evopose predict --weights runs/evopose2d_s/best.keras street.jpg",
            "evopose predict --weights best.keras --boxes boxes.json --out annotated/ photos/",
            "evopose predict --weights best.keras clip.mp4",
        ),
    )
    predict.add_argument("input", type=Path, help="an image, a folder of images or a video")
    predict.add_argument("--weights", required=True, type=Path, help="a .keras model")
    predict.add_argument(
        "--boxes",
        type=Path,
        help="person boxes: COCO detection results JSON (image_id, bbox, score; ids named by "
        "--annotations or by numeric file names) or {file name: [[x, y, w, h, score], ...]}; "
        "default: OpenCV's HOG people detector (the whole picture when it finds nobody)",
    )
    predict.add_argument(
        "--annotations",
        type=Path,
        help="COCO annotation file whose images name the image_ids of --boxes",
    )
    predict.add_argument(
        "--detector",
        type=Path,
        metavar="FILE.onnx",
        help="a person detector as an ONNX model (run by onnxruntime; input and output formats "
        "in the app README) instead of OpenCV's HOG detector; --box-score and --box-nms apply",
    )
    predict.add_argument(
        "--box-score", type=float, default=0.3, help="ignore boxes scoring below this"
    )
    predict.add_argument(
        "--box-nms",
        type=float,
        default=0.6,
        metavar="IOU",
        help="drop a box overlapping a better one by more than this IoU (1: keep all)",
    )
    predict.add_argument("--out", type=Path, help="output folder (default: <input>_poses)")
    predict.add_argument(
        "--min-score", type=float, default=0.2, help="hide keypoints scoring below this"
    )
    _add_keypoints_argument(predict, "default: the description stored in the model")
    _add_runtime_arguments(predict, "auto")
    predict.set_defaults(handler=_run_predict)


def _add_runtime_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    """--runtime (default `default`) and --threads: where the network runs."""
    parser.add_argument(
        "--runtime",
        choices=("auto", "keras", "tflite", "onnxruntime"),
        default=default,
        help="where the network runs (all exact float32): auto takes the fastest installed, "
        "a static-batch TFLite/XNNPACK export (made once and cached), else ONNX Runtime, "
        f"else Keras (default: {default})",
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads of the runtime (default: all)"
    )


def _add_info(commands: argparse._SubParsersAction) -> None:
    info = _command(
        commands,
        "info",
        "parameters, GFLOPs and output shape of a model",
        _examples(
            "evopose info apps/evopose/configs/evopose2d_l.yaml",
            "evopose info runs/tiny_synthetic/best.keras",
            "evopose info evopose2d_xs",
        ),
    )
    info.add_argument("model", help="a .keras file, a YAML config or a posenets model name")
    info.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    info.set_defaults(handler=_run_info)


def _add_export(commands: argparse._SubParsersAction) -> None:
    export = _command(
        commands,
        "export",
        "export for deployment and check the reloaded export against the Keras model",
        _examples(
            "evopose export --weights runs/evopose2d_s/best.keras --format tflite",
            "evopose export --weights best.keras --format onnx --out model.onnx",
        ),
    )
    export.add_argument("--weights", required=True, type=Path, help="a .keras model")
    export.add_argument("--format", required=True, choices=("saved_model", "tflite", "onnx"))
    export.add_argument("--out", type=Path, help="output path (default: beside the weights)")
    export.add_argument(
        "--batch",
        type=int,
        metavar="N",
        help="a fixed batch size (tflite: XNNPACK then runs the transposed convolutions too)",
    )
    export.set_defaults(handler=_run_export)


# --- handlers -----------------------------------------------------------------------------


def _run_convert(args: argparse.Namespace) -> int:
    _require_file(args.annotations, "--annotations")
    _require_dir(args.images, "--images")
    if args.detections is not None:
        _require_file(args.detections, "--detections")
        if args.split != "val":
            raise EvoposeError("--detections belongs to the val split (--split val)")
    if args.format == "mpii":
        if args.keypoints not in (None, "mpii"):
            raise EvoposeError(
                f"--format mpii has MPII's keypoints, not --keypoints {args.keypoints}"
            )
        if args.head_boxes is not None:
            _require_file(args.head_boxes, "--head-boxes")
        from evopose.datasets import convert_mpii_dataset

        convert = convert_mpii_dataset
        options = dict(head_boxes=args.head_boxes)
    else:
        if args.head_boxes is not None:
            raise EvoposeError("--head-boxes belongs to --format mpii")
        from evopose.datasets import convert_coco_dataset

        convert = convert_coco_dataset
        options = dict(keypoints=args.keypoints)
    with _overwrite_flag():
        counts = convert(
            annotations=args.annotations,
            images=args.images,
            out=args.out,
            split=args.split,
            detections=args.detections,
            shard_size=args.shard_size,
            overwrite=args.overwrite,
            **options,
        )
    for split, converted in counts.items():
        c = converted.counts
        print(
            f"{args.out / split}: {c.examples} examples, "
            f"{c.skipped_instances} instances skipped, {c.skipped_images} images skipped"
        )
    return 0


def _run_synth(args: argparse.Namespace) -> int:
    if args.train < 1 or args.val < 1:
        raise EvoposeError("--train and --val must be at least 1 image each")
    from evopose.datasets import write_synthetic_dataset

    with given("--out", quoting=[args.out]), _overwrite_flag():
        manifests = write_synthetic_dataset(
            args.out,
            train_images=args.train,
            val_images=args.val,
            image_size=tuple(args.image_size) if args.image_size else None,
            seed=args.seed,
            overwrite=args.overwrite,
        )
    for split, converted in manifests.items():
        print(f"{args.out / split}: {converted.examples} examples")
    return 0


def _run_train(args: argparse.Namespace) -> int:
    from evopose.config import load_config

    with given("--set", quoting=args.overrides):
        config = load_config(args.config, args.overrides)
    _require_local_data(config)
    run_dir = args.run_dir or Path("runs") / Path(args.config).stem
    from evopose.distribute import select_strategy

    devices = given("--devices") if args.devices is not None else None  # argparse: not both
    with devices or given("--tpu", quoting=[args.tpu]):
        strategy = select_strategy(tpu=args.tpu, devices=args.devices)
    import posedata

    posedata.check_graph_geometry()  # stop now if TensorFlow would miscompute crops here
    from evopose.training import train

    # train opens each converted split once, after checking the run folder and the batch size
    result = train(config, run_dir, epochs=args.epochs, strategy=strategy)
    print(
        f"{result.run_dir}: {result.epochs} epochs, best validation loss "
        f"{result.best_val_loss:.6g} at epoch {result.best_epoch}; models: "
        f"{result.best_model}, {result.final_model}"
    )
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    import dataclasses

    from evopose.config import load_config

    with given("--set", quoting=args.overrides):
        config = load_config(args.config, args.overrides)
    _require_file(args.weights, "--weights")
    _require_local_data(config)
    changes = {}
    if args.boxes:
        changes["boxes"] = args.boxes
    if args.no_flip:
        changes["flip"] = False
    config = dataclasses.replace(config, eval=dataclasses.replace(config.eval, **changes))
    import posedata

    posedata.check_graph_geometry()  # stop now if TensorFlow would miscompute crops here
    if args.limit is not None and args.limit < 1:
        raise EvoposeError(f"--limit must be at least 1, got {args.limit}")
    from evopose.evaluation import evaluate_model, evaluation_split, load_evaluated_model

    if args.threads is not None and args.threads < 1:
        raise EvoposeError(f"--threads {args.threads}: must be at least 1")
    split = evaluation_split(config)  # its manifest, read once for the whole command
    with given("--weights", quoting=[args.weights]):
        model = load_evaluated_model(config, args.weights, split)
    with given("--out", quoting=[args.out]):
        report = evaluate_model(
            config,
            args.weights,
            model=model,
            limit=args.limit,
            results_path=args.out,
            split=split,
            runtime=args.runtime,
            threads=args.threads,
        )
    print(f"runtime: {report.runtime}")
    print(report.text())  # format_metrics(report.metrics), and PCKh when measured
    print(f"results: {report.results_path}")
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    if not args.input.exists():
        raise EvoposeError(f"INPUT: no such file or folder '{args.input}'")
    _require_file(args.weights, "--weights")
    if args.boxes is not None:
        _require_file(args.boxes, "--boxes")
    if args.annotations is not None:
        _require_file(args.annotations, "--annotations")
        if args.boxes is None:
            raise EvoposeError("--annotations names the images of --boxes; give --boxes too")
    if args.threads is not None and args.threads < 1:
        raise EvoposeError(f"--threads {args.threads}: must be at least 1")
    if args.detector is not None:
        _require_file(args.detector, "--detector")
        if args.boxes is not None:
            raise EvoposeError("--detector finds the boxes that --boxes gives; give one of them")
    from evopose.prediction import predict_path

    with (
        given("--weights", quoting=[args.weights]),
        given("--boxes", quoting=[args.boxes]),
        given("--annotations", quoting=[args.annotations]),
        given("--detector", quoting=[args.detector]),
        given("--runtime", quoting=[args.runtime]),
    ):
        summary = predict_path(
            args.input,
            args.weights,
            boxes=args.boxes,
            out_dir=args.out,
            min_score=args.min_score,
            keypoints=args.keypoints,
            annotations=args.annotations,
            box_score=args.box_score,
            box_nms=args.box_nms,
            runtime=args.runtime,
            threads=args.threads,
            detector=args.detector,
        )
    for line in summary:
        print(line)
    return 0


def _run_info(args: argparse.Namespace) -> int:
    if Path(args.model).suffix.lower() == ".keras":  # a YAML config is checked by load_config
        _require_file(Path(args.model), "MODEL")
    from evopose.models import describe_model

    if args.overrides and Path(args.model).suffix.lower() not in (".yaml", ".yml"):
        raise EvoposeError("--set applies to YAML configs only")
    with given("--set", quoting=args.overrides), given("MODEL", quoting=[args.model]):
        described = describe_model(args.model, args.overrides)
    for name, value in described.items():
        print(f"{name:>14}: {value}")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    _require_file(args.weights, "--weights")
    if args.batch is not None and args.format != "tflite":
        raise EvoposeError(f"--batch: a fixed batch size is for --format tflite, not {args.format}")
    if args.batch is not None and args.batch < 1:
        raise EvoposeError(f"--batch {args.batch}: must be at least 1")
    from evopose.export import export_model

    with given("--weights", quoting=[args.weights]):
        report = export_model(args.weights, args.format, args.out, batch=args.batch)
    batch = f" (static batch {report.batch})" if report.batch else ""
    print(
        f"{report.path}: {report.format} export{batch}; reloaded outputs differ from Keras by at "
        f"most {report.max_abs_diff:.3g}, {report.relative_diff:.2g} of the outputs' scale "
        f"{report.output_scale:.3g} (tolerance {report.tolerance:g} of it)"
    )
    if report.keypoints:
        print(f"keypoints: {report.keypoints}")
    return 0


# --- helpers ------------------------------------------------------------------------------


def _add_keypoints_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--keypoints",
        choices=KEYPOINT_SETS,
        metavar="NAME",
        help=f"a known keypoint set: {', '.join(KEYPOINT_SETS)} ({default})",
    )


@contextlib.contextmanager
def _overwrite_flag():
    """Within the block, a conversion's "pass overwrite=True" becomes "pass --overwrite"."""
    try:
        yield
    except Exception as error:
        if _is_user_error(error) and "overwrite=True" in str(error):
            error.args = (str(error).replace("overwrite=True", "--overwrite"), *error.args[1:])
        raise


def _require_file(path: Path, what: str) -> None:
    """Checked before TensorFlow loads: a wrong path is reported at once."""
    if not path.is_file():
        kind = "a folder, not a file" if path.is_dir() else "no such file"
        raise EvoposeError(f"{what}: {kind} '{path}'")


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        kind = "a file, not a folder" if path.exists() else "no such folder"
        raise EvoposeError(f"{what}: {kind} '{path}'")


def _require_local_data(config) -> None:
    """data.root must exist when it is a local path (remote ones are checked by TensorFlow)."""
    root = config.data.root
    if root is not None and "://" not in str(root):
        from evopose.config import require_path

        require_path(config, "data.root", kind="dir")


# C++ log lines of TensorFlow/XLA/absl ('I0000 00:00:1796.5 123 file.cc:31] ...') and absl's
# notice before its logging starts; TF_CPP_MIN_LOG_LEVEL does not reach all of them.
_NATIVE_LOG_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ [^\]\s]+:\d+\] |WARNING: All log messages before "
    rb"absl::InitializeLog\(\) is called are written to STDERR"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)"
)


@contextlib.contextmanager
def native_logs_filtered():
    """Within the block, lines that native code (TensorFlow's C++) writes to the stderr file
    descriptor pass through a filter that drops its log lines; Python's own `sys.stderr`
    (logging, progress bars, error lines) writes to the real stderr directly. Sets
    TF_CPP_MIN_LOG_LEVEL=3 unless the environment sets it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield  # no real stderr descriptor (e.g. an embedding host): nothing to filter
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    python_stderr = sys.stderr
    if _writes_to_fd2(python_stderr):  # else Python's stderr goes elsewhere already (pytest)
        sys.stderr = open(os.dup(original), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115

    def forward() -> None:
        with open(read_end, "rb") as pipe:
            for line in pipe:
                if not _NATIVE_LOG_LINE.match(line):
                    os.write(original, line)

    thread = threading.Thread(target=forward, name="native-log-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        replaced, sys.stderr = sys.stderr, python_stderr
        if replaced is not python_stderr:
            for handler in logging.getLogger().handlers:  # basicConfig's, made in the block
                if isinstance(handler, logging.StreamHandler) and handler.stream is replaced:
                    handler.setStream(python_stderr)
        os.dup2(original, 2)  # closes the pipe's last write end: the thread reads to its end
        thread.join(timeout=5)
        if replaced is not python_stderr:
            replaced.close()
        os.close(original)


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def _setup_logging(level: int) -> None:
    python_level = {-1: logging.WARNING, 0: logging.INFO}.get(max(-1, min(level, 1)), logging.DEBUG)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("evopose", "evosearch", "posedata", "posenets", "cocoeval_tools", "weightxfer"):
        logging.getLogger(name).setLevel(python_level)


def _output_folder(args: argparse.Namespace) -> Path:
    """The folder a command writes to (for messages): --run-dir, --work-dir, --out, or here."""
    for name in ("run_dir", "work_dir", "out"):
        if getattr(args, name, None) is not None:
            return Path(getattr(args, name))
    return Path.cwd()


# The input-error classes of the packages the app builds on (module, class name).
_PACKAGE_USER_ERRORS = (
    ("posedata.errors", "DataError"),
    ("posenets.errors", "PosenetsError"),
    ("cocoeval_tools.errors", "CocoEvalToolsError"),
    ("weightxfer.errors", "WeightTransferError"),
    ("evosearch.errors", "EvoSearchError"),
)


def _is_user_error(error: BaseException) -> bool:
    """An error the user can fix: ours, or a package's input error (if that package loaded)."""
    kinds: list[type] = [EvoposeError]
    for module_name, class_name in _PACKAGE_USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None:
            kinds.append(getattr(module, class_name))
    return isinstance(error, tuple(kinds))
