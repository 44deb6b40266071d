"""posedata's one way to write a file: under a temporary name beside it (`.<name>.partial`),
renamed onto the name when complete, through `tf.io.gfile` (so local paths, `gs://` and
`ram://` alike); a full disk becomes one `DataError` line."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

import tensorflow as tf

from posedata.errors import DataError

PARTIAL = ".partial"


def partial_path(path: str) -> str:
    """Where a file is written before it is renamed into place: `.<name>.partial`."""
    return os.path.join(os.path.dirname(path), "." + os.path.basename(path) + PARTIAL)


@contextlib.contextmanager
def written(path: str | os.PathLike, hint: str = "") -> Iterator[str]:
    """Yields the partial name to write `path` under, renamed onto `path` when the block
    succeeds and removed when it fails; a full disk becomes one DataError line (`hint` ends
    it, e.g. how to resume)."""
    path = os.fspath(path)
    partial = partial_path(path)
    try:
        yield partial
    except BaseException as error:
        remove(partial)
        if _no_space(error):
            raise DataError(
                f"{path}: no space left on the device ({_free_space(path)}); free some space"
                + (f" {hint}" if hint else "")
            ) from None
        raise
    try:
        tf.io.gfile.rename(partial, path, overwrite=True)
    except BaseException:
        remove(partial)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, hint: str = "") -> None:
    """Writes `data` to `path` atomically (its folder is made when missing)."""
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        tf.io.gfile.makedirs(folder)
    with written(path, hint) as partial, tf.io.gfile.GFile(partial, "wb") as f:
        f.write(data)


def write_json(
    path: str | os.PathLike, data: Any, *, indent: int | None = None, hint: str = ""
) -> None:
    """Writes `data` as JSON to `path` atomically."""
    write_bytes(path, json.dumps(data, indent=indent).encode(), hint)


def remove(path: str) -> None:
    """Removes a file; one that is not there is fine."""
    with contextlib.suppress(tf.errors.NotFoundError):
        tf.io.gfile.remove(path)


def _no_space(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    text = str(error)
    return "No space left on device" in text or "errno = 28" in text


def _free_space(path: str) -> str:
    folder = os.path.dirname(path) or "."
    if "://" in folder:
        return "free space unknown"
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "free space unknown"
    return f"{free / 1e6:.1f} MB free"
