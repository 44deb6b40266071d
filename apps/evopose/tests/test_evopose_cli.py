"""The command line: help text, and user errors as one line on stderr with exit code 2."""

import json
import shutil
from pathlib import Path

import pytest

from evopose.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = CONFIGS / "tiny_synthetic.yaml"
COMMANDS = ("data", "train", "eval", "predict", "info", "export")


def evopose_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("evopose:")]


def test_console_script_help_lists_every_command(run_evopose):
    done = run_evopose("--help")
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert f"    {command}" in done.stdout


@pytest.mark.parametrize(
    "argv", [[c] for c in COMMANDS if c != "data"] + [["data", "convert"], ["data", "synth"]]
)
def test_every_command_has_help_with_examples(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_bad_config_key_is_one_line_naming_key_and_file_with_exit_code_2(run_evopose, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(TINY.read_text() + "\ntrain2: {epochs: 1}\n")
    done = run_evopose("train", str(config), "--run-dir", str(tmp_path / "run"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1  # nothing else: the config is checked before TensorFlow loads
    assert lines[0].startswith(
        f"evopose: error: {config}: unknown key 'train2' (known in the top level: model, data, "
    )
    assert not (tmp_path / "run").exists()


def test_wrong_type_in_an_override_is_one_line(capsys, tmp_path):
    code = main(["train", str(TINY), "--run-dir", str(tmp_path / "r"), "--set", "train.epochs=x"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.epochs: expected an integer, got 'x'" in err
    assert "Traceback" not in err


def test_missing_config_file(capsys, tmp_path):
    assert main(["info", str(tmp_path / "absent.yaml")]) == 2
    assert capsys.readouterr().err.startswith("evopose: error: config file not found")


def test_missing_dataset_folder_names_key_and_file_and_writes_nothing(capsys, tmp_path):
    run = tmp_path / "run"
    code = main(
        ["train", str(TINY), "--run-dir", str(run), "--set", f"data.root={tmp_path / 'nope'}"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"{TINY}: data.root: no such folder" in err and err.count("\n") == 1
    assert not run.exists()


def test_batch_size_that_cannot_split_over_the_replicas_is_refused(run_evopose, tmp_path):
    run = tmp_path / "run"
    done = run_evopose(
        "train",
        str(TINY),
        "--devices",
        "2",
        "--run-dir",
        str(run),
        "--set",
        "train.batch_size=5",
        "--set",
        f"data.root={tmp_path}",  # a folder that exists: data.root is checked first
    )
    assert done.returncode == 2
    assert evopose_lines(done.stderr) == [
        "evopose: error: train.batch_size=5 cannot be split over 2 replicas; use a multiple of 2"
    ]
    assert "Traceback" not in done.stderr
    assert not run.exists()


def test_missing_weights_file_is_one_line(capsys, tmp_path, synthetic_root):
    code = main(
        [
            "eval",
            str(TINY),
            "--weights",
            str(tmp_path / "absent.keras"),
            "--set",
            f"data.root={synthetic_root}",
        ]
    )
    assert code == 2
    assert (
        capsys.readouterr().err
        == f"evopose: error: --weights: no such file '{tmp_path / 'absent.keras'}'\n"
    )


def test_weights_file_that_is_not_a_model_is_one_line(capsys, tmp_path, synthetic_root):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip file")
    code = main(["eval", str(TINY), "--weights", str(junk), "--set", f"data.root={synthetic_root}"])
    assert code == 2
    assert capsys.readouterr().err.startswith(
        f"evopose: error: --weights: weights file '{junk}': cannot be loaded: "
    )


def test_convert_with_missing_annotations_names_the_option(capsys, tmp_path):
    code = main(
        ["data", "convert", "--split", "train", "--annotations", str(tmp_path / "a.json"),
         "--images", str(tmp_path), "--out", str(tmp_path / "out")]
    )  # fmt: skip
    assert code == 2
    assert "--annotations: no such file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_convert_reports_and_skips_a_corrupt_image(capsys, caplog, tmp_path, synthetic_root):
    raw = synthetic_root / "coco"
    images = tmp_path / "images"
    shutil.copytree(raw / "images" / "val", images)
    annotations = json.loads((raw / "val.json").read_text())
    broken = annotations["images"][0]["file_name"]
    data = (images / broken).read_bytes()
    (images / broken).write_bytes(data[: len(data) // 3])  # truncated JPEG
    out = tmp_path / "out"
    code = main(
        ["data", "convert", "--split", "val", "--annotations", str(raw / "val.json"),
         "--images", str(images), "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    manifest = json.loads((out / "val" / "manifest.json").read_text())
    assert [image["file_name"] for image in manifest["skipped_images"]] == [broken]
    assert manifest["counts"]["examples"] > 0
    assert f"{manifest['counts']['examples']} examples" in captured.out
    assert "1 images skipped" in captured.out
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(broken in message for message in warnings)  # named in a warning
    assert not list((out / "val").glob(".*"))  # no partial files left


def test_synth_refuses_to_overwrite_a_dataset(capsys, synthetic_root):
    assert main(["data", "synth", "--out", str(synthetic_root)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_run_folder_of_another_config_is_refused_and_left_alone(capsys, trained_run):
    before = {p: p.stat().st_mtime_ns for p in trained_run.rglob("*")}
    code = main(
        ["train", str(TINY), "--run-dir", str(trained_run), "--set", "train.batch_size=4",
         "--set", f"data.root={trained_run}"]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "holds a run with another config (differs in data.root, train.batch_size)" in err
    assert {p: p.stat().st_mtime_ns for p in trained_run.rglob("*")} == before


def test_rerunning_a_finished_run_returns_its_result(capsys, trained_run, synthetic_root):
    code = main(
        ["train", str(TINY), "--run-dir", str(trained_run), "--set", f"data.root={synthetic_root}"]
    )
    assert code == 0
    assert "best validation loss" in capsys.readouterr().out


def test_unknown_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--no-such-option"])
    assert exit_info.value.code == 2
