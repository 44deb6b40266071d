"""Writes that land whole or not at all: a temporary name beside the target, then a rename.

A temporary name holds its writer's pid (`.NAME.PID.tmpSUFFIX`, `.NAME.PID.old`), so that a rerun
holding the folder can remove what a killed writer left (`remove_leftovers`). A write that
fails for want of space removes its temporary file and raises `DiskFullError`, one line naming
the path and the space left.
"""

import contextlib
import errno
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evopose.errors import EvoposeError

log = logging.getLogger(__name__)

_LEFTOVER = re.compile(r"^\..+\.(\d+)\.(tmp.*|old)$")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_WORDS = ("No space left on device", "Disk quota exceeded", "database or disk is full")


class DiskFullError(EvoposeError):
    """A write failed because its file system is full (or over quota); nothing half-written."""


def disk_full_error(path: str | Path) -> DiskFullError:
    """The one-line error for a write to `path` that found no space."""
    path = Path(path)
    return DiskFullError(
        f"{path}: no space left on the device ({describe_free_space(path)}); "
        "free some space and rerun the same command to resume"
    )


def describe_free_space(path: str | Path) -> str:
    """`'12.3 MB free of 2.0 GB'` for the file system holding `path` (or its nearest parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return "free space unknown"
    return f"{_size(usage.free)} free of {_size(usage.total)}"


def is_disk_full(error: BaseException) -> bool:
    """True when `error` (or an error it was raised from) reports a full disk or quota."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _NO_SPACE:
            return True
        text = str(error)
        if any(words in text for words in _NO_SPACE_WORDS):
            return True
        if "errno = 28" in text or "error message = No space" in text:  # h5py's wording
            return True
        error = error.__cause__ or error.__context__
    return False


def is_leftover(path: str | Path) -> bool:
    """True when `path` is named like a temporary file of `atomic_path` (`.NAME.PID.tmp*`)."""
    return _LEFTOVER.match(Path(path).name) is not None


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Removes the temporary files and folders that killed writers left anywhere under `folder`
    (names `.NAME.PID.tmp*` and `.NAME.PID.old`, whose PID is no live process other than this
    one); returns what it removed. Call it while holding the folder (`evopose.folderlock`)."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for parent, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            match = _LEFTOVER.match(name)
            if match is None or _alive_elsewhere(int(match.group(1))):
                continue
            path = Path(parent) / name
            remove_path(path)
            removed.append(path)
        dirs[:] = [d for d in dirs if (Path(parent) / d).exists()]
    if removed:
        log.info("removed %d temporary files an interrupted run left in %s", len(removed), folder)
    return removed


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path beside `target`, renamed onto it only if the block succeeds.

    `suffix` is appended to the temporary name for writers that insist on an extension
    (`.keras`, `.weights.h5`). The path may become a file or a folder; a folder replaces an
    existing `target` folder only through `replace_folder`.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp{suffix}")
    remove_path(tmp)
    try:
        yield tmp
        if tmp.is_dir():
            replace_folder(tmp, target)
        else:
            os.replace(tmp, target)
    except Exception as error:
        full = disk_full_error(target) if is_disk_full(error) else None  # before freeing tmp
        with contextlib.suppress(OSError):
            remove_path(tmp)
        if full is not None:
            raise full from error
        raise
    finally:
        with contextlib.suppress(OSError):
            remove_path(tmp)


def replace_folder(source: Path, target: Path) -> None:
    """Moves folder `source` onto `target`, removing an older `target` only once `source` is in."""
    if not target.exists():
        os.replace(source, target)
        return
    old = target.with_name(f".{target.name}.{os.getpid()}.old")
    remove_path(old)
    os.replace(target, old)
    os.replace(source, target)
    remove_path(old)


def write_text(path: str | Path, text: str) -> None:
    """Writes `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: Any) -> None:
    """Writes `data` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def remove_path(path: Path) -> None:
    """Removes a file or folder if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _alive_elsewhere(pid: int) -> bool:
    """True when `pid` is a live process other than this one (its temp files may be in use)."""
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _size(count: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"
