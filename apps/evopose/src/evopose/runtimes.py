"""Where `evopose predict` runs its network: Keras, TFLite with XNNPACK, or ONNX Runtime.

All three are exact (float32 throughout; an export is used only after its outputs matched the
Keras model's, relative to their scale, see `evopose.export.compare_outputs`). `auto` takes the
fastest one installed: static-batch TFLite/XNNPACK, else ONNX Runtime, else Keras.

TFLite's transposed convolutions run inside XNNPACK only when their output shape is a constant,
that is when the batch size is fixed; a static-batch export is made per batch size (1, 2, 4, 8,
16, ...: a call pads its crops up to the next one) and cached. The cache holds exports keyed by
the model file's sha256 and the batch size, in `$EVOPOSE_CACHE_DIR` (default
`$XDG_CACHE_HOME/evopose` or `~/.cache/evopose`), each written atomically.
"""

import hashlib
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from evopose.errors import ExportError

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "keras", "tflite", "onnxruntime")
_ONNX_MODULES = ("tf2onnx", "onnx", "onnxruntime")


def default_threads() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cache_dir() -> Path:
    """The folder of cached runtime exports (see the module's description)."""
    if os.environ.get("EVOPOSE_CACHE_DIR"):
        return Path(os.environ["EVOPOSE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "evopose"


def missing_modules(runtime: str) -> list[str]:
    """The Python modules `runtime` needs that are not installed (empty when it can run)."""
    needed = {"keras": (), "tflite": ("tensorflow",), "onnxruntime": _ONNX_MODULES}[runtime]
    missing = []
    for module in needed:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if runtime == "tflite" and not missing and _interpreter_class() is None:
        missing.append("ai_edge_litert")
    return missing


class Runtime:
    """A network's forward pass: float32 NHWC crops in, float32 heatmaps out.

    `calls` counts the calls (one per frame in `PosePredictor`); `description` says what runs.
    """

    name = "runtime"

    def __init__(self, description: str):
        self.description = description
        self.calls = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        images = np.ascontiguousarray(images, dtype=np.float32)
        return np.asarray(self._run(images), dtype=np.float32)

    def _run(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class KerasRuntime(Runtime):
    """The Keras model's `predict_on_batch`."""

    name = "keras"

    def __init__(self, model):
        super().__init__("keras (predict_on_batch)")
        self.model = model

    def _run(self, images: np.ndarray) -> np.ndarray:
        return self.model.predict_on_batch(images)


class TFLiteRuntime(Runtime):
    """TFLite interpreters (XNNPACK) with an explicit thread count.

    `file_for_batch(n)` gives the `.tflite` file to run a batch of `n` crops; a static-batch
    file of batch B runs `n` crops padded to B in one invocation (several when `n` > B); a
    dynamic-batch file is resized to `n`.
    """

    name = "tflite"

    def __init__(
        self,
        file_for_batch: Callable[[int], Path],
        *,
        threads: int | None = None,
        batch_for: Callable[[int], int] | None = None,
        description: str | None = None,
    ):
        self.threads = threads or default_threads()
        super().__init__(description or f"tflite (XNNPACK, {self.threads} threads)")
        self._file_for_batch = file_for_batch
        self._batch_for = batch_for or (lambda n: n)
        self._interpreters: dict[Path, tuple] = {}

    @classmethod
    def from_file(cls, path: str | Path, threads: int | None = None) -> "TFLiteRuntime":
        """A runtime of one `.tflite` file (static or dynamic batch)."""
        path = Path(path)
        runtime = cls(lambda n: path, threads=threads)
        _, details = runtime._interpreter(path)
        batch = int(details["shape_signature"][0])
        if batch > 0:
            runtime._batch_for = lambda n: batch
        return runtime

    def _interpreter(self, path: Path) -> tuple:
        if path not in self._interpreters:
            interpreter_class = _interpreter_class()
            if interpreter_class is None:
                raise ExportError("the TFLite runtime needs tensorflow or ai_edge_litert")
            interpreter = interpreter_class(model_path=str(path), num_threads=self.threads)
            details = interpreter.get_input_details()[0]
            if int(details["shape_signature"][0]) > 0:
                interpreter.allocate_tensors()
            self._interpreters[path] = (interpreter, details)
        return self._interpreters[path]

    def _run(self, images: np.ndarray) -> np.ndarray:
        count = len(images)
        batch = self._batch_for(count)
        interpreter, details = self._interpreter(self._file_for_batch(batch))
        static = int(details["shape_signature"][0]) > 0
        if not static:
            if tuple(details["shape"]) != images.shape:
                interpreter.resize_tensor_input(details["index"], list(images.shape))
                interpreter.allocate_tensors()
                details = interpreter.get_input_details()[0]
                self._interpreters[self._file_for_batch(batch)] = (interpreter, details)
            return self._invoke(interpreter, details, images)
        outputs = []
        for start in range(0, count, batch):
            chunk = images[start : start + batch]
            padded = np.zeros((batch, *images.shape[1:]), np.float32)
            padded[: len(chunk)] = chunk
            outputs.append(self._invoke(interpreter, details, padded)[: len(chunk)])
        return np.concatenate(outputs)

    @staticmethod
    def _invoke(interpreter, details, images: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(details["index"], images)
        interpreter.invoke()
        output = interpreter.get_output_details()[0]["index"]
        return np.array(interpreter.get_tensor(output), dtype=np.float32)


class OnnxRuntime(Runtime):
    """An ONNX Runtime CPU session with an explicit thread count and its threads' spinning off
    (spinning threads burn the CPU between calls: up to 2x the CPU time per image)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime

        self.threads = threads or default_threads()
        super().__init__(f"onnxruntime (CPU, {self.threads} threads, spinning off)")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self._input = self.session.get_inputs()[0].name

    def _run(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: images})[0]


def open_runtime(
    name: str,
    model,
    weights: str | Path,
    *,
    threads: int | None = None,
    first_batch: int = 1,
    cache: str | Path | None = None,
) -> Runtime:
    """The runtime `name` (one of RUNTIMES) for the Keras `model` loaded from `weights`.

    Exports are made on first use and cached (see the module's description); `first_batch`
    is built at once, so that `auto` knows the export works before it chooses it. `auto`
    falls back to the next runtime with a warning when one is not installed or fails; a
    runtime named explicitly that is not installed is an ExportError saying what to install.
    """
    if name not in RUNTIMES:
        raise ExportError(f"--runtime {name!r}: must be one of {', '.join(RUNTIMES)}")
    threads = threads or default_threads()
    if threads < 1:
        raise ExportError(f"--threads {threads}: must be at least 1")
    cache = Path(cache) if cache is not None else cache_dir()
    candidates = ("tflite", "onnxruntime", "keras") if name == "auto" else (name,)
    for candidate in candidates:
        missing = missing_modules(candidate)
        if missing:
            message = f"the {candidate} runtime needs {', '.join(missing)}" + (
                ": pip install 'evopose[onnx]'" if candidate == "onnxruntime" else ""
            )
            if name != "auto":
                raise ExportError(f"--runtime {candidate}: {message}")
            log.info("%s; trying the next runtime", message)
            continue
        try:
            return _open(candidate, model, weights, threads, first_batch, cache)
        except ExportError as error:
            if name != "auto":
                raise
            log.warning("the %s runtime is not usable (%s); trying the next one", candidate, error)
    raise AssertionError("unreachable: keras is always usable")


def _open(name: str, model, weights, threads: int, first_batch: int, cache: Path) -> Runtime:
    if name == "keras":
        return KerasRuntime(model)
    key = model_key(weights)
    if name == "onnxruntime":
        path = _cached_export(model, cache / f"{key}.onnx", "onnx", None)
        return OnnxRuntime(path, threads)

    def file_for_batch(batch: int) -> Path:
        return _cached_export(model, cache / f"{key}-b{batch}.tflite", "tflite", batch)

    runtime = TFLiteRuntime(
        file_for_batch,
        threads=threads,
        batch_for=static_batch_size,
        description=f"tflite (XNNPACK, static batch, {threads} threads; exports cached in {cache})",
    )
    file_for_batch(static_batch_size(first_batch))
    return runtime


def static_batch_size(count: int) -> int:
    """The static batch size that runs `count` crops in one call: the next power of two."""
    return 1 << max(0, int(count) - 1).bit_length()


def model_key(weights: str | Path) -> str:
    """The cache key of a model file: the first 20 hex digits of its sha256."""
    digest = hashlib.sha256()
    with open(weights, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:20]


def _cached_export(model, path: Path, format: str, batch: int | None) -> Path:
    """`path`, exported now (checked against Keras, written atomically) unless it exists."""
    if path.is_file():
        return path
    from evopose.export import export_keras_model

    what = f"static batch {batch}" if batch else "dynamic batch"
    log.info("exporting the model for the %s runtime (%s; once, cached in %s)", format, what, path)
    try:
        export_keras_model(model, format, path, batch=batch)
    except ExportError:
        raise
    except Exception as error:  # a converter that cannot convert this network
        detail = " ".join(str(error).split())[:300] or type(error).__name__
        raise ExportError(f"the {format} export failed: {detail}") from error
    return path


def _interpreter_class():
    """LiteRT's interpreter when installed, else TensorFlow's (deprecated, same engine)."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf
    except ImportError:
        return None
    interpreter = getattr(tf.lite, "Interpreter", None)
    if interpreter is None:
        return None

    def quiet(**kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the move-to-LiteRT notice
            return interpreter(**kwargs)

    return quiet
