"""Reliability: exact resume, one owner per folder, leftovers of killed runs, corrupt shards,
full disks."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from evopose import atomic
from evopose.config import load_config
from evopose.folderlock import FolderBusyError, hold_folder
from evopose.training import train

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny_synthetic.yaml"
# Module 5 repeats twice at stride 1, so its second block has a skip with drop-connect: the
# run draws random numbers during training, and a resume must restore that generator too.
DROPOUT_GENOTYPE = "[[3,1,1,1],[3,1,1,2],[3,1,2,2],[3,1,2,2],[3,2,3,1],[3,1,4,1],[3,1,4,1]]"


def tiny_config(data: Path, epochs: int = 2):
    return load_config(
        TINY,
        [
            f"data.root={data}",
            f"train.epochs={epochs}",
            "train.steps_per_epoch=3",
            "train.val_steps=1",
            f"model.genotype={DROPOUT_GENOTYPE}",
        ],
    )


class _Killed(Exception):
    pass


class _KillAfterEpoch(keras.callbacks.Callback):
    """Stands in for a SIGKILL after the run folder recorded epoch `epochs`."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            raise _Killed


def _weights(path: Path) -> list[np.ndarray]:
    return keras.saving.load_model(path, compile=False).get_weights()


def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(synthetic_root, tmp_path):
    config = tiny_config(synthetic_root)
    whole = train(config, tmp_path / "whole", verbose=0)
    with pytest.raises(_Killed):
        train(config, tmp_path / "resumed", callbacks=[_KillAfterEpoch(1)], verbose=0)
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1
    assert state["random_states"], "the drop-connect generators' states are checkpointed"
    resumed = train(config, tmp_path / "resumed", verbose=0)
    assert resumed.resumed_from_epoch == 1
    assert resumed.history == whole.history
    for name in ("model.keras", "best.keras"):
        a, b = _weights(tmp_path / "whole" / name), _weights(tmp_path / "resumed" / name)
        assert len(a) == len(b)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), name


def test_each_epoch_draws_other_batches(synthetic_root):
    from evopose.datasets import make_train_data

    data = make_train_data(tiny_config(synthetic_root), (64, 48), (32, 24))
    first = [b[0].numpy() for b in data.train(0).take(2)]
    again = [b[0].numpy() for b in data.train(0).take(2)]
    second = [b[0].numpy() for b in data.train(1).take(2)]
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not np.array_equal(first[0], second[0])


# --- one owner per folder -------------------------------------------------------------------

_HOLDER = """
import sys, time
from evopose.folderlock import hold_folder
with hold_folder(sys.argv[1], "run folder"):
    print("held", flush=True)
    time.sleep(120)
"""


def _hold_in_another_process(folder: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_held_folder_is_refused_with_the_holders_pid(tmp_path):
    holder = _hold_in_another_process(tmp_path / "run")
    try:
        busy = rf"{tmp_path / 'run'}.*pid {holder.pid}"
        with pytest.raises(FolderBusyError, match=busy), hold_folder(tmp_path / "run"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with hold_folder(tmp_path / "run"):  # the kill released it: a stale lock blocks nothing
        pass


def test_a_second_train_on_a_held_run_folder_is_refused_at_once(
    synthetic_root, tmp_path, run_evopose
):
    holder = _hold_in_another_process(tmp_path / "run")
    try:
        started = time.monotonic()
        second = run_evopose(
            "train", str(TINY), "--run-dir", str(tmp_path / "run"), "--set",
            f"data.root={synthetic_root}",
        )  # fmt: skip
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert lines[-1].startswith(f"evopose: error: {tmp_path / 'run'}: this run folder is in use")
    assert f"pid {holder.pid}" in lines[-1]
    assert took < 60
    assert not (tmp_path / "run" / "config.yaml").exists()


_STUCK_HOLDER = """
import signal, sys, time
from evopose.folderlock import hold_folder
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stuck: only SIGKILL ends it
with hold_folder(sys.argv[1], "run folder"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_free_folder_ends_a_stuck_holder_and_leaves_a_free_folder_alone(tmp_path):
    from evopose.folderlock import free_folder

    assert free_folder(tmp_path / "missing") is None
    assert not (tmp_path / "missing").exists()  # nothing created
    with hold_folder(tmp_path / "mine"):
        pass
    assert free_folder(tmp_path / "mine") is None
    holder = subprocess.Popen(
        [sys.executable, "-c", _STUCK_HOLDER, str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert free_folder(tmp_path / "run", grace=0.5, timeout=30) == holder.pid
        assert holder.wait(timeout=10) == -9  # it ignored SIGTERM: SIGKILL ended it
    finally:
        holder.kill()
        holder.wait()
    with hold_folder(tmp_path / "run"):  # free again
        pass


def _toy_search(work: Path, evaluate):
    """A search of evosearch's toy space through the app's executor (serial, with the app's
    handling of held candidate folders and corrupt shards): as fast as a search gets."""
    import evosearch
    from evopose.config import SearchSection
    from evopose.search.executors import make_executor
    from evosearch.toy import IntVectorSpace

    return evosearch.Search(
        IntVectorSpace(),
        evaluate,
        work / "ledger.sqlite",
        evosearch.SearchConfig(parents=1, children=1, generations=0),
        fitness=lambda metrics: metrics["val_loss"],
        executor=make_executor(SearchSection()),
        artifact_root=work / "candidates",
        progress=False,
    )


def _train_in_folder(request):
    """Stands in for a candidate's training: holds its folder as `evopose.training` does."""
    with hold_folder(request.artifact_dir, "run folder"):
        return {"val_loss": 1.0}


def test_a_rerun_ends_a_killed_searchs_worker_still_holding_a_candidate_folder(tmp_path):
    import evosearch

    work = tmp_path / "search"
    orphan = _hold_in_another_process(work / "candidates" / "gen-0000" / "child-0000")
    try:
        _toy_search(work, _train_in_folder).run()
        ended = orphan.wait(timeout=30)
    finally:
        orphan.kill()
        orphan.wait()
    assert ended == -15  # SIGTERM
    with evosearch.Ledger(work / "ledger.sqlite", create=False) as ledger:
        (ancestor,) = ledger.candidates()
    assert (ancestor.status, ancestor.attempts) == ("done", 1)


def test_a_candidate_that_found_its_folder_held_is_retried_not_failed(tmp_path):
    import evosearch
    from evopose.search.executors import end_orphaned_holders

    def held(request):
        raise FolderBusyError(f"{request.artifact_dir}: this run folder is in use (pid 1)")

    request = evosearch.EvalRequest(
        candidate_id=3, genotype=[[1]], generation=1, parent_id=1, parent_artifact=None,
        artifact_dir=str(tmp_path / "c3"), budget=1, seed=0,
    )  # fmt: skip
    executor = end_orphaned_holders(evosearch.SerialExecutor())
    executor.submit(evosearch.EvalTask(held, request))
    (outcome,) = executor.wait()
    assert outcome.error.startswith("FolderBusyError: ") and outcome.transient


# --- leftovers ------------------------------------------------------------------------------


def test_a_rerun_removes_temporary_files_a_killed_run_left(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    left = [
        run / f".model.keras.{pid}.tmp.keras",
        run / "checkpoint" / f".epoch-0002.weights.h5.{pid}.tmp.weights.h5",
        run / f".report.{pid}.old",
    ]
    for path in left:
        path.write_bytes(b"half")
    mine = run / f".best.weights.h5.{os.getppid()}.tmp.weights.h5"  # a live writer's
    mine.write_bytes(b"busy")
    kept = run / "history.json"
    kept.write_text("{}")
    removed = atomic.remove_leftovers(run)
    assert sorted(removed) == sorted(left)
    assert not any(path.exists() for path in left)
    assert mine.exists() and kept.exists()


# --- corrupt shards -------------------------------------------------------------------------


def test_a_corrupt_shard_is_named_in_one_line_and_no_run_folder_is_left(
    synthetic_root, tmp_path, run_evopose
):
    data = tmp_path / "data"
    shutil.copytree(synthetic_root, data, ignore=shutil.ignore_patterns("coco"))
    shard = sorted((data / "train").glob("*.tfrecord"))[0]
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = b"\xff" * 64
    shard.write_bytes(bytes(raw))
    run = tmp_path / "run"
    result = run_evopose(
        "train", str(TINY), "--run-dir", str(run), "--set", f"data.root={data}",
        "--set", "train.epochs=1",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"evopose: error: {shard}: corrupt TFRecord shard"), line
    assert "re-run the conversion" in line
    assert "Traceback" not in result.stderr
    assert not run.exists()


class _CorruptShardOnce:
    """Stands in for a candidate's training on a corrupt shard (`evopose.training`'s error),
    until the conversion is re-run (`fixed`)."""

    def __init__(self, shard: Path):
        self.shard, self.fixed = shard, False

    def __call__(self, request):
        from evopose.errors import InputFileError

        if not self.fixed:
            raise InputFileError(f"{self.shard}: corrupt TFRecord shard (corrupted record at 1); "
                            "re-run the conversion to rewrite it")  # fmt: skip
        return {"val_loss": 1.0}


def test_a_search_stops_on_a_corrupt_shard_and_its_rerun_trains_the_candidate_again(tmp_path):
    import evosearch
    from evopose.errors import InputFileError

    shard = tmp_path / "data" / "train" / "train-00000-of-00001.tfrecord"
    evaluate = _CorruptShardOnce(shard)
    with pytest.raises(
        InputFileError, match=rf"^{shard}: corrupt TFRecord shard .*re-run the conv"
    ):
        _toy_search(tmp_path, evaluate).run()
    evaluate.fixed = True
    _toy_search(tmp_path, evaluate).run()
    with evosearch.Ledger(tmp_path / "ledger.sqlite", create=False) as ledger:
        (ancestor,) = ledger.candidates()
    assert (ancestor.status, ancestor.attempts) == ("done", 2)  # not failed for good


# --- full disk ------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs (root only); skips where it cannot be mounted."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_train_on_a_full_disk_ends_with_one_line_naming_the_path_and_free_space(
    synthetic_root, small_disk, run_evopose
):
    run = small_disk / "run"
    result = run_evopose(
        "train", str(TINY), "--run-dir", str(run), "--set", f"data.root={synthetic_root}",
        "--set", "train.epochs=2", "--set", "train.steps_per_epoch=1", "--set",
        "train.val_steps=1", "--set",
        "model.genotype=[[3,1,2,1],[3,1,3,2],[3,1,5,2],[3,1,10,2],[3,1,14,1],[3,1,24,1],[3,1,40,1]]",
    )  # fmt: skip
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"evopose: error: {run}"), line
    assert "no space left on the device" in line and "free of" in line
    assert "Traceback" not in result.stderr
    leftovers = [p for p in run.rglob(".*") if ".tmp" in p.name] if run.exists() else []
    assert leftovers == []


def test_atomic_writes_to_a_full_disk_leave_nothing_half_written(small_disk):
    target = small_disk / "big.bin"
    full = rf"{target}: no space left .* free of"
    with pytest.raises(atomic.DiskFullError, match=full), atomic.atomic_path(target) as tmp:
        tmp.write_bytes(b"\0" * (8 << 20))
    assert list(small_disk.iterdir()) == []


# --- the search -----------------------------------------------------------------------------

SEARCH = Path(__file__).resolve().parents[1] / "configs" / "search-cpu.yaml"
ANCESTOR_ONLY = ["search.generations=0", "search.ancestor_epochs=1", "train.steps_per_epoch=2",
                 "train.val_steps=1"]  # fmt: skip


def _search_args(work_dir: Path, data: Path) -> list[str]:
    sets = [arg for item in [*ANCESTOR_ONLY, f"data.root={data}"] for arg in ("--set", item)]
    return ["search", str(SEARCH), "--work-dir", str(work_dir), *sets]


def test_a_second_search_on_a_held_work_dir_is_refused_at_once(
    synthetic_root, tmp_path, run_evopose
):
    holder = _hold_in_another_process(tmp_path / "search")
    try:
        second = run_evopose(*_search_args(tmp_path / "search", synthetic_root))
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2, second.stderr[-3000:]
    line = second.stderr.strip().splitlines()[-1]
    assert line.startswith(f"evopose: error: {tmp_path / 'search'}: this search folder is in use")
    assert f"pid {holder.pid}" in line
    assert not (tmp_path / "search" / "ledger.sqlite").exists()


def test_a_candidate_that_found_the_disk_full_is_trained_again_by_the_rerun(
    synthetic_root, small_disk, run_evopose
):
    import evosearch

    work = small_disk / "search"
    full = run_evopose(*_search_args(work, synthetic_root))
    assert full.returncode == 2, full.stderr[-3000:]
    line = full.stderr.strip().splitlines()[-1]
    assert line.startswith(f"evopose: error: {work / 'candidates'}"), line
    assert "no space left on the device" in line and "Traceback" not in full.stderr
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    rerun = run_evopose(*_search_args(work, synthetic_root))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    with evosearch.Ledger(work / "ledger.sqlite", create=False) as ledger:
        (ancestor,) = ledger.candidates()
    assert ancestor.status == "done" and ancestor.attempts == 2
    assert [p for p in work.rglob(".*") if ".tmp" in p.name] == []


# --- predict: small images, truncated JPEGs -------------------------------------------------

_DETECT_SMALL = """
import numpy as np
from evopose.prediction import HogPeopleDetector
detector = HogPeopleDetector()
for height, width in [(96, 80), (96, 200), (50, 50), (80, 300), (127, 63), (1, 1)]:
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    boxes, scores = detector(image)
    assert boxes.shape[1:] == (4,) and len(boxes) == len(scores)
print("done")
"""


def test_the_people_detector_takes_images_smaller_than_its_window():
    done = subprocess.run(
        [sys.executable, "-c", _DETECT_SMALL], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])  # 139 was a segfault
    assert done.stdout.strip().endswith("done")


@pytest.fixture(scope="module")
def tiny_model(synthetic_root, tmp_path_factory) -> Path:
    """A `.keras` model trained one step (what predict runs is beside the point here)."""
    run = tmp_path_factory.mktemp("tiny-model") / "run"
    config = load_config(
        TINY, [f"data.root={synthetic_root}", "train.epochs=1", "train.steps_per_epoch=1",
               "train.val_steps=1"]
    )  # fmt: skip
    return train(config, run, verbose=0).best_model


def test_predict_on_a_small_image_without_boxes_and_refuses_a_truncated_jpeg(
    tiny_model, tmp_path, run_evopose
):
    import cv2

    small = tmp_path / "small.jpg"
    image = np.random.default_rng(1).integers(0, 255, (96, 72, 3), dtype=np.uint8)
    assert cv2.imwrite(str(small), image)
    done = run_evopose("predict", "--weights", str(tiny_model), str(small))
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert (tmp_path / "small_poses" / "small.jpg").is_file()

    big = np.random.default_rng(2).integers(0, 255, (200, 160, 3), dtype=np.uint8)
    assert cv2.imencode(".jpg", big)[0]
    encoded = cv2.imencode(".jpg", big)[1]
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(encoded.tobytes()[: len(encoded) * 2 // 3])
    refused = run_evopose("predict", "--weights", str(tiny_model), str(cut))
    assert refused.returncode == 2
    line = refused.stderr.strip().splitlines()[-1]
    assert line == (
        f"evopose: error: INPUT: '{cut}' is a truncated JPEG (no end-of-image marker); "
        "copy or export it again"
    )
    assert not (tmp_path / "cut_poses").exists()
