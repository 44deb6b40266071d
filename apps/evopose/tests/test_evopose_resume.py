"""Resume: a training run killed (SIGKILL) after a checkpoint continues from it when rerun."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny_synthetic.yaml"
EPOCHS = 3


def train_command(run: Path, data: Path) -> list[str]:
    script = Path(sys.executable).with_name("evopose")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "evopose"]
    return [
        *command,
        "train",
        str(TINY),
        "--run-dir",
        str(run),
        "--set",
        f"data.root={data}",
        "--set",
        f"train.epochs={EPOCHS}",
        "--set",
        "train.steps_per_epoch=4",
        "--set",
        "train.warmup_epochs=0",
    ]


def test_killed_run_continues_from_its_last_checkpoint(synthetic_root, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    state = run / "checkpoint" / "state.json"
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(
            train_command(run, synthetic_root), stdout=log, stderr=log, env=env
        )
        deadline = time.monotonic() + 400
        while not state.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert state.exists(), (tmp_path / "first.log").read_text()[-3000:]
    done_before = json.loads(state.read_text())["epoch"]
    assert 1 <= done_before < EPOCHS
    assert not (run / "result.json").exists()

    second = subprocess.run(
        train_command(run, synthetic_root), capture_output=True, text=True, env=env, timeout=400
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resuming {run} after epoch {done_before} of {EPOCHS}" in second.stderr
    with open(run / "history.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == list(range(1, EPOCHS + 1))
    result = json.loads((run / "result.json").read_text())
    assert result["epochs"] == EPOCHS
    assert len(result["history"]["val_heatmap_loss"]) == EPOCHS
    assert not (run / "checkpoint").exists()
    assert f"Epoch {done_before + 1}/{EPOCHS}" in second.stdout
    assert "Epoch 1/" not in second.stdout  # finished epochs are not trained again
