"""Conversion refuses image paths that leave the image folder, and a full disk leaves no
partial file behind."""

import json
import shutil
import subprocess

import pytest

from posedata import DataError, convert_coco
from posedata.coco import is_inside_image_folder


@pytest.mark.parametrize(
    "file_name", ["../x.jpg", "a/../../x.jpg", "/etc/passwd", "..\\x.jpg", "C:\\x.jpg", "\\\\h\\x"]
)
def test_a_file_name_leaving_the_image_folder_is_refused(make_coco, tmp_path, file_name):
    keypoints = [10.0, 10.0, 2.0] * 17
    coco = make_coco.file(
        [{"id": 1, "file_name": file_name, "height": 100, "width": 100}],
        [make_coco.annotation(1, 1, [5.0, 5.0, 50.0, 50.0], keypoints)],
    )
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="points outside the image folder") as raised:
        convert_coco(tmp_path / "ann.json", tmp_path / "images", tmp_path / "out", split="train")
    assert str(tmp_path / "ann.json") in str(raised.value)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "out" / "train").exists()


@pytest.mark.parametrize("file_name", ["000001.jpg", "train2017/000001.jpg", "a..b.jpg"])
def test_relative_file_names_inside_the_folder_are_accepted(file_name):
    assert is_inside_image_folder(file_name)


@pytest.fixture
def small_disk(tmp_path):
    """A 32 kB tmpfs (root only); skips where it cannot be mounted."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_ends_the_conversion_with_one_line_and_no_partial_file(synthetic, small_disk):
    assert sum(p.stat().st_size for p in synthetic.train_images.iterdir()) > 64_000
    with pytest.raises(DataError, match="no space left on the device") as raised:
        convert_coco(
            synthetic.train_annotations,
            synthetic.train_images,
            small_disk / "out",
            split="train",
            shard_size=4,
        )
    message = str(raised.value)
    assert "\n" not in message and "MB free" in message
    assert message.startswith(str(small_disk / "out" / "train"))
    assert list((small_disk / "out").rglob("*.partial")) == []
    shutil.rmtree(small_disk / "out")
