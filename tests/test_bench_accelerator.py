"""bench/accelerator.py's CPU-safe part: its arguments, and one line and exit 2 without a GPU
(the GPU measurements themselves run only where a GPU exists)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "accelerator.py"


@pytest.fixture(scope="module")
def accelerator():
    spec = importlib.util.spec_from_file_location("bench_accelerator", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_measure_both_models_with_and_without_xla(accelerator):
    args = accelerator.parse_args([])
    assert args.models == ["evopose2d_s", "simple_baseline_r50"]
    assert (args.xla, args.precision, args.batch) == ("both", "mixed_float16", 64)


@pytest.mark.parametrize(
    "argv", [["--batch", "0"], ["--seconds", "-1"], ["--models", "hrnet"], ["--xla", "maybe"]]
)
def test_invalid_arguments_are_argparse_errors(accelerator, argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        accelerator.parse_args(argv)
    assert stopped.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_without_a_gpu_it_says_so_in_one_line(accelerator, capsys):
    if accelerator.gpu_names():
        pytest.skip("this machine has a GPU: the benchmark would run")
    assert accelerator.main(["--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelerator.py: no GPU here") and err.count("\n") == 1
