"""The engines that run a network: Keras, a TFLite file (LiteRT or TensorFlow's interpreter,
XNNPACK) or an ONNX file (ONNX Runtime), each called on float32 NHWC crops.

`evopose.export` runs its exports here to check them and `evopose.runtimes` chooses among these
for `evopose predict` (and caches the exports they run); this module imports neither.
"""

import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from evopose.errors import ExportError

log = logging.getLogger(__name__)


def default_threads() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


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
            interpreter_class = tflite_interpreter_class()
            if interpreter_class is None:
                raise ExportError("the TFLite runtime needs tensorflow or ai_edge_litert")
            interpreter = interpreter_class(model_path=str(path), num_threads=self.threads)
            interpreter.allocate_tensors()  # a dynamic batch: at its default batch, for now
            details = interpreter.get_input_details()[0]
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


def tflite_interpreter_class():
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
