"""Library code says which value was wrong; only the command line names its flags: a failure
inside a search (or any Python caller) never speaks of a flag nobody typed, while a command-line
user still reads the flag (`cliutil.given` puts it in front of the library's message)."""

import ast
import json
from pathlib import Path

import pytest

from evopose.cli import main
from evopose.cliutil import given
from evopose.errors import ConfigFileError, EvoposeError, InputFileError

APP = Path(__file__).resolve().parents[1]
SOURCE = APP / "src" / "evopose"
TINY = APP / "configs" / "tiny_synthetic.yaml"

# Where flags belong: the command line and its argument handling (module: functions, or all).
FLAG_MODULES = {
    "cli.py": None,
    "cliutil.py": None,
    "search/command.py": None,
    "demo.py": {"add_parser", "_run_demo"},
    "import_weights.py": {"add_parser", "_run"},
}


def _strings_starting_with_flags(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, enclosing function, text) of each string starting with "--" inside a raise."""
    enclosing: dict[ast.AST, str] = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                enclosing.setdefault(node, function.name)  # outermost first: walk is BFS
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        texts = []
        for part in ast.walk(node.exc):
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                texts.append(part.value)
            elif isinstance(part, ast.JoinedStr) and isinstance(part.values[0], ast.Constant):
                texts.append(part.values[0].value)
        flags = [text for text in texts if text.startswith("--")]
        if flags:
            found.append((node.lineno, enclosing.get(node, "<module>"), flags[0]))
    return sorted(found)


def test_the_scan_finds_a_flag_in_a_raised_message():
    code = 'def f(x):\n    raise ValueError(f"--weights: {x}")\nraise E("--out " "x")\n'
    assert [(line, where) for line, where, _ in _strings_starting_with_flags(ast.parse(code))] == [
        (2, "f"),
        (3, "<module>"),
    ]


def test_only_the_command_line_raises_messages_that_name_flags():
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        module = path.relative_to(SOURCE).as_posix()
        allowed = FLAG_MODULES.get(module, set())
        if allowed is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        offenders += [
            f"{module}:{line} ({where}): {text[:50]!r}"
            for line, where, text in _strings_starting_with_flags(tree)
            if where not in allowed
        ]
    assert not offenders, "library code names CLI flags:\n" + "\n".join(offenders)


def test_given_prefixes_the_flag_and_keeps_the_error_class():
    with pytest.raises(InputFileError) as error, given("--weights"):
        raise InputFileError("weights file 'a.keras': no such file")
    assert str(error.value) == "--weights: weights file 'a.keras': no such file"
    with pytest.raises(ConfigFileError) as error, given("--boxes", quoting=[Path("b.json")]):
        raise ConfigFileError("boxes file 'b.json' entry 0 has no 'bbox'")
    assert str(error.value).startswith("--boxes: boxes file 'b.json'")


def test_given_with_values_prefixes_only_messages_about_them():
    with (
        pytest.raises(EvoposeError) as error,
        given("--boxes", quoting=["b.json"]),
        given("--out", quoting=[None]),
    ):
        raise EvoposeError("weights file 'a.keras': no such file")
    assert str(error.value) == "weights file 'a.keras': no such file"
    with pytest.raises(EvoposeError) as error, given("--set", quoting=["x=1"]), given("--out"):
        raise EvoposeError("--out: already named")
    assert str(error.value) == "--out: already named"
    with pytest.raises(ValueError, match=r"^not ours$"), given("--out"):
        raise ValueError("not ours")


def test_load_model_speaks_of_the_weights_file_not_a_flag(tmp_path):
    from evopose.models import load_model

    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip file")
    for path in (junk, tmp_path / "absent.keras"):
        with pytest.raises(InputFileError) as error:
            load_model(path)
        assert str(error.value).startswith(f"weights file '{path}': ")
        assert "--" not in str(error.value)


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


def test_the_command_line_puts_the_flag_in_front(tmp_path, capsys):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip file")
    assert main(["export", "--weights", str(junk), "--format", "onnx"]) == 2
    assert _error(capsys).startswith(
        f"evopose: error: --weights: weights file '{junk}': cannot be loaded: "
    )

    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([{"image_id": 1, "score": 0.9}]))
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    args = ["predict", "--weights", str(junk), str(image), "--boxes", str(boxes)]
    assert main(args) == 2
    assert _error(capsys) == (
        f"evopose: error: --boxes: boxes file '{boxes}' entry 0 has no 'bbox'"
    )

    assert main(["info", str(TINY), "--set", "train.batchsize=3"]) == 2
    assert _error(capsys) == (
        "evopose: error: --set: override 'train.batchsize=3': unknown key 'batchsize'"
        + _error_tail()
    )

    out = tmp_path / "full"
    out.mkdir()
    (out / "x").write_text("")
    assert main(["data", "synth", "--out", str(out), "--train", "1", "--val", "1"]) == 2
    assert _error(capsys) == (
        f"evopose: error: --out: '{out}' exists and is not empty; pass --overwrite to replace it"
    )
    args = ["train", str(TINY), "--devices", "0", "--set", f"data.root={tmp_path}"]
    assert main(args) == 2
    assert _error(capsys) == "evopose: error: --devices: device count 0: must be at least 1"


def _error_tail() -> str:
    """What the config module says after the unknown key (its list of known keys, if any)."""
    from evopose.config import Config, _check_key_path

    with pytest.raises(ConfigFileError) as error:
        _check_key_path(Config, ["train", "batchsize"], "x")
    return str(error.value).split("unknown key 'batchsize'", 1)[1]
