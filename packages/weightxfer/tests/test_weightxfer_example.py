"""The Quickstart example runs and prints what it promises."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("keras", reason="the example needs the 'keras' extra")

EXAMPLE = Path(__file__).parents[1] / "examples" / "grow_a_network.py"


def test_grow_a_network_prints_the_report_and_the_closeness(capsys):
    spec = importlib.util.spec_from_file_location("grow_a_network", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main()
    out = capsys.readouterr().out
    assert "block2b_expand_conv   block2a_expand_conv" in out  # the new block's fallback
    assert "3x3x16x1 -> 5x5x24x1" in out  # the grown kernel
    rows = {line[:27].strip(): line.split() for line in out.splitlines() if "%" in line[27:38]}
    cosine_after = float(rows["block 1 kernel 3x3 -> 5x5"][-3])
    assert cosine_after > 0.99  # a grown kernel keeps the parent's function
    assert set(rows) == {*example.MUTATIONS, "all four at once"}
