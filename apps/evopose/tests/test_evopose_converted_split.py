"""The converted splits' manifests are read once per command, and evaluation needs nothing but
`data.root`: its ground truth is kept beside the shards, so a dataset copied to another file
system (here TensorFlow's in-memory `ram://`, as it would be `gs://`) evaluates to the same AP."""

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import tensorflow as tf

import posedata
from evopose.cli import main

APP = Path(__file__).resolve().parents[1]
TINY = APP / "configs" / "tiny_synthetic.yaml"


@pytest.fixture
def manifest_reads(monkeypatch):
    """Counts, by split folder, the manifest files opened and the `ConvertedSplit.open` calls."""
    files: Counter[str] = Counter()
    opened: Counter[str] = Counter()
    real_gfile, real_open = tf.io.gfile.GFile, posedata.ConvertedSplit.open.__func__

    class CountingGFile(real_gfile):
        def __init__(self, name, mode="r"):
            if str(name).endswith("manifest.json") and "r" in mode:
                files[Path(str(name)).parent.name] += 1
            super().__init__(name, mode)

    def counting_open(cls, folder):
        opened[Path(str(folder)).name] += 1
        return real_open(cls, folder)

    monkeypatch.setattr(tf.io.gfile, "GFile", CountingGFile)
    monkeypatch.setattr(posedata.ConvertedSplit, "open", classmethod(counting_open))
    return files, opened


def test_train_reads_each_manifest_once(synthetic_root, tmp_path, manifest_reads, capsys):
    files, opened = manifest_reads
    code = main(
        ["train", str(TINY), "--run-dir", str(tmp_path / "run"),
         "--set", f"data.root={synthetic_root}", "--set", "train.epochs=2",
         "--set", "train.steps_per_epoch=2", "--set", "train.val_steps=1"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert dict(files) == {"train": 1, "val": 1}
    assert dict(opened) == {"train": 1, "val": 1}


def _copy_to(folder: Path, url: str) -> None:
    tf.io.gfile.makedirs(url)
    for name in tf.io.gfile.listdir(str(folder)):
        tf.io.gfile.copy(str(folder / name), f"{url}/{name}", overwrite=True)


def _eval(trained_run: Path, root: str, out: Path, *extra: str) -> dict:
    code = main(
        ["eval", str(trained_run / "config.yaml"), "--weights", str(trained_run / "best.keras"),
         "--set", f"data.root={root}", "--out", str(out), *extra]
    )  # fmt: skip
    assert code == 0
    return json.loads(out.with_name(out.name.replace(".results.", ".metrics.")).read_text())


@pytest.fixture(scope="module")
def moved_dataset(tmp_path_factory):
    """A fresh synthetic dataset (16 val images) whose raw COCO files are kept aside."""
    root = tmp_path_factory.mktemp("moved") / "data"
    code = main(
        ["data", "synth", "--out", str(root), "--train", "1", "--val", "16",
         "--image-size", "128", "160"]
    )  # fmt: skip
    assert code == 0
    return root


def test_a_dataset_on_another_file_system_evaluates_to_the_same_ap(
    trained_run, moved_dataset, tmp_path, capsys
):
    original = moved_dataset / "coco" / "val.json"
    reference = _eval(
        trained_run, str(moved_dataset), tmp_path / "ref.results.json",
        "--set", f"eval.annotations={original}",
    )  # fmt: skip
    assert reference["metrics"]["AP"] > 0.1, reference  # a trained model: a meaningful AP
    data = tmp_path / "data"  # the dataset without its raw COCO files: the splits alone
    for split in ("val", "val-dets"):
        shutil.copytree(moved_dataset / split, data / split)
    local = _eval(trained_run, str(data), tmp_path / "local.results.json")
    assert local["annotations"] == str(data / "val-dets" / "ground_truth.json")
    assert local["metrics"] == reference["metrics"]

    url = "ram://evopose-moved-dataset/data"
    for split in ("val", "val-dets"):
        _copy_to(data / split, f"{url}/{split}")
    remote = _eval(trained_run, url, tmp_path / "ram.results.json")
    assert remote["annotations"] == f"{url}/val-dets/ground_truth.json"
    assert remote["split_folder"] == f"{url}/val-dets"
    assert remote["metrics"] == reference["metrics"]
    assert "| AP " in capsys.readouterr().out


def _as_before_ground_truth(folder: Path) -> None:
    """What posedata before 0.4 wrote: no ground truth beside the shards."""
    (folder / "ground_truth.json").unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["ground_truth"]
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_split_converted_by_the_previous_version_evaluates_from_its_annotation_file(
    trained_run, moved_dataset, tmp_path, capsys
):
    data = tmp_path / "data"
    shutil.copytree(moved_dataset / "val-dets", data / "val-dets")
    _as_before_ground_truth(data / "val-dets")
    metrics = _eval(trained_run, str(data), tmp_path / "old.results.json")
    assert metrics["annotations"] == str(moved_dataset / "coco" / "val.json")  # as stored

    url = "ram://evopose-old-dataset/data"
    _copy_to(data / "val-dets", f"{url}/val-dets")
    code = main(
        ["eval", str(trained_run / "config.yaml"), "--weights", str(trained_run / "best.keras"),
         "--set", f"data.root={url}", "--out", str(tmp_path / "x.results.json")]
    )  # fmt: skip
    assert code == 0  # the stored local path still exists here
    shutil.move(moved_dataset / "coco", tmp_path / "coco-aside")  # gone, as on another machine
    capsys.readouterr()
    try:
        code = main(
            ["eval", str(trained_run / "config.yaml"), "--weights",
             str(trained_run / "best.keras"), "--set", f"data.root={url}"]
        )  # fmt: skip
    finally:
        shutil.move(tmp_path / "coco-aside", moved_dataset / "coco")
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert "eval.annotations is not set" in error[0]
    assert "evopose data convert --overwrite" in error[0]
