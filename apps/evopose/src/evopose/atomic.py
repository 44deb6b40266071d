"""Writes that land whole or not at all: a temporary name beside the target, then a rename."""

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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
    finally:
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
