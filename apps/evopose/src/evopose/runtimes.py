"""Where `evopose predict` runs its network: Keras, TFLite with XNNPACK, or ONNX Runtime.

All three are exact (float32 throughout; an export is used only after its outputs matched the
Keras model's, relative to their scale, see `evopose.export.compare_outputs`). `auto` takes the
fastest one installed: static-batch TFLite/XNNPACK, else ONNX Runtime, else Keras.

TFLite's transposed convolutions run inside XNNPACK only when their output shape is a constant,
that is when the batch size is fixed; a static-batch export is made per batch size (1, 2, 4, 8,
16, ...: a call pads its crops up to the next one) and cached. The cache holds exports keyed by
the model file's sha256 and the batch size, in `$EVOPOSE_CACHE_DIR` (default
`$XDG_CACHE_HOME/evopose` or `~/.cache/evopose`), each written atomically. The engines that
run a network or a file live in `evopose.engines` (which `evopose.export` checks its exports
with); they are named here too.
"""

import hashlib
import logging
import os
from pathlib import Path

from evopose.engines import (
    KerasRuntime,
    OnnxRuntime,
    Runtime,
    TFLiteRuntime,
    default_threads,
    tflite_interpreter_class,
)
from evopose.errors import ExportError

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "keras", "tflite", "onnxruntime")
_ONNX_MODULES = ("tf2onnx", "onnx", "onnxruntime")


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
    if runtime == "tflite" and not missing and tflite_interpreter_class() is None:
        missing.append("ai_edge_litert")
    return missing


def open_runtime(
    name: str,
    model,
    weights: str | Path,
    *,
    threads: int | None = None,
    first_batch: int = 1,
    cache: str | Path | None = None,
    static_batch: int | None = None,
) -> Runtime:
    """The runtime `name` (one of RUNTIMES) for the Keras `model` loaded from `weights`.

    Exports are made on first use and cached (see the module's description); `first_batch`
    is built at once, so that `auto` knows the export works before it chooses it. TFLite runs
    each call at the static batch `static_batch` when given (fewer crops are padded, more
    go through in several invocations: one export for calls of any size), else at the next
    power of two of the call's crops. `auto`
    falls back to the next runtime with a warning when one is not installed or fails; a
    runtime named explicitly that is not installed is an ExportError saying what to install.
    """
    if name not in RUNTIMES:
        raise ExportError(f"runtime {name!r}: must be one of {', '.join(RUNTIMES)}")
    threads = threads or default_threads()
    if threads < 1:
        raise ExportError(f"threads {threads}: must be at least 1")
    cache = Path(cache) if cache is not None else cache_dir()
    candidates = ("tflite", "onnxruntime", "keras") if name == "auto" else (name,)
    for candidate in candidates:
        missing = missing_modules(candidate)
        if missing:
            message = f"the {candidate} runtime needs {', '.join(missing)}" + (
                ": pip install 'evopose[onnx]'" if candidate == "onnxruntime" else ""
            )
            if name != "auto":
                raise ExportError(f"runtime '{candidate}': {message}")
            log.info("%s; trying the next runtime", message)
            continue
        try:
            return _open(candidate, model, weights, threads, first_batch, cache, static_batch)
        except ExportError as error:
            if name != "auto":
                raise
            log.warning("the %s runtime is not usable (%s); trying the next one", candidate, error)
    raise AssertionError("unreachable: keras is always usable")


def _open(
    name: str,
    model,
    weights,
    threads: int,
    first_batch: int,
    cache: Path,
    static_batch: int | None = None,
) -> Runtime:
    if name == "keras":
        return KerasRuntime(model)
    key = model_key(weights)
    if name == "onnxruntime":
        path = _cached_export(model, cache / f"{key}.onnx", "onnx", None)
        return OnnxRuntime(path, threads)

    def file_for_batch(batch: int) -> Path:
        return _cached_export(model, cache / f"{key}-b{batch}.tflite", "tflite", batch)

    def batch_for(count: int) -> int:
        return static_batch or static_batch_size(count)

    runtime = TFLiteRuntime(
        file_for_batch,
        threads=threads,
        batch_for=batch_for,
        description=f"tflite (XNNPACK, static batch, {threads} threads; exports cached in {cache})",
    )
    file_for_batch(batch_for(first_batch))
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
