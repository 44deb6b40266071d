"""Shared fixtures: one tiny synthetic dataset and one trained tiny network per test session."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evopose.cli import main

APP = Path(__file__).resolve().parents[1]
TINY_CONFIG = APP / "configs" / "tiny_synthetic.yaml"
SYNTH_IMAGES = {"train": 600, "val": 16}
SYNTH_IMAGE_SIZE = ("128", "160")  # height, width


def _evopose_command() -> list[str]:
    """The installed `evopose` console script (beside this Python)."""
    script = Path(sys.executable).with_name("evopose")
    return [str(script)] if script.exists() else [sys.executable, "-m", "evopose"]


@pytest.fixture(scope="session", autouse=True)
def runtime_cache(tmp_path_factory) -> Path:
    """`evopose predict`'s cached runtime exports go to one folder of this test session (shared
    by its tests and their subprocesses), not to ~/.cache/evopose."""
    folder = tmp_path_factory.mktemp("runtime-cache")
    previous = os.environ.get("EVOPOSE_CACHE_DIR")
    os.environ["EVOPOSE_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("EVOPOSE_CACHE_DIR", None)
    else:
        os.environ["EVOPOSE_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def run_evopose():
    """Runs `evopose ARGS` (the installed console script) in a fresh process."""

    def run(
        *args: str, cwd: Path | None = None, timeout: float = 420
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*_evopose_command(), *args],
            cwd=cwd,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """`evopose data synth` output: train / val / val-dets splits of synthetic people."""
    root = tmp_path_factory.mktemp("synthetic") / "data"
    code = main(
        [
            "data",
            "synth",
            "--out",
            str(root),
            "--train",
            str(SYNTH_IMAGES["train"]),
            "--val",
            str(SYNTH_IMAGES["val"]),
            "--image-size",
            *SYNTH_IMAGE_SIZE,
        ]
    )
    assert code == 0
    return root


@pytest.fixture(scope="session")
def trained_run(synthetic_root, tmp_path_factory) -> Path:
    """The run folder of `evopose train configs/tiny_synthetic.yaml` on the synthetic data."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    code = main(
        ["train", str(TINY_CONFIG), "--run-dir", str(run), "--set", f"data.root={synthetic_root}"]
    )
    assert code == 0
    return run
