"""Extending a finished training (issue 14, point 12) and the per-epoch line (point 10): a run of
1 epoch extended to 2 continues from its last state under the 2-epoch schedule; a plain rerun
stays a no-op; the line shows the heatmap loss (Eq. 1), not Keras's `loss`."""

import contextlib
import io
import json
import logging
import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from evopose.config import config_from_dict
from evopose.errors import TrainingError
from evopose.training import TrainData, train

GENOTYPE = [[3, 1, 1, 1], [3, 1, 1, 2], [3, 1, 1, 2], [3, 1, 2, 2], [3, 1, 2, 1], [3, 1, 2, 1],
            [3, 1, 2, 1]]  # fmt: skip
STEPS = 3
PEAK_LR = 2e-3


def _config():
    return config_from_dict(
        {
            "model": {"name": "evopose2d", "input_size": [64, 48], "genotype": GENOTYPE},
            "train": {
                "epochs": 1,
                "batch_size": 8,
                "val_batch_size": 8,
                "warmup_epochs": 0,
                "base_lr": PEAK_LR,
                "scale_lr": False,
            },
        }
    )


def _data() -> TrainData:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(24, 64, 48, 3)).astype("float32")
    heatmaps = rng.uniform(0, 255, size=(24, 32, 24, 17)).astype("float32")
    valid = (rng.random((24, 17)) > 0.3).astype("float32")
    batches = tf.data.Dataset.from_tensor_slices((images, heatmaps, valid)).batch(8)
    return TrainData(train=lambda epoch: batches, steps_per_epoch=STEPS, val=batches, val_steps=3)


class _RatesAtEpochStart(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rates = {}

    def on_epoch_begin(self, epoch, logs=None):
        rate = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        self.rates[epoch + 1] = float(rate)


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """A 1-epoch run, rerun unchanged, then extended to 2 epochs; what each call gave."""
    run = tmp_path_factory.mktemp("extend") / "run"
    out, messages = io.StringIO(), _Messages()
    logger = logging.getLogger("evopose")
    level = logger.level
    logger.addHandler(messages)
    logger.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(out):
            first = train(_config(), run, data=_data(), verbose=2)
    finally:
        logger.removeHandler(messages)
        logger.setLevel(level)
    finished = {
        "result": json.loads((run / "result.json").read_text()),
        "model_mtime": (run / "model.keras").stat().st_mtime_ns,
        "files": sorted(p.name for p in run.iterdir()),
    }
    again = train(_config(), run, data=_data(), epochs=1, verbose=0)
    again_mtime = (run / "model.keras").stat().st_mtime_ns
    rates = _RatesAtEpochStart()
    longer = train(_config(), run, data=_data(), epochs=2, callbacks=[rates], verbose=2)
    return {
        "run": run,
        "first": first,
        "finished": finished,
        "again": again,
        "again_mtime": again_mtime,
        "longer": longer,
        "rates": rates.rates,
        "out": out.getvalue(),
        "log": "\n".join(messages.lines),
    }


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_a_finished_run_keeps_its_last_state_and_no_checkpoint(extended):
    files = extended["finished"]["files"]
    assert "last.weights.h5" in files and "checkpoint" not in files
    assert extended["finished"]["result"]["extensions"] == []


def test_a_plain_rerun_of_a_finished_run_is_a_no_op(extended):
    again = extended["again"]
    assert again.resumed_from_epoch == again.epochs == 1
    assert again.history == extended["first"].history
    assert extended["again_mtime"] == extended["finished"]["model_mtime"]  # nothing rewritten


def test_more_epochs_continue_from_the_last_epoch(extended):
    run, longer, first = extended["run"], extended["longer"], extended["first"]
    assert longer.epochs == 2 and longer.resumed_from_epoch == 1
    for name, values in first.history.items():
        assert longer.history[name][:1] == values  # epoch 1 is not trained again
    assert len(longer.history["val_heatmap_loss"]) == 2
    assert list(extended["rates"]) == [2]
    result = json.loads((run / "result.json").read_text())
    assert result["epochs"] == 2
    assert result["extensions"] == [{"from_epochs": 1, "to_epochs": 2}]
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 2
    assert not (run / "checkpoint").exists() and (run / "last.weights.h5").is_file()


def test_the_schedule_is_the_new_totals_from_the_current_epoch(extended):
    # Adam's step count went on from 3 (not 0): the 2-epoch cosine at step 3 of 6 is half the
    # peak; the 1-epoch run had decayed to 0.
    assert extended["first"].history["learning_rate"][0] == pytest.approx(0.0, abs=1e-9)
    assert extended["rates"][2] == pytest.approx(PEAK_LR * 0.5 * (1 + math.cos(math.pi / 2)))
    assert extended["longer"].history["learning_rate"][1] == pytest.approx(0.0, abs=1e-9)


def test_a_rerun_with_fewer_epochs_is_refused(extended):
    with pytest.raises(TrainingError, match="can be extended to more epochs, not cut to 1"):
        train(_config(), extended["run"], data=_data(), epochs=1, verbose=0)


def test_the_epoch_line_shows_the_heatmap_loss_not_kerass_loss(extended):
    out, result = extended["out"], extended["first"]
    lines = [line for line in out.splitlines() if line.startswith("Epoch ")]
    assert len(lines) == 1, out
    match = re.fullmatch(
        r"Epoch 1/1 - \d+s - heatmap_loss \(Eq\. 1\) (\S+) - val_heatmap_loss (\S+) \(best\) "
        r"- lr (\S+)",
        lines[0],
    )
    assert match, lines[0]
    assert float(match[1]) == pytest.approx(result.history["heatmap_loss"][0], rel=1e-3)
    assert float(match[2]) == pytest.approx(result.history["val_heatmap_loss"][0], rel=1e-3)
    assert "loss:" not in out and " - loss" not in out  # Keras's own line is not shown
    assert "'loss', what Adam minimises: Eq. 1 over every keypoint slot" in extended["log"]


def test_a_run_finished_without_its_last_state_says_how_to_go_on(tmp_path):
    from evopose.config import dump_config

    run = tmp_path / "run"  # as train(..., keep_last_state=False) or an older evopose left it
    run.mkdir()
    (run / "config.yaml").write_text(dump_config(_config()))
    (run / "result.json").write_text(json.dumps({"epochs": 1, "history": {}}))
    with pytest.raises(TrainingError, match=r"cannot be extended; .*model\.transfer_from="):
        train(_config(), run, data=_data(), epochs=2, verbose=0)
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 1


def test_what_the_losses_mean_is_said_once_per_run_not_per_epoch(caplog):
    from evopose.training import _EpochLine

    line = _EpochLine(recorder=None, epochs=3, steps=2, verbose=2)
    with caplog.at_level(logging.INFO, logger="evopose.training"):
        for _ in range(3):  # a run's one `fit` per epoch, each starting with on_train_begin
            line.on_train_begin()
    said = [r for r in caplog.records if "what Adam minimises" in r.getMessage()]
    assert len(said) == 1
    quiet = _EpochLine(recorder=None, epochs=3, steps=2, verbose=0)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="evopose.training"):
        quiet.on_train_begin()
    assert not caplog.records
